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
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.errors import ConfigError, DataError
from train import config as train_config
from train import user_folder
from train.paths import POSED_CV_NPZ

#: the person of a posed file name (``S005_001_00000011.png`` -> ``S005``)
PERSON = re.compile(r"(?:^|/)(S\d+)_")
#: how ``posed/``'s people are split (runs set ``posed_folds: 4``) and the fold a model chosen on the posed
#: people held out leaves out by default (``posed_fold: 0``: 135 faces of 13 people)
FOLDS, FOLD = 4, 0
#: every fold: the people a model that never trained on ``posed/`` holds out
EVERY_FOLD = frozenset(range(FOLDS))
#: where the lower face begins in a posed crop, a share of its height (the crops are cut alike: eyes near
#: 0.35, the tip of the nose near 0.55, the mouth near 0.7)
MOUTH_LINE = 0.6


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


def folds_of(posed: Posed, folds: int = FOLDS) -> np.ndarray:
    """The fold of each face's person (:func:`fold_of`)."""
    return np.array([fold_of(p, folds) for p in posed.persons], int)


def split(posed: Posed, folds: int, fold: int) -> tuple[Posed, Posed]:
    """(the people that train, the people of fold ``fold`` held out); ``fold`` -1: every person trains."""
    if folds < 2 or not -1 <= fold < folds:
        raise ConfigError(f"posed_fold must be -1 or 0..{folds - 1} with posed_folds >= 2 (got {fold} of {folds})")
    held = (folds_of(posed, folds) == fold) if fold >= 0 else np.zeros(len(posed.labels), bool)
    return posed.select(np.flatnonzero(~held)), posed.select(np.flatnonzero(held))


def repeated_rows(labels: np.ndarray, repeat: int, balance: float = 0.0) -> np.ndarray:
    """Indices into ``labels`` with each face ``repeat * (max_n / n_label) ** balance`` times (rounded), in
    blocks of whole passes over the faces so that every face of a label is seen equally often."""
    counts = np.bincount(labels)
    most = counts.max()
    times = {c: max(1, int(round(repeat * (most / n) ** balance))) for c, n in enumerate(counts) if n}
    return np.concatenate([np.flatnonzero(labels == c).repeat(k) for c, k in times.items()]) if times \
        else np.zeros(0, int)


def hide_mouth(images: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``images`` (uint8 ``[N, H, W]``) with the lower face (from :data:`MOUTH_LINE`) of a seeded ``share`` of
    them flattened to that region's mean, and which ones: such a face keeps its label, so its expression must
    be read from the brows and eyes."""
    hidden = np.random.default_rng(seed).random(len(images)) < share
    out = images.copy()
    top = int(round(MOUTH_LINE * images.shape[1]))
    lower = out[hidden, top:]
    out[hidden, top:] = np.round(lower.mean(axis=(1, 2), keepdims=True)).astype(images.dtype)
    return out, hidden


def record(train: Posed, held: Posed, rows: np.ndarray, label_names, cfg) -> dict:
    """How the posed faces entered a run (``rows``: :func:`repeated_rows` of ``train``), for its ``data.json``."""
    ys = train.labels[rows]
    return {"folder": str(cfg.posed), "checksum": train.checksum, "folds": cfg.posed_folds,
            "held_out_fold": cfg.posed_fold, "repeat": cfg.posed_repeat, "train_faces": int(len(train.labels)),
            "train_people": int(len(set(train.persons.tolist()))), "held_out_faces": int(len(held.labels)),
            "held_out_people": sorted(set(held.persons.tolist())), "dropped_labels": train.dropped,
            "balance": cfg.posed_balance, "hide_mouth": cfg.posed_hide_mouth, "rows": int(len(rows)),
            "rows_by_label": {label_names[c]: int((ys == c).sum()) for c in sorted(set(train.labels.tolist()))}}


def config_held_out(cfg: dict) -> frozenset[int]:
    """The folds of :data:`FOLDS` whose people a run of config ``cfg`` (a dict) never trained on: every fold
    without ``posed``, none with ``posed_fold: -1``, else its fold."""
    if not cfg.get("posed"):
        return EVERY_FOLD
    folds, fold = int(cfg.get("posed_folds", FOLDS)), int(cfg.get("posed_fold", FOLD))
    if folds != FOLDS:
        raise ConfigError(f"a run split posed/ into {folds} folds; the choosing set is one of {FOLDS}")
    return frozenset() if fold < 0 else frozenset({fold})


def held_out(configs: list[dict], base: frozenset[int] = EVERY_FOLD) -> frozenset[int]:
    """The folds no ingredient of a blend trained on (``base``: the base model's)."""
    out = frozenset(base)
    for cfg in configs:
        out &= config_held_out(cfg)
    return out


def record_held_out(record: Path) -> frozenset[int]:
    """The folds of ``posed/``'s people the model of a run or release record (a folder with ``blend.json``
    or ``config.yaml``) never trained on."""
    blend = record / "blend.json"
    if blend.is_file():
        b = json.loads(blend.read_text())
        if "posed_held_out" in b:
            return frozenset(b["posed_held_out"])
        # a blend recorded before the field: its base never trained on posed/
        return held_out([i["config"] for i in b["ingredients"]])
    cfg = record / "config.yaml"
    if cfg.is_file():
        return config_held_out(train_config.load_preset(str(cfg)).to_dict())
    raise ConfigError(f"{record}: no blend.json or config.yaml to tell which posed people the model trained on")


def held_out_rows(posed: Posed, folds) -> np.ndarray:
    """Indices of the faces of the people of ``folds``."""
    return np.flatnonzero(np.isin(folds_of(posed), sorted(folds)))


def crossval_probs(record: Path, faces: Posed, labels) -> np.ndarray | None:
    """The cross-validated probabilities of a release record (``posed_cv.npz``) in the order of ``faces``, or
    None when the record has none, or has them for other faces or labels."""
    if not (record / POSED_CV_NPZ).is_file():
        return None
    with np.load(record / POSED_CV_NPZ) as z:
        names, probs, label_names = z["names"].tolist(), z["probs"].astype(np.float32), z["label_names"].tolist()
    where = {n: i for i, n in enumerate(names)}
    if label_names != list(labels) or sorted(where) != sorted(faces.names.astype(str).tolist()):
        return None
    return probs[[where[n] for n in faces.names.astype(str)]]
