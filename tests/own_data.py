"""Small custom data sets for the own-data tests, built from FER-2013 crops:
FER-2013 classes regrouped under new label names, optionally pasted into larger
colour "photos" (so that face detection runs), with person-like file prefixes
for ``--group`` splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: new label -> the FER-2013 folder its faces come from (names FER-2013 does not use)
MAPPING = {"grin": "happy", "gasp": "surprise", "calm": "neutral"}


def fer_files(fer_root: Path, fer_label: str, usage: str = "Training") -> list[Path]:
    split = "train" if usage == "Training" else "test"
    return sorted(p for p in (Path(fer_root) / split / fer_label).glob(f"{usage}_*.jpg"))


def paste(face: np.ndarray, rng, canvas=(320, 240), side: int = 120) -> "Image":
    """A colour photo with the 48x48 gray ``face`` scaled to ``side`` px at a random place."""
    from PIL import Image

    w, h = canvas
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.integers(40, 200, 3)
    bg = (base[None, None, :] + 30 * np.sin(xx[..., None] / rng.uniform(20, 60) + rng.uniform(0, 6))
          + rng.normal(0, 4, (h, w, 3))).clip(0, 255).astype(np.uint8)
    im = Image.fromarray(bg, "RGB")
    tint = rng.uniform(0.85, 1.1, 3)
    f = Image.fromarray(face).resize((side, side), Image.BICUBIC)
    rgb = (np.asarray(f, np.float32)[..., None] * tint[None, None, :]).clip(0, 255).astype(np.uint8)
    x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
    im.paste(Image.fromarray(rgb, "RGB"), (x, y))
    return im


def make_folder(fer_root, out, per_label: int = 20, photos: bool = False, seed: int = 0, usage: str = "Training",
                mapping: dict | None = None, people: int = 6, start: int = 0, fmt: str = "png") -> Path:
    """``out/<label>/P<k>_<i>.<fmt>``: ``per_label`` faces a label, as crops or pasted into photos."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = Path(out)
    for label, fer_label in (mapping or MAPPING).items():
        (out / label).mkdir(parents=True, exist_ok=True)
        files = fer_files(fer_root, fer_label, usage)[start:start + per_label]
        for i, f in enumerate(files):
            face = np.asarray(Image.open(f).convert("L"))
            im = paste(face, rng) if photos else Image.fromarray(face)
            im.save(out / label / f"P{i % people:02d}_{label}_{i:03d}.{fmt}")
    return out
