"""A person's own baseline (issue #45): plain, reference and automatic readings, where each helps and where
each hurts.

    python -m benchmarks.baseline            # writes benchmarks/results/baseline.json and .md
    python -m benchmarks.baseline --model micro

Four measurements, each with the shipped model as ``fer-infer`` runs it (one pass) and the one rule of
:mod:`runtime.baseline` (constants from the model's contract):

* **posed**: ``posed/``'s lab crops of the people the model never trained on (its tier's record says which;
  for a model trained on every posed person, the cross-validated probabilities of its recipe,
  :mod:`convert.release.crossval`, with the model's temperature), grouped by person, read plainly and
  automatically (each person's crops a sitting: each read against the person's other crops that read
  neutral). No posed face is neutral.
* **smile clip**: the pipeline benchmark's one-person clip (``benchmarks.clips``: the bundled portrait, smiling,
  moving for 10 s) through :class:`runtime.video.Follower` and :class:`runtime.video.Tracker`: the share of
  frames read happy, plainly and with ``--baseline auto``.
* **relaxed, expression, relaxed**: for each person of ``wild-dev`` with a neutral photo and an expression
  other than happy, a clip of face crops (30 frames of the neutral photo, 30 of the expression, 30 of the
  neutral photo again) through the tracker with the default smoothing: the share of middle frames read as the
  expression and of the outer frames read neutral; plain, automatic, and the first neutral frame as the
  reference. The photos come from different days (news photos): a harder case than one sitting.
* **across sittings**: for each person of ``wild-dev`` with a neutral photo and another photo, the other
  photos read plainly and against that neutral photo as a reference: what a reference from another day does.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import asdict
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks import clips
from benchmarks.accuracy import posed_source
from runtime.baseline import Baseline, Reader, auto_photos, probabilities_of, reading
from runtime.classifier import BUNDLED_MODEL, MICRO_MODEL
from runtime.contract import calibrate
from runtime.recognizer import Face, Recognizer
from runtime.video import Follower, Tracker
from train.io import atomic_write_json, atomic_write_text
from train.paths import REPO
from train.recipes import posed as posed_data

OUT = REPO / "benchmarks" / "results" / "baseline"
DATA = REPO.parent / "shared" / "data"
#: frames a photo is held in the relaxed, expression, relaxed clips (1 s at 30 frames a second)
HOLD = 30


def _recall(y: np.ndarray, pred: np.ndarray, labels) -> dict:
    return {labels[c]: round(float((pred[y == c] == c).mean()), 4) for c in sorted(set(y.tolist()))}


def posed(rec: Recognizer, folder: Path, model: Path) -> dict | None:
    """Plain and automatic readings of the posed people ``model`` never trained on, grouped by person (None:
    it trained on all of them and its tier has no cross-validated probabilities)."""
    labels = list(rec.classifier.labels)
    faces = posed_data.load(folder, tuple(labels))
    folds, record = posed_source(model)
    if folds:
        held = faces.select(posed_data.held_out_rows(faces, folds))
        probs = np.stack([rec.classifier.run(c) for c in held.images])
    else:
        cv = posed_data.crossval_probs(record, faces, labels) if record is not None else None
        if cv is None:
            return None
        held, probs = faces, calibrate(cv, rec.classifier.temperature)
    reader = Reader(labels, rec.contract.baseline, "auto")
    auto = np.zeros(len(probs), int)
    for person in sorted(set(held.persons.tolist())):
        rows = np.flatnonzero(held.persons == person)
        for i, (label, _) in zip(rows, auto_photos(reader, list(probs[rows]))):
            auto[i] = labels.index(label)
    plain = probs.argmax(1)
    y = held.labels
    return {"faces": int(len(y)), "people": len(set(held.persons.tolist())), "folds": sorted(folds),
            "crossval": not folds,
            "plain": {"accuracy": round(float((plain == y).mean()), 4), "recall": _recall(y, plain, labels)},
            "auto": {"accuracy": round(float((auto == y).mean()), 4), "recall": _recall(y, auto, labels)}}


def smile_clip(model: str) -> dict:
    """The share of frames read happy in the one-person clip, plain and automatic."""
    import cv2  # deferred: OpenCV is an optional extra (video)

    path = clips.make_clip("one")
    out = {}
    for mode in ("plain", "auto"):
        rec = Recognizer(model, threads=1)
        labels = list(rec.classifier.labels)
        tracker = Tracker(labels, reader=Reader(labels, rec.contract.baseline, mode) if mode == "auto" else None)
        follower = Follower(rec, clips.DETECT_EVERY)
        cap = cv2.VideoCapture(str(path))
        read, happy = 0, 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            for t in tracker.update(follower.faces(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))):
                read += 1
                happy += t["label"] == "happy"
        cap.release()
        out[mode] = {"faces": read, "happy": round(happy / max(read, 1), 4)}
    return out


def _people(folder: Path) -> dict[str, dict[str, list[Path]]]:
    """wild-dev's photos by person (the file name without its number) and label."""
    out: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for label_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in sorted(label_dir.glob("*.png")):
            out[re.sub(r"_?\d+$", "", f.stem)][label_dir.name].append(f)
    return out


