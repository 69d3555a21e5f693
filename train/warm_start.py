"""Warm start of a user's head: the labels the starting model knows keep its rows.

A run on a user's folder starts from a trained model (``init: release``, the
bundled release model, or a ``.keras`` of another run). Its classifier head
has one row (a column of the dense kernel and a bias) per label. A user's
``happy`` starts as the starting model's ``happy``, matched by name (case and
surrounding blanks aside), in the user's label order; only labels the
starting model does not know start fresh (Keras' initializer, bias 0). With
every label known, the warm-started model answers from the first step exactly
as the starting model would among those labels: that is the floor a run must beat.

The starting model's labels come from the ``labels.json`` beside its file
(a run on a user's folder writes one); a model without one that has
FER-2013's class count carries FER-2013's seven labels (the bundled models' default).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.contract import LABELS

from .saved import saved_labels

HEAD = "predictions"


def source_labels(path, num_outputs: int) -> tuple[str, ...] | None:
    """The labels of the model file ``path`` with ``num_outputs`` outputs, or None when they are unknown."""
    labels = saved_labels(Path(path))
    if labels is not None:
        return labels if len(labels) == num_outputs else None
    return LABELS if num_outputs == len(LABELS) else None


def _key(name: str) -> str:
    return name.strip().lower()


def matches(user: tuple[str, ...], known: tuple[str, ...] | None) -> dict[int, int]:
    """``{user label index: starting model's row}`` for every user label the starting model knows."""
    if not known:
        return {}
    rows = {_key(name): i for i, name in enumerate(known)}
    return {i: rows[_key(name)] for i, name in enumerate(user) if _key(name) in rows}


def warm_head(model, source, user: tuple[str, ...], known: tuple[str, ...] | None) -> dict:
    """Copy ``source``'s head rows into ``model``'s head for the labels matched by name (in place).

    Returns ``{"known": [...], "new": [...]}``: the user's labels that kept a row and those that start fresh.
    """
    pairs = matches(user, known)
    head = model.get_layer(HEAD)
    kernel, bias = (np.array(w) for w in head.get_weights())
    s_kernel, s_bias = source.get_layer(HEAD).get_weights()
    if s_kernel.shape[0] != kernel.shape[0]:
        pairs = {}          # another feature width: nothing to keep
    for i, j in pairs.items():
        kernel[:, i], bias[i] = s_kernel[:, j], s_bias[j]
    for i in range(len(user)):
        if i not in pairs:
            bias[i] = 0.0
    head.set_weights([kernel, bias])
    return {"known": [user[i] for i in sorted(pairs)], "new": [name for i, name in enumerate(user) if i not in pairs]}
