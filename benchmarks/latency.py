"""Latency and footprint measurements of the runtime (no TensorFlow needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def stats_ms(samples_s: list[float]) -> dict:
    a = np.asarray(samples_s) * 1e3
    return {"runs": int(a.size), "mean": float(a.mean()), "std": float(a.std()), "p50": float(np.percentile(a, 50)),
            "p90": float(np.percentile(a, 90)), "p99": float(np.percentile(a, 99))}


def time_calls(fn, warmup: int, runs: int) -> dict:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return stats_ms(out)


def crop_latency(model: Path, threads: int, warmup: int, runs: int, xnnpack: bool = True, backend=None) -> dict:
    from runtime.classifier import Classifier

    t = time.perf_counter()
    clf = Classifier(model, threads=threads, xnnpack=xnnpack, backend=backend)
    load_ms = (time.perf_counter() - t) * 1e3
    crop = np.random.default_rng(0).integers(0, 256, (clf.size, clf.size), dtype=np.uint8)
    r = time_calls(lambda: clf.run(crop), warmup, runs)
    r["load_ms"] = load_ms
    r["interpreter"] = f"{clf.backend.name} {clf.backend.version}"
    return r


def photo_latency(model: Path, photos: list[Path], threads: int, warmup: int, runs: int) -> dict:
    """Decode + detect + crop + classify, whole photos from disk."""
    from runtime.recognizer import Recognizer

    rec = Recognizer(model, threads=threads)
    per_photo, faces = [], 0
    for p in photos:
        r = time_calls(lambda: rec.predict(p), warmup, runs)
        faces += len(rec.predict(p))
        per_photo.append(r["p50"])
    return {"photos": len(photos), "faces_found": faces, "median_of_photo_medians_ms": float(np.median(per_photo)),
            "per_photo_p50_ms": per_photo, "detector": getattr(rec.detector, "name", "none")}


def cold_start(model: Path, photo: Path, repeats: int = 3) -> dict:
    """A fresh process: start, load, first result; peak RSS of that process."""
    code = ("import resource, sys, time, json\n"
            "t0 = time.perf_counter()\n"
            "from runtime.recognizer import Recognizer\n"
            f"r = Recognizer({str(model)!r})\n"
            f"faces = r.predict({str(photo)!r})\n"
            "t1 = time.perf_counter()\n"
            "print(json.dumps({'in_process_s': t1 - t0, 'faces': len(faces),"
            " 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n")
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                           env=dict(os.environ, PYTHONPATH=str(REPO)))
        wall = time.perf_counter() - t
        if r.returncode:
            raise RuntimeError(r.stderr.strip().splitlines()[-1])
        d = json.loads(r.stdout.strip().splitlines()[-1])
        d["wall_s"] = wall
        runs.append(d)
    return {"runs": repeats, "wall_s_median": float(np.median([d["wall_s"] for d in runs])),
            "in_process_s_median": float(np.median([d["in_process_s"] for d in runs])),
            "peak_rss_mb_max": float(max(d["peak_rss_mb"] for d in runs))}
