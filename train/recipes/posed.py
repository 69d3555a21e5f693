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
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.errors import ConfigError, DataError

#: the person of a posed file name (``S005_001_00000011.png`` -> ``S005``)
PERSON = re.compile(r"(?:^|/)(S\d+)_")


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
    from train import user_folder  # deferred: the face path imports the runtime's detector

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"posed faces not found: {folder} (posed/<label>/S<person>_<sequence>_<frame>.png)")
    d = user_folder.load(folder, None, detect=False, log=lambda m: None)
    remap = np.array([labels.index(n) if n in labels else -1 for n in d.label_names])
    y = remap[d.labels]
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
    """The fold of a person: sha256 of the id (not md5: the posed set was halved by md5), so the split is the same on every machine and for every candidate."""
    return int(hashlib.sha256(person.encode()).hexdigest(), 16) % folds


def split(posed: Posed, folds: int, fold: int) -> tuple[Posed, Posed]:
    """(the people that train, the people of fold ``fold`` held out); ``fold`` -1: every person trains."""
    if folds < 2 or not -1 <= fold < folds:
        raise ConfigError(f"posed_fold must be -1 or 0..{folds - 1} with posed_folds >= 2 (got {fold} of {folds})")
    held = np.array([fold_of(p, folds) == fold for p in posed.persons]) if fold >= 0 else np.zeros(len(posed.labels),
                                                                                                   bool)
    return posed.select(np.flatnonzero(~held)), posed.select(np.flatnonzero(held))


def repeated_rows(labels: np.ndarray, repeat: int, balance: float = 0.0) -> np.ndarray:
    """Indices into ``labels`` with each face ``repeat * (max_n / n_label) ** balance`` times (rounded), in
    blocks of whole passes over the faces so that every face of a label is seen equally often."""
    counts = np.bincount(labels)
    most = counts.max()
    times = {c: max(1, int(round(repeat * (most / n) ** balance))) for c, n in enumerate(counts) if n}
    return np.concatenate([np.flatnonzero(labels == c).repeat(k) for c, k in times.items()]) if times \
        else np.zeros(0, int)


def record(train: Posed, held: Posed, cfg) -> dict:
    """How the posed faces entered a run, for its ``data.json``."""
    return {"folder": str(cfg.posed), "checksum": train.checksum, "folds": cfg.posed_folds, "held_out_fold": cfg.posed_fold,
            "repeat": cfg.posed_repeat, "train_faces": int(len(train.labels)),
            "train_people": int(len(set(train.persons.tolist()))), "held_out_faces": int(len(held.labels)),
            "held_out_people": sorted(set(held.persons.tolist())), "dropped_labels": train.dropped}
