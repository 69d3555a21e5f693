"""FER-2013 readers: the Kaggle image-folder layout and the original ``fer2013.csv``.

Both give a :class:`FerData`: uint8 faces ``[N, 48, 48]``, int labels in
FER-2013 index order (see :mod:`runtime.contract`), the usage of each image
(Training / PublicTest / PrivateTest) and a name for each row (the file's path
relative to the root, or ``row<i>`` for the csv).

Decoding 35,887 JPEGs takes a while, so :func:`load` caches the arrays in an
``.npz`` keyed by a checksum of the inputs (see :mod:`train.cache`).
"""

from __future__ import annotations

import csv
import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from runtime.contract import CROP_SIZE, LABEL_TO_INDEX, LABELS
from runtime.errors import DataError

from .data import TrainData
from .paths import SHARED_DATA

USAGES = ("Training", "PublicTest", "PrivateTest")
USAGE_TO_INDEX = {u: i for i, u in enumerate(USAGES)}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm"}
#: Kaggle image-folder split folder -> usages it may hold
FOLDER_USAGES = {"train": ("Training",), "test": ("PublicTest", "PrivateTest")}


@dataclass
class FerData:
    """Decoded FER-2013 faces.

    Attributes:
        images: uint8 ``[N, 48, 48]``.
        labels: int64 ``[N]``, index into ``LABELS``.
        usage: int8 ``[N]``, index into ``USAGES``.
        names: ``[N]`` str, file path relative to the root or ``row<i>``.
        skipped: human-readable reasons for rows that were skipped.
        checksum: sha256 of the inputs the arrays were decoded from.
    """

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    names: np.ndarray
    skipped: list[str] = field(default_factory=list)
    checksum: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, mask_or_index) -> "FerData":
        """A view with the given rows (boolean mask or index array)."""
        return FerData(self.images[mask_or_index], self.labels[mask_or_index],
                       self.usage[mask_or_index], self.names[mask_or_index],
                       list(self.skipped), self.checksum)

    def split(self, usage: str) -> "FerData":
        """Rows of one usage: ``Training``, ``PublicTest`` or ``PrivateTest``."""
        if usage not in USAGE_TO_INDEX:
            raise DataError(f"unknown split {usage!r}; expected one of {', '.join(USAGES)}")
        return self.select(self.usage == USAGE_TO_INDEX[usage])

    def counts(self) -> dict[str, dict[str, int]]:
        """``{usage: {label: count}}`` plus a ``total`` per usage."""
        out: dict[str, dict[str, int]] = {}
        for ui, u in enumerate(USAGES):
            m = self.usage == ui
            per = {name: int(np.sum(self.labels[m] == li)) for li, name in enumerate(LABELS)}
            per["total"] = int(m.sum())
            out[u] = per
        return out


def _usage_from_name(name: str) -> str | None:
    for u in USAGES:
        if name.startswith(u + "_"):
            return u
    return None


def _decode_face(path: Path) -> np.ndarray:
    """Decode one image file into a 48x48 uint8 gray face; raises DataError."""
    try:
        with Image.open(path) as im:
            im.load()
            g = im.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: unreadable image ({e.__class__.__name__})") from None
    if g.size != (CROP_SIZE, CROP_SIZE):
        g = g.resize((CROP_SIZE, CROP_SIZE), Image.BILINEAR)
    return np.asarray(g, dtype=np.uint8)


