"""Clips with known faces (issue #37): does every frame show the faces that are there, once each, with one id a
face, and the labels every-frame detection gives?

    python -m benchmarks.clips            # writes benchmarks/results/clips.json and .md

Three 10 s 1280x720 clips made here from the bundled sample photo (a head-and-shoulders portrait on a grey
background), whose face boxes are known in every frame:

* ``one``: one person (face about 75 px) moving to and fro and up and down;
* ``two``: two people of different sizes (faces about 56 and 165 px) crossing at different heights;
* ``leave``: one person (face about 110 px) walking out of the frame and back in.

Each clip runs as ``fer-infer clip.mp4`` does (:class:`runtime.video.Follower` and :class:`runtime.video.Tracker`)
with the detector every 10th frame (the default, ``--detect-every 10``) and on every frame (``--detect-every 1``). Per run: the share of
frames whose reported faces are exactly the faces in view (each face once, none elsewhere), faces reported where
there is none, faces missed, the number of track ids against the appearances there are (a face leaving and coming
back is two), the share of faces labelled as the every-frame run labels them, and frames a second.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from runtime.classifier import BUNDLED_MODEL
from runtime.recognizer import Recognizer
from train.io import atomic_write_json, atomic_write_text
from train.paths import REPO

OUT = REPO / "benchmarks" / "results" / "clips"
CLIPS = REPO / "build" / "clips"
W, H, FRAMES = 1280, 720, 300
#: fer-infer's default --detect-every
DETECT_EVERY = 10
SAMPLE = REPO / "runtime" / "samples" / "astronaut.png"
#: the sample portrait's face box (x, y, w, h) in its 512x512 pixels: short-range's box on the still photo
#: (``Recognizer(detector="short").predict("runtime/samples/astronaut.png")[0].box``, rounded; full-range's is
#: (175, 72, 99, 99))
SAMPLE_FACE = (177.0, 81.0, 95.0, 95.0)


@functools.lru_cache(maxsize=8)
def _person(face_px: float) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """The sample portrait scaled so that its face is ``face_px`` wide, and that face's box in it."""
    s = face_px / SAMPLE_FACE[2]
    im = Image.open(SAMPLE).convert("RGB")
    im = im.resize((round(im.width * s), round(im.height * s)), Image.BILINEAR)
    return im, tuple(v * s for v in SAMPLE_FACE)


def paths(kind: str, i: int, frames: int = FRAMES) -> list[tuple[float, float, float]]:
    """(face px, x, y) of each person of clip ``kind`` at frame ``i`` of ``frames`` (x, y: the portrait's top
    left)."""
    t = i / (frames - 1)
    if kind == "one":
        return [(75.0, 100 + 700 * (0.5 - 0.5 * np.cos(2 * np.pi * t)), 250 + 60 * np.sin(4 * np.pi * t))]
    if kind == "two":
        return [(56.0, -100 + 1200 * t, 60.0), (165.0, 900 - 1000 * t, 230.0)]
    if kind == "leave":      # out past the right edge around the middle, back by the end
        return [(110.0, 200 + 1400 * np.sin(np.pi * t), 150.0)]
    raise ValueError(kind)


def truth(kind: str, i: int, frames: int = FRAMES) -> list[tuple[int, tuple[float, float, float, float], bool]]:
    """(person, face box, wholly in view) of the faces at least partly in view at frame ``i``: inside the frame
    and not under a portrait pasted after it (the portraits are opaque rectangles)."""
    placed = []
    for px, x, y in paths(kind, i, frames):
        im, (fx, fy, fw, fh) = _person(px)
        placed.append(((x + fx, y + fy, fw, fh), (x, y, x + im.width, y + im.height)))
    out = []
    for k, (box, _) in enumerate(placed):
        x0, y0, x1, y1 = box[0], box[1], box[0] + box[2], box[1] + box[3]
        inside = x0 >= 0 and y0 >= 0 and x1 <= W and y1 <= H
        seen = x1 > 0 and y1 > 0 and x0 < W and y0 < H
        for _, (a0, b0, a1, b1) in placed[k + 1:]:
            cover = max(0.0, min(x1, a1) - max(x0, a0)) * max(0.0, min(y1, b1) - max(y0, b0))
            inside = inside and cover == 0
            seen = seen and cover < box[2] * box[3]
        if seen:
            out.append((k, tuple(float(v) for v in box), bool(inside)))
    return out


def make_clip(kind: str, out_dir: Path = CLIPS, frames: int = FRAMES) -> Path:
    """The MP4 (30 fps, ``frames`` long) of clip ``kind``."""
    import cv2  # deferred: OpenCV is an optional extra (video)

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{kind}-{W}x{H}-{frames}.mp4"
    if path.is_file():
        return path
    people = {px: _person(px)[0] for px, _, _ in paths(kind, 0, frames)}
    tmp = path.with_suffix(".tmp.mp4")
    w = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (W, H))
    for i in range(frames):
        frame = Image.new("RGB", (W, H), (110, 110, 110))
        for px, x, y in paths(kind, i, frames):
            frame.paste(people[px], (int(round(x)), int(round(y))))
        w.write(np.ascontiguousarray(np.asarray(frame)[:, :, ::-1]))
    w.release()
    tmp.replace(path)
    return path


