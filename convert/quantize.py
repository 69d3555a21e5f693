"""``python -m convert.quantize``: Keras model -> ``.tflite`` with metadata and an accuracy gate.

Examples::

    python -m convert.quantize --out fer_int8.tflite            # the release int8, by its shipped route
    python -m convert.quantize runs/x/best.keras --mode float16 --out x_fp16.tflite
    python -m convert.quantize model.keras --out m.tflite --max-drop 0.5 --eval-split PrivateTest
    python -m convert.quantize runs/mine/best.keras --calibration my_faces/ --out mine.tflite   # your own labels

A model trained on your folder (``python -m train --data DIR``) is calibrated
on your faces (``--calibration DIR``, the training face path; ``--no-detect``
for crops), gated on its run's validation split, and carries its labels
(``labels.json``), crop rule, input contract and calibration temperature (fitted
on that split) in its metadata.

Exit codes: 0 written; 2 bad flag, path or model; 3 data missing;
4 accuracy gate failed (nothing written); 5 the output cannot be written
(unwritable folder, full disk; nothing half-written is left).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
import warnings
from dataclasses import dataclass
from math import comb
from pathlib import Path

import numpy as np

import convert  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from convert.calibration import folder_faces, representative_faces
from convert.graph import prepare
from convert.metadata import ModelInfo, populate
from convert.temperature import fit_temperature
from runtime.classifier import BUNDLED_MODEL, Classifier
from runtime.contract import LABELS, CropRule, InputContract, ModelContract
from runtime.errors import CheckError, DataError, ModelError, run_command
from runtime.metadata import inspect_bytes, inspect_file
from train import fer2013, user_folder
from train.cross_val import held_out
from train.io import atomic_path
from train.paths import REPO
from train.saved import (  # noqa: F401  (convert's API)
    check_keras_contract,
    load_keras_model,
    model_input,
    saved_labels,
)

RELEASE_KERAS = REPO / "models" / "fer_mobilenetv2.keras"
RELEASE_INT8_REPORT = REPO / "models" / "fer_mobilenetv2_int8.tflite.json"


def shipped_route() -> tuple[Path, int, int]:
    """(Keras source, calibration faces, calibration seed) of the shipped release
    int8, from its conversion report (``convert.release`` chose that route on
    PublicTest)."""
    try:
        rep = json.loads(RELEASE_INT8_REPORT.read_text())
        src = Path(rep["source"])
        cal = rep["calibration"]
        return (src if src.is_absolute() else REPO / src), int(cal["samples"]), int(cal.get("seed", 0))
    except (OSError, ValueError, KeyError, TypeError):
        return RELEASE_KERAS, 300, 0
MODES = ("int8", "float16", "dynamic", "float32")
EXIT_GATE = CheckError.exit_code


class ConvertError(ModelError):
    """The model cannot be converted (a :class:`runtime.errors.ModelError`: exit code 2)."""


class GateError(CheckError):
    """The converted model lost more than the gate allows (a :class:`runtime.errors.CheckError`: exit code 4)."""


@dataclass
class QuantizationConfig:
    """How to convert. Presets: :meth:`for_int8`, :meth:`for_float16`, ..."""

    mode: str = "int8"
    io_dtype: str = "uint8"          # int8 mode: "uint8" (zero point 0) or "int8" (zero point -128)
    calibration_samples: int = 300
    seed: int = 0
    float_layers: tuple[str, ...] = ()
    fold: bool = True                # fold the elementwise front into one convolution (convert.graph)

    @classmethod
    def for_int8(cls, io_dtype="uint8", samples=300, seed=0, float_layers=()):
        return cls("int8", io_dtype, samples, seed, tuple(float_layers))

    @classmethod
    def for_float16(cls):
        return cls("float16", "float32")

    @classmethod
    def for_dynamic(cls):
        return cls("dynamic", "float32")

    @classmethod
    def for_float32(cls):
        return cls("float32", "float32")


def to_tflite(model, qcfg: QuantizationConfig, calibration: np.ndarray | None = None) -> bytes:
    """Convert with TensorFlow's TFLite converter."""
    import tensorflow as tf  # deferred: TensorFlow is heavy and only needed here

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if qcfg.mode == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif qcfg.mode == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif qcfg.mode == "int8":
        if calibration is None or not len(calibration):
            raise ConvertError("int8 needs a representative dataset of real faces")
        xs = model_input(model, calibration)

        def representative():
            for i in range(len(xs)):
                yield [xs[i:i + 1]]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        if qcfg.float_layers:
            # Selective quantization: named layers stay float (needs float fallback ops).
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        else:
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8 if qcfg.io_dtype == "uint8" else tf.int8
        conv.inference_output_type = tf.uint8 if qcfg.io_dtype == "uint8" else tf.int8
    elif qcfg.mode != "float32":
        raise ConvertError(f"unknown mode {qcfg.mode!r}; choose from {', '.join(MODES)}")
    if qcfg.mode == "int8" and qcfg.float_layers:
        return _selective(conv, qcfg)
    try:
        return bytes(conv.convert())
    except Exception as e:
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else e.__class__.__name__
        raise ConvertError(f"the TFLite converter failed: {msg}") from None