class _CropProbs:
    """The probabilities of wild-dev's crops, each computed once however many measurements read it."""

    def __init__(self, rec: Recognizer):
        self.rec, self.done = rec, {}

    def __call__(self, path: Path) -> np.ndarray:
        if path not in self.done:
            (face,) = self.rec.predict(str(path), detect=False)
            self.done[path] = np.array(probabilities_of(face, self.rec.classifier.labels))
        return self.done[path]


def _reference(labels, rule, probs) -> Reader:
    """A reader of faces against one relaxed face ``probs``."""
    base = Baseline()
    base.add(probs)
    return Reader(labels, rule, "reference", base)


def round_trip(rec: Recognizer, people: dict, crop_probs: _CropProbs) -> dict:
    """Relaxed, expression, relaxed clips of wild-dev's people (crops, the default smoothing)."""
    labels = list(rec.classifier.labels)
    rule = rec.contract.baseline
    cases = []
    for person, by_label in people.items():
        if "neutral" not in by_label:
            continue
        for label, files in by_label.items():
            if label in ("neutral", "happy") or label not in labels:
                continue
            cases.append((person, label, by_label["neutral"][0], files[0]))
    stats = {m: {"middle": 0, "outer": 0} for m in ("plain", "auto", "reference")}
    per_label = {m: defaultdict(lambda: [0, 0]) for m in stats}
    for person, label, relaxed, expr in cases:
        pr, pe = crop_probs(relaxed), crop_probs(expr)
        seq = [pr] * HOLD + [pe] * HOLD + [pr] * HOLD
        readers = {"plain": None, "auto": Reader(labels, rule, "auto"), "reference": _reference(labels, rule, pr)}
        for mode, reader in readers.items():
            tr = Tracker(labels, reader=reader)
            got = [tr.update([Face([0, 0, 96, 96], 1.0, "x", dict(zip(labels, p.tolist())))])[0]["label"] for p in seq]
            mid = sum(g == label for g in got[HOLD:2 * HOLD])
            outer = sum(g == "neutral" for g in got[:HOLD] + got[2 * HOLD:])
            stats[mode]["middle"] += mid
            stats[mode]["outer"] += outer
            per_label[mode][label][0] += mid
            per_label[mode][label][1] += HOLD
    n = max(len(cases), 1)
    return {"clips": len(cases), "people": len({c[0] for c in cases}), "frames_held": HOLD,
            **{m: {"middle_read_as_expression": round(s["middle"] / (n * HOLD), 4),
                   "outer_read_neutral": round(s["outer"] / (n * 2 * HOLD), 4),
                   "middle_by_label": {k: round(v[0] / v[1], 4) for k, v in sorted(per_label[m].items())}}
               for m, s in stats.items()}}


def across_sittings(rec: Recognizer, people: dict, crop_probs: _CropProbs) -> dict:
    """Each person's other photos, plainly and against one neutral photo of the person from another day."""
    labels = list(rec.classifier.labels)
    y, plain, ref = [], [], []
    for person, by_label in people.items():
        if "neutral" not in by_label:
            continue
        anchor = by_label["neutral"][0]
        others = [(l, f) for l, fs in by_label.items() for f in fs if f != anchor and l in labels]
        if not others:
            continue
        reader = _reference(labels, rec.contract.baseline, crop_probs(anchor))
        for label, f in others:
            p = crop_probs(f)
            y.append(labels.index(label))
            plain.append(int(np.argmax(p)))
            ref.append(labels.index(reading(reader, p)[0]))
    y, plain, ref = map(np.asarray, (y, plain, ref))
    return {"photos": int(len(y)),
            "plain": {"accuracy": round(float((plain == y).mean()), 4), "recall": _recall(y, plain, labels)},
            "reference": {"accuracy": round(float((ref == y).mean()), 4), "recall": _recall(y, ref, labels)}}


