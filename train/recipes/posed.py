"""Posed lab faces (``posed/``, ``../shared/data/SOURCES.md``): deliberate expressions
(closed-mouth anger, disgust, fear) that FER-2013 and the FER+ votes almost lack.

The folder is ``posed/<label>/S<person>_<sequence>_<frame>.png``, one sitting a person.
People are split into folds by a hash of their ``S###`` id (the three frames of a
sequence always stay with their person), so a candidate trains on some people and
is chosen on the others, never on faces it trained on. Labels the model does not
have (contempt, for the seven) are left out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.errors import ConfigError, DataError
from train import user_folder

#: the person of a posed file name (``S005_001_00000011.png`` -> ``S005``)
PERSON = re.compile(r"(?:^|/)(S\d+)_")


@dataclass
class Posed:
    """Posed faces in a model's label order.

    Attributes:
        images: uint8 ``[N, 48, 48]``.
        labels: int ``[N]``, index into the model's labels.
        persons: str ``[N]``, the ``S###`` id of each face.
        names: str ``[N]``, ``<label>/<file>``.
        checksum: sha256 of the folder's files and labels (as :func:`train.user_folder.load` gives it).
        dropped: faces whose label the model lacks, by label.
    """

    images: np.ndarray
    labels: np.ndarray
    persons: np.ndarray
    names: np.ndarray
    checksum: str
    dropped: dict

    def select(self, rows) -> "Posed":
        return Posed(self.images[rows], self.labels[rows], self.persons[rows], self.names[rows], self.checksum,
                     self.dropped)


def default_folder(fer_path) -> Path:
    """``posed/`` beside FER-2013's folder."""
    return Path(fer_path).parent / "posed"


def load(folder, labels: tuple[str, ...]) -> Posed:
    """The faces of ``folder`` whose label is one of ``labels``, in that order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"posed faces not found: {folder} (posed/<label>/S<person>_<sequence>_<frame>.png)")
    d = user_folder.load(folder, None, detect=False, log=lambda m: None)
    y = user_folder.label_remap(d.label_names, labels)[d.labels]
    persons = []
    for name in d.names:
        m = PERSON.search(str(name))
        if not m:
            raise DataError(f"{folder}/{name}: no person id (S###_) in the file name")
        persons.append(m.group(1))
    keep = y >= 0
    dropped = {n: int((d.labels == i).sum()) for i, n in enumerate(d.label_names) if n not in labels}
    return Posed(d.images[keep], y[keep], np.asarray(persons)[keep], np.asarray(d.names)[keep], d.checksum, dropped)


def fold_of(person: str, folds: int) -> int:
    """The fold of a person: sha256 of the id (not md5: the posed set was halved by md5, which puts every
    person in two of four folds), the same on every machine and for every candidate."""
    return int(hashlib.sha256(person.encode()).hexdigest(), 16) % folds


def split(posed: Posed, folds: int, fold: int) -> tuple[Posed, Posed]:
    """(the people that train, the people of fold ``fold`` held out); ``fold`` -1: every person trains."""
    if folds < 2 or not -1 <= fold < folds:
        raise ConfigError(f"posed_fold must be -1 or 0..{folds - 1} with posed_folds >= 2 (got {fold} of {folds})")
    held = np.array([fold >= 0 and fold_of(p, folds) == fold for p in posed.persons], bool)
    return posed.select(np.flatnonzero(~held)), posed.select(np.flatnonzero(held))


def repeated_rows(labels: np.ndarray, repeat: int, balance: float = 0.0) -> np.ndarray:
    """Indices into ``labels`` with each face ``repeat * (max_n / n_label) ** balance`` times (rounded), in
    blocks of whole passes over the faces so that every face of a label is seen equally often."""
    counts = np.bincount(labels)
    most = counts.max()
    times = {c: max(1, int(round(repeat * (most / n) ** balance))) for c, n in enumerate(counts) if n}
    return np.concatenate([np.flatnonzero(labels == c).repeat(k) for c, k in times.items()]) if times \
        else np.zeros(0, int)


def record(train: Posed, held: Posed, rows: np.ndarray, label_names, cfg) -> dict:
    """How the posed faces entered a run (``rows``: :func:`repeated_rows` of ``train``), for its ``data.json``."""
    ys = train.labels[rows]
    return {"folder": str(cfg.posed), "checksum": train.checksum, "folds": cfg.posed_folds,
            "held_out_fold": cfg.posed_fold, "repeat": cfg.posed_repeat, "train_faces": int(len(train.labels)),
            "train_people": int(len(set(train.persons.tolist()))), "held_out_faces": int(len(held.labels)),
            "held_out_people": sorted(set(held.persons.tolist())), "dropped_labels": train.dropped,
            "balance": cfg.posed_balance, "rows": int(len(rows)),
            "rows_by_label": {label_names[c]: int((ys == c).sum()) for c in sorted(set(train.labels.tolist()))}}
