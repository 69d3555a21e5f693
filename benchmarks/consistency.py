"""Same answers on every interpreter: one int8 model under each kernel set.

Kernel sets: LiteRT with XNNPACK (what ``fer-infer`` uses), LiteRT's builtin
kernels (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``), TFLite's reference kernels
(``BUILTIN_REF``, the code TFLite for Microcontrollers' kernels come from),
TensorFlow's own interpreter, TFLite for Microcontrollers' Python interpreter
(PyPI ``tflite-micro``, for models small enough for a microcontroller),
LiteRT.js in headless Chromium (when the web sample is built), LiteRT's
aarch64 build with and without XNNPACK in the emulated arm64 userland (qemu,
Cortex-A72; when ``make arm64-setup`` has built it), and tflite-runtime 2.14
from its own environment (needs numpy<2; the only interpreter on 32-bit
ARM)::

    .venv-tflrt/bin/python -m benchmarks.consistency --backend tflite_runtime \\
        --model M.tflite --crops crops.npy --out raw.npy

writes that interpreter's raw output tensors for the crops. The matrix gives,
for every pair, the share of crops with the same label, the largest and mean
difference of the output tensors (in output steps), and each set's accuracy.
Why they differ, and what the converter does about it: docs/consistency.md, *Same answers
on every interpreter*.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import arm64
from benchmarks.latency import installed_backends
from convert import graph
from convert.calibration import representative_faces
from convert.firmware import TFLM_MAX_BYTES, TflmModel
from runtime.classifier import Classifier
from runtime.errors import FerError
from runtime.interpreter import find_backend, make_interpreter
from train import fer2013
from train.io import atomic_write_json, atomic_write_text
from train.paths import REPO
from train.saved import load_keras_model

#: name -> (backend, xnnpack, reference kernels)
KERNELS = {
    "litert-xnnpack": ("litert", True, False),
    "litert-builtin": ("litert", False, False),
    "litert-reference": ("litert", False, True),
    "tensorflow": ("tensorflow", False, False),
}


def raw_outputs(model: Path, crops: np.ndarray, backend: str, xnnpack: bool = True,
                reference: bool = False) -> np.ndarray:
    """The output tensor for each uint8 crop ``[N, S, S]``, as the interpreter gives it:
    int32 for a quantized output (differences in output steps), float64 for a float one."""
    clf = Classifier(model, threads=1, backend=find_backend(backend), xnnpack=xnnpack, reference=reference)
    out = np.stack([clf.run_raw(c).reshape(-1) for c in crops])
    return out.astype(np.int32 if np.issubdtype(out.dtype, np.integer) else np.float64)




def tflm_outputs(model: Path, crops: np.ndarray) -> np.ndarray | None:
    """The raw outputs under TFLM, or None when tflite-micro is not installed or the model is too large."""
    try:
        import tflite_micro  # noqa: F401  (deferred: TFLM's interpreter is an optional extra (micro))
    except ImportError:
        return None

    if Path(model).stat().st_size > TFLM_MAX_BYTES:
        return None

    m = TflmModel(Path(model))
    return np.stack([m.run_raw(c) for c in crops]).astype(np.int32)


def browser_outputs(model: Path, crops: np.ndarray) -> np.ndarray | None:
    """The raw outputs under LiteRT.js (WebAssembly) in headless Chromium, or
    None when Node.js, Chromium or the built web sample is missing."""
    web = REPO / "web-sample"
    node = shutil.which("node")
    if node is None or not (web / "dist" / "config.json").is_file() or not (web / "node_modules").is_dir():
        return None
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "crops.u8", Path(d) / "raw.json"
        src.write_bytes(np.ascontiguousarray(crops, np.uint8).tobytes())
        r = subprocess.run([node, "scripts/outputs.mjs", "--model", str(Path(model).resolve()), "--crops", str(src),
                            "--n", str(len(crops)), "--out", str(dst)], cwd=web, capture_output=True, text=True,
                           timeout=1800)
        if r.returncode != 0 or not dst.is_file():
            return None
        return np.asarray(json.loads(dst.read_text()), np.int32)


def outputs_from_python(python: str | list[str], model: Path, crops: np.ndarray, backend: str,
                        xnnpack: bool = True, env: dict | None = None) -> np.ndarray:
    """:func:`raw_outputs` run by another Python: an environment with
    tflite-runtime, or the arm64 userland's under qemu (``python`` is then the
    command prefix, with its ``env``)."""
    prefix = [python] if isinstance(python, str) else list(python)
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "crops.npy", Path(d) / "raw.npy"
        np.save(src, crops)
        r = subprocess.run(prefix + ["-m", "benchmarks.consistency", "--backend", backend, "--model",
                                     str(Path(model).resolve()), "--crops", str(src), "--out", str(dst)]
                           + ([] if xnnpack else ["--no-xnnpack"]), cwd=REPO, capture_output=True, text=True, env=env)
        if r.returncode != 0 or not dst.is_file():
            raise RuntimeError((r.stderr.strip().splitlines() or ["no output"])[-1])
        return np.load(dst)


#: the arm64 kernel sets: LiteRT's aarch64 wheel in the emulated userland (a Cortex-A72, the Pi 4's core)
ARM64_KERNELS = {"arm64-xnnpack": True, "arm64-builtin": False}
#: emulation is slow (about 5 crops a second for the release model): the arm64 sets see a seeded
#: random sample of this many crops
ARM64_CROPS = 600


def arm64_outputs(model: Path, crops: np.ndarray, xnnpack: bool = True) -> np.ndarray | None:
    """The raw outputs of LiteRT's aarch64 build under qemu (``make arm64-setup``),
    or None when that userland is not built."""
    try:
        prefix, env = arm64.emulated_python()
    except arm64.SetupError:
        return None
    return outputs_from_python(prefix, model, crops, "litert", xnnpack, env)


def float_pair(model: Path, crops: np.ndarray) -> dict:
    """A float model under XNNPACK and under the builtin kernels: label agreement
    and the largest probability difference (the contrast to the int8 matrix)."""
    a, b = (raw_outputs(model, crops, "litert", xnn) for xnn in (True, False))
    return {"model": Path(model).name, "n": int(len(crops)), "agreement": float((a.argmax(1) == b.argmax(1)).mean()),
            "max_prob_diff": float(np.abs(a - b).max())}


def matrix(outputs: dict[str, np.ndarray], labels: np.ndarray | None,
           subsets: dict[str, np.ndarray] | None = None) -> dict:
    """Pairwise label agreement and output differences, and each kernel set's
    accuracy. A set in ``subsets`` (the emulated arm64 ones) ran on those rows
    of the crops only (sorted indices); its pairs compare the rows both sets
    have, and every pair carries its ``n``."""
    subsets = subsets or {}
    rows = {k: (np.asarray(subsets[k]) if k in subsets else np.arange(len(o))) for k, o in outputs.items()}
    full = [len(o) for k, o in outputs.items() if k not in subsets]
    names = list(outputs)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            common = np.intersect1d(rows[a], rows[b])
            x, y = outputs[a][np.searchsorted(rows[a], common)], outputs[b][np.searchsorted(rows[b], common)]
            d = np.abs(x - y)
            pairs.append({"a": a, "b": b, "n": int(len(common)),
                          "agreement": float((x.argmax(1) == y.argmax(1)).mean()),
                          "max_diff": int(d.max()), "mean_diff": float(d.mean()),
                          "identical": float((d.max(1) == 0).mean())})
    acc = ({k: float((o.argmax(1) == labels[rows[k]]).mean()) for k, o in outputs.items()}
           if labels is not None else {})
    return {"kernels": names, "n": int(max(full or [len(o) for o in outputs.values()])), "pairs": pairs,
            "accuracy": acc, "rows": {k: int(len(o)) for k, o in outputs.items()}}


def measure(models: dict[str, Path], crops: np.ndarray, labels: np.ndarray | None, tflrt_python: str | None = None,
            log=print) -> dict:
    """The matrix for every model (``{tier: path}``) over every kernel set installed here."""
    have = {b.name for b in installed_backends()}
    sample = np.sort(np.random.default_rng(0).permutation(len(crops))[:ARM64_CROPS])
    out = {}
    for tier, path in models.items():
        outputs, subsets = {}, {}
        for name, (backend, xnn, ref) in KERNELS.items():
            if backend in have:
                outputs[name] = raw_outputs(path, crops, backend, xnn, ref)
        for name, fn in (("tflm", tflm_outputs), ("browser-litertjs", browser_outputs)):
            got = fn(path, crops)
            if got is not None:
                outputs[name] = got
        for name, xnn in ARM64_KERNELS.items():
            try:
                got = arm64_outputs(path, crops[sample], xnn)
            except RuntimeError as e:
                log(f"  {name} failed: {e}")
                got = None
            if got is not None:
                outputs[name], subsets[name] = got, sample
        if tflrt_python and Path(tflrt_python).is_file():
            try:
                outputs["tflite-runtime"] = outputs_from_python(tflrt_python, path, crops, "tflite_runtime")
            except RuntimeError as e:
                log(f"  tflite-runtime environment failed: {e}")
        out[tier] = matrix(outputs, labels, subsets)
        worst = min(out[tier]["pairs"], key=lambda p: p["agreement"]) if out[tier]["pairs"] else None
        if worst:
            log(f"  {tier}: {len(outputs)} kernel sets, lowest label agreement {100 * worst['agreement']:.2f}% "
                f"({worst['a']} vs {worst['b']})")
    return out


# -- why: the diagnosis behind docs/consistency.md --------------------

#: Cut points of the MobileNetV2 graph for :func:`diagnose` (layer names).
CUTS = ("Conv1_relu", "expanded_conv_project_BN", "block_1_project_BN", "block_2_add", "block_5_add",
        "block_9_add", "block_12_add", "block_15_add", "out_relu")


def _int8(model, calib: np.ndarray, io=np.int8) -> bytes:
    import tensorflow as tf  # deferred: TensorFlow is heavy and only needed here

    xs = calib.astype(np.float32)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([xs[i:i + 1]] for i in range(len(xs)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8 if io == np.int8 else tf.uint8
    return bytes(conv.convert())


def _run_all(tfl: bytes, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Raw outputs of ``tfl`` for each input under the three LiteRT kernel sets."""
    out = {}
    for name, (_, xnn, ref) in list(KERNELS.items())[:3]:
        it = make_interpreter(tfl, 1, find_backend("litert"), xnnpack=xnn, reference=ref)
        i, o = it.get_input_details()[0], it.get_output_details()[0]
        res = []
        for x in inputs:
            it.set_tensor(i["index"], x[None].astype(i["dtype"]))
            it.invoke()
            res.append(it.get_tensor(o["index"]).astype(np.int32).reshape(-1))
        out[name] = np.stack(res)
    return out


