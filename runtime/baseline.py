"""A person's own baseline: read a face against the same person's relaxed face from the same sitting.

People's resting faces differ (one looks stern, another sad); a single-image model reads that resting look
as an expression. Within one sitting (a camera session, a video, a set of photos taken together) the
person's own relaxed face is a better baseline than nobody's. The rule, the same in every runtime (the
Android core's ``Baseline``, the web core's ``baseline.js``), with its constants in
:class:`runtime.contract.BaselineRule`:

* a face's *rise* over its baseline is ``log p - b`` per label, ``p`` its (calibrated) probabilities
  floored at :data:`runtime.contract.CALIBRATION_FLOOR`, ``b`` the mean of the same floored
  log-probabilities over the baseline's faces;
* the face reads as the label whose rise above the neutral label's rise is largest, when that is at
  least ``margin`` nats; otherwise it reads neutral.

Where the baseline comes from:

* **reference** (``fer-infer --neutral PATH``, ``--calibrate SECONDS``): photos or frames of the person
  relaxed; every face is read against them;
* **auto** (``--baseline auto``): from the faces of the sitting itself that read neutral. In a video or
  camera each track keeps its own (:class:`TrackBaseline`): a frame joins it when it reads neutral against
  the baseline so far (plainly, before ``min_frames`` have joined), it holds the last ``window`` such frames,
  and it goes with its track (a new person starts fresh, a lost track forgets). In a set of photos
  (:func:`auto_photos`) each photo is read against the person's *other* photos that read neutral plainly.
  A person who never looks relaxed (smiles the whole time) has no baseline and keeps the plain reading.

The baseline belongs to one sitting: across days, light and camera change, and a neutral photo from another
day made real web faces worse (issue #45), so it is never stored with a person.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .contract import CALIBRATION_FLOOR, BaselineRule
from .errors import ConfigError


#: a reference photo whose second largest face has at least this share of the largest's area holds no
#: one person clearly
EQUAL_FACES = 0.8


def face_area(face) -> float:
    """The area of a face's box: the person of a photo is its largest face."""
    return face.box[2] * face.box[3]


def probabilities_of(face, labels) -> list[float]:
    """A classified face's probabilities in ``labels``' order (what a baseline is made of)."""
    return [face.probabilities[l] for l in labels]


def largest_face(faces, where: str):
    """The largest classified face of ``faces``; a ConfigError when there is none, or two about as large
    (:data:`EQUAL_FACES`), ``where`` naming the photo or frame."""
    faces = sorted((f for f in faces if f.label is not None), key=face_area, reverse=True)
    if not faces:
        raise ConfigError(f"{where}: no face found; a reference is the person's relaxed face")
    if len(faces) > 1 and face_area(faces[1]) >= EQUAL_FACES * face_area(faces[0]):
        raise ConfigError(f"{where}: {len(faces)} faces about as large as each other; a reference holds the "
                          "person alone (crop it to one face)")
    return faces[0]


def log_probs(probs) -> np.ndarray:
    """The floored log-probabilities a baseline is made of and read against."""
    return np.log(np.maximum(np.asarray(probs, np.float64), CALIBRATION_FLOOR))


def neutral_index(labels, rule: BaselineRule) -> int:
    """The index of the rule's neutral label among ``labels``, or a FerError (exit 2) naming it."""
    labels = list(labels)
    if rule.neutral not in labels:
        raise ConfigError(f"a baseline needs a '{rule.neutral}' label; this model's labels are {', '.join(labels)}")
    return labels.index(rule.neutral)


def read(probs, base: np.ndarray, neutral: int, margin: float) -> tuple[int, np.ndarray]:
    """(the label index a face reads as against baseline ``base``, each label's rise above neutral's in nats)."""
    rise = log_probs(probs) - base
    rise = rise - rise[neutral]
    best = int(np.argmax(np.where(np.arange(len(rise)) == neutral, -np.inf, rise)))
    return (best if rise[best] >= margin else neutral), rise


