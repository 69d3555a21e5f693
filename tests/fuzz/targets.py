"""Fuzz targets: the runtime's paths that read untrusted bytes.

Each target takes raw bytes and must either succeed or raise the runtime's
own one-line error (:class:`runtime.errors.FerError`); anything else (another
exception, or the process dying from a signal) is a finding. The functions
are plain Python, so ``tests/test_fuzz.py`` replays the seed corpus and every
saved finding through them without atheris; ``tests/fuzz/run.py`` drives them
with atheris, coverage-guided.
"""

from __future__ import annotations

import numpy as np

#: a small pixel limit keeps each execution fast; the limit check itself is fuzzed
MAX_PIXELS = 1 << 20


def image(data: bytes) -> None:
    """Decode (any format Pillow reads, EXIF, modes, animation) and crop."""
    from runtime.errors import FerError
    from runtime.preprocess import crop_box, cut, load_image
    from runtime.contract import CropRule

    try:
        rgb = np.asarray(load_image(data, MAX_PIXELS))
    except FerError:
        return
    h, w = rgb.shape[:2]
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, rgb.shape
    seed = sum(data[:16]) if data else 0
    box = (seed % max(w, 1), (seed // 3) % max(h, 1), 1 + seed % 97, 1 + seed % 89)
    crop = cut(rgb, crop_box(box, CropRule(), w, h), 48)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8


def metadata(data: bytes) -> None:
    """The cheap checks every model goes through before an interpreter sees it."""
    from runtime.errors import FerError
    from runtime.metadata import inspect_bytes

    try:
        inspect_bytes(data, "fuzz")
    except FerError:
        return


def model(data: bytes) -> None:
    """Load as the classifier (checks, interpreter, contract) and classify one crop."""
    from runtime.classifier import Classifier
    from runtime.errors import FerError

    try:
        clf = Classifier.from_bytes(data, threads=1)
    except FerError:
        return
    p = clf.run(np.zeros((clf.size, clf.size), np.uint8))
    assert p.shape == (len(clf.labels),)


TARGETS = {"image": image, "metadata": metadata, "model": model}
#: the seed folder (tests/fuzz/seeds/<name>/) each target starts from
SEEDS = {"image": "image", "metadata": "model", "model": "model"}
