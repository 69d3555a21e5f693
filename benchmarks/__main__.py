"""``python -m benchmarks``: accuracy and latency of a fer-edge model, written as
``benchmarks/results/<date>-<host>-<model>.json`` plus a Markdown report.

    python -m benchmarks                 # default suite
    python -m benchmarks --quick         # the smoke run CI uses
    python -m benchmarks --model m.tflite --threads 1,2,4 --data PATH

Latency: warm-up, then N timed runs (mean, std, p50, p90, p99), model load
time, a fresh process to first result with its peak RSS, end-to-end photo
latency (decode, detect, crop, classify). Accuracy (when FER-2013 is found):
PrivateTest, PublicTest, clean PrivateTest and FER+ majority labels.
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

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def hardware() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy

    from runtime.interpreter import probe_backend

    b = probe_backend()
    return {"host": socket.gethostname(), "machine": platform.machine(), "cpu": cpu, "cores": os.cpu_count(),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "numpy": numpy.__version__, "interpreter": f"{b[0]} {b[1]}" if b else "none"}


def accuracy(model: Path, data_path, ferplus_dir=None) -> dict:
    from runtime.classifier import Classifier
    from train import dataset
    from train.audit import evaluation_masks
    from train.metrics import summarize

    data = dataset.load(data_path)
    clf = Classifier(model)
    masks = evaluation_masks(data)
    probs = {"PublicTest": clf.predict_proba(data.images[masks["PublicTest"]]),
             "PrivateTest": clf.predict_proba(data.images[masks["PrivateTest"]])}
    # The clean split is a subset of PrivateTest: reuse those predictions.
    probs["PrivateTest_clean"] = probs["PrivateTest"][masks["PrivateTest_clean"][masks["PrivateTest"]]]
    out = {name: summarize(data.labels[masks[name]], probs[name])
           for name in ("PrivateTest", "PublicTest", "PrivateTest_clean")}
    fp = Path(ferplus_dir) if ferplus_dir else Path(data_path).parent / "ferplus"
    if (fp / "fer2013new.csv").is_file() and (fp / "fer2013_imagefolder_to_ferplus.csv").is_file():
        from train import ferplus

        f = ferplus.attach(data, fp / "fer2013new.csv", fp / "fer2013_imagefolder_to_ferplus.csv")
        priv = masks["PrivateTest"]
        m = f.majority[priv] >= 0
        out["PrivateTest_FERplus_majority"] = summarize(f.majority[priv][m], probs["PrivateTest"][m])
    return out


def markdown(r: dict) -> str:
    h = r["hardware"]
    lines = [f"# Benchmark: {r['model']['name']}", "",
             f"Command: `{r['command']}`  ", f"Date: {r['date']}  ",
             f"Hardware: {h['cpu']} ({h['cores']} cores, {h['machine']}), {h['os']}, Python {h['python']}  ",
             f"Interpreter: {h['interpreter']}; model file {r['model']['bytes'] / 1e6:.2f} MB", ""]
    if r.get("accuracy"):
        lines += ["## Accuracy", "", "| split | images | accuracy | macro-F1 | ECE |", "|---|---|---|---|---|"]
        for k, v in r["accuracy"].items():
            lines.append(f"| {k} | {v['n']} | {100 * v['accuracy']:.2f}% | {100 * v['macro_f1']:.2f}% | {v['ece']:.3f} |")
        lines.append("")
    lines += ["## Latency (ms)", "", "| what | threads | XNNPACK | runs | p50 | p90 | p99 | mean | load |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in r["crop"]:
        lines.append(f"| classify one crop | {c['threads']} | {'on' if c['xnnpack'] else 'off'} | {c['runs']} | "
                     f"{c['p50']:.3f} | {c['p90']:.3f} | {c['p99']:.3f} | {c['mean']:.3f} | {c['load_ms']:.1f} |")
    if r.get("photo"):
        p = r["photo"]
        lines.append(f"| photo: decode+detect+crop+classify ({p['photos']} photo, {p['detector']}) | 1 | on | "
                     f"{p['runs']} | {p['median_of_photo_medians_ms']:.2f} | | | | |")
    if r.get("cold_start"):
        c = r["cold_start"]
        lines += ["", f"Fresh process to first result (median of {c['runs']}): {1e3 * c['wall_s_median']:.0f} ms wall, "
                  f"{1e3 * c['in_process_s_median']:.0f} ms after interpreter start; peak RSS "
                  f"{c['peak_rss_mb_max']:.0f} MB."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from benchmarks import latency
    from runtime.classifier import BUNDLED_MODEL
    from runtime.errors import FerError

    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--model", default=str(BUNDLED_MODEL), help=".tflite to measure")
    ap.add_argument("--quick", action="store_true", help="smoke run: few timings, no accuracy")
    ap.add_argument("--threads", default="1,2", help="thread counts for crop latency")
    ap.add_argument("--runs", type=int, default=500, help="timed runs per crop-latency cell")
    ap.add_argument("--data", help="FER-2013 for accuracy (default: $FER_DATA)")
    ap.add_argument("--out", default=str(RESULTS), help="results folder")
    a = ap.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    model = Path(a.model)
    try:
        threads = [int(t) for t in a.threads.split(",") if t]
    except ValueError:
        print("error: --threads takes a comma-separated list of integers", file=sys.stderr)
        return 2
    runs, warm = (20, 5) if a.quick else (a.runs, 50)
    sample = REPO / "runtime" / "samples" / "astronaut.png"
    try:
        r = {"command": "python -m benchmarks " + " ".join(argv), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
             "hardware": hardware(), "quick": a.quick,
             "model": {"name": model.stem, "path": str(model), "bytes": model.stat().st_size if model.is_file() else 0}}
        steps = [(t, x) for t in threads for x in ((True, False) if not a.quick else (True,))]
        r["crop"] = []
        for i, (t, x) in enumerate(steps, 1):
            print(f"[{i}/{len(steps) + 3}] crop latency, {t} thread(s), XNNPACK {'on' if x else 'off'}", file=sys.stderr)
            c = latency.crop_latency(model, t, warm, runs, xnnpack=x)
            c.update(threads=t, xnnpack=x)
            r["crop"].append(c)
        print(f"[{len(steps) + 1}/{len(steps) + 3}] photo latency", file=sys.stderr)
        from runtime.fetch import cached_detector_path

        if cached_detector_path() is not None:
            r["photo"] = latency.photo_latency(model, [sample], 1, 3 if a.quick else 10, runs)
            r["photo"]["runs"] = runs
        print(f"[{len(steps) + 2}/{len(steps) + 3}] cold start", file=sys.stderr)
        r["cold_start"] = latency.cold_start(model, sample, 1 if a.quick else 5)
        if not a.quick:
            from train import dataset

            path = dataset.find_data(a.data)
            if path is not None and path.exists():
                print(f"[{len(steps) + 3}/{len(steps) + 3}] accuracy on {path}", file=sys.stderr)
                r["accuracy"] = accuracy(model, path)
    except (FerError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y-%m-%d')}-{r['hardware']['host']}-{model.stem}{'-quick' if a.quick else ''}"
    from train.io import atomic_write_json, atomic_write_text

    atomic_write_json(out / f"{stem}.json", r)
    atomic_write_text(out / f"{stem}.md", markdown(r))
    print(markdown(r))
    print(f"wrote {out / stem}.json and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