def _differ(outs: dict[str, np.ndarray]) -> dict:
    x = outs["litert-xnnpack"]
    return {f"xnnpack_vs_{k.split('-')[1]}": round(float((v != x).mean()), 5)
            for k, v in outs.items() if k != "litert-xnnpack"}


def op_table(seed: int = 0) -> list[dict]:
    """One-operator int8 models on random inputs: share of outputs that differ
    between XNNPACK and the builtin / reference kernels, and XNNPACK's share
    that differs from the exactly rounded result (for the convolution)."""
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    L = keras.layers
    rng = np.random.default_rng(seed)

    def one(name, build, shape):
        i = keras.Input(shape)
        tfl = _int8(keras.Model(i, build(i)), rng.normal(0, 1, (200,) + shape))

        it = make_interpreter(tfl, 1, find_backend("litert"))
        d = it.get_input_details()[0]
        s, z = d["quantization"]
        xs = np.clip(np.round(rng.normal(0, 1, (20,) + shape) / s + z), -128, 127).astype(np.int8)
        return {"op": name, **_differ(_run_all(tfl, xs))}

    return [one("CONV_2D 1x1, 64 -> 384", lambda x: L.Conv2D(384, 1)(x), (12, 12, 64)),
            one("DEPTHWISE_CONV_2D 3x3 + ReLU6", lambda x: L.ReLU(6.0)(L.DepthwiseConv2D(3, padding="same")(x)),
                (12, 12, 96)),
            one("ADD (after a 1x1 convolution)", lambda x: L.Add()([x, L.Conv2D(64, 1)(x)]), (12, 12, 64)),
            one("MEAN (global average pooling 3x3)", lambda x: L.GlobalAveragePooling2D()(x), (3, 3, 1280)),
            one("FULLY_CONNECTED 1280 -> 7 + SOFTMAX", lambda x: L.Dense(7, activation="softmax")(x), (1280,))]