def list_image_folder(root: Path) -> list[tuple[str, str, str]]:
    """``[(relative path, label, usage)]`` for a Kaggle image-folder root.

    Raises:
        DataError: missing root or split folders, an unknown class folder, or a
            file whose name does not tell its usage.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"FER-2013 folder not found: {root} (expected {root}/train/<emotion>/*.jpg)")
    found = [s for s in FOLDER_USAGES if (root / s).is_dir()]
    if not found:
        raise DataError(f"{root}: no train/ or test/ folder; expected the Kaggle image-folder layout "
                        "train|test/<emotion>/*.jpg")
    rows = []
    for split in found:
        for cls_dir in sorted((root / split).iterdir()):
            if not cls_dir.is_dir():
                continue
            if cls_dir.name not in LABEL_TO_INDEX:
                raise DataError(f"{cls_dir}: unknown class folder {cls_dir.name!r}; "
                                f"expected one of {', '.join(LABELS)}")
            for f in sorted(cls_dir.iterdir()):
                if f.suffix.lower() not in IMAGE_SUFFIXES or not f.is_file():
                    continue
                usage = _usage_from_name(f.name)
                if usage is None:
                    # A custom folder without Kaggle prefixes: the folder tells.
                    usage = "Training" if split == "train" else "PrivateTest"
                elif usage not in FOLDER_USAGES[split]:
                    raise DataError(f"{f}: a {usage} file inside {split}/")
                rows.append((f.relative_to(root).as_posix(), cls_dir.name, usage))
    if not rows:
        raise DataError(f"{root}: no images found under train|test/<emotion>/")
    return rows


def read_image_folder(root: Path, *, strict: bool = False, progress: bool = False) -> FerData:
    """Decode every image under ``root/{train,test}/<emotion>/``.

    Unreadable images are skipped, counted and reported in ``FerData.skipped``
    (or raise with ``strict=True``).
    """
    root = Path(root)
    rows = list_image_folder(root)
    images, labels, usage, names, skipped = [], [], [], [], []
    for i, (rel, label, u) in enumerate(rows):
        try:
            images.append(_decode_face(root / rel))
        except DataError as e:
            if strict:
                raise
            skipped.append(str(e))
            continue
        labels.append(LABEL_TO_INDEX[label])
        usage.append(USAGE_TO_INDEX[u])
        names.append(rel)
        if progress and (i + 1) % 2000 == 0:
            print(f"\rdecoding {i + 1}/{len(rows)}", end="", file=sys.stderr, flush=True)
    if progress:
        print(f"\rdecoded {len(images)}/{len(rows)} images", file=sys.stderr)
    return _pack(images, labels, usage, names, skipped)


def read_csv(path: Path, *, strict: bool = False) -> FerData:
    """Read the original Kaggle ``fer2013.csv`` (``emotion,pixels,Usage``).

    Malformed rows (wrong pixel count, bad label, unknown usage) are skipped,
    counted and reported, or raise with ``strict=True``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"fer2013.csv not found: {path}")
    images, labels, usage, names, skipped = [], [], [], [], []
    n_pix = CROP_SIZE * CROP_SIZE
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: empty file")
        cols = [h.strip().lower() for h in header]
        try:
            ie, ip, iu = cols.index("emotion"), cols.index("pixels"), cols.index("usage")
        except ValueError:
            raise DataError(f"{path}: header must name emotion,pixels,Usage; got {','.join(header)}") from None
        for i, row in enumerate(reader):
            try:
                lab = int(row[ie])
                if not 0 <= lab < len(LABELS):
                    raise ValueError(f"label {lab} out of range")
                u = row[iu].strip()
                if u not in USAGE_TO_INDEX:
                    raise ValueError(f"unknown usage {u!r}")
                pix = np.array(row[ip].split(), dtype=np.int64)
                if pix.size != n_pix or pix.min() < 0 or pix.max() > 255:
                    raise ValueError(f"{pix.size} pixels, expected {n_pix} values 0-255")
            except (ValueError, IndexError) as e:
                msg = f"{path}: row {i}: {e}"
                if strict:
                    raise DataError(msg) from None
                skipped.append(msg)
                continue
            images.append(pix.astype(np.uint8).reshape(CROP_SIZE, CROP_SIZE))
            labels.append(lab)
            usage.append(USAGE_TO_INDEX[u])
            names.append(f"row{i}")
    if not images:
        raise DataError(f"{path}: no usable rows")
    return _pack(images, labels, usage, names, skipped)


def _pack(images, labels, usage, names, skipped) -> FerData:
    return FerData(
        images=np.stack(images).astype(np.uint8) if images else np.zeros((0, CROP_SIZE, CROP_SIZE), np.uint8),
        labels=np.asarray(labels, dtype=np.int64),
        usage=np.asarray(usage, dtype=np.int8),
        names=np.asarray(names, dtype=object).astype(str),
        skipped=skipped,
    )


def input_checksum(path: Path) -> str:
    """sha256 over the dataset's inputs: every file's relative path and bytes.

    This is the data checksum written into configs and model cards; the cache
    is keyed by it, so editing, adding or removing a file invalidates it.
    """
    path = Path(path)
    h = hashlib.sha256()
    if path.is_file():
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    for rel, _, _ in list_image_folder(path):
        h.update(rel.encode())
        h.update(b"\0")
        h.update(hashlib.sha256((path / rel).read_bytes()).digest())
    return h.hexdigest()


def default_cache_dir() -> Path:
    return Path(os.environ.get("FER_CACHE") or Path.home() / ".cache" / "fer-edge")