def _match(boxes: list, faces: list) -> tuple[dict[int, int], int]:
    """({reported face index: person}, reported faces on no face): a reported face is a person's when its centre
    lies inside that person's face box grown by half; each person takes one face at most."""
    got, phantom, taken = {}, 0, set()
    for j, f in enumerate(faces):
        cx, cy = f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2
        who = [k for k, (x, y, w, h), _ in boxes
               if k not in taken and x - w / 4 <= cx <= x + 1.25 * w and y - h / 4 <= cy <= y + 1.25 * h]
        if who:
            got[j] = who[0]
            taken.add(who[0])
        else:
            phantom += 1
    return got, phantom


def run(model: Path, kind: str, clip: Path, detect_every: int, frames: int = FRAMES) -> dict:
    """One run of ``clip`` as fer-infer runs it; per frame the labels of each person."""
    import cv2  # deferred: OpenCV is an optional extra (video)

    from runtime.video import Follower, Tracker, read_frames

    rec = Recognizer(model, threads=1)
    follow, tracker = Follower(rec, detect_every), Tracker(rec.classifier.labels)
    cap = cv2.VideoCapture(str(clip))
    exact = phantom = missed = scored = n = 0
    ids: dict[int, set] = {}
    labels: list[dict[int, str]] = []
    spent = 0.0            # the pipeline's time: waiting for the decoded frame, the faces, the tracks
    t0 = time.perf_counter()
    for i, _, rgb in read_frames(cap):
        faces = [f for f in follow.faces(rgb) if f.label]
        rows = tracker.update(faces)
        spent += time.perf_counter() - t0
        seen = truth(kind, i, frames)
        got, extra = _match(seen, faces)
        phantom += extra
        whole = [k for k, _, full in seen if full]
        missed += sum(k not in got.values() for k in whole)
        if all(full for _, _, full in seen):      # a face partly in view may or may not be reported
            scored += 1
            exact += int(extra == 0 and len(got) == len(seen))
        for j, k in got.items():
            ids.setdefault(k, set()).add(rows[j]["track"])
        labels.append({k: rows[j]["label"] for j, k in got.items()})
        n += 1
        t0 = time.perf_counter()
    cap.release()
    dt = spent
    return {"frames": n, "scored_frames": scored, "fps": n / dt if dt else 0.0, "exact_frames": exact,
            "phantom_faces": phantom,
            "missed_faces": missed, "track_ids": sum(len(v) for v in ids.values()),
            "frames_detected": follow.detected, "labels": labels}


def appearances(kind: str, frames: int = FRAMES) -> int:
    """How many times a face comes into view in clip ``kind`` (each one deserves one track id)."""
    count, before = 0, set()
    for i in range(frames):
        now = {k for k, _, full in truth(kind, i, frames) if full}
        count += len(now - before)
        before = now
    return count


def measure(model=None, log=print) -> dict:
    model = Path(model or BUNDLED_MODEL)
    r = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "clips": {}}
    for kind in ("one", "two", "leave"):
        clip = make_clip(kind)
        log(f"clips: {kind}")
        every, tracked = run(model, kind, clip, 1), run(model, kind, clip, DETECT_EVERY)
        pairs = [(a.get(k), b[k]) for a, b in zip(tracked["labels"], every["labels"]) for k in b]
        same = float(np.mean([x == y for x, y in pairs])) if pairs else 0.0
        r["clips"][kind] = {"appearances": appearances(kind), "in_view": int(sum(bool(full) for i in range(FRAMES) for _, _, full in truth(kind, i))),
                            "every_frame": {k: v for k, v in every.items() if k != "labels"},
                            "tracked": {k: v for k, v in tracked.items() if k != "labels"},
                            "tracked_labels_as_every_frame": same,
                            "speedup": tracked["fps"] / every["fps"] if every["fps"] else 0.0}
    return r


def markdown(r: dict) -> str:
    lines = ["# Clips with known faces", "", f"`python -m benchmarks.clips`, {r['date']}; 1280x720, 300 frames, made "
             "from the bundled sample photo (`benchmarks/clips.py`).", "",
             "Frames with a face partly in view (at the frame's edge, or half behind another person) are not "
             "scored; a face reported there is not counted as one where there is none.", "",
             "| clip | run | frames with exactly the faces in view | faces where there is none | faces missed | "
             "track ids / appearances | labelled as every frame | fps |", "|---|---|---|---|---|---|---|---|"]
    for kind, c in r["clips"].items():
        for run_name in ("every_frame", "tracked"):
            x = c[run_name]
            same = f"{100 * c['tracked_labels_as_every_frame']:.1f}%" if run_name == "tracked" else ""
            lines.append(f"| {kind} | {run_name.replace('_', ' ')} | {100 * x['exact_frames'] / x['scored_frames']:.1f}% "
                         f"of {x['scored_frames']} | "
                         f"{x['phantom_faces']} | {x['missed_faces']} of {c['in_view']} | {x['track_ids']} / "
                         f"{c['appearances']} | {same} | {x['fps']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.clips", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="int8 .tflite (default: the bundled release model)")
    ap.add_argument("--out", default=str(OUT), help="writes OUT.json and OUT.md")
    a = ap.parse_args(argv)
    r = measure(a.model, log=lambda m: print(m, file=sys.stderr))
    out = Path(a.out)
    atomic_write_json(out.with_suffix(".json"), r)
    atomic_write_text(out.with_suffix(".md"), markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