def _selective(conv, qcfg: QuantizationConfig) -> bytes:
    import tensorflow as tf  # deferred: TensorFlow is heavy and only needed here

    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=conv, debug_dataset=conv.representative_dataset,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(
            denylisted_nodes=list(qcfg.float_layers), fully_quantize=True))
    return bytes(debugger.get_nondebug_quantized_model())


def io_contract(tflite: bytes) -> InputContract:
    """The input contract of a converted model, checked against runtime.contract."""
    info = inspect_bytes(tflite)
    i = info.inputs[0]
    if i.dtype in ("uint8", "int8"):
        want = 0 if i.dtype == "uint8" else -128
        if abs(i.scale - 1.0) > 1e-6 or i.zero_point != want:
            raise ConvertError(f"int8 input quantization is scale {i.scale}, zero point {i.zero_point}; "
                               f"the contract needs scale 1, zero point {want} (calibration faces must span 0..255)")
    dtype = i.dtype if i.dtype in ("uint8", "int8") else "float32"
    return InputContract(size=int(i.shape[1]), channels=int(i.shape[3]), dtype=dtype)


def evaluate(model, tflite: bytes, faces: np.ndarray, labels: np.ndarray, names=None):
    """Float Keras vs TFLite on the same faces: ``(metrics, float probabilities, TFLite probabilities)``;
    the metrics are accuracy, agreement and per-class deltas (``names``: the labels)."""
    pf = model.predict(model_input(model, faces), batch_size=256, verbose=0)

    if names is not None:       # the gate's copy carries the labels (the final metadata is added after it)

        tflite = populate(tflite, ModelContract(labels=tuple(names), input=io_contract(tflite)), ModelInfo())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # metadata is added after the gate
        clf = Classifier.from_bytes(tflite, threads=None)
    pt = clf.predict_proba(faces)
    yf, yt = pf.argmax(1), pt.argmax(1)
    out = {"n": int(len(labels)), "float_accuracy": float((yf == labels).mean()),
           "tflite_accuracy": float((yt == labels).mean()), "top1_agreement": float((yf == yt).mean()),
           "per_class_delta": {}}
    for c, name in enumerate(names or LABELS):
        m = labels == c
        if m.any():
            out["per_class_delta"][name] = float((yt[m] == c).mean() - (yf[m] == c).mean())
    out["drop_points"] = 100.0 * (out["float_accuracy"] - out["tflite_accuracy"])
    return out, pf, pt


def sign_test(float_right: np.ndarray, tflite_right: np.ndarray) -> float:
    """One-sided p-value that int8 is less accurate than float: of the faces exactly one of them gets right,
    how likely so few are int8's if each were a coin toss (exact binomial)."""
    worse = int(np.sum(float_right & ~tflite_right))
    better = int(np.sum(~float_right & tflite_right))
    n = worse + better
    return float(sum(comb(n, k) for k in range(better + 1)) / 2 ** n) if n else 1.0