def load(path: str | os.PathLike, *, cache_dir: Path | None = None, use_cache: bool = True,
         strict: bool = False, progress: bool = False) -> FerData:
    """Load FER-2013 from an image-folder root or a ``fer2013.csv``, with caching.

    Args:
        path: the folder holding ``train/`` and ``test/``, or ``fer2013.csv``.
        cache_dir: where the decoded ``.npz`` goes (default ``$FER_CACHE`` or
            ``~/.cache/fer-edge``); never inside the (possibly read-only) data.
        use_cache: read and write the cache.
        strict: raise on the first unreadable image or malformed row.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"FER-2013 not found at {path}: give the image-folder root "
                        "(holding train/ and test/) or fer2013.csv, or set FER_DATA")
    checksum = input_checksum(path)
    cache = Path(cache_dir or default_cache_dir()) / f"fer2013-{checksum[:24]}.npz"
    if use_cache and cache.is_file():
        try:
            z = np.load(cache, allow_pickle=False)
            return FerData(z["images"], z["labels"], z["usage"], z["names"],
                           list(z["skipped"]), checksum)
        except (OSError, KeyError, ValueError):
            pass  # a damaged cache is rebuilt below
    data = read_csv(path, strict=strict) if path.is_file() else read_image_folder(path, strict=strict,
                                                                                   progress=progress)
    data.checksum = checksum
    if use_cache:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".tmp{os.getpid()}.npz")
            np.savez(tmp, images=data.images, labels=data.labels, usage=data.usage,
                     names=data.names, skipped=np.asarray(data.skipped, dtype=str))
            os.replace(tmp, cache)
        except OSError as e:
            print(f"warning: could not write cache {cache}: {e}", file=sys.stderr)
    return data


def find_data(explicit: str | None = None) -> Path | None:
    """The dataset path: ``explicit``, else ``$FER_DATA`` (returned even when
    missing, so the caller reports it), else ``../shared/data/fer2013`` beside
    the checkout when it exists; None otherwise."""
    for c in (explicit, os.environ.get("FER_DATA")):
        if c:
            return Path(c)
    fallback = SHARED_DATA / "fer2013"
    return fallback if fallback.exists() else None


def balanced_subset(data: FerData, n_train: int, n_val: int, seed: int = 0) -> tuple[FerData, FerData]:
    """The published study's balanced subset: per class, ``n_train`` training
    and ``n_val`` validation images drawn (seeded, without overlap) from the
    Training split. Classes with fewer images give all they have."""
    rng = np.random.default_rng(seed)
    tr = data.split("Training")
    tr_idx, va_idx = [], []
    for c in range(len(LABELS)):
        idx = np.flatnonzero(tr.labels == c)
        idx = rng.permutation(idx)
        tr_idx.extend(idx[:n_train])
        va_idx.extend(idx[n_train:n_train + n_val])
    return tr.select(np.sort(np.asarray(tr_idx, dtype=np.int64))), tr.select(np.sort(np.asarray(va_idx, dtype=np.int64)))


def require_data(explicit: str | None = None) -> Path:
    """:func:`find_data`, or a DataError that names both layouts."""
    path = find_data(explicit)
    if path is None:
        raise DataError("FER-2013 not found: pass --data PATH (image-folder root or fer2013.csv) or set FER_DATA")
    return path


def training_rows(cfg, data: FerData) -> tuple[np.ndarray | None, FerData, FerData]:
    """``(rows of data that train or None, train, val)`` as ``cfg`` asks: all of
    Training against PublicTest, or the published study's balanced subset
    (``subset_train``; its rows are not rows of ``data``: None), cut to
    ``cfg.limit`` faces when set (a smoke run)."""
    if cfg.subset_train:
        tr, va = balanced_subset(data, cfg.subset_train, cfg.subset_val, cfg.seed)
        rows = None
    else:
        rows = np.flatnonzero(data.usage == USAGE_TO_INDEX["Training"])
        tr, va = data.select(rows), data.split("PublicTest")
    if cfg.limit:
        rng = np.random.default_rng(cfg.seed)
        keep = np.sort(rng.permutation(len(tr))[:cfg.limit])
        tr, rows = tr.select(keep), (rows[keep] if rows is not None else None)
        va = va.select(np.sort(rng.permutation(len(va))[:max(16, cfg.limit // 4)]))
    return rows, tr, va


def train_data(cfg, data: FerData | None = None) -> TrainData:
    """FER-2013 as a :class:`train.data.TrainData` with its hard labels."""
    return split_for_run(cfg, data)[0]


def split_for_run(cfg, data: FerData | None = None) -> tuple[TrainData, np.ndarray | None]:
    """:func:`train_data`, and the rows of ``data`` that train (None for the balanced subset), which the lab's
    soft targets are indexed by."""
    data = data if data is not None else load(require_data(cfg.data or None), progress=True)
    rows, tr, va = training_rows(cfg, data)
    how = "balanced subset of Training" if cfg.subset_train else "PublicTest"
    return TrainData(tr.images, tr.labels, va.images, va.labels, LABELS, data.checksum,
                     record={"val_split": how, "skipped": data.skipped}), rows
