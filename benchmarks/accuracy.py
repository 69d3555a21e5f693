"""Accuracy of a model on labelled faces: a user's folder, or FER-2013's standard splits.

    python -m benchmarks.accuracy --model mine.tflite --data my_faces_test/            # DIR/<label>/<image>
    python -m benchmarks.accuracy --model mine.tflite --data crops/ --no-detect --json
    python -m benchmarks.accuracy --data /path/to/fer2013                             # the bundled model on FER-2013

A user's folder goes through the model's own face path (its crop rule and
input size; the runtime's detector, the code ``fer-infer`` runs), and its
labels must be the model's (a folder may hold some of them only). Prints
accuracy, macro-F1, per-label recall and the confusion matrix, or ``--json``.
Exit codes: 0 measured, 2 bad flag, model, or labels the model does not have,
3 data missing or without any face.

In the benchmark suite, for each variant (and the Keras float model when TensorFlow is installed):
PrivateTest, PublicTest, clean PrivateTest (no pixel duplicate of a Training
image), FER+ majority labels on the PrivateTest images, and the real web faces
of ``wild-dev`` when it lies beside FER-2013 (crops taken whole, as
``fer-infer --no-detect`` takes them), and ``posed/``'s people that the model
never trained on when it lies there (:func:`posed_source`: a shipped tier's
record says which; a tier that trained on every posed person has instead the
cross-validated figures of its recipe, :mod:`convert.release.crossval`, on its
int8 row); accuracy,
macro-F1, per-class precision/recall/F1, confusion matrix, expected
calibration error with its reliability bins, and top-1 agreement with the
float model.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.variants import FLOAT_MODES
from runtime.classifier import BUNDLED, Classifier
from runtime.contract import LABELS, calibrate
from runtime.errors import ConfigError, DataError, run_command
from train import fer2013, ferplus, user_folder
from train import plots as p
from train.audit import evaluation_masks
from train.io import file_sha256
from train.metrics import expected_calibration_error, reliability, summarize
from train.paths import MODELS, RECORDS, record_dir
from train.recipes import posed
from train.saved import load_keras_model

SPLITS = ("PrivateTest", "PublicTest", "PrivateTest_clean")


class EvalData:
    """The test images, labels and masks, loaded once for all variants."""

    def __init__(self, data_path, ferplus_dir=None, wild_dir=None, posed_dir=None):
        self.data = fer2013.load(data_path)
        masks = evaluation_masks(self.data)
        self.test = masks["PublicTest"] | masks["PrivateTest"]
        self.images = self.data.images[self.test]
        # Masks relative to the test images.
        self.masks = {name: masks[name][self.test] for name in SPLITS}
        self.labels = self.data.labels[self.test]
        self.majority = None
        fp = Path(ferplus_dir) if ferplus_dir else Path(data_path).parent / "ferplus"
        if (fp / "fer2013new.csv").is_file() and (fp / "fer2013_imagefolder_to_ferplus.csv").is_file():
            f = ferplus.attach(self.data, fp / "fer2013new.csv", fp / "fer2013_imagefolder_to_ferplus.csv")
            self.majority = f.majority[self.test]
        self.wild = self.posed = None      # masks of the sets appended after the test images
        wild = Path(wild_dir) if wild_dir else Path(data_path).parent / "wild-dev"
        if wild.is_dir():
            self._add_wild(wild)
        posed_root = Path(posed_dir) if posed_dir else posed.default_folder(data_path)
        if posed_root.is_dir():
            self._add_posed(posed_root)

    def _add_wild(self, root: Path) -> None:
        """Append wild-dev's faces (labels FER-2013 knows) after the test images; ``self.wild`` masks them."""
        w = user_folder.load(root, None, detect=False, log=lambda m: None)
        y = user_folder.label_remap(w.label_names, LABELS)[w.labels]
        keep = y >= 0
        self.wild_checksum = w.checksum
        self.wild = self._append(w.images[keep], y[keep])

    def _add_posed(self, root: Path) -> None:
        """Append ``posed/``'s faces; ``self.posed`` masks them, ``self.posed_faces`` holds them."""
        self.posed_faces = faces = posed.load(root, LABELS)
        self.posed_checksum = faces.checksum
        self.posed = self._append(faces.images, faces.labels)

    def _append(self, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Append faces after those there; the mask of the new ones (the masks before grow with False)."""
        n = len(labels)
        self.images = np.concatenate([self.images, images])
        self.labels = np.concatenate([self.labels, labels])
        self.masks = {k: np.concatenate([m, np.zeros(n, bool)]) for k, m in self.masks.items()}
        if self.majority is not None:
            self.majority = np.concatenate([self.majority, np.full(n, -1, self.majority.dtype)])
        if self.wild is not None:
            self.wild = np.concatenate([self.wild, np.zeros(n, bool)])
        if self.posed is not None:
            self.posed = np.concatenate([self.posed, np.zeros(n, bool)])
        return np.concatenate([np.zeros(len(self.images) - n, bool), np.ones(n, bool)])


def tflite_probs(model: Path, ev: EvalData, threads: int = 2, tta: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """(probabilities as the runtime reports them, the model's raw softmax): one
    pass over the images; the first is the second with the model's temperature."""
    clf = Classifier(model, threads=threads, tta=tta, calibrated=False)
    raw = clf.predict_proba(ev.images)
    return calibrate(raw, clf.contract.temperature).astype(np.float32), raw


def keras_probs(keras_path: Path, ev: EvalData) -> np.ndarray:
    model = load_keras_model(keras_path)
    return model.predict(ev.images[..., None].astype(np.float32), batch_size=256, verbose=0)


def posed_source(path: Path) -> tuple[frozenset[int], Path | None]:
    """(the folds of ``posed/``'s people the model at ``path`` never trained on, the record of the tier that
    ships it or None): a file of a shipped tier (any ``.tflite`` or ``.keras`` under ``models/``, matched by
    content, so the runtime's bundled copies count) has its tier's record; any other model (a peer's, a
    user's) never trained on ``posed/``."""
    tier = _shipped_tiers().get(file_sha256(path))
    rec = record_dir(tier) if tier is not None else None
    return (posed.record_held_out(rec), rec) if rec is not None and rec.is_dir() else (posed.EVERY_FOLD, None)


@functools.lru_cache(maxsize=1)
def _shipped_tiers() -> dict[str, Path]:
    """{sha256: tier folder} of every model file a shipped tier holds (hashed once a run)."""
    out = {}
    for tier in (MODELS, *sorted(d for d in MODELS.iterdir() if d.is_dir() and d != RECORDS)):
        for f in (*tier.glob("*.tflite"), *tier.glob("*.keras")):
            out.setdefault(file_sha256(f), tier)
    return out


def _posed_figures(y: np.ndarray, probs: np.ndarray, people: int, crossval: bool = False) -> dict:
    q = summarize(y, probs)
    # posed/ has no neutral face: macro-F1 over the labels it has, as the choosing sets measure it
    q["macro_f1"] = float(np.mean([v["f1"] for v in q["per_class"].values() if v["support"]]))
    return {**q, "people": people, "crossval": crossval}


def posed_figures(probs: np.ndarray, ev: EvalData, held: frozenset[int], record: Path | None,
                  int8: bool) -> dict | None:
    """Figures on the posed people of the folds ``held``; with none held out, the record's cross-validated
    figures for its int8 model (``int8``), else None."""
    if ev.posed is None:
        return None
    faces = ev.posed_faces
    if held:
        rows = posed.held_out_rows(faces, held)
        return _posed_figures(faces.labels[rows], probs[ev.posed][rows], len(set(faces.persons[rows].tolist())))
    cv = posed.crossval_probs(record, faces, LABELS) if record is not None and int8 else None
    if cv is None:
        return None
    return _posed_figures(faces.labels, cv, len(set(faces.persons.tolist())), crossval=True)


def evaluate(probs: np.ndarray, ev: EvalData, reference: np.ndarray | None = None,
             posed_held: tuple[frozenset[int], Path | None, bool] = (posed.EVERY_FOLD, None, False)) -> dict:
    """Figures on every split; ``posed_held``: (folds of posed people the model never trained on, its tier's
    record, whether it is that tier's int8 model) as :func:`posed_source` gives them."""
    out = {}
    for name in SPLITS:
        m = ev.masks[name]
        out[name] = summarize(ev.labels[m], probs[m])
        out[name]["reliability"] = reliability(ev.labels[m], probs[m])
        if reference is not None:
            out[name]["agreement_with_float"] = float((probs[m].argmax(1) == reference[m].argmax(1)).mean())
    if ev.majority is not None:
        m = ev.masks["PrivateTest"] & (ev.majority >= 0)
        out["PrivateTest_FERplus_majority"] = summarize(ev.majority[m], probs[m])
    if ev.wild is not None:
        out["wild_dev"] = summarize(ev.labels[ev.wild], probs[ev.wild])
    q = posed_figures(probs, ev, *posed_held)
    if q is not None:     # none: the model trained on every posed person and its tier has no estimate for it
        out["posed_heldout"] = q
    return out


def run(variants: dict[str, Path], data_path, keras_path: Path | None = None, log=print,
        flip: tuple[str, ...] = ()) -> dict:
    """{variant: {split: metrics}}; "keras_float" first when the Keras model can be run;
    each variant named in ``flip`` also as "<variant>+flip" (flip averaging, ``tta="flip"``)."""
    ev = EvalData(data_path)
    results, reference = {}, None
    if keras_path is not None and Path(keras_path).is_file():
        try:
            log("accuracy: Keras float model")
            reference = keras_probs(Path(keras_path), ev)
            results["keras_float"] = evaluate(reference, ev, posed_held=(posed_source(Path(keras_path))[0], None,
                                                                         False))
        except ImportError:
            log("accuracy: TensorFlow not installed; no Keras float row")
    for name, path in variants.items():
        log(f"accuracy: {name}")
        probs, raw = tflite_probs(path, ev)
        # a float variant is converted from the Keras model: it trained on what that model trained on
        held, rec = posed_source(Path(keras_path) if name in FLOAT_MODES and keras_path else path)
        results[name] = evaluate(probs, ev, reference, (held, rec, name not in FLOAT_MODES))
        if name in flip:
            # calibration before the model's temperature: ECE and reliability of its raw softmax

            for split in SPLITS:
                m = ev.masks[split]
                results[name][split]["ece_raw"] = expected_calibration_error(ev.labels[m], raw[m])
                results[name][split]["reliability_raw"] = reliability(ev.labels[m], raw[m])
            log(f"accuracy: {name} with flip averaging")
            results[f"{name}+flip"] = evaluate(tflite_probs(path, ev, tta="flip")[0], ev, reference,
                                               (held, None, False))
    return results


def plots(results: dict, out_dir: Path, stem: str) -> list[str]:
    """Confusion matrix and reliability diagram (PrivateTest) per variant; returns file names."""
    files = []
    for name, r in results.items():
        if name.endswith("+flip"):
            continue
        pt = r["PrivateTest"]
        f1, f2 = f"{stem}-{name}-confusion.png", f"{stem}-{name}-reliability.png"
        p.confusion(pt["confusion"], out_dir / f1, f"{name}, PrivateTest: accuracy {100 * pt['accuracy']:.2f}%")
        p.reliability(pt["reliability"], out_dir / f2, f"{name}, PrivateTest: ECE {pt['ece']:.3f}")
        files += [f1, f2]
        if "reliability_raw" in pt:
            f3 = f"{stem}-{name}-reliability-raw.png"
            p.reliability(pt["reliability_raw"], out_dir / f3,
                          f"{name}, PrivateTest, before temperature scaling: ECE {pt['ece_raw']:.3f}")
            files.append(f3)
    return files


def folder_accuracy(model, root, detect: bool = True, log=print) -> dict:
    """The ``.tflite`` model (as ``fer-infer --model`` runs it) on a user's folder ``root/<label>/<image>``."""
    clf = Classifier(model, threads=2)
    data = user_folder.load(root, None, detect, log=log, face_path=user_folder.FacePath(detect, model=model))
    unknown = [x for x in data.label_names if x not in clf.labels]
    if unknown:
        raise ConfigError(f"{root}: labels {', '.join(unknown)} are not the model's ({', '.join(clf.labels)})")
    y = np.array([clf.labels.index(data.label_names[c]) for c in data.labels], np.int64)
    probs = clf.predict_proba(data.images)
    r = summarize(y, probs, tuple(clf.labels))
    present = sorted(set(y.tolist()))
    r["macro_f1"] = float(np.mean([r["per_class"][clf.labels[c]]["f1"] for c in present]))
    return {"model": str(model), "data": str(root), "detect": detect, "labels": list(clf.labels),
            "faces": int(len(y)), "images_without_face": [p for p in data.problems
                                                          if not p["reason"].startswith("not an image")],
            "data_checksum_sha256": data.checksum, **r}


def folder_text(r: dict) -> str:
    labels = r["labels"]
    present = [name for name in labels if r["per_class"][name]["support"]]
    lines = [f"{r['data']}: {r['faces']} faces, accuracy {100 * r['accuracy']:.2f}%, macro-F1 "
             f"{100 * r['macro_f1']:.2f}% (over the {len(present)} labels present)"
             + (f"; {len(r['images_without_face'])} images without a usable face" if r["images_without_face"] else ""),
             "", "| label | faces | recall | precision | F1 |", "|---|---|---|---|---|"]
    for name in present:
        pc = r["per_class"][name]
        lines.append(f"| {name} | {pc['support']} | {100 * pc['recall']:.1f}% | {100 * pc['precision']:.1f}% | "
                     f"{100 * pc['f1']:.1f}% |")
    lines += ["", "confusion (rows: true, columns: predicted):", "", "| | " + " | ".join(labels) + " |",
              "|---|" + "---|" * len(labels)]
    for name, row in zip(labels, r["confusion"]):
        if name in present:
            lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="release", help="a .tflite model, or a bundled tier (release, micro)")
    ap.add_argument("--data", help="a folder DIR/<label>/<image>, or FER-2013 (default: $FER_DATA)")
    ap.add_argument("--no-detect", action="store_true", help="every image is a face crop already")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args(argv)
    log = (lambda m: print(m, file=sys.stderr))

    def body():
        root = a.data or fer2013.find_data(None)
        if root is None:
            raise DataError("no data: pass --data DIR (DIR/<label>/<image>) or FER-2013")
        if user_folder.is_fer2013(root):
            if a.no_detect:
                raise ConfigError("FER-2013 is face crops already: --no-detect goes with a folder of your own")
            model = BUNDLED.get(a.model, Path(a.model))
            r = run({"model": Path(model)}, root, log=log)["model"]
            r = {k: {m: v[m] for m in ("n", "accuracy", "macro_f1", "per_class", "confusion")} for k, v in r.items()}
            print(json.dumps(r, indent=2) if a.json else "\n".join(
                f"{k}: {v['n']} faces, accuracy {100 * v['accuracy']:.2f}%, macro-F1 {100 * v['macro_f1']:.2f}%"
                for k, v in r.items()))
            return 0
        r = folder_accuracy(a.model, root, not a.no_detect, log=log)
        print(json.dumps(r, indent=2) if a.json else folder_text(r))
        return 0

    return run_command(body)


if __name__ == "__main__":
    raise SystemExit(main())
