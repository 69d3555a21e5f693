"""``python -m benchmarks``: accuracy and latency of fer-edge's model variants,
written as ``benchmarks/results/<date>-<host>-<model>.json`` plus a Markdown
report and PNG plots.

    python -m benchmarks                 # default suite (about 10 minutes on 2 cores)
    python -m benchmarks --quick         # the smoke run CI uses
    python -m benchmarks --model m.tflite --threads 1,2,4 --data PATH

Variants: the int8 model and, when TensorFlow and the release Keras model are
there, float32 / float16 / dynamic-range TFLite files converted from it.
Latency per variant x interpreter (every one installed; tflite-runtime also
from its own environment with ``--tflite-runtime-python``) x threads x
XNNPACK on/off; a fresh process to first result with its peak RSS; whole
photos (decode, detect, crop, classify). Accuracy (when FER-2013 is found):
PrivateTest, PublicTest, clean PrivateTest and FER+ majority labels, with
confusion matrices and reliability diagrams. Peers (PyPI ``fer``, when
installed) in the same run, and the Raspberry Pi 4 estimate of every tier
from its aarch64 instruction count (``benchmarks.pi4``; needs ``make
arm64-setup``).
Exit codes: 0 written, 2 bad flag or model.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import sys
import time
from pathlib import Path

import numpy

from benchmarks import (
    accuracy,
    arm64,
    baseline,
    browser,
    consistency,
    latency,
    peers,
    pi4,
    pipeline,
    report,
)
from benchmarks import variants as var
from benchmarks.latency import installed_backends
from benchmarks.variants import shipped_tiers
from convert.graph import multiply_accumulates
from runtime.classifier import BUNDLED_MODEL, MICRO_MODEL
from runtime.errors import FerError
from runtime.fetch import cached_detector_path
from runtime.interpreter import probe_backend
from train import fer2013
from train import plots as p
from train.io import atomic_write_json, atomic_write_text
from train.paths import REPO

RESULTS = REPO / "benchmarks" / "results"
TFLRT_PYTHON = REPO / ".venv-tflrt" / "bin" / "python"
#: the shipped tiers among the variants (flip averaging and the consistency matrix are measured for these)
TIERS = tuple(shipped_tiers().values())


def hardware() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    b = probe_backend()
    return {"host": socket.gethostname(), "machine": platform.machine(), "cpu": cpu, "cores": os.cpu_count(),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "numpy": numpy.__version__, "interpreter": f"{b[0]} {b[1]}" if b else "none",
            "interpreters": [f"{x.name} {x.version}" for x in installed_backends()]}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pi4_section(variants: dict) -> dict:
    """Every tier's Pi 4 estimate from its aarch64 instruction count
    (``benchmarks.pi4``), or the reason there is none."""
    try:
        return pi4.estimate({k: variants[k] for k in TIERS if k in variants}, log=_log)
    except (arm64.SetupError, RuntimeError, OSError) as e:
        return {"error": str(e)}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--model", default=str(BUNDLED_MODEL), help="int8 .tflite to measure")
    ap.add_argument("--keras", default=str(REPO / "models" / "fer_mobilenetv2.keras"),
                    help="float Keras model the other variants are converted from ('' for none)")
    ap.add_argument("--micro-model", default=str(MICRO_MODEL),
                    help="the bundled micro int8 model, measured as variant micro_int8 when it exists ('' for none)")
    ap.add_argument("--quick", action="store_true", help="smoke run: int8 only, few timings, no accuracy")
    ap.add_argument("--threads", default="1,2,4", help="thread counts for crop latency")
    ap.add_argument("--runs", type=int, default=500, help="at most this many timed runs per latency cell")
    ap.add_argument("--budget", type=float, default=1.5, help="seconds per latency cell (at least 30 runs)")
    ap.add_argument("--data", help="FER-2013 for accuracy (default: $FER_DATA)")
    ap.add_argument("--tflite-runtime-python", default=str(TFLRT_PYTHON),
                    help="python of an environment with tflite-runtime (make bench-env-tflite-runtime)")
    ap.add_argument("--no-peers", action="store_true", help="skip the PyPI fer comparison")
    ap.add_argument("--out", default=str(RESULTS), help="results folder")
    return ap


def _speed(r: dict, a, model: Path, variants: dict, threads: list[int], steps: int) -> list[Path]:
    """Crop, photo, pipeline, browser and video latency into ``r``; returns the sample photos."""
    _log(f"[1/{steps}] crop latency")
    backends = latency.installed_backends()
    runs, warm = (20, 5) if a.quick else (a.runs, 20)
    r["latency"] = latency.cells(variants, backends[:1] if a.quick else backends, threads[:1] if a.quick else threads,
                                 (True,) if a.quick else (True, False), warm, runs,
                                 None if a.quick else a.budget, log=_log)
    tflrt = Path(a.tflite_runtime_python)
    if not a.quick and tflrt.is_file() and all(b.name != "tflite_runtime" for b in backends):
        try:
            r["latency"] += latency.cells_from_python(str(tflrt), variants, threads, "tflite_runtime", runs,
                                                      a.budget, log=_log)
        except RuntimeError as e:
            _log(f"  tflite-runtime environment failed: {e}")
    _log(f"[2/{steps}] photo latency")
    photos = latency.sample_photos(REPO / "build" / "photos")
    if cached_detector_path() is not None:
        r["photo"] = latency.photo_latency(model, photos if not a.quick else photos[:1], 1,
                                           3 if a.quick else 10, runs, None if a.quick else 3.0)
        if not a.quick:    # each detector on the sample photos and on a group photo of far faces
            group = [latency.group_photo(REPO / "build" / "photos")]
            r["detectors"] = [latency.photo_latency(model, ph, 1, 3, runs, 3.0, detector=d)
                              for d in ("short", "full", "auto", "all") for ph in (photos[:1], group)]
        if not a.quick:    # the whole pipeline: detector modes, auto's misses, folders, tracked video, fer
            r["pipeline"] = pipeline.measure(model, log=_log, peers=not a.no_peers)
        if not a.quick:    # plain, reference and automatic baselines (issue #45), also as results/baseline.*
            r["baseline"] = baseline.measure(str(model), log=_log)
            baseline.write(r["baseline"])
        if not a.quick:    # a phone-size JPEG, decoded at reduced scale (the default) and whole
            phone = [latency.phone_photo(REPO / "build" / "photos")]
            r["phone_photo"] = [latency.photo_latency(model, phone, 1, 3, runs, 3.0, reduce_jpeg=x)
                                for x in (True, False)]
    if not a.quick:
        _log(f"[2/{steps}] flip averaging: crop latency with and without")
        r["tta"] = {k: latency.tta_latency(v) for k, v in variants.items() if k in TIERS}

        _log(f"[2/{steps}] crop latency in the browser")
        r["browser"] = browser.measure()
        clip = latency.video_clip(REPO / "build" / "photos")
        if clip is not None and cached_detector_path() is not None:
            _log(f"[2/{steps}] video, 720p, end to end")
            r["video"] = {k: v for k, v in latency.video_fps(model, clip, detect_every=10).items() if k != "labels"}
    return photos


def _accuracy_and_more(r: dict, a, variants: dict, photos, out: Path, stem: str, steps: int) -> None:
    """Accuracy, the same answers on every interpreter, peers, the Pi 4 estimate and plots into ``r``."""
    tflrt = Path(a.tflite_runtime_python)
    r["plots"] = []
    if not a.quick:
        path = fer2013.find_data(a.data)
        if path is not None and path.exists():
            _log(f"[4/{steps}] accuracy on {path}")
            tiers = tuple(k for k in variants if k in TIERS)
            r["accuracy"] = accuracy.run(variants, path, Path(a.keras) if a.keras else None, log=_log, flip=tiers)
            _log(f"[4/{steps}] the same answers on every interpreter")
            pv = fer2013.load(path).split("PrivateTest")
            r["consistency"] = consistency.measure({k: variants[k] for k in tiers}, pv.images, pv.labels,
                                                   str(tflrt), log=_log)
            if "float32" in variants:
                r["consistency_float"] = consistency.float_pair(variants["float32"], pv.images)
        _log(f"[5/{steps}] peers")
        r["peers"] = {} if a.no_peers else peers_section(r, photos, path)
        _log(f"[6/{steps}] Raspberry Pi 4 estimate (aarch64 instruction counts under qemu)")
        r["pi4"] = pi4_section(variants)
        _log(f"[7/{steps}] plots")
        out.mkdir(parents=True, exist_ok=True)
        r["plots"] = plots(r, out, stem)


def main(argv=None) -> int:
    a = _parser().parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    model = Path(a.model)
    try:
        threads = [int(t) for t in a.threads.split(",") if t]
        if not threads or min(threads) < 1:
            raise ValueError
    except ValueError:
        print("error: --threads takes a comma-separated list of positive integers", file=sys.stderr)
        return 2
    out = Path(a.out)
    stem = f"{time.strftime('%Y-%m-%d')}-{socket.gethostname()}-{model.stem}{'-quick' if a.quick else ''}"
    try:
        if not model.is_file():
            raise FerError(f"{model}: no such model file")
        started = time.monotonic()
        r = {"command": "python -m benchmarks " + " ".join(argv), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
             "hardware": hardware(), "quick": a.quick, "threads": threads,
             "model": {"name": model.stem, "path": str(model), "bytes": model.stat().st_size}}
        if a.quick:
            variants = {"int8": model}
        else:
            variants = var.build(model, Path(a.keras) if a.keras else Path("/nonexistent"), log=_log)
            if a.micro_model and Path(a.micro_model).is_file():
                variants["micro_int8"] = Path(a.micro_model)
        r["variants"] = {k: {"file": str(v.relative_to(REPO)) if v.is_relative_to(REPO) else str(v),
                             "bytes": v.stat().st_size} for k, v in variants.items()}
        r["tiers"] = {k: {"bytes": v.stat().st_size, "macs": multiply_accumulates(v.read_bytes())}
                      for k, v in variants.items() if k in TIERS}
        steps = 4 + (not a.quick) * 3
        photos = _speed(r, a, model, variants, threads, steps)
        _log(f"[3/{steps}] cold start")
        r["cold_start"] = latency.cold_start(model, photos[0], 1 if a.quick else 5)
        _accuracy_and_more(r, a, variants, photos, out, stem, steps)
        _log(f"[{steps}/{steps}] writing")
    except (FerError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)

    r["wall_s"] = round(time.monotonic() - started, 1)
    atomic_write_json(out / f"{stem}.json", r)
    atomic_write_text(out / f"{stem}.md", report.markdown(r))
    print(report.markdown(r))
    _log(f"wrote {out / stem}.json and .md")
    return 0


def peers_section(r: dict, photos, data_path) -> dict:
    if not peers.available():
        _log("  PyPI fer is not installed; no peer comparison")
        return {}
    out = {"version": peers.version()}
    ev = accuracy.EvalData(data_path) if data_path is not None and Path(data_path).exists() else None
    if ev is not None:
        c = peers.crops(ev.images)
        out["accuracy"] = {k: {kk: vv for kk, vv in v.items() if kk != "reliability"}
                           for k, v in accuracy.evaluate(c["probs"], ev).items()}
        out["crop_latency"] = c["latency"]
        out["model"] = {"file": c["model"], "input": c["input"], "bytes": c["bytes"]}
        ours = [x for x in report.primary_cells(r) if x["threads"] == 1][0]["p50"]
        out["ours_crop_p50"] = ours
        out["crop_ratio"] = c["latency"]["p50"] / ours
    if r.get("photo"):
        p = peers.pipeline(photos)
        out["pipeline"] = p
        out["photo_ratio"] = p["median_of_photo_medians_ms"] / r["photo"]["median_of_photo_medians_ms"]
    return {"fer": out}


def plots(r: dict, out: Path, stem: str) -> list[str]:
    try:
        import matplotlib  # noqa: F401  (deferred: matplotlib is heavy and only needed for plots)
    except ImportError:
        return []

    files = []
    if r.get("accuracy"):
        files += accuracy.plots(r["accuracy"], out, stem)
        pts = []
        names = {v: t for t, v in shipped_tiers().items()}
        for c in r["latency"]:
            if c["threads"] == 1 and c["xnnpack"] and "error" not in c and c["variant"] in TIERS \
                    and c["variant"] in r["accuracy"] and c["backend"] == r["hardware"]["interpreter"].split()[0]:
                k = c["variant"]
                pts.append({"label": f"{names[k]} ({c['bytes'] / 1e6:.2f} MB)", "latency_ms": c["p50"],
                            "accuracy": r["accuracy"][k]["PrivateTest"]["accuracy"]})
                if k in (r.get("tta") or {}) and f"{k}+flip" in r["accuracy"]:
                    pts.append({"label": f"{names[k]} + flip", "latency_ms": r["tta"][k]["flip"]["p50"],
                                "accuracy": r["accuracy"][f"{k}+flip"]["PrivateTest"]["accuracy"]})
        peer = (r.get("peers") or {}).get("fer")
        if peer and peer.get("accuracy"):
            pts.append({"label": f"PyPI fer {peer['version']} (Keras)", "latency_ms": peer["crop_latency"]["p50"],
                        "accuracy": peer["accuracy"]["PrivateTest"]["accuracy"]})
        if pts:
            f = f"{stem}-accuracy-latency.png"
            p.accuracy_latency(pts, out / f, "shipped tiers and peers: accuracy vs crop time")
            files.append(f)
    return files


if __name__ == "__main__":
    sys.exit(main())