class Baseline:
    """The mean floored log-probabilities of the faces added (the last ``window`` of them; 0 = all)."""

    def __init__(self, window: int = 0):
        self._rows: deque = deque(maxlen=window or None)

    def add(self, probs) -> None:
        self._rows.append(log_probs(probs))

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def log_probs(self) -> np.ndarray:
        return np.mean(np.stack(self._rows), axis=0)


class Reader:
    """How faces are read against the person's baseline in one sitting: ``mode`` "reference" (every face
    against a fixed baseline) or "auto" (each person's own, built as it goes: :class:`TrackBaseline`). A plain
    run has no reader."""

    def __init__(self, labels, rule: BaselineRule, mode: str, reference: Baseline | None = None):
        if mode not in ("reference", "auto"):
            raise ValueError(f"baseline mode must be reference or auto (got {mode!r})")
        if mode == "reference" and (reference is None or not len(reference)):
            raise ValueError("reference mode needs a reference baseline with at least one face")
        self.labels, self.rule, self.mode, self.reference = list(labels), rule, mode, reference
        self.neutral = neutral_index(self.labels, rule)

    def against(self, probs, base: Baseline, mode: str) -> tuple[str, dict]:
        """(label, the face's ``baseline`` record) of ``probs`` read against ``base``."""
        i, rise = read(probs, base.log_probs, self.neutral, self.rule.margin)
        plain = self.labels[int(np.argmax(probs))]
        return self.labels[i], {"mode": mode, "faces": len(base), "plain_label": plain,
                                "rise": {l: round(float(v), 3) for l, v in zip(self.labels, rise)}}

    def not_read(self, probs, mode: str, faces: int = 0) -> tuple[str, dict]:
        """(the plain label, a ``baseline`` record saying no baseline was ready)."""
        plain = self.labels[int(np.argmax(probs))]
        return plain, {"mode": mode, "faces": faces, "plain_label": plain, "rise": None}


class TrackBaseline:
    """The automatic baseline of one track (one person in one video or camera session)."""

    def __init__(self, reader: Reader):
        self.reader = reader
        self.base = Baseline(reader.rule.window)

    def read(self, probs) -> tuple[str, dict]:
        r = self.reader
        if len(self.base) >= r.rule.min_frames:
            label, info = r.against(probs, self.base, "auto")
        else:
            label, info = r.not_read(probs, "auto", len(self.base))
        if label == r.labels[r.neutral]:
            self.base.add(probs)
        return label, info


def auto_photos(reader: Reader, probs: list) -> list[tuple[str, dict]]:
    """One sitting of one person as a set of photos (``probs``: the largest face of each): each read against
    the person's other photos whose plain reading is neutral (at least ``rule.min_photos`` of them), else
    plainly."""
    neutral = [int(np.argmax(p)) == reader.neutral for p in probs]
    out = []
    for i, p in enumerate(probs):
        base = Baseline()
        for j, q in enumerate(probs):
            if j != i and neutral[j]:
                base.add(q)
        if len(base) >= reader.rule.min_photos:
            out.append(reader.against(p, base, "auto"))
        else:
            out.append(reader.not_read(p, "auto", len(base)))
    return out


def reading(reader: Reader, probs) -> tuple[str, dict]:
    """A face read against the fixed reference (reference mode)."""
    return reader.against(probs, reader.reference, "reference")


def read_mode(info: dict | None) -> str:
    """How a face was read, from its ``baseline`` record: "reference", "auto", or "plain" where no baseline
    was ready, it was calibrating or it is not the sitting's person."""
    return info["mode"] if info and info.get("rise") is not None else "plain"


def csv_columns(info: dict | None, label: str | None) -> list[str]:
    """The two CSV columns of a face in a baseline run: how it was read (:func:`read_mode`) and its plain label."""
    return [read_mode(info), (info or {}).get("plain_label", label or "")]
