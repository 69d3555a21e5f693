"""A saved Keras model of any stage: loading it with one-line errors, checking
its I/O against the contract (one square input, one class output), and
the float batch it takes. Training, conversion and the benchmarks share it."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np

from runtime.errors import ModelError

from .model import custom_objects


def load_keras_model(path: str | Path):
    """Load a .keras / .h5 / SavedModel with tf-keras; one-line errors."""
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: no such model")
    if p.is_file() and p.suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelError(f"{p}: not a Keras model (expected .keras, .h5 or a SavedModel folder)")
    custom = {}
    try:
        custom = custom_objects()
    except Exception:
        pass
    try:
        try:   # a QAT model needs TensorFlow Model Optimization's scope to load
            import tensorflow_model_optimization as tfmot  # deferred: tfmot (and TensorFlow) only for QAT models

            scope = tfmot.quantization.keras.quantize_scope()
        except ImportError:
            scope = contextlib.nullcontext()
        with scope:
            model = keras.models.load_model(p, compile=False, custom_objects=custom)
    except Exception as e:  # Keras raises many types for a bad file
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else e.__class__.__name__
        raise ModelError(f"{p}: cannot load as a Keras model ({msg})") from None
    check_keras_contract(model, p)
    return model


def check_keras_contract(model, name="model") -> None:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"{name}: expected 1 input and 1 output, found {len(model.inputs)} and {len(model.outputs)}")
    ishape, oshape = tuple(model.inputs[0].shape), tuple(model.outputs[0].shape)
    if len(ishape) != 4 or ishape[1] != ishape[2] or ishape[3] not in (1, 3):
        raise ModelError(f"{name}: input shape {ishape} is not [batch, S, S, 1|3]")
    if len(oshape) != 2 or oshape[1] is None or oshape[1] < 2:
        raise ModelError(f"{name}: output shape {oshape} is not [batch, K] with K >= 2 classes")


def model_input(model, faces: np.ndarray) -> np.ndarray:
    """uint8 face crops ``[N, S, S]`` as the float batch ``model`` takes (one or three channels)."""
    x = faces[..., None].astype(np.float32)
    return np.repeat(x, 3, axis=-1) if model.inputs[0].shape[-1] == 3 else x


#: beside a run's models: their class labels in output order (``{"labels": [...]}``)
LABELS_FILE = "labels.json"


def saved_labels(model_path) -> tuple[str, ...] | None:
    """The labels recorded beside a saved model (its folder's :data:`LABELS_FILE`), or None."""
    f = Path(model_path).parent / LABELS_FILE
    if not f.is_file():
        return None
    try:
        labels = json.loads(f.read_text())["labels"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ModelError(f"{f}: not a labels file ({{\"labels\": [...]}})") from None
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
        raise ModelError(f"{f}: labels must be a list of names")
    return tuple(labels)
