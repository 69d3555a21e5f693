"""Latency and footprint measurements of the runtime (no TensorFlow needed).

Also a command for measuring from another environment, such as one with
tflite-runtime (which needs numpy<2)::

    .venv-tflrt/bin/python -m benchmarks.latency --backend tflite_runtime \
        --model runtime/models/fer_mobilenetv2_int8.tflite --threads 1,2,4

prints one JSON object per cell (variant x threads x XNNPACK) on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from convert.timing import call_samples, interleaved, stats_ms, time_calls  # noqa: F401  (used by the suite)
from runtime.classifier import Classifier
from runtime.errors import ModelError
from runtime.interpreter import _CANDIDATES, find_backend
from runtime.recognizer import Recognizer
from runtime.video import Follower, read_frames
from train.paths import REPO


def installed_backends() -> list:
    """Every TFLite interpreter importable here (LiteRT, tflite-runtime, TensorFlow)."""
    out = []
    for name, _, _ in _CANDIDATES:
        try:
            out.append(find_backend(name))
        except ModelError:
            pass
    return out


def cells(models: dict[str, Path], backends: list, threads: list[int], xnnpack=(True, False), warmup: int = 20,
          runs: int = 500, budget_s: float | None = 1.5, rounds: int = 5, log=print) -> list[dict]:
    """Crop latency for every variant x interpreter x threads x XNNPACK setting.

    The cells are measured in ``rounds`` interleaved passes (each pass gives
    every cell ``runs / rounds`` calls and ``budget_s / rounds`` seconds), so a
    slow spell of a shared machine falls on all cells alike instead of on the
    one measured at that moment; each cell's statistics pool its passes."""
    todo = [(v, b, t, x) for v in models for b in backends for t in threads for x in xnnpack]
    rounds = max(1, min(rounds, runs))
    state, out = [], []
    for i, (v, b, t, x) in enumerate(todo, 1):
        log(f"  [{i}/{len(todo)}] {v}, {b.name}, {t} thread(s), XNNPACK {'on' if x else 'off'}")
        c = {"variant": v, "backend": b.name, "backend_version": b.version, "threads": t, "xnnpack": x,
             "bytes": Path(models[v]).stat().st_size}
        try:
            start = time.perf_counter()
            clf = Classifier(models[v], threads=t, xnnpack=x, backend=b)
            c["load_ms"] = (time.perf_counter() - start) * 1e3
            c["interpreter"] = f"{clf.backend.name} {clf.backend.version}"
            crop = np.random.default_rng(0).integers(0, 256, (clf.size, clf.size), dtype=np.uint8)
            state.append((c, (lambda clf=clf, crop=crop: clf.run(crop)), []))
        except Exception as e:  # one interpreter failing a variant must not end the suite
            c["error"] = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        out.append(c)
    for r in range(rounds):
        log(f"  latency pass {r + 1}/{rounds} over {len(state)} cells")
        for c, fn, samples in state:
            try:
                samples += call_samples(fn, warmup if r == 0 else max(1, warmup // 4), max(1, runs // rounds),
                                        None if budget_s is None else budget_s / rounds, max(1, 30 // rounds))
            except Exception as e:  # noqa: BLE001
                c.setdefault("error", str(e).splitlines()[0] if str(e) else e.__class__.__name__)
    for c, _, samples in state:
        if "error" not in c:
            c.update(stats_ms(samples), rounds=rounds)
    return out


def cells_from_python(python: str, models: dict[str, Path], threads: list[int], backend: str, runs: int,
                      budget_s: float, log=print) -> list[dict]:
    """The same cells measured by another Python environment (e.g. tflite-runtime with numpy<2)."""
    cmd = [python, "-m", "benchmarks.latency", "--backend", backend, "--threads", ",".join(map(str, threads)),
           "--runs", str(runs), "--budget", str(budget_s)]
    for name, path in models.items():
        cmd += ["--model", f"{name}={path}"]
    log(f"  {backend} from {python}")
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    if r.returncode:
        raise RuntimeError(f"{python} -m benchmarks.latency failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    out = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    for c in out:
        c["environment"] = python
    return out


def photo_latency(model: Path, photos: list[Path], threads: int, warmup: int, runs: int,
                  budget_s: float | None = None, reduce_jpeg: bool = True, detector: str = "auto") -> dict:
    """Decode + detect + crop + classify, whole photos from disk."""
    rec = Recognizer(model, threads=threads, reduce_jpeg=reduce_jpeg, detector=detector)
    per_photo, faces, sizes = [], 0, []
    for p in photos:
        r = time_calls(lambda: rec.predict(p), warmup, runs, budget_s)
        faces += len(rec.predict(p))
        per_photo.append({"photo": Path(p).name, "p50": r["p50"], "p90": r["p90"], "runs": r["runs"]})

    for p in photos:
        with Image.open(p) as im:
            sizes.append(f"{im.width}x{im.height}")
    return {"photos": len(photos), "faces_found": faces, "size": ", ".join(sorted(set(sizes))),
            "median_of_photo_medians_ms": float(np.median([x["p50"] for x in per_photo])),
            "per_photo": per_photo, "detector": getattr(rec.detector, "name", "none"), "threads": threads,
            "reduce_jpeg": reduce_jpeg}


def phone_photo(out_dir: Path) -> Path:
    """A 12-megapixel (4032x3024) JPEG, a phone camera's size: the sample photo
    enlarged to 3024x3024 on a grey canvas, made here."""
    p = out_dir / "astronaut_4032x3024.jpg"
    if not p.is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
        with Image.open(REPO / "runtime" / "samples" / "astronaut.png") as im:
            canvas = Image.new("RGB", (4032, 3024), (128, 128, 128))
            canvas.paste(im.convert("RGB").resize((3024, 3024), Image.BICUBIC), (504, 0))
            canvas.save(p, "JPEG", quality=90)
    return p


def sample_photos(out_dir: Path) -> list[Path]:
    """The bundled sample photo (PNG, 512x512) and JPEG copies of it at 512 and
    1024 pixels, made here, so the photo set covers both decoders and two sizes."""
    src = REPO / "runtime" / "samples" / "astronaut.png"
    out_dir.mkdir(parents=True, exist_ok=True)
    photos = [src]
    with Image.open(src) as im:
        rgb = im.convert("RGB")
        for side in (512, 1024):
            p = out_dir / f"astronaut_{side}.jpg"
            if not p.is_file():
                rgb.resize((side, side), Image.BICUBIC).save(p, "JPEG", quality=90)
            photos.append(p)
    return photos


def cold_start(model: Path, photo: Path, repeats: int = 3) -> dict:
    """A fresh process: start, load, first result; peak RSS of that process."""
    code = ("import resource, sys, time, json\n"
            "t0 = time.perf_counter()\n"
            "from runtime.recognizer import Recognizer\n"
            f"r = Recognizer({str(model)!r})\n"
            f"faces = r.predict({str(photo)!r})\n"
            "t1 = time.perf_counter()\n"
            "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
            "try:\n"
            "    # VmHWM belongs to this program's own memory map; ru_maxrss also counts the\n"
            "    # parent's pages shared at fork time, before exec.\n"
            "    for line in open('/proc/self/status'):\n"
            "        if line.startswith('VmHWM:'):\n"
            "            peak = int(line.split()[1]) / 1024\n"
            "except OSError:\n"
            "    pass\n"
            "print(json.dumps({'in_process_s': t1 - t0, 'faces': len(faces), 'peak_rss_mb': peak}))\n")
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.latency", description="crop latency cells as JSON lines")
    ap.add_argument("--model", action="append", required=True, help="NAME=PATH or PATH")
    ap.add_argument("--backend", help="litert, tflite_runtime or tensorflow (default: every installed one)")
    ap.add_argument("--threads", default="1,2,4")
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--budget", type=float, default=1.5, help="seconds per cell (at least 30 runs)")
    a = ap.parse_args(argv)

    models = {}
    for m in a.model:
        name, _, path = m.rpartition("=")
        models[name or Path(path).stem] = Path(path)
    backends = [find_backend(a.backend)] if a.backend else installed_backends()
    for c in cells(models, backends, [int(t) for t in a.threads.split(",")], runs=a.runs, budget_s=a.budget,
                   log=lambda m: print(m, file=sys.stderr)):
        print(json.dumps(c), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def tta_latency(model: Path, runs: int = 300, budget_s: float = 2.0) -> dict:
    """One crop through ``Classifier.run`` at 1 thread, one pass and with flip
    averaging, interleaved in the same run: ``{"none": stats, "flip": stats, "ratio"}``."""
    crop = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    clfs = {tta: Classifier(model, threads=1, tta=tta) for tta in ("none", "flip")}
    out = interleaved({tta: (lambda c=c: c.run(crop)) for tta, c in clfs.items()}, runs=runs, budget_s=budget_s)
    out["ratio"] = out["flip"]["p50"] / out["none"]["p50"]
    return out


def video_clip(out_dir: Path, frames: int = 300) -> Path | None:
    """A 1280x720 MP4 (30 fps; 300 frames: 10 s) of the sample photo's upper part moving to and fro across
    the frame and up and down (the face about 17% of the width, where the short-range detector finds it);
    None without OpenCV."""
    try:
        import cv2  # deferred: OpenCV is an optional extra (video)
    except ImportError:
        return None

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"clip-720p-{frames}.mp4"
    if path.is_file():
        return path
    face = np.asarray(Image.open(REPO / "runtime" / "samples" / "astronaut.png")
                      .convert("RGB").crop((80, 0, 392, 312)).resize((640, 640)))
    tmp = out_dir / f"clip-720p-{frames}.tmp.mp4"
    w = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (1280, 720))
    for i in range(frames):
        f = np.full((720, 1280, 3), 70, np.uint8)
        t = (i * 8) % 1200
        x = t if t <= 600 else 1200 - t                   # 8 pixels a frame, to and fro over 600 pixels
        y = int(40 + 40 * np.sin(i / 15.0))               # and a slow bob of 40 pixels
        f[y:y + 640, x:x + 640] = face[:720 - y]
        w.write(np.ascontiguousarray(f[:, :, ::-1]))
    w.release()
    tmp.replace(path)
    return path


def video_fps(model: Path, clip: Path, threads: int = 1, detect_every: int = 1, detector: str = "auto") -> dict:
    """End-to-end frames per second on ``clip`` as ``fer-infer clip.mp4 --detect-every N`` runs it: decode
    (OpenCV), faces (:class:`runtime.video.Follower`: the detector every N frames, boxes followed between),
    crop, classify, every frame; with each frame's labels."""
    import cv2  # deferred: OpenCV is an optional extra (video)


    rec = Recognizer(model, threads=threads, detector=detector)
    follow = Follower(rec, detect_every)
    cap = cv2.VideoCapture(str(clip))
    n, faces, labels, t0 = 0, 0, [], time.perf_counter()
    for _, _, rgb in read_frames(cap):
        found = follow.faces(rgb)
        faces += len(found)
        labels.append(sorted(f.label for f in found if f.label))
        n += 1
    cap.release()
    dt = time.perf_counter() - t0
    return {"clip": clip.name, "frames": n, "faces": faces, "threads": threads, "fps": n / dt if dt else 0.0,
            "size": "1280x720", "detect_every": detect_every, "frames_detected": follow.detected, "labels": labels}


def video_tracking(model: Path, clip: Path, detect_every: int = 5, rounds: int = 2) -> dict:
    """The clip every frame detected, tracked (``--detect-every N``), and with short-range on every frame,
    interleaved in ``rounds`` passes (the best pass of each): fps of each, and the share of frames whose
    labels (one per face, unsmoothed) are those of the every-frame run."""
    runs = {"every_frame": (1, "auto"), "tracked": (detect_every, "auto"), "short_every_frame": (1, "short")}
    best = {}
    for _ in range(rounds):
        for k, (n, det) in runs.items():
            r = video_fps(model, clip, 1, n, det)
            if k not in best or r["fps"] > best[k]["fps"]:
                best[k] = r
    ref = best["every_frame"]["labels"]
    same = float(np.mean([a == b for a, b in zip(best["tracked"]["labels"], ref)])) if ref else 0.0
    out = {k: {m: v for m, v in r.items() if m != "labels"} for k, r in best.items()}
    out["same_labels_as_every_frame"] = same
    out["speedup"] = best["tracked"]["fps"] / best["every_frame"]["fps"] if best["every_frame"]["fps"] else 0.0
    out["vs_short_every_frame"] = (best["tracked"]["fps"] / best["short_every_frame"]["fps"]
                                   if best["short_every_frame"]["fps"] else 0.0)
    return out


def sample_head(frac: float, width: int):
    """The sample photo's head, scaled so that its face is about ``frac`` of ``width`` pixels."""
    head = Image.open(REPO / "runtime" / "samples" / "astronaut.png").convert("RGB").crop((130, 10, 320, 220))
    s = frac * width / 95.0
    return head.resize((max(1, int(190 * s)), max(1, int(210 * s))), Image.BILINEAR)


def group_photo(out_dir: Path, width: int = 2000, face_frac: float = 0.04, faces: int = 3) -> Path:
    """A generated 2000x1400 group photo: the sample photo's head ``faces`` times, each face
    about ``face_frac`` of the width (far faces, where the detectors differ)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"group-{width}-{faces}x{round(100 * face_frac)}pct.png"
    if path.is_file():
        return path
    head = sample_head(face_frac, width)
    canvas = Image.new("RGB", (width, int(width * 0.7)), (120, 120, 120))
    for k in range(faces):
        canvas.paste(head, (int(width * (0.08 + 0.3 * k)), int(width * (0.1 + 0.15 * k))))
    canvas.save(path)
    return path
