"""The representative dataset for int8 calibration: real FER-2013 faces.

Stratified by class from the Training split (never the test splits), seeded,
so the same command always calibrates on the same faces; its checksum goes
into the conversion report and the model's metadata.
"""

from __future__ import annotations

import hashlib

import numpy as np

from runtime.contract import NUM_CLASSES


def stratified_sample(images: np.ndarray, labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` images, as evenly spread over the classes as they allow."""
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in range(NUM_CLASSES)]
    chosen: list[int] = []
    k = 0
    while len(chosen) < n and any(k < len(p) for p in per_class):
        for p in per_class:
            if k < len(p) and len(chosen) < n:
                chosen.append(int(p[k]))
        k += 1
    return np.asarray(sorted(chosen), dtype=np.int64)


def checksum(images: np.ndarray) -> str:
    """sha256 of the calibration faces' bytes (uint8, in order)."""
    return hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8).tobytes()).hexdigest()


def representative_faces(data_path=None, n: int = 300, seed: int = 0):
    """(faces uint8 [n, 48, 48], their sha256) from the Training split.

    Raises:
        train.errors.DataError: FER-2013 is not found.
    """
    from train import dataset
    from train.errors import DataError

    path = dataset.find_data(data_path)
    if path is None:
        raise DataError("calibration needs FER-2013 faces: pass --data PATH or set FER_DATA")
    tr = dataset.load(path).split("Training")
    idx = stratified_sample(tr.images, tr.labels, n, seed)
    faces = tr.images[idx]
    return faces, checksum(faces)
