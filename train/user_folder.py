"""A user's own labelled photos: ``DIR/<label>/<image>``, turned into face crops.

    from train import user_folder
    data = user_folder.load("my_faces/")                 # detect faces the way fer-infer does
    data = user_folder.load("my_crops/", detect=False)   # every image is a face crop already
    tr, va, info = user_folder.split(data, val_split=0.2, seed=0, group=r"^(S[0-9]+)_")

Labels are the sub-folder names (2 to 50 of them, any names), in sorted order
unless ``labels`` gives the order. Images: jpg, jpeg, png, tif, tiff, bmp,
webp; any size; gray or colour; whole photos or face crops.

Faces go through the runtime's own face path (:meth:`runtime.Recognizer.find_faces`:
the detector and crop rule ``fer-infer`` runs), so training, calibration and
serving see the same crops. The largest face of a photo is used. Images with
no face (or only faces too small to classify), unreadable files and images
over the pixel limit are never dropped silently: each is counted and listed
(:attr:`FolderData.problems`, and the run's report). Crops are cached by the
file's sha256 and the face path's settings, under ``$FER_CACHE/faces``
(default ``~/.cache/fer-edge/faces``), never inside the data folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime import Recognizer
from runtime.errors import DataError, FerError
from runtime.fetch import cached_detector_path, cached_full_range_path
from runtime.files import write_file

from .data import TrainData
from .fer2013 import default_cache_dir
from .io import file_sha256
from .saved import LABELS_FILE

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}
MIN_LABELS, MAX_LABELS = 2, 50
#: the fewest usable faces a label needs (in the training folder)
MIN_FACES = 5
#: bump when the face path changes in a way the settings below do not capture
FACE_PATH_VERSION = 3


@dataclass
class FolderData:
    """Face crops of a user's folder.

    Attributes:
        images: uint8 ``[N, S, S]`` crops (S: the model's input side).
        labels: int64 ``[N]``, index into ``label_names``.
        names: ``[N]`` str, each image's path relative to the root.
        label_names: the labels in output order.
        problems: ``[{"file", "reason"}]`` for every image that gave no crop.
        counts: ``{label: {"images", "faces"}}`` as found.
        checksum: sha256 of the files' checksums, names and the face path.
        root: the folder.
        detect: whether faces were detected (False: ``--no-detect``).
    """

    images: np.ndarray
    labels: np.ndarray
    names: np.ndarray
    label_names: tuple[str, ...]
    problems: list[dict] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    checksum: str = ""
    root: str = ""
    detect: bool = True

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def skipped(self) -> list[str]:
        """The images that gave no crop, one line each (as ``FerData.skipped``)."""
        return [f"{p['file']}: {p['reason']}" for p in self.problems]

    def select(self, index) -> "FolderData":
        return FolderData(self.images[index], self.labels[index], self.names[index], self.label_names,
                          list(self.problems), dict(self.counts), self.checksum, self.root, self.detect)


def is_fer2013(path) -> bool:
    """Whether ``path`` is FER-2013 itself (its ``fer2013.csv``, or the Kaggle
    image folders ``train|test/<emotion>/Training_*.jpg``), not a user's folder."""
    p = Path(path)
    if p.is_file():
        return p.suffix.lower() == ".csv"
    for split in ("train", "test"):
        d = p / split
        if not d.is_dir():
            continue
        for cls in sorted(d.iterdir())[:8]:
            if cls.is_dir():
                for f in sorted(cls.iterdir())[:5]:
                    if f.name.startswith(("Training_", "PublicTest_", "PrivateTest_")):
                        return True
    return False


def scan(root, labels=None) -> tuple[tuple[str, ...], list[tuple[Path, int]], list[dict]]:
    """``(labels, [(image path, label index)], skipped)`` of ``root/<label>/<image>``.

    Raises:
        DataError: missing or empty folder, fewer than 2 or more than 50
            labels, a label folder without images, ``labels`` that do not match
            the folders.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected {root}/<label>/<image>)")
    folders = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not folders:
        raise DataError(f"{root}: no label folders (expected {root}/<label>/<image>, one folder a label)")
    order = tuple(labels) if labels else tuple(folders)
    if labels:
        missing = [x for x in order if x not in folders]
        extra = [x for x in folders if x not in order]
        if missing or extra:
            raise DataError(f"--labels do not match the folders of {root}: "
                            + "; ".join(([f"no folder for {', '.join(missing)}"] if missing else [])
                                        + ([f"folders not in --labels: {', '.join(extra)}"] if extra else [])))
    if len(order) < MIN_LABELS:
        raise DataError(f"{root}: one label ({order[0]}); a classifier needs at least {MIN_LABELS} label folders")
    if len(order) > MAX_LABELS:
        raise DataError(f"{root}: {len(order)} label folders; at most {MAX_LABELS} are supported")
    items, skipped = [], []
    for i, name in enumerate(order):
        files = [f for f in sorted((root / name).rglob("*")) if f.is_file() and not f.name.startswith(".")]
        images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
        skipped += [{"file": str(f.relative_to(root)), "reason": "not an image file (by its extension)"}
                    for f in files if f.suffix.lower() not in IMAGE_SUFFIXES]
        if not images:
            raise DataError(f"{root}/{name}: no images (jpg, png, tiff, bmp or webp)")
        items += [(f, i) for f in images]
    return order, items, skipped


class FacePath:
    """The runtime's face path for training data: a :class:`runtime.Recognizer`
    on the bundled release model (its crop rule and input side) with the
    detector ``fer-infer`` uses by default, and a cache of the crops by file checksum."""

    def __init__(self, detect: bool = True, detector: str = "auto", model=None):
        self.detect = detect
        self.rec = Recognizer(model, detector=detector if detect else "none", threads=1)
        self.size = self.rec.classifier.size
        crop = self.rec.contract.crop
        det_sha = ""
        if detect:
            det_sha = ";".join(file_sha256(p) if p else "" for p in (cached_detector_path(), cached_full_range_path()))
        settings = {"v": FACE_PATH_VERSION, "detect": detect, "detector": detector if detect else "none",
                    "size": self.size, "crop": [crop.scale, crop.shift_y, crop.square], "detectors": det_sha,
                    "max_pixels": self.rec.max_pixels}
        self.signature = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        self.cache = default_cache_dir() / "faces" / self.signature

    def _cached(self, sha: str):
        f = self.cache / f"{sha}.npy"
        if f.is_file():
            try:
                a = np.load(f)
                if a.shape == (self.size, self.size) and a.dtype == np.uint8:
                    return a
            except (OSError, ValueError):
                pass
        g = self.cache / f"{sha}.none"
        if g.is_file():
            try:
                return g.read_text().strip() or "no face found"
            except OSError:
                pass
        return None

    def _store(self, sha: str, result) -> None:
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            if isinstance(result, np.ndarray):
                buf = io.BytesIO()
                np.save(buf, result)
                write_file(self.cache / f"{sha}.npy", buf.getvalue())
            else:
                write_file(self.cache / f"{sha}.none", result)
        except OSError:
            pass            # a read-only cache only costs time

    def crop(self, path: Path, sha: str):
        """The crop of the largest face of ``path`` (uint8 ``[S, S]``), or the reason there is none (str)."""
        got = self._cached(sha)
        if got is not None:
            return got

        try:
            found = self.rec.find_faces(path, detect=self.detect)
        except FerError as e:             # unreadable or over the pixel limit; not cached: it may be fixed
            msg = str(e)
            return msg[len(str(path)) + 2:] if msg.startswith(f"{path}: ") else msg
        usable = [(f, c) for f, c in found if c is not None]
        if usable:
            result = max(usable, key=lambda fc: fc[0].box[2] * fc[0].box[3])[1]
        elif found:
            result = "only faces too small to classify"
        else:
            result = "no face found"
        self._store(sha, result)
        return result


def _progress(i: int, n: int, what: str) -> None:
    if sys.stderr.isatty():
        width = 30
        done = int(width * i / max(n, 1))
        print(f"\r{what} [{'#' * done}{'.' * (width - done)}] {i}/{n}", end="" if i < n else "\n",
              file=sys.stderr, flush=True)


def load(root, labels=None, detect: bool = True, detector: str = "auto", log=print,
         face_path: FacePath | None = None) -> FolderData:
    """Scan ``root`` (:func:`scan`) and turn every image into a face crop
    (:class:`FacePath`). Raises DataError when no image gives a face."""
    order, items, skipped = scan(root, labels)
    fp = face_path or FacePath(detect, detector)
    root = Path(root)
    crops, ys, names, problems = [], [], [], list(skipped)
    counts = {name: {"images": 0, "faces": 0} for name in order}
    digest = hashlib.sha256(fp.signature.encode())
    for k, (f, y) in enumerate(items):
        rel = str(f.relative_to(root))
        counts[order[y]]["images"] += 1
        try:
            sha = file_sha256(f)
        except OSError as e:
            problems.append({"file": rel, "reason": f"unreadable: {e.strerror or e}"})
            continue
        digest.update(f"{rel}\0{order[y]}\0{sha}\n".encode())
        got = fp.crop(f, sha)
        if isinstance(got, str):
            problems.append({"file": rel, "reason": got})
        else:
            crops.append(got)
            ys.append(y)
            names.append(rel)
            counts[order[y]]["faces"] += 1
        _progress(k + 1, len(items), "faces")
    bad = [p for p in problems if p["reason"] != "not an image file (by its extension)"]
    log(f"{root}: {len(items)} images in {len(order)} labels, {len(crops)} faces"
        + (f"; {len(bad)} without a usable face (listed in the report)" if bad else ""))
    for p in bad[:10]:
        log(f"  skipped {p['file']}: {p['reason']}")
    if len(bad) > 10:
        log(f"  ... and {len(bad) - 10} more")
    if not crops:
        raise DataError(f"{root}: no face found in any of its {len(items)} images"
                        + ("" if not detect else " (if they are face crops already, use --no-detect)"))
    size = fp.size
    return FolderData(np.stack(crops).astype(np.uint8).reshape(-1, size, size), np.asarray(ys, np.int64),
                      np.asarray(names), order, problems, counts, digest.hexdigest(), str(root), detect)


def check_faces(data: FolderData, minimum: int = MIN_FACES) -> None:
    """Every label needs at least ``minimum`` usable faces to train on."""
    few = [f"{name} ({data.counts[name]['faces']} of {data.counts[name]['images']} images)"
           for name in data.label_names if data.counts[name]["faces"] < minimum]
    if few:
        raise DataError(f"{data.root}: fewer than {minimum} usable faces for " + ", ".join(few)
                        + ("" if not data.detect else "; the report lists the images without a face"))


def groups_of(names, pattern: str) -> np.ndarray:
    """The first group of ``pattern`` matched on each file name (not its folder): one person's id."""
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise DataError(f"--group {pattern!r} is not a regular expression ({e})") from None
    if rx.groups < 1:
        raise DataError(f"--group {pattern!r} has no group: put the person's id in parentheses, e.g. '^(S[0-9]+)_'")
    out = []
    for n in names:
        m = rx.search(Path(str(n)).name)
        if m is None or m.group(1) is None:
            raise DataError(f"--group {pattern!r} does not match the file name {Path(str(n)).name!r}")
        out.append(m.group(1))
    return np.asarray(out)


def split(data: FolderData, val_split: float = 0.2, seed: int = 0, group: str | None = None):
    """``(train, val, info)``: a stratified, seeded validation split of about
    ``val_split`` of each label's faces; with ``group``, whole groups (people)
    go to one side only, chosen so that each label's share comes close to
    ``val_split``. ``info`` counts images and groups on each side."""
    if not 0.0 < val_split < 1.0:
        raise DataError(f"--val-split must be between 0 and 1 (got {val_split})")
    rng = np.random.default_rng(seed)
    k = len(data.label_names)
    if group:
        g = groups_of(data.names, group)
        uniq = np.unique(g)
        if len(uniq) < 2:
            raise DataError(f"--group {group!r} finds one group ({uniq[0]}); a split by person needs at least two")
        target = val_split * np.bincount(data.labels, minlength=k)
        per = {u: np.bincount(data.labels[g == u], minlength=k) for u in uniq}
        val_counts, val_groups = np.zeros(k), []
        for u in rng.permutation(uniq):
            room = np.maximum(target - val_counts, 0)
            # take a group while it fills more of what the labels still need than it overshoots
            if per[u].sum() and np.minimum(per[u], room).sum() >= 0.5 * per[u].sum():
                val_groups.append(u)
                val_counts += per[u]
        if not val_groups:
            val_groups = [min(uniq, key=lambda u: per[u].sum())]
        va = np.isin(g, val_groups)
        info_groups = {"train": int(len(uniq) - len(val_groups)), "val": int(len(val_groups)),
                       "pattern": group}
    else:
        va = np.zeros(len(data), bool)
        for c in range(k):
            idx = rng.permutation(np.flatnonzero(data.labels == c))
            n = int(round(val_split * len(idx)))
            va[idx[:max(1, min(n, len(idx) - 1))]] = True
        info_groups = None
    tr = ~va
    short = [data.label_names[c] for c in range(k) if not (tr & (data.labels == c)).any()]
    if short:
        raise DataError("no training faces left for " + ", ".join(short) + " after the split"
                        + (" (its people all went to validation: add people, or lower --val-split)" if group else ""))
    train, val = data.select(np.flatnonzero(tr)), data.select(np.flatnonzero(va))
    return train, val, split_info(train, val, info_groups)


def split_info(tr: FolderData, va: FolderData, groups=None, how: str = "val_split") -> dict:
    k = tr.label_names
    info = {"how": how, "train": int(len(tr)), "val": int(len(va)),
            "per_label": {name: {"train": int((tr.labels == i).sum()), "val": int((va.labels == i).sum())}
                          for i, name in enumerate(k)}}
    if groups:
        info["groups"] = groups
    return info


def label_remap(names, labels) -> np.ndarray:
    """For each label of ``names`` (a folder's), its index in ``labels``, or -1 where ``labels`` lacks it
    (wild-dev's contempt, for the seven)."""
    labels = list(labels)
    return np.array([labels.index(n) if n in labels else -1 for n in names], np.int64)


def align_labels(val: FolderData, labels: tuple[str, ...]) -> FolderData:
    """``val`` (a separate validation folder) with its labels renumbered to ``labels``' order;
    DataError when it has a label the training folder lacks."""
    unknown = [x for x in val.label_names if x not in labels]
    if unknown:
        raise DataError(f"{val.root}: labels the training folder does not have: {', '.join(unknown)}")
    remap = np.array([labels.index(x) for x in val.label_names], np.int64)
    return FolderData(val.images, remap[val.labels], val.names, tuple(labels), val.problems, val.counts,
                      val.checksum, val.root, val.detect)


def for_run(cfg, log=print, data: FolderData | None = None):
    """``(train, val, info)`` for a training run on a user's folder (``cfg.data``, or its faces ``data``
    when read already): its faces, checked (:func:`check_faces`), split by ``cfg.val_data`` or
    ``cfg.val_split`` / ``cfg.group`` / ``cfg.seed``. ``info`` is the split's
    record, with every image that gave no face."""
    if data is None:
        data = load(cfg.data, cfg.label_names, cfg.detect, log=log)
        check_faces(data)
    if cfg.val_data:
        val = align_labels(load(cfg.val_data, None, cfg.detect, log=log), data.label_names)
        groups = None
        if cfg.group:
            gt, gv = set(groups_of(data.names, cfg.group)), set(groups_of(val.names, cfg.group))
            both = sorted(gt & gv)
            if both:
                raise DataError(f"--group {cfg.group!r}: {len(both)} people are in both {cfg.data} and "
                                f"{cfg.val_data} (e.g. {both[0]})")
            groups = {"train": len(gt), "val": len(gv), "pattern": cfg.group}
        tr, info = data, split_info(data, val, groups, how="val_data")
    else:
        tr, val, info = split(data, cfg.val_split, cfg.seed, cfg.group or None)
        info["val_split"], info["seed"] = cfg.val_split, cfg.seed
    info["problems"] = {"train_folder": data.problems, **({"val_folder": val.problems} if cfg.val_data else {})}
    info["counts"] = data.counts
    groups = info.get("groups")
    log(f"split: {info['train']} training and {info['val']} validation faces"
        + (f", {groups['train']} and {groups['val']} people (--group {groups['pattern']!r})" if groups else ""))
    return tr, val, info


def train_data(cfg, log=print) -> TrainData:
    """A user's folder (``cfg.data``) as a :class:`train.data.TrainData`: its faces
    split by :func:`for_run`, with ``labels.json`` (the labels in output order,
    which conversion reads) and ``split.json`` (which image trained and which
    validated) for the run folder. Sets ``cfg.labels`` to the resolved order,
    which the run's config records."""
    tr, va, info = for_run(cfg, log)
    return as_train_data(cfg, tr, va, info)


def as_train_data(cfg, tr: FolderData, va: FolderData, info: dict) -> TrainData:
    """The split ``(tr, va, info)`` of :func:`for_run` as a :class:`train.data.TrainData` with its records."""
    cfg.labels = ",".join(tr.label_names)
    split_rec = {
        "data": str(Path(cfg.data).resolve()), "val_data": str(Path(cfg.val_data).resolve()) if cfg.val_data else "",
        "detect": bool(cfg.detect), "labels": list(tr.label_names), "data_checksum_sha256": tr.checksum,
        "val_checksum_sha256": va.checksum, **info,
        "train_files": [[str(n), tr.label_names[int(y)]] for n, y in zip(tr.names, tr.labels)],
        "val_files": [[str(n), va.label_names[int(y)]] for n, y in zip(va.names, va.labels)]}
    groups = groups_of(tr.names, cfg.group) if cfg.group else None
    return TrainData(tr.images, tr.labels, va.images, va.labels, tuple(tr.label_names), tr.checksum,
                     train_groups=groups, record={"val_split": "a user's folder: split.json", "skipped": tr.skipped},
                     files={LABELS_FILE: {"labels": list(tr.label_names)}, "split.json": split_rec})


def validation_of(run: Path, log=print) -> FolderData:
    """The validation faces of a finished run on a user's folder, from its ``split.json``
    (the crops come from the cache; the images are read again only when it is gone)."""
    f = Path(run) / "split.json"
    if not f.is_file():
        raise DataError(f"{run}: no split.json (not a run on a user's folder)")
    rec = json.loads(f.read_text())
    root = rec["val_data"] or rec["data"]
    data = load(root, None if rec["val_data"] else tuple(rec["labels"]), rec["detect"], log=log)
    if rec["val_data"]:
        data = align_labels(data, tuple(rec["labels"]))
    want = {n for n, _ in rec["val_files"]}
    keep = np.flatnonzero([str(n) in want for n in data.names])
    if len(keep) != len(want):
        raise DataError(f"{root}: {len(want) - len(keep)} validation images of {run} are no longer there")
    return data.select(keep)
