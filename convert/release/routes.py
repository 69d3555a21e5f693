"""The int8 routes of a release: each converted, measured on the evaluation
splits and, when FER+ votes and ``wild-dev`` are there, on the choosing sets of
real faces; the best on the choosing sets shipped (never PrivateTest)."""

from __future__ import annotations

from pathlib import Path

from convert.quantize import GateError, QuantizationConfig, quantize
from convert.release.history import FLOAT, INT8, QAT, repo_relative
from runtime.classifier import Classifier
from runtime.errors import DataError, ModelError
from train.audit import evaluation_masks
from train.metrics import summarize
from train.recipes.choose import load_sets, measure

#: (route, calibration faces, calibration seed): post-training int8 of the float
#: model, int8 of the QAT model. The calibration seed is not a route:
#: ``python -m convert.release --run models`` at commit 89ba912 (whose routes
#: had three seeds of 300 faces) gave the release of then int8 PublicTest
#: 68.79 / 68.90 / 68.71% and PrivateTest 69.63 / 69.02 / 69.77% (seeds 0 / 1 /
#: 2): which faces calibrate moves both splits by up to 0.7 point
#: independently, so choosing a seed on PublicTest picks noise.
ROUTES = (("ptq", 300, 0), ("ptq", 1000, 0), ("qat", 300, 0))


#: the sets a route is chosen on when they are there (issue #36): PublicTest with FER-2013's labels and with
#: the FER+ majority, and the real web faces of wild-dev; their mean accuracy decides
CHOOSING = ("PublicTest", "PublicTest_FERplus", "wild_dev")


def route_score(candidate: dict) -> float:
    """What a route is chosen by: the mean int8 accuracy on the choosing sets (:data:`CHOOSING`) when they
    were measured, else PublicTest's."""
    real = candidate.get("real_faces")
    if real:
        return float(sum(real[k]["accuracy"] for k in CHOOSING) / len(CHOOSING))
    return candidate["int8"]["PublicTest"]["accuracy"]


def choose_route(candidates: list[dict]) -> int:
    """Index of the candidate to ship: the best :func:`route_score` among those
    that passed the gate (the earlier one on a tie). PrivateTest figures are
    reported, never used."""
    ok = [i for i, c in enumerate(candidates) if c.get("int8")]
    if not ok:
        raise ValueError("no int8 route passed the accuracy gate")
    return max(ok, key=lambda i: (route_score(candidates[i]), -i))


def real_face_sets(data_arg, log=print, posed_held: frozenset[int] = frozenset()) -> dict | None:
    """The choosing sets of real faces (:func:`train.recipes.choose.load_sets` with PrivateTest's FER+
    majority to report; the posed people of the folds ``posed_held``, those the model never trained on:
    :func:`train.recipes.posed.record_held_out`), or None when the FER+ votes or wild-dev are not beside
    FER-2013."""
    try:
        return load_sets(data_arg, report=True, posed_held=posed_held)
    except (DataError, FileNotFoundError) as e:
        log(f"routes chosen on PublicTest alone: {e}")
        return None


def measure_sets(path: Path, sets: dict, tta: str = "none") -> tuple[dict, dict]:
    """(figures, probabilities) of an int8 model (its own softmax, one pass or flip-averaged) on ``sets`` as
    :func:`train.recipes.choose.load_sets` gives them: accuracy, macro-F1, per-class recall, confusion."""
    clf = Classifier(path, threads=2, tta=tta, calibrated=False)
    probs = {k: clf.predict_proba(v[0]) for k, v in sets.items()}
    return measure(probs, sets), probs


def route_table(candidates: list[dict], chosen: int) -> str:
    real = any(c.get("real_faces") for c in candidates)
    lines = ["| route | source | calibration faces | seed | front | PublicTest | PrivateTest | clean PrivateTest | "
             + ("mean of the choosing sets | " if real else "") + "|",
             "|---|---|---|---|---|---|---|---|---|" + ("---|" if real else "")]
    for i, c in enumerate(candidates):
        if c.get("int8"):
            acc = " | ".join(f"{100 * c['int8'][s]['accuracy']:.2f}%" for s in ("PublicTest", "PrivateTest",
                                                                                  "PrivateTest_clean"))
        else:
            acc = f"failed: {c.get('error', '')} | | "
        if real:
            acc += f" | {100 * route_score(c):.2f}%" if c.get("real_faces") else " | "
        lines.append(f"| {c['route']} | `{c['source']}` | {c['samples']} | {c.get('seed', 0)} | "
                     f"{c.get('front', '')} | {acc} | {'**shipped**' if i == chosen else ''} |")
    return "\n".join(lines)


def split_probs(path: Path, data, tta: str = "none") -> dict:
    """{split: probabilities} of an int8 model on each evaluation split: the
    model's own softmax (no temperature), one pass or flip-averaged."""
    clf = Classifier(path, threads=2, tta=tta, calibrated=False)
    return {name: clf.predict_proba(data.images[mask]) for name, mask in evaluation_masks(data).items()}


def evaluate_tflite(path: Path, data, tta: str = "none", probs: dict | None = None) -> dict:
    """Metrics of an int8 model on each evaluation split (from ``probs`` of :func:`split_probs` when given)."""
    probs = probs if probs is not None else split_probs(path, data, tta)
    return {name: summarize(data.labels[mask], probs[name]) for name, mask in evaluation_masks(data).items()}


def convert_routes(out: Path, data, data_arg, has_qat: bool, log, sets: dict | None = None) -> tuple[list[dict], int]:
    """Convert and measure every int8 route (also on ``sets``, the choosing sets of real faces, when given);
    ship the one :func:`choose_route` picks as ``out/INT8``."""
    cands = []
    for route, samples, seed in ROUTES:
        src = out / (QAT if route == "qat" else FLOAT)
        if route == "qat" and not has_qat:
            continue
        tmp = out / f".route-{route}-{samples}-{seed}.tflite"
        c = {"route": route, "source": repo_relative(src), "samples": samples, "seed": seed, "file": tmp}
        try:
            log(f"route {route}, {samples} calibration faces, seed {seed}")
            c["report"] = quantize(src, tmp, QuantizationConfig.for_int8(samples=samples, seed=seed), data=data_arg,
                                   log=log)
            c["front"] = c["report"]["graph"]["front"].split(" (")[0]
            c["probs"] = split_probs(tmp, data)
            c["int8"] = evaluate_tflite(tmp, data, probs=c["probs"])
            log(f"  PublicTest {100 * c['int8']['PublicTest']['accuracy']:.2f}%")
            if sets:
                c["real_faces"], c["real_probs"] = measure_sets(tmp, sets)
                log("  " + ", ".join(f"{k} {100 * c['real_faces'][k]['accuracy']:.2f}%" for k in CHOOSING))
        except (ModelError, GateError) as e:
            c["error"] = str(e)
            log(f"  {e}")
        cands.append(c)
    chosen = choose_route(cands)
    win = cands[chosen]["file"]
    win.with_suffix(".tflite.json").replace((out / INT8).with_suffix(".tflite.json"))
    win.replace(out / INT8)
    for c in cands:
        for f in (c["file"], c["file"].with_suffix(".tflite.json")):
            f.unlink(missing_ok=True)
        c["file"] = INT8 if c is cands[chosen] else None
    return cands, chosen