def diagnose(keras_path: Path, data_path, n_cut: int = 150, log=print) -> dict:
    """Where the kernel sets part: one-operator models, the release model cut
    after successive blocks (folded front), and label agreement on PrivateTest
    with the front folded and as trained."""
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    out = {"model": str(keras_path)}
    log("one-operator models")
    out["ops"] = op_table()
    m = load_keras_model(keras_path)
    folded = graph.fold_front(m)
    calib, _ = representative_faces(data_path, 300, 0)
    pv = fer2013.load(fer2013.find_data(data_path)).split("PrivateTest")
    faces = pv.images[np.random.default_rng(0).permutation(len(pv))[:n_cut]][..., None]
    out["cuts"] = []
    for name in CUTS:
        log(f"cut after {name}")
        sub = keras.Model(folded.inputs[0], folded.get_layer(name).get_output_at(-1))
        outs = _run_all(_int8(sub, calib[..., None], np.uint8), faces)
        d = np.abs(outs["litert-xnnpack"] - outs["litert-builtin"])
        out["cuts"].append({"after": name, "differ": round(float((d > 0).mean()), 4), "max": int(d.max()),
                            "mean": round(float(d.mean()), 3)})
    out["labels"] = {}
    for front, model in (("as trained", graph.fixed_batch(m)), ("folded", folded)):
        log(f"PrivateTest labels, front {front}")
        outs = _run_all(_int8(model, calib[..., None], np.uint8), pv.images[..., None])
        r = matrix(outs, pv.labels)
        out["labels"][front] = {"n": r["n"], "pairs": r["pairs"], "accuracy": r["accuracy"]}
    return out


