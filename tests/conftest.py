"""Shared fixtures: tiny generated datasets and models; the real data when present."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from runtime.contract import LABELS  # noqa: E402


def real_data_path() -> Path | None:
    for c in (os.environ.get("FER_DATA"), str(REPO.parent / "shared" / "data" / "fer2013")):
        if c and (Path(c) / "train").is_dir():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def fer_root() -> Path:
    p = real_data_path()
    if p is None:
        pytest.skip("real FER-2013 not present (set FER_DATA)")
    return p


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Each test session has its own cache, unless a test asks for the user's.
    monkeypatch.setenv("FER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def blazeface(_isolated_cache):
    """BlazeFace short- and full-range in this session's cache (from the pinned mediapipe wheel)."""
    from runtime.fetch import cached_detector_path, cached_full_range_path, fetch_detector

    if cached_detector_path() is None or cached_full_range_path() is None:
        from .helpers import mediapipe_wheel

        fetch_detector(from_wheel=str(mediapipe_wheel()), log=lambda m: None)


def synthetic_faces(n: int, seed: int = 0, size: int = 48) -> np.ndarray:
    """Face-like uint8 images spanning 0..255: a bright oval on a gradient with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1.0)
    out = np.empty((n, size, size), np.uint8)
    for i in range(n):
        cx, cy = 0.5 + rng.normal(0, 0.05), 0.5 + rng.normal(0, 0.05)
        oval = ((xx - cx) / 0.3) ** 2 + ((yy - cy) / 0.4) ** 2 < 1
        img = 60 * yy + 140 * oval + rng.normal(0, 20, (size, size))
        img[0, 0], img[-1, -1] = 0, 255        # the calibration range covers 0..255
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def write_image_folder(root: Path, per_class: int = 3, seed: int = 0) -> dict:
    """A tiny Kaggle-layout FER-2013 with every usage; returns {relpath: (label, usage, pixels)}."""
    from PIL import Image

    faces = synthetic_faces(per_class * len(LABELS) * 3, seed)
    k = 0
    made = {}
    for split, usages in (("train", ["Training"]), ("test", ["PublicTest", "PrivateTest"])):
        for label in LABELS:
            d = root / split / label
            d.mkdir(parents=True, exist_ok=True)
            for u in usages:
                for j in range(per_class):
                    name = f"{u}_{1000 + k}.png"
                    Image.fromarray(faces[k]).save(d / name)
                    made[f"{split}/{label}/{name}"] = (label, u, faces[k])
                    k += 1
    return made


@pytest.fixture
def tiny_folder(tmp_path) -> tuple[Path, dict]:
    root = tmp_path / "fer2013"
    return root, write_image_folder(root)


@pytest.fixture(scope="session")
def tiny_keras_model(tmp_path_factory):
    """An untrained alpha=0.35 model at 48x48 saved as .keras (seconds to build)."""
    import train  # noqa: F401
    from train.model import build_model

    m = build_model(image_size=48, alpha=0.35, channels=1, dropout=0.0)
    path = tmp_path_factory.mktemp("models") / "tiny.keras"
    m.save(path)
    return path


@pytest.fixture(scope="session")
def tiny_int8(tiny_keras_model, tmp_path_factory) -> Path:
    """The tiny model converted to int8 with fer-edge metadata."""
    import convert  # noqa: F401
    from convert.metadata import ModelInfo, populate
    from convert.quantize import QuantizationConfig, io_contract, load_keras_model, to_tflite
    from runtime.contract import ModelContract

    model = load_keras_model(tiny_keras_model)
    raw = to_tflite(model, QuantizationConfig.for_int8(), synthetic_faces(32, seed=1))
    data = populate(raw, ModelContract(input=io_contract(raw)), ModelInfo(name="tiny test model"))
    path = tmp_path_factory.mktemp("tflite") / "tiny_int8.tflite"
    path.write_bytes(data)
    return path
