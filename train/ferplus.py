"""FER+ crowd votes (Microsoft FERPlus, MIT) attached to FER-2013 rows.

Ten votes per image over: neutral, happiness, surprise, sadness, anger,
disgust, fear, contempt, unknown, NF (not a face). Row i of ``fer2013new.csv``
is row i of the original ``fer2013.csv``; image-folder files are joined through
a mapping csv with ``path`` and ``fer2013_row`` columns (the image-folder names
hold no row index). Gives soft labels over the seven FER-2013 classes, majority
labels, and reports rows FER+ marks as not-a-face.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.contract import LABEL_TO_INDEX, NUM_CLASSES
from runtime.errors import DataError

from .fer2013 import FerData

VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                "unknown", "NF")
#: FER+ emotion -> FER-2013 label (contempt, unknown and NF have none).
TO_FER = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
          "anger": "angry", "disgust": "disgust", "fear": "fear"}


@dataclass
class FerPlusLabels:
    """Per-row FER+ labels aligned with a :class:`FerData`.

    Attributes:
        votes: float ``[N, 10]`` (NaN where the row has no FER+ entry).
        soft: float ``[N, 7]`` vote share over the FER-2013 classes (0 if none).
        majority: int ``[N]`` FER-2013 index of the unique top vote among the
            seven classes, or -1 (no entry, tie, not-a-face, or contempt/unknown wins).
        not_face: bool ``[N]``: NF holds the most votes.
        mapped: bool ``[N]``: the row has a FER+ entry.
    """

    votes: np.ndarray
    soft: np.ndarray
    majority: np.ndarray
    not_face: np.ndarray
    mapped: np.ndarray

    def summary(self) -> dict:
        return {"rows": int(len(self.mapped)), "mapped": int(self.mapped.sum()),
                "unmapped": int((~self.mapped).sum()), "not_face": int(self.not_face.sum()),
                "with_majority": int((self.majority >= 0).sum())}


def read_votes(path: Path) -> np.ndarray:
    """``[rows, 10]`` votes of ``fer2013new.csv`` in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"FER+ votes not found: {path}")
    rows = []
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        missing = [c for c in VOTE_COLUMNS if c not in (r.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing vote columns {missing}")
        for i, row in enumerate(r):
            try:
                rows.append([float(row[c]) for c in VOTE_COLUMNS])
            except (TypeError, ValueError):
                raise DataError(f"{path}: row {i}: votes are not numbers") from None
    return np.asarray(rows, dtype=np.float32)


def read_mapping(path: Path) -> dict[str, int]:
    """``{image-folder relative path: fer2013 row}`` from the mapping csv."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"FER+ mapping not found: {path}")
    out = {}
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        if not {"path", "fer2013_row"} <= set(r.fieldnames or []):
            raise DataError(f"{path}: needs columns path and fer2013_row")
        for row in r:
            if row["fer2013_row"].strip():
                out[row["path"]] = int(row["fer2013_row"])
    return out


def labels_from_votes(votes: np.ndarray) -> FerPlusLabels:
    n = len(votes)
    mapped = ~np.isnan(votes).any(axis=1)
    v = np.nan_to_num(votes)
    soft = np.zeros((n, NUM_CLASSES), np.float32)
    for j, name in enumerate(VOTE_COLUMNS[:7]):
        soft[:, LABEL_TO_INDEX[TO_FER[name]]] = v[:, j]
    totals = soft.sum(axis=1, keepdims=True)
    soft = np.divide(soft, totals, out=np.zeros_like(soft), where=totals > 0)
    top = v.max(axis=1)
    not_face = mapped & (v[:, 9] == top) & (top > 0)
    best = v[:, :9].argmax(axis=1)
    unique = (v[:, :9] == v[:, :9].max(axis=1, keepdims=True)).sum(axis=1) == 1
    majority = np.full(n, -1, np.int64)
    ok = mapped & ~not_face & unique & (best < 7)
    majority[ok] = [LABEL_TO_INDEX[TO_FER[VOTE_COLUMNS[b]]] for b in best[ok]]
    return FerPlusLabels(votes.astype(np.float32), soft, majority, not_face, mapped)


def attach(data: FerData, votes_csv, mapping_csv=None) -> FerPlusLabels:
    """FER+ labels for every row of ``data``.

    Rows named ``row<i>`` (from fer2013.csv) join by row index; image-folder
    rows join through ``mapping_csv``.
    """
    votes = read_votes(votes_csv)
    mapping = read_mapping(mapping_csv) if mapping_csv else None
    out = np.full((len(data), len(VOTE_COLUMNS)), np.nan, np.float32)
    for i, name in enumerate(data.names):
        if name.startswith("row") and name[3:].isdigit():
            r = int(name[3:])
        elif mapping is not None:
            r = mapping.get(name, -1)
        else:
            raise DataError("image-folder data needs the FER+ mapping csv (path -> fer2013_row)")
        if 0 <= r < len(votes):
            out[i] = votes[r]
    return labels_from_votes(out)