def diagnosis_markdown(d: dict) -> str:
    lines = ["# Why interpreters disagree on int8 outputs", "",
             f"Generated by `python -m benchmarks.consistency --diagnose` from `{d['model']}`.", "",
             "## One-operator int8 models (random inputs): share of outputs that differ", "",
             "| operator | XNNPACK vs builtin | XNNPACK vs reference |", "|---|---|---|"]
    for r in d["ops"]:
        lines.append(f"| {r['op']} | {100 * r['xnnpack_vs_builtin']:.2f}% | {100 * r['xnnpack_vs_reference']:.2f}% |")
    lines += ["", "## The release model (front folded) cut after successive blocks, XNNPACK vs builtin", "",
              "| cut after | outputs that differ | largest | mean (steps) |", "|---|---|---|---|"]
    for r in d["cuts"]:
        lines.append(f"| {r['after']} | {100 * r['differ']:.2f}% | {r['max']} | {r['mean']:.3f} |")
    lines += ["", "## Labels on all PrivateTest crops (post-training int8, 300 calibration faces)", "",
              "| front | kernels A | kernels B | same label | accuracy A | accuracy B |", "|---|---|---|---|---|---|"]
    for front, r in d["labels"].items():
        for p in r["pairs"]:
            lines.append(f"| {front} | {p['a']} | {p['b']} | {100 * p['agreement']:.2f}% | "
                         f"{100 * r['accuracy'][p['a']]:.2f}% | {100 * r['accuracy'][p['b']]:.2f}% |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if "--diagnose" in argv:
        d = argparse.ArgumentParser(prog="python -m benchmarks.consistency --diagnose")
        d.add_argument("--diagnose", action="store_true")
        d.add_argument("--keras", default=str(REPO / "models" / "fer_mobilenetv2.keras"))
        d.add_argument("--data", help="FER-2013 (default: $FER_DATA)")
        d.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "consistency-diagnosis"))
        a = d.parse_args(argv)

        res = diagnose(Path(a.keras), a.data, log=lambda m: print(m, file=sys.stderr))
        atomic_write_json(Path(a.out + ".json"), res)
        atomic_write_text(Path(a.out + ".md"), diagnosis_markdown(res))
        print(diagnosis_markdown(res))
        return 0
    p = argparse.ArgumentParser(prog="python -m benchmarks.consistency", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--crops", required=True, help=".npy of uint8 crops [N, S, S]")
    p.add_argument("--backend", default="litert", choices=["litert", "tflite_runtime", "tensorflow"])
    p.add_argument("--no-xnnpack", action="store_true")
    p.add_argument("--out", required=True, help=".npy for the raw outputs [N, K]")
    a = p.parse_args(argv)

    try:
        raw = raw_outputs(Path(a.model), np.load(a.crops), a.backend, not a.no_xnnpack)
    except (FerError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    np.save(a.out, raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
