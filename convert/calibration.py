"""The representative dataset for int8 calibration: real faces.

FER-2013's: stratified by class from the Training split (never the test
splits). A user's folder (``--calibration DIR``): its faces found by the same
face path as training (:mod:`train.user_folder`), stratified by label. Seeded, so
the same command always calibrates on the same faces; their checksum goes into
the conversion report and the model's metadata.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from runtime.contract import NUM_CLASSES
from runtime.errors import DataError
from train import fer2013, user_folder


def stratified_sample(images: np.ndarray, labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` images, as evenly spread over the classes as they allow."""
    rng = np.random.default_rng(seed)
    k = max(NUM_CLASSES, int(labels.max()) + 1 if len(labels) else 0)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in range(k)]
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
        runtime.errors.DataError: FER-2013 is not found.
    """
    path = fer2013.find_data(data_path)
    if path is None:
        raise DataError("calibration needs FER-2013 faces: pass --data PATH or set FER_DATA")
    tr = fer2013.load(path).split("Training")
    idx = stratified_sample(tr.images, tr.labels, n, seed)
    faces = tr.images[idx]
    return faces, checksum(faces)


def folder_faces(root, n: int = 300, seed: int = 0, detect: bool = True, labels=None, log=print):
    """(faces uint8 [<= n, S, S], their sha256, record) from a user's folder
    ``root/<label>/<image>``, through the training face path; every label's
    faces as evenly as they allow."""
    data = user_folder.load(root, labels, detect, log=log)
    idx = stratified_sample(data.images, data.labels, n, seed)
    faces, stretched = span_full_range(data.images[idx])
    return faces, checksum(faces), {"folder": str(Path(root).resolve()), "detect": detect,
                                    "faces_found": int(len(data)), "data_checksum_sha256": data.checksum,
                                    "contrast_stretched_copies": stretched}


def span_full_range(faces: np.ndarray, copies: int = 2) -> tuple[np.ndarray, int]:
    """The input contract is scale 1, zero point 0 (the crop's bytes as they are),
    which the converter gives only when the calibration inputs reach both 0 and
    255. FER-2013's thousands of faces do; a small folder of even lighting may
    not: then contrast-stretched copies of its first faces (each face's own
    darkest pixel to 0, brightest to 255) are added. Returns the faces and how
    many copies were added."""
    if not len(faces) or (faces.min() == 0 and faces.max() == 255):
        return faces, 0
    extra = []
    for f in faces[:copies]:
        lo, hi = float(f.min()), float(f.max())
        g = (f.astype(np.float32) - lo) * (255.0 / max(hi - lo, 1.0))
        g = np.clip(np.round(g), 0, 255).astype(np.uint8)
        g.flat[int(np.argmin(f))], g.flat[int(np.argmax(f))] = 0, 255     # exactly the ends, even for a flat face
        extra.append(g)
    return np.concatenate([faces, np.stack(extra)]), len(extra)