def measure(model: str = str(BUNDLED_MODEL), data: Path = DATA, log=print) -> dict:
    rec = Recognizer(model, detector="none", threads=1)
    r = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "model": Path(model).name,
         "rule": asdict(rec.contract.baseline)}
    if (data / "posed").is_dir():
        log("posed people held out ...")
        q = posed(rec, data / "posed", Path(model))
        if q is not None:
            r["posed"] = q
    log("smile clip ...")
    r["smile_clip"] = smile_clip(model)
    if (data / "wild-dev").is_dir():
        people, crop_probs = _people(data / "wild-dev"), _CropProbs(rec)
        log("relaxed, expression, relaxed clips ...")
        r["round_trip"] = round_trip(rec, people, crop_probs)
        log("across sittings ...")
        r["across_sittings"] = across_sittings(rec, people, crop_probs)
    return r


def pct(x) -> str:
    return f"{100 * x:.1f}%"


def markdown(r: dict) -> str:
    """The report of a run: a title, the command, and :func:`summary`."""
    return (f"# Reading a face against the person's own baseline ({r['date']}, `{r['model']}`)\n\n"
            f"`python -m benchmarks.baseline`. {summary(r)}")


def write(r: dict, out: Path = OUT) -> None:
    """``out``.json and ``out``.md of a run (the suite and this command both write them)."""
    atomic_write_json(out.with_suffix(".json"), r)
    atomic_write_text(out.with_suffix(".md"), markdown(r))


def summary(r: dict) -> str:
    """The rule's constants and the table of plain, reference and automatic readings (the README's block)."""
    rule = r["rule"]
    lines = [f"The rule (`runtime/contract.py`, `BaselineRule`): margin {rule['margin']} nats; automatic: "
             f"{rule['min_frames']} relaxed frames before a track is read against them, the last {rule['window']} "
             f"kept; a sitting of photos needs {rule['min_photos']} other relaxed photo(s).",
             "", "| case | plain | reference | automatic |", "|---|---|---|---|"]
    if "posed" in r:
        q = r["posed"]
        rec = lambda m: ", ".join(f"{k} {v:.2f}" for k, v in q[m]["recall"].items())  # noqa: E731
        cv = ", cross-validated" if q.get("crossval") else ""
        lines.append(f"| posed crops, {q['people']} people held out ({q['faces']} faces{cv}), grouped by person: "
                     f"accuracy | "
                     f"{pct(q['plain']['accuracy'])} | (no relaxed face) | {pct(q['auto']['accuracy'])} |")
        lines.append(f"| the same, recall | {rec('plain')} | | {rec('auto')} |")
    s = r["smile_clip"]
    lines.append(f"| smile clip (one person smiling throughout, 300 frames): frames read happy | {pct(s['plain']['happy'])} "
                 f"| | {pct(s['auto']['happy'])} |")
    if "round_trip" in r:
        t = r["round_trip"]
        cell = lambda m, k: pct(t[m][k])  # noqa: E731
        lines.append(f"| relaxed, expression, relaxed ({t['clips']} clips of {t['people']} people of wild-dev): middle "
                     f"frames read as the expression | {cell('plain', 'middle_read_as_expression')} | "
                     f"{cell('reference', 'middle_read_as_expression')} | {cell('auto', 'middle_read_as_expression')} |")
        lines.append(f"| the same: relaxed frames read neutral | {cell('plain', 'outer_read_neutral')} | "
                     f"{cell('reference', 'outer_read_neutral')} | {cell('auto', 'outer_read_neutral')} |")
    if "across_sittings" in r:
        a = r["across_sittings"]
        lines.append(f"| across sittings: {a['photos']} wild-dev photos against a neutral photo of the same person "
                     f"from another day: accuracy | {pct(a['plain']['accuracy'])} | {pct(a['reference']['accuracy'])} | |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.baseline", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="release", help="release, micro or a .tflite")
    ap.add_argument("--data", type=Path, default=DATA, help="the folder with posed/ and wild-dev/")
    ap.add_argument("--out", type=Path, default=OUT, help="results, without extension")
    a = ap.parse_args(argv)
    model = {"release": str(BUNDLED_MODEL), "micro": str(MICRO_MODEL)}.get(a.model, a.model)
    r = measure(model, a.data, log=lambda m: print(m, file=sys.stderr, flush=True))
    write(r, a.out)
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
