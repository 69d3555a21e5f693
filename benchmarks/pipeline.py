"""Speed as users feel it: the whole pipeline, side by side in one run.

    python -m benchmarks.pipeline          # writes benchmarks/results/pipeline.json and .md

In one run, on photos and a clip made here from the bundled sample photo:

* per-photo warm time (decode, detect, crop, classify; 1 thread) of each
  detector mode (``short``, ``auto``, ``all``) on ordinary photos (portraits,
  a pair, a group, a 12-megapixel phone JPEG), with the faces each finds, and
  which passes ``auto`` took;
* ``auto``'s misses: faces found by ``auto`` and by ``all`` (every pass) on
  group photos of known face counts, uniform and mixed sizes;
* a folder: photos per second of ``fer-infer DIR --json`` with 1 worker and
  with one a core (wall time of the command, start included);
* video: frames per second of a 10 s 1280x720 clip of one moving face, the
  detector on every frame (``--detect-every 1``), tracked (the default), and
  short-range on every frame, and the share of frames labelled the same as
  every-frame detection;
* the PyPI ``fer`` package's own pipeline on the same ordinary photos, when
  installed (``make bench-peers``).

The benchmark suite (``python -m benchmarks``) runs the same measurement;
``python -m benchmarks.readme`` puts its headline into the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import clips, latency
from benchmarks import peers as peer
from convert.timing import time_calls
from runtime.classifier import BUNDLED_MODEL
from runtime.detect import AUTO_SPREAD
from runtime.fetch import cached_detector_path
from runtime.recognizer import Recognizer
from train.io import atomic_write_json, atomic_write_text
from train.paths import REPO

OUT = REPO / "benchmarks" / "results" / "pipeline"
PHOTOS = REPO / "build" / "pipeline"


def group(path: Path, width: int, fracs: list[float]) -> Path:
    """A width x 0.7 width photo with one head per entry of ``fracs`` (face size as a fraction of the width)."""
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(fracs) * 1000 + width)
    canvas = Image.new("RGB", (width, int(width * 0.7)), tuple(int(v) for v in rng.integers(90, 170, 3)))
    heads = [latency.sample_head(f, width) for f in sorted(fracs, reverse=True)]
    gap = int(width * 0.02)
    if sum(h.width for h in heads) + gap * (len(heads) + 1) > width:
        raise ValueError(f"{len(fracs)} heads of {fracs} do not fit side by side in {width} pixels")
    x = gap
    for head in heads:       # side by side, every head whole inside the photo
        y = int((canvas.height - head.height) * rng.uniform(0.1, 0.9)) if canvas.height > head.height else 0
        canvas.paste(head, (x, y))
        x += head.width + gap
    if path.suffix == ".jpg":
        canvas.save(path, "JPEG", quality=90)
    else:
        canvas.save(path)
    return path


def scene(path: Path, width: int, height: int, heads: list[tuple[float, float, float]], quality: int = 90) -> Path:
    """A ``width`` x ``height`` photo with the sample's head at each ``(face size as a fraction of the longer
    side, x, y of the head's centre as fractions of the photo)``: the shapes users' photos come in (tall and
    wide portraits, small frames, pairs and groups)."""
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(width * 7 + height)
    canvas = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(90, 170, 3)))
    for frac, cx, cy in heads:
        head = latency.sample_head(frac, max(width, height))
        canvas.paste(head, (int(cx * width - head.width / 2), int(cy * height - head.height / 2)))
    canvas.save(path, "JPEG", quality=quality) if path.suffix == ".jpg" else canvas.save(path)
    return path


#: the shapes of issue #46's photos: (name, width, height, heads): faces as users' photos hold them
SHAPES = (("portrait-tall-970x2204.jpg", 970, 2204, [(0.17, 0.5, 0.25)]),
          ("portrait-768x1154.jpg", 768, 1154, [(0.26, 0.5, 0.35)]),
          ("portrait-wide-1200x599.jpg", 1200, 599, [(0.2, 0.4, 0.45)]),
          ("frame-small-427x240.jpg", 427, 240, [(0.21, 0.55, 0.45)]),
          ("portrait-large-1434x2333.jpg", 1434, 2333, [(0.24, 0.5, 0.3)]),
          ("pair-wide-1126x661.jpg", 1126, 661, [(0.18, 0.28, 0.45), (0.17, 0.7, 0.5)]),
          ("group-2000x1428.jpg", 2000, 1428, [(0.06, 0.12 + 0.19 * k, 0.3 + 0.4 * (k % 2)) for k in range(5)]
           + [(0.055, 0.21 + 0.19 * k, 0.72 - 0.4 * (k % 2)) for k in range(4)]))


def ordinary_photos(root: Path = PHOTOS) -> list[tuple[Path, int]]:
    """``(photo, faces in it)``: what a user points fer-infer at: the sample at three sizes, a pair, a portrait,
    a group, a 12-megapixel phone JPEG, and :data:`SHAPES`."""
    root.mkdir(parents=True, exist_ok=True)
    photos = [(p, 1) for p in latency.sample_photos(root)]
    photos.append((group(root / "pair-1600.jpg", 1600, [0.2, 0.18]), 2))
    photos.append((group(root / "portrait-1200.jpg", 1200, [0.35]), 1))
    photos.append((group(root / "group-2000-5x8pct.jpg", 2000, [0.08] * 5), 5))
    photos.append((latency.phone_photo(root), 1))
    photos += [(scene(root / name, w, h, heads), len(heads)) for name, w, h, heads in SHAPES]
    return photos


def group_photos(root: Path = PHOTOS) -> list[tuple[Path, int, str]]:
    """``(photo, faces, kind)``: uniform sizes from 3% to 25%, and mixed sizes (a large face beside small ones,
    where the ``auto`` rule may stop early)."""
    sets = [("uniform", [0.03] * 4), ("uniform", [0.05] * 4), ("uniform", [0.08] * 4), ("uniform", [0.12] * 3),
            ("uniform", [0.16] * 2), ("mixed", [0.16, 0.12, 0.1]), ("mixed", [0.16, 0.1, 0.1]),
            ("mixed", [0.25, 0.06, 0.06]), ("mixed", [0.3, 0.04])]
    out = []
    for kind, fracs in sets:
        name = f"{kind}-2000-{'-'.join(str(round(100 * f)) for f in fracs)}pct.png"
        out.append((group(root / name, 2000, fracs), len(fracs), kind))
    return out


def photo_times(model, photos, detector: str, runs: int = 15) -> list[dict]:
    rec = Recognizer(model, threads=1, detector=detector)
    out = []
    for p, n in photos:
        faces = rec.predict(p)
        r = time_calls(lambda: rec.predict(p), 2, runs, budget_s=2.0, min_runs=5)
        out.append({"photo": Path(p).name, "faces": n, "found": len([f for f in faces if f.label]),
                    "p50": r["p50"], "passes": list(getattr(rec.detector, "last_passes", []))})
    return out


def folder_rate(model, photos: list[Path], workers: int, root: Path) -> dict:
    """Photos per second of ``fer-infer DIR --json --workers N`` on a folder of ``photos`` (wall time)."""
    d = root / "folder"
    if not d.is_dir():
        d.mkdir(parents=True)
        for i, p in enumerate(photos):
            shutil.copy(p, d / f"{i:03d}{Path(p).suffix}")
    n = len(list(d.iterdir()))
    cmd = [sys.executable, "-m", "runtime.cli", str(d), "--json", "--quiet", "--workers", str(workers),
           "--model", str(model)]
    best = None
    for _ in range(2):
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
        wall = time.perf_counter() - t
        if r.returncode:
            raise RuntimeError((r.stderr.strip().splitlines() or ["fer-infer failed"])[-1])
        best = wall if best is None else min(best, wall)
    lines = r.stdout.strip().splitlines()
    return {"workers": workers, "photos": n, "results": len(lines), "wall_s": best, "photos_per_s": n / best}


def previous_times() -> dict:
    """``{photo: p50 ms}`` of the default detector in the newest benchmark run the README was made from
    (``benchmarks/results/*-fer_mobilenetv2_int8.json``), and that run's date; empty when there is none."""
    runs = sorted((REPO / "benchmarks" / "results").glob("*-fer_mobilenetv2_int8.json"))
    for path in reversed(runs):
        pipe = json.loads(path.read_text()).get("pipeline") or {}
        auto = (pipe.get("photos") or {}).get("auto")
        if auto:
            return {"run": path.name, "date": pipe.get("date", ""), "p50": {x["photo"]: x["p50"] for x in auto}}
    return {}


def measure(model=None, log=print, peers: bool = True) -> dict:
    model = Path(model or BUNDLED_MODEL)
    ordinary = ordinary_photos()
    r = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "cores": os.cpu_count(), "auto_spread": AUTO_SPREAD}
    log("pipeline: per-photo time of each detector mode")
    r["previous"] = previous_times()
    modes = {d: photo_times(model, ordinary, d) for d in ("short", "auto", "all")}
    r["photos"] = modes
    r["auto_vs_short"] = {p["photo"]: p["p50"] / s["p50"] for p, s in zip(modes["auto"], modes["short"])}
    #: the photos of one or a few faces filling a good part of the frame (not the group shot, not the 12 MP one)
    r["ordinary"] = [p.name for p, n in ordinary if n <= 2 and "4032" not in p.name]
    log("pipeline: auto's misses on group photos")
    groups = group_photos()
    g_auto = photo_times(model, [(p, n) for p, n, _ in groups], "auto", runs=5)
    g_all = photo_times(model, [(p, n) for p, n, _ in groups], "all", runs=5)
    r["groups"] = [{"photo": a["photo"], "kind": k, "faces": n, "auto": a["found"], "all": b["found"],
                    "auto_ms": a["p50"], "all_ms": b["p50"], "auto_passes": a["passes"]}
                   for (_, n, k), a, b in zip(groups, g_auto, g_all)]
    log("pipeline: a folder, 1 worker and one a core")
    folder = [p for p, _ in ordinary if p.stat().st_size < 3_000_000] * 24
    r["folder"] = [folder_rate(model, folder, w, PHOTOS) for w in (1, os.cpu_count() or 1)]
    r["folder_speedup"] = r["folder"][1]["photos_per_s"] / r["folder"][0]["photos_per_s"]
    clip = latency.video_clip(PHOTOS)
    if clip is not None:
        log("pipeline: video, 720p")
        r["video"] = latency.video_tracking(model, clip, 10)
        r["clips"] = clips.measure(model, log)["clips"]
    if peers:
        if peer.available():
            log("pipeline: the PyPI fer package on the same photos")
            p = peer.pipeline([p for p, _ in ordinary])
            ours = float(np.median([x["p50"] for x in modes["auto"]]))
            r["fer"] = {"version": p["version"], "median_ms": p["median_of_photo_medians_ms"], "ours_median_ms": ours,
                        "faces_found": p["faces_found"], "faces": sum(n for _, n in ordinary),
                        "per_photo_ms": p["per_photo_p50_ms"], "ratio": p["median_of_photo_medians_ms"] / ours}
    return r


def markdown(r: dict) -> str:
    lines = ["# Pipeline speed", "", f"`python -m benchmarks.pipeline`, {r['date']}, {r['cores']} cores; photos and "
             "clip made from the bundled sample photo (`benchmarks/pipeline.py`).", "",
             "Per photo, warm, 1 thread (decode + detect + crop + classify), p50 ms; faces found / in the photo:", "",
             "| photo | short | auto | all | auto / short | auto's passes |" + (
                 " auto in the previous run |" if "previous" in r else ""),
             "|---|---|---|---|---|---|" + ("---|" if "previous" in r else "")]
    m = r["photos"]
    before = (r.get("previous") or {}).get("p50", {})
    for s, a, x in zip(m["short"], m["auto"], m["all"]):
        was = (f" {before[a['photo']]:.1f} |" if a["photo"] in before else " (not in it) |") if "previous" in r else ""
        lines.append(f"| {a['photo']} | {s['p50']:.1f} ({s['found']}/{s['faces']}) | {a['p50']:.1f} "
                     f"({a['found']}/{a['faces']}) | {x['p50']:.1f} ({x['found']}/{x['faces']}) | "
                     f"{a['p50'] / s['p50']:.2f}x | {' + '.join(a['passes'])} |{was}")
    if r.get("previous"):
        lines += ["", f"The previous run: `{r['previous']['run']}` ({r['previous']['date']}), another process on "
                  "the same kind of machine: compare its column as a ratio, not to the millisecond."]
    lines += ["", f"`auto`'s rule (stop after a pass when every face found is at least {r['auto_spread']}x the "
              "smallest that pass finds) on group photos of known face counts:", "",
              "| photo | kind | faces | auto found | all found | auto ms | all ms | auto's passes |",
              "|---|---|---|---|---|---|---|---|"]
    for g in r["groups"]:
        lines.append(f"| {g['photo']} | {g['kind']} | {g['faces']} | {g['auto']} | {g['all']} | {g['auto_ms']:.1f} | "
                     f"{g['all_ms']:.1f} | {' + '.join(g['auto_passes'])} |")
    missed = sum(max(0, g["all"] - g["auto"]) for g in r["groups"])
    extra, lost, n = against_known(r["groups"])
    lines += ["", f"Faces `all` found and `auto` did not: {missed} of {sum(g['all'] for g in r['groups'])}. "
              f"Against the faces each photo holds, `auto` reported {extra} more (a face twice, or a box on no "
              f"face) and {lost} fewer, of {n}.", "",
              "Folder (`fer-infer DIR --json`, wall time of the command, start included):", "",
              "| workers | photos | seconds | photos/s |", "|---|---|---|---|"]
    for f in r["folder"]:
        lines.append(f"| {f['workers']} | {f['photos']} | {f['wall_s']:.2f} | {f['photos_per_s']:.1f} |")
    lines += ["", f"{r['folder_speedup']:.2f}x the single-worker throughput."]
    v = r.get("video")
    if v:
        lines += ["", "Video, 1280x720, 10 s, one moving face, end to end (decode, faces, crop, classify), 1 thread:", "",
                  "| run | fps | whole-frame detections |", "|---|---|---|"]
        for k, what in (("every_frame", "detector every frame (`--detect-every 1`)"),
                        ("tracked", f"tracked (`--detect-every {v['tracked']['detect_every']}`, the default)"),
                        ("short_every_frame", "short-range every frame")):
            lines.append(f"| {what} | {v[k]['fps']:.1f} | {v[k]['frames_detected']} of {v[k]['frames']} |")
        lines += ["", f"Tracked: {v['speedup']:.2f}x the every-frame run, {v['vs_short_every_frame']:.2f}x short-range "
                  f"on every frame; {100 * v['same_labels_as_every_frame']:.1f}% of frames labelled the same."]
    if r.get("clips"):
        lines += ["", "Clips with known faces (`benchmarks/clips.py`: 1280x720, 300 frames, made from the bundled "
                  "sample photo). " + clips.markdown({"date": r["date"], "clips": r["clips"]}).split("\n", 4)[4]]
    f = r.get("fer")
    if f:
        lines += ["", f"PyPI `fer` {f['version']} (its own pipeline, `FER(mtcnn=False).detect_emotions`), same photos: "
                  f"median {f['median_ms']:.1f} ms a photo against {f['ours_median_ms']:.1f} ms (`auto`): "
                  f"{f['ratio']:.1f}x ours; faces found {f['faces_found']} of {f['faces']}."]
    return "\n".join(lines) + "\n"


def headline_lines(r: dict) -> list[str]:
    """The README's short table of a pipeline measurement."""
    auto = r["photos"]["auto"]
    med = float(np.median([x["p50"] for x in auto]))
    phone = next((x for x in auto if x["photo"].startswith("astronaut_4032")), None)
    ratio = max(v for k, v in r["auto_vs_short"].items() if k in r.get("ordinary", r["auto_vs_short"]))
    lines = ["| pipeline (1 thread unless said) | ours | |", "|---|---|---|"]
    f = r.get("fer")
    worst = max(auto, key=lambda x: x["p50"])
    shapes = any(x["photo"] == name for x in auto for name, *_ in SHAPES)
    what = ("photos (portraits tall and wide, small frames, large JPEGs, pairs, groups; default detector)" if shapes
            else "ordinary photos (default detector)")
    lines.append(f"| photo, warm: median of {len(auto)} {what} | {med:.1f} ms | "
                 + (f"PyPI `fer` {f['version']}: {f['median_ms']:.1f} ms ({f['ratio']:.1f}x ours) |" if f else " |"))
    # the peer's time of each photo, where it timed the same photos
    peer_ms = f["per_photo_ms"] if f and len(f.get("per_photo_ms") or []) == len(auto) else None
    slowest = (f"PyPI `fer` on it: {peer_ms[auto.index(worst)]:.1f} ms "
               f"({peer_ms[auto.index(worst)] / worst['p50']:.1f}x ours) |" if peer_ms else " |")
    lines.append(f"| photo, warm: the slowest ({worst['photo']}, {worst['faces']} faces) | {worst['p50']:.1f} ms | "
                 + slowest)
    if peer_ms:
        ratios = [t / a["p50"] for t, a in zip(peer_ms, auto)]
        lines.append(f"| photo by photo: PyPI `fer`'s time over ours | at least {min(ratios):.1f}x "
                     f"(median {float(np.median(ratios)):.1f}x) | |")
    lines.append(f"| default detector against short-range alone: portraits and pairs "
                 f"({len(r.get('ordinary', []))} photos) | at most {ratio:.2f}x | |")
    if phone:
        lines.append(f"| 4032x3024 JPEG | {phone['p50']:.1f} ms | |")
    one, many = r["folder"][0], r["folder"][-1]
    lines.append(f"| folder: photos a second, 1 worker / {many['workers']} | {one['photos_per_s']:.1f} / "
                 f"{many['photos_per_s']:.1f} | {r['folder_speedup']:.2f}x |")
    v = r.get("video")
    if v:
        lines.append(f"| 720p video, frames a second: tracked / detector every frame / short-range every frame | "
                     f"{v['tracked']['fps']:.0f} / {v['every_frame']['fps']:.0f} / {v['short_every_frame']['fps']:.0f} | "
                     f"{v['speedup']:.2f}x, {100 * v['same_labels_as_every_frame']:.1f}% of frames labelled the same |")
    missed = sum(max(0, g["all"] - g["auto"]) for g in r["groups"])
    lines.append(f"| group photos: faces the default detector misses against every pass | {missed} of "
                 f"{sum(g['all'] for g in r['groups'])} | |")
    extra, lost, n = against_known(r["groups"])
    lines.append(f"| group photos of known face counts: faces reported more / fewer than there are (default "
                 f"detector) | {extra} / {lost} of {n} | |")
    for kind, what in (("one", "one person"), ("two", "two people crossing"), ("leave", "a face leaving and back")):
        c = (r.get("clips") or {}).get(kind)
        if c:
            t = c["tracked"]
            lines.append(f"| clip, {what}, tracked: frames with exactly the faces in view / track ids for "
                         f"{c['appearances']} appearance{'s' if c['appearances'] > 1 else ''} | "
                         f"{100 * t['exact_frames'] / t['scored_frames']:.1f}% / {t['track_ids']} | "
                         f"{100 * c['tracked_labels_as_every_frame']:.1f}% labelled as every frame, "
                         f"{c['speedup']:.2f}x its fps |")
    return lines


def against_known(groups: list[dict]) -> tuple[int, int, int]:
    """(faces ``auto`` reported beyond each photo's count: doubled or phantom; faces it missed; faces in all)."""
    return (sum(max(0, g["auto"] - g["faces"]) for g in groups), sum(max(0, g["faces"] - g["auto"]) for g in groups),
            sum(g["faces"] for g in groups))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pipeline", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="int8 .tflite (default: the bundled release model)")
    ap.add_argument("--out", default=str(OUT), help="writes OUT.json and OUT.md")
    ap.add_argument("--no-peers", action="store_true", help="skip the PyPI fer package")
    a = ap.parse_args(argv)

    if cached_detector_path() is None:
        print("error: no face detector: run fer-infer --fetch-detector once", file=sys.stderr)
        return 2
    r = measure(a.model, log=lambda m: print(m, file=sys.stderr), peers=not a.no_peers)
    r["command"] = "python -m benchmarks.pipeline " + " ".join(argv if argv is not None else sys.argv[1:])
    atomic_write_json(Path(a.out + ".json"), r)
    atomic_write_text(Path(a.out + ".md"), markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