def debug_report(model, qcfg: QuantizationConfig, calibration: np.ndarray, top: int = 15) -> list[dict]:
    """Per-layer quantization error (TensorFlow's QuantizationDebugger), worst first."""
    import tensorflow as tf  # deferred: TensorFlow is heavy and only needed here

    xs = model_input(model, calibration)

    def rep():
        for i in range(len(xs)):
            yield [xs[i:i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    dbg = tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=rep)
    dbg.run()

    buf = io.StringIO()
    dbg.layer_statistics_dump(buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    for r in rows:
        try:
            scale = float(r.get("scale") or 0.0)
            r["rmse/scale"] = float(np.sqrt(float(r.get("mean_squared_error") or 0.0))) / scale if scale else 0.0
        except ValueError:
            r["rmse/scale"] = 0.0
    rows.sort(key=lambda r: -r["rmse/scale"])
    return [{"tensor": r.get("tensor_name"), "op": r.get("op_name"), "rmse/scale": round(r["rmse/scale"], 4),
             "mean_error": r.get("mean_error")} for r in rows[:top]]


def _crop_rule():
    """The crop rule the face path uses (the bundled release model's): the
    converted model is served with the crops it was trained on."""
    try:
        return inspect_file(BUNDLED_MODEL).contract.crop
    except Exception:  # noqa: BLE001 - no bundled model: the default rule, which it carries too
        return CropRule()


def model_labels(keras_path, model, labels=None) -> tuple[str, ...]:
    """The labels of a Keras model's outputs, in output order: ``labels`` when given, else the run's
    ``labels.json`` beside the model (``python -m train --data DIR`` writes it), else FER-2013's seven; their
    count must be the model's class count."""
    k = int(model.outputs[0].shape[-1])
    got = tuple(labels) if labels else saved_labels(keras_path)
    if got is None:
        if k != len(LABELS):
            raise ConvertError(f"{keras_path}: {k} outputs and no labels.json beside it; pass --labels a,b,c "
                               f"(FER-2013's {len(LABELS)} labels are the default only for {len(LABELS)} outputs)")
        got = LABELS
    if len(got) != k:
        raise ConvertError(f"{keras_path}: {k} outputs but {len(got)} labels ({', '.join(got)})")
    return got


def _calibration_faces(qcfg: QuantizationConfig, data, calibration, detect: bool, own_run: bool, log):
    """The int8 calibration faces and their record: a user's folder (``calibration``) or FER-2013's Training."""
    if calibration:
        calib, calib_sha, where = folder_faces(calibration, qcfg.calibration_samples, qcfg.seed, detect,
                                               None, log=log)
        log(f"calibration: {len(calib)} faces of {calibration}, stratified, seed {qcfg.seed}, "
            f"sha256 {calib_sha[:16]}...")
        return calib, {"split": "folder", **where, "samples": int(len(calib)), "seed": qcfg.seed,
                       "stratified": True, "sha256": calib_sha}
    if own_run:
        log("warning: this model was trained on your own folder; --calibration DIR calibrates on its faces")
    calib, calib_sha = representative_faces(data, qcfg.calibration_samples, qcfg.seed)
    log(f"calibration: {len(calib)} Training faces, stratified, seed {qcfg.seed}, sha256 {calib_sha[:16]}...")
    return calib, {"split": "Training", "samples": int(len(calib)), "seed": qcfg.seed, "stratified": True,
                   "sha256": calib_sha}


def _gate(model, tflite: bytes, labels, keras_path, own_run: bool, data, eval_split: str, max_drop: float,
          mode: str, log):
    """The accuracy gate: ``(gate record, calibration temperature)``. A model trained on a user's folder
    (``split.json`` beside it) is measured on that run's validation split, where its temperature is fitted
    too; any other on FER-2013's ``eval_split``. Raises GateError when int8 loses more than ``max_drop``."""
    run = Path(keras_path).parent
    temperature = 1.0
    if own_run:
        val = user_folder.validation_of(run, log=lambda m: None)
        if tuple(val.label_names) != tuple(labels):
            raise ConvertError(f"{run}/split.json labels ({', '.join(val.label_names)}) are not the model's "
                               f"({', '.join(labels)})")
        eval_split = f"the run's validation split ({len(val)} faces)"
        gate, pf, pt = evaluate(model, tflite, val.images, val.labels, labels)
        gate.update(split="validation", max_drop_points=max_drop, data_checksum_sha256=val.checksum)
        gate["sign_test_p"] = sign_test(pf.argmax(1) == val.labels, pt.argmax(1) == val.labels)
        held_out_t = _cross_validated_temperature(run)
        if held_out_t is None:
            temperature = fit_temperature(pt, val.labels)
            log(f"calibration temperature {temperature:.2f} (fitted on the validation split)")
        else:      # every face trained the final model: its held-out predictions say how sure to be
            temperature = held_out_t
            eval_split = f"the run's faces ({len(val)}, all of which trained it: the gate measures int8 against float)"
            log(f"calibration temperature {temperature:.2f} (fitted on the cross-validation's held-out predictions)")
        gate["temperature"] = temperature
    else:
        if tuple(labels) != LABELS:
            raise ConvertError(f"{keras_path}: the FER-2013 gate needs FER-2013's labels; this model has "
                               f"{', '.join(labels)} and no split.json beside it (use --skip-gate)")
        path = fer2013.find_data(data)
        if path is None:
            raise DataError("the accuracy gate needs FER-2013: pass --data PATH, set FER_DATA, "
                            "or skip it explicitly with --skip-gate (recorded in the metadata)")
        split = fer2013.load(path).split(eval_split)
        gate = evaluate(model, tflite, split.images, split.labels)[0]
        gate.update(split=eval_split, max_drop_points=max_drop, data_checksum_sha256=split.checksum)
    log(f"{eval_split}: float {100 * gate['float_accuracy']:.2f}%  tflite {100 * gate['tflite_accuracy']:.2f}%  "
        f"drop {gate['drop_points']:.2f} points  agreement {100 * gate['top1_agreement']:.2f}%")
    # a user's validation split is small: one face is half a point of 200. There the gate fails only
    # when int8 is also measurably worse (sign test on the faces float and int8 disagree on, p < 0.05)
    p = gate.get("sign_test_p")
    if gate["drop_points"] > max_drop and (p is None or p < 0.05):
        raise GateError(f"accuracy gate failed: {mode} is {gate['drop_points']:.2f} points below float "
                        f"on {eval_split} (--max-drop {max_drop}"
                        + (f", sign test p = {p:.3f}" if p is not None else "") + "); nothing written")
    if p is not None and gate["drop_points"] > max_drop:
        log(f"int8 is {gate['drop_points']:.2f} points below float on {gate['n']} faces, within chance "
            f"(sign test p = {p:.3f}); passed")
    return gate, temperature


def _cross_validated_temperature(run: Path) -> float | None:
    """For a cross-validated run (every face trained its model): the temperature fitted on the folds'
    held-out predictions (``cross_validation.npz``); None for any other run."""
    held = held_out(run)
    return None if held is None else fit_temperature(held["chosen"], held["labels"])


def worse_than_start(keras_path) -> str | None:
    """Why a user's run (``python -m train --data DIR``: its ``report.json`` beside the model) should not ship:
    on the validation faces whose labels its starting model knows too, the run is measurably less accurate
    than that start (the report's verdict "worse"; a report without a verdict: less accurate than the bundled
    model's zero-shot figure). None when it is not, or when there is nothing to compare."""
    run = Path(keras_path).parent
    try:
        rep = json.loads((run / "report.json").read_text())
    except (OSError, ValueError):
        return None
    c = rep.get("comparison") if isinstance(rep, dict) else None
    if isinstance(c, dict) and "verdict" in c:
        if c["verdict"] != "worse":
            return None
        return (f"{run} is worse than the model it started from on the {c['n']} validation faces whose labels "
                f"both know ({100 * c['finetuned']['accuracy']:.1f}% against {100 * c['start']['accuracy']:.1f}%, "
                f"sign test p = {c['sign_test_p']:.3f}): ship the bundled model, train on more faces, or pass "
                "--force to convert it anyway")
    try:
        z = rep["zero_shot"]
        n, ft, start = int(z["n"]), float(z["finetuned_accuracy"]), float(z["bundled_accuracy"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if n and ft < start:
        return (f"{run} is worse than the bundled model it started from on the {n} validation faces whose labels "
                f"both know ({100 * ft:.1f}% against {100 * start:.1f}%): ship the bundled model, train on more "
                "faces, or pass --force to convert it anyway")
    return None


def _metadata_extra(report: dict, skip_gate: bool, keras_path, own_run: bool) -> dict:
    """What the model's metadata says of its conversion and accuracy (from the run's report or the model's card)."""
    run = Path(keras_path).parent
    extra = {"quantization": {k: v for k, v in report.items() if k != "debug_worst_layers"},
             "accuracy_gate": "skipped by --skip-gate" if skip_gate else "passed"}
    card = Path(keras_path).with_suffix(".json")
    if own_run and (run / "report.json").is_file():
        try:
            rep = json.loads((run / "report.json").read_text())
            extra["accuracy"] = {"validation": round(rep["validation"]["accuracy"], 4)}
            extra["labels_source"] = "python -m train --data " + str(rep["config"]["data"])
        except (ValueError, OSError, KeyError, TypeError):
            pass
    elif card.is_file():
        try:
            extra["accuracy"] = json.loads(card.read_text()).get("accuracy", {})
        except (ValueError, OSError):
            pass
    return extra


def quantize(keras_path, out, qcfg: QuantizationConfig, data=None, eval_split="PublicTest",
             max_drop=1.0, skip_gate=False, debug=False, log=print, labels=None, calibration=None,
             detect: bool = True) -> dict:
    """Convert, embed metadata, gate on accuracy, write atomically. Returns the report.

    ``calibration``: a user's folder ``DIR/<label>/<image>`` whose faces (found
    by the training face path, or taken as crops with ``detect=False``)
    calibrate int8 instead of FER-2013's. A model trained on a user's folder
    (``split.json`` beside it) is gated on that run's validation split, and
    its calibration temperature is fitted there."""
    t0 = time.time()
    out = Path(out)
    if out.suffix != ".tflite":
        raise ConvertError(f"--out must end in .tflite (got {out})")
    if out.parent and not out.parent.exists():
        raise ConvertError(f"output folder {out.parent} does not exist")

    model = load_keras_model(keras_path)
    labels = model_labels(keras_path, model, labels)
    src = Path(keras_path).resolve()
    report = {"source": str(src.relative_to(REPO)) if src.is_relative_to(REPO) else str(src), "mode": qcfg.mode,
              "io_dtype": qcfg.io_dtype}
    target, report["graph"] = prepare(model, fold=qcfg.fold)
    log(f"graph: batch {report['graph']['batch']}, front {report['graph']['front']}")
    run = Path(keras_path).parent
    own_run = (run / "split.json").is_file()
    calib = None
    if qcfg.mode == "int8" or debug:
        calib, report["calibration"] = _calibration_faces(qcfg, data, calibration, detect, own_run, log)
    if debug:
        report["debug_worst_layers"] = debug_report(target, qcfg, calib)
        for r in report["debug_worst_layers"]:
            log(f"  {r['rmse/scale']:8.4f}  {r['op']:<22} {r['tensor']}")
    tflite = to_tflite(target, qcfg, calib)
    inp = io_contract(tflite)
    log(f"converted ({qcfg.mode}): {len(tflite) / 1e6:.2f} MB, {time.time() - t0:.0f}s")

    gate, temperature = None, 1.0
    if not skip_gate:
        gate, temperature = _gate(model, tflite, labels, keras_path, own_run, data, eval_split, max_drop, qcfg.mode, log)
        report["gate"] = gate
    contract = ModelContract(labels=labels, input=inp, crop=_crop_rule(), temperature=temperature)
    extra = _metadata_extra(report, skip_gate, keras_path, own_run)
    final = populate(tflite, contract, ModelInfo(extra=extra))
    with atomic_path(out, suffix=".tflite") as tmp:
        tmp.write_bytes(final)
    report["bytes"] = len(final)
    report["seconds"] = round(time.time() - t0, 1)
    with atomic_path(out.with_suffix(".tflite.json"), suffix=".json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {out} ({len(final) / 1e6:.2f} MB) in {report['seconds']:.0f}s")
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.quantize", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", nargs="?", help="Keras model (.keras, .h5, SavedModel); default: the release's "
                                            "source by the route it shipped with (models/*_int8.tflite.json)")
    p.add_argument("--out", required=True, help="output .tflite path")
    p.add_argument("--mode", choices=MODES, default="int8")
    p.add_argument("--io-dtype", choices=["uint8", "int8"], default="uint8", help="int8 mode: input/output type")
    p.add_argument("--samples", type=int, help="calibration faces (stratified Training; default 300, or the "
                                                "shipped route's when no model is given)")
    p.add_argument("--seed", type=int, help="calibration sample seed (default 0, or the shipped route's when no "
                                            "model is given)")
    p.add_argument("--data", help="FER-2013 path (default: $FER_DATA)")
    p.add_argument("--calibration", metavar="DIR", help="calibrate int8 on the faces of your folder DIR/<label>/<image> "
                                                        "(the training face path) instead of FER-2013's")
    p.add_argument("--no-detect", action="store_true", help="with --calibration: every image is a face crop")
    p.add_argument("--labels", help="the model's labels in output order, comma-separated (default: labels.json "
                                    "beside the model, else FER-2013's seven)")
    p.add_argument("--eval-split", default="PublicTest", choices=["PublicTest", "PrivateTest", "Training"])
    p.add_argument("--max-drop", type=float, default=1.0, help="largest accuracy drop (points) the gate allows")
    p.add_argument("--skip-gate", action="store_true", help="no accuracy gate (recorded in the metadata)")
    p.add_argument("--force", action="store_true", help="convert a run of your own even when it is worse than the "
                                                        "bundled model it started from (recorded in the metadata)")
    p.add_argument("--debug", action="store_true", help="per-layer quantization error report")
    p.add_argument("--float-layers", default="", help="comma-separated tensor names to keep in float")
    p.add_argument("--no-fold", action="store_true",
                   help="convert the front (normalize, gray to RGB, resize) as trained instead of folding it "
                        "into one convolution (docs/consistency.md)")
    a = p.parse_args(argv)
    if a.model is None:
        src, n, seed = shipped_route()
        a.model, a.samples = str(src), a.samples or n
        a.seed = seed if a.seed is None else a.seed
        print(f"release route: {a.model}, {a.samples} calibration faces, seed {a.seed}", file=sys.stderr)
    a.samples = 300 if a.samples is None else a.samples
    a.seed = 0 if a.seed is None else a.seed

    qcfg = {"int8": lambda: QuantizationConfig.for_int8(a.io_dtype, a.samples, a.seed,
                                                        [x for x in a.float_layers.split(",") if x]),
            "float16": QuantizationConfig.for_float16, "dynamic": QuantizationConfig.for_dynamic,
            "float32": QuantizationConfig.for_float32}[a.mode]()
    qcfg.fold = not a.no_fold

    def body():
        if a.samples < 1:
            raise ConvertError("--samples must be at least 1")
        if a.no_detect and not a.calibration:
            raise ConvertError("--no-detect goes with --calibration DIR")
        labels = tuple(x.strip() for x in a.labels.split(",") if x.strip()) if a.labels else None
        worse = worse_than_start(a.model)
        if worse and not a.force:
            raise GateError(worse)
        if worse:
            print(f"warning (--force): {worse}", file=sys.stderr)
        quantize(a.model, a.out, qcfg, a.data, a.eval_split, a.max_drop, a.skip_gate, a.debug,
                 log=lambda m: print(m, file=sys.stderr), labels=labels, calibration=a.calibration,
                 detect=not a.no_detect)

    return run_command(body, interrupted="interrupted; nothing written", extra="train")


if __name__ == "__main__":
    sys.exit(main())
