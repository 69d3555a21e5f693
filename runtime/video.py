"""Video files and cameras (needs OpenCV, the ``video`` extra): frames streamed
and sampled (``--every SECONDS`` / ``--fps N``), per-face tracking and
probability smoothing, timestamps, per-track summaries, annotated copies.

OpenCV (``opencv-python-headless``) decodes: one wheel with its own FFmpeg,
so MP4/H.264 works everywhere, and ``grab()`` skips unsampled frames without
converting them to images; PyAV would add a second FFmpeg for no gain here."""

from __future__ import annotations

import csv
import json
import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .annotate import draw_faces
from .baseline import Baseline, Reader, TrackBaseline, csv_columns, largest_face, probabilities_of, reading
from .detect import Detection, iou
from .errors import FerError, OutputError
from .files import PendingFile, write_file


class Tracker:
    """Greedy tracking of faces across frames with exponential smoothing of
    their probabilities, so labels do not flicker from frame to frame. A face
    joins the track whose last box it overlaps most (IoU over ``iou_min``),
    else the nearest track whose last box is within one face side of it and of
    about its size (a fast face: 23 pixels a frame for a 75 pixel face on the
    60-frame clips of ``tests/test_detect_rules.py`` gave 11 ids by IoU alone),
    else it starts a track.

    With a ``reader`` (:class:`runtime.baseline.Reader`) each track's smoothed probabilities are read against
    the person's baseline: the reference, or (auto) the track's own, which starts with the track and goes
    with it when the track is lost."""

    def __init__(self, labels, smooth: float = 0.6, iou_min: float = 0.3, max_missing: int = 10,
                 min_confidence: float = 0.0, reader: Reader | None = None):
        self.labels, self.smooth, self.iou_min, self.max_missing = list(labels), smooth, iou_min, max_missing
        self.min_confidence = min_confidence
        self.reader = reader
        self.tracks: dict[int, dict] = {}
        self._next = 1

    def _nearest(self, box: np.ndarray, used: set) -> int | None:
        """The free track whose last box's centre is within one side of ``box``'s and whose side is within
        1.6 times ``box``'s (the nearest such), or None."""
        side = max(box[2] - box[0], box[3] - box[1])
        c = (box[:2] + box[2:]) / 2
        best, best_d = None, side
        for tid, t in self.tracks.items():
            tb = t["box"]
            tside = max(tb[2] - tb[0], tb[3] - tb[1])
            d = float(np.hypot(*((tb[:2] + tb[2:]) / 2 - c)))
            if tid not in used and d <= best_d and 1 / 1.6 <= tside / max(side, 1e-9) <= 1.6:
                best, best_d = tid, d
        return best

    def update(self, faces) -> list[dict]:
        out, used = [], set()
        for f in faces:
            if f.label is None:             # not classified (too small): no track
                continue
            x, y, w, h = f.box
            box = np.array([x, y, x + w, y + h], np.float64)
            p = np.array([f.probabilities[l] for l in self.labels])
            best, best_iou = None, self.iou_min
            for tid, t in self.tracks.items():
                if tid in used:
                    continue
                v = float(iou(box, t["box"][None])[0])
                if v > best_iou:
                    best, best_iou = tid, v
            if best is None:
                best = self._nearest(box, used)
            if best is None:
                best = self._next
                self._next += 1
                self.tracks[best] = {"box": box, "p": p, "missing": 0}
            else:
                t = self.tracks[best]
                t["p"] = self.smooth * t["p"] + (1 - self.smooth) * p
                t["box"], t["missing"] = box, 0
            used.add(best)
            sp = self.tracks[best]["p"]
            i = int(np.argmax(sp))
            label, info = self._read(self.tracks[best], sp)
            row = {"track": best, "box": [round(v, 1) for v in f.box], "label": label,
                   "probabilities": {l: round(float(v), 4) for l, v in zip(self.labels, sp)}}
            if self.min_confidence and sp[i] < self.min_confidence:
                row["uncertain"] = True
            if info is not None:
                row["baseline"] = info
            out.append(row)
        for tid in list(self.tracks):
            if tid not in used:
                self.tracks[tid]["missing"] += 1
                if self.tracks[tid]["missing"] > self.max_missing:
                    del self.tracks[tid]
        return out

    def _read(self, track: dict, sp: np.ndarray) -> tuple[str, dict | None]:
        """(label, baseline record or None) of a track's smoothed probabilities ``sp``."""
        r = self.reader
        if r is None:
            return self.labels[int(np.argmax(sp))], None
        if r.mode == "reference":
            return reading(r, sp)
        if "baseline" not in track:
            track["baseline"] = TrackBaseline(r)
        return track["baseline"].read(sp)


class Follower:
    """Faces of a video without the detector on every frame.

    The recognizer's detector runs on every ``every``-th analysed frame and on
    any frame where a face is lost. In between, each face's box follows from the
    frame before: the face's gray patch, at about :data:`PATCH` pixels across, is
    searched for in a window of the new frame around its old box (normalized
    cross-correlation, OpenCV's ``matchTemplate``), and the box moves to the best
    match. A face whose best match scores under ``min_match`` (occluded, turned
    away, out of the window) is lost: that frame is detected whole. The box keeps
    its size between detections (the next detection corrects it), and new faces
    appear at the next detection. ``every=1`` detects every frame.
    :attr:`detected` counts the whole-frame detections."""

    #: side of the tracked patch (pixels, after scaling down) and the search margin (box sides)
    PATCH, MARGIN = 32, 0.75

    def __init__(self, rec, every: int = 5, min_match: float = 0.6):
        self.rec, self.every, self.min_match = rec, max(1, int(every)), min_match
        self.dets: list = []
        self.patches: list = []
        self.since = 0
        self.detected = 0

    @staticmethod
    def _gray(rgb: np.ndarray, x0: int, y0: int, x1: int, y1: int, s: float) -> np.ndarray:
        """The region (x0, y0)-(x1, y1) of an RGB frame in gray, scaled by ``s``."""
        import cv2  # deferred: OpenCV is an optional extra (video)

        g = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
        return cv2.resize(g, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)

    def _scale(self, w: float, h: float) -> float:
        return min(1.0, self.PATCH / max(w, h, 1.0))

    def _patch(self, rgb: np.ndarray, box):
        """The tracked patch of a face box, or None for a box too thin to track (cut by the frame's edge)."""
        x, y, w, h = box
        H, W = rgb.shape[:2]
        x0, y0, x1, y1 = int(max(0, x)), int(max(0, y)), int(min(W, x + w)), int(min(H, y + h))
        if x1 - x0 < 4 or y1 - y0 < 4:
            return None
        return self._gray(rgb, x0, y0, x1, y1, self._scale(w, h))

    def _follow(self, rgb: np.ndarray):
        """Detections following the last ones in ``rgb`` (and their new patches), or None when one is lost."""
        import cv2  # deferred: OpenCV is an optional extra (video)

        H, W = rgb.shape[:2]
        dets, patches = [], []
        for d, patch in zip(self.dets, self.patches):
            x, y, w, h = d.box
            s = self._scale(w, h)
            m = self.MARGIN * max(w, h)
            X0, Y0 = int(max(0, x - m)), int(max(0, y - m))
            g = self._gray(rgb, X0, Y0, int(min(W, x + w + m)), int(min(H, y + h + m)), s)
            th, tw = patch.shape
            if g.shape[0] < th or g.shape[1] < tw:
                return None
            _, score, _, (lx, ly) = cv2.minMaxLoc(cv2.matchTemplate(g, patch, cv2.TM_CCOEFF_NORMED))
            if score < self.min_match:
                return None
            dx, dy = X0 + lx / s - max(0.0, x), Y0 + ly / s - max(0.0, y)
            dets.append(d.shifted(dx, dy))
            patches.append(g[ly:ly + th, lx:lx + tw].copy())
        return dets, patches

    def faces(self, rgb: np.ndarray, detect: bool = True) -> list:
        if detect and self.dets and self.since < self.every - 1:
            got = self._follow(rgb)
            if got is not None:
                self.since += 1
                self.dets, self.patches = got
                return self.rec.predict_at(rgb, self.dets)
        faces = self.rec.predict(rgb, detect=detect, still=False)
        self.detected += 1
        self.since = 0
        self.dets, self.patches = [], []
        if detect and self.every > 1:
            for f in faces:
                if f.label is None:
                    continue
                patch = self._patch(rgb, f.box)
                if patch is None:
                    self.dets, self.patches = [], []      # a face at the edge: detect the next frame whole
                    break
                self.dets.append(Detection(tuple(f.box), f.score, tuple(tuple(k) for k in f.keypoints)))
                self.patches.append(patch)
        return faces


def read_frames(cap, step: int = 1, queue_size: int = 4):
    """``(index, time_ms or None, rgb)`` of every ``step``-th frame of an OpenCV capture, decoded and
    converted to RGB in a background thread, so that decoding the next frame overlaps the work on this one
    (OpenCV releases the GIL while it decodes). Frames skipped by ``step`` are grabbed, never decoded into
    images. Stops at the end of the stream or when the caller stops iterating."""
    import cv2  # deferred: OpenCV is an optional extra (video)

    q: queue.Queue = queue.Queue(queue_size)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        index = -1
        try:
            while not stop.is_set():
                index += 1
                if index % step:
                    if not cap.grab():
                        break
                    continue
                ok, frame = cap.read()
                if not ok:
                    break
                pos = cap.get(cv2.CAP_PROP_POS_MSEC)
                if not put((index, float(pos) if pos else None, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))):
                    break
        except Exception as e:  # noqa: BLE001 - handed to the reading side
            put(e)
        finally:
            put(None)

    t = threading.Thread(target=work, name="fer-video-reader", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is None:
                break
            if isinstance(item, Exception):
                raise FerError(f"video decoding failed: {item}") from None
            yield item
    finally:
        stop.set()
        t.join(timeout=5)


def frame_step(fps: float, every: float | None, rate: float | None) -> int:
    """Frames to advance between analysed frames for ``--every SECONDS`` or ``--fps N`` (1 = every frame)."""
    if every:
        return max(1, round(every * fps)) if fps > 0 else 1
    if rate:
        return max(1, round(fps / rate)) if fps > 0 else 1
    return 1


class TrackSummary:
    """Per track: first and last time seen, frames, the share of each expression
    among its analysed frames (by the smoothed label) and the dominant one."""

    def __init__(self, labels):
        self.labels = list(labels)
        self.tracks: dict[int, dict] = {}

    def add(self, time_ms: float, tracked: list[dict]) -> None:
        for t in tracked:
            s = self.tracks.setdefault(t["track"], {"first_ms": time_ms, "frames": 0,
                                                     "counts": dict.fromkeys(self.labels, 0)})
            s["last_ms"] = time_ms
            s["frames"] += 1
            s["counts"][t["label"]] += 1

    def result(self) -> list[dict]:
        out = []
        for tid, s in sorted(self.tracks.items()):
            shares = {k: round(v / s["frames"], 4) for k, v in s["counts"].items()}
            out.append({"track": tid, "first_ms": round(s["first_ms"], 1), "last_ms": round(s["last_ms"], 1),
                        "duration_ms": round(s["last_ms"] - s["first_ms"], 1), "frames": s["frames"],
                        "dominant": max(shares, key=shares.get), "shares": shares})
        return out


class _AnnotatedWriter:
    """An annotated copy of a video, written to a temporary file and moved into place when complete."""

    def __init__(self, cv2, src: str, out_dir: str, fps: float, size: tuple[int, int]):
        self.cv2 = cv2
        self.file = PendingFile(Path(out_dir) / (Path(str(src)).stem + ".annotated.mp4"))
        self.writer = cv2.VideoWriter(str(self.file.tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            self.file.discard()
            raise FerError(f"cannot write an annotated video to {out_dir}")

    def write(self, rgb: np.ndarray, faces) -> None:
        im = draw_faces(Image.fromarray(rgb), faces)
        self.writer.write(np.ascontiguousarray(np.asarray(im)[:, :, ::-1]))

    def close(self, ok: bool) -> None:
        self.writer.release()
        if ok:
            self.file.commit()
        else:
            self.file.discard()


@dataclass
class VideoOptions:
    """How :func:`run_video` reads and reports a video (``fer-infer``'s video flags).

    Attributes:
        output: "table" (a line a frame), "json" (a line a frame and a summary
            line a video) or "csv" (a row a tracked face).
        every, fps: analyse a frame every ``every`` seconds, or ``fps`` frames a
            second (None, None: every frame).
        detect_every: run the detector every N analysed frames and follow the
            faces between (1: every frame, no following).
        smooth: the weight of a track's earlier probabilities in its label.
        detect: find faces (False: every frame is a face crop).
        annotate: a folder for annotated copies of the videos ("" = none; not for a camera).
        reader: how faces are read against the person's baseline (None: plainly; :class:`Tracker`).
        calibrate: seconds at the start of each source that are the person's relaxed face: the
            largest face of those frames is the reference every later face is read against.
        report: a self-contained HTML page of every track over time (:mod:`runtime.timeline`; "" = none).
    """

    output: str = "table"
    every: float | None = None
    fps: float | None = None
    detect_every: int = 10
    smooth: float = 0.6
    detect: bool = True
    annotate: str = ""
    reader: Reader | None = None
    calibrate: float = 0.0
    report: str = ""


class Calibration:
    """The first ``seconds`` of a source as the person's relaxed face: the largest face of each frame
    (a frame with two about as large is skipped) joins the reference."""

    def __init__(self, reader: Reader, seconds: float, source):
        self.reader, self.seconds, self.source = reader, seconds, source
        self.base = Baseline()
        self.frames = 0
        print(f"fer-infer: {source}: relax your face and look at the camera for {seconds:g} s: calibrating",
              file=sys.stderr, flush=True)

    def take(self, elapsed_s: float, faces) -> bool:
        """Whether the frame at ``elapsed_s`` belongs to the calibration (its face then joins the reference)."""
        if elapsed_s >= self.seconds:
            return False
        self.frames += 1
        try:
            face = largest_face(faces, "")
        except FerError:
            return True
        self.base.add(probabilities_of(face, self.reader.labels))
        return True

    def finish(self) -> Reader:
        """The reference reader; a FerError when no frame of the calibration showed one clear face."""
        if not len(self.base):
            raise FerError(f"{self.source}: no face seen while calibrating ({self.frames} frames in "
                           f"{self.seconds:g} s): face the camera alone and try again")
        print(f"fer-infer: {self.source}: calibrated on {len(self.base)} frames; faces are now read against "
              "them", file=sys.stderr, flush=True)
        return Reader(self.reader.labels, self.reader.rule, "reference", self.base)


def run_video(rec, sources: list, opts: VideoOptions) -> int:
    """Process video files or camera indices (``sources``), frame by frame as they
    are decoded (never the whole video in memory), as ``opts`` says: one JSON
    line, CSV row per face, or table line per analysed frame, each with its
    frame index and time; with JSON, a per-track summary line at the end of
    each video. Returns 1 when a source could not be read, else 0."""
    try:
        import cv2  # deferred: OpenCV is an optional extra (video)
    except ImportError:
        raise FerError("video needs OpenCV: pip install 'fer-edge[video]' (opencv-python-headless<5)") from None

    labels = list(rec.classifier.labels)
    writer = None
    read = opts.reader is not None
    if opts.output == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["path", "frame", "time_ms", "track", "x", "y", "width", "height", "label", "uncertain"]
                        + (["baseline", "plain_label"] if read else []) + labels)
    timeline = None
    if opts.report:
        from .timeline import Timeline  # deferred: only for --report

        timeline = Timeline(labels)
    failed = 0
    for src in sources:
        cap = cv2.VideoCapture(src)
        if not cap.isOpened():
            print(f"fer-infer: {src}: cannot open video", file=sys.stderr)
            failed += 1
            continue
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        step = frame_step(fps, opts.every, opts.fps)
        calibration = Calibration(opts.reader, opts.calibrate, src) if opts.calibrate else None
        tracker = Tracker(labels, smooth=opts.smooth, min_confidence=rec.min_confidence,
                          reader=None if calibration else opts.reader)
        follower = Follower(rec, opts.detect_every)
        camera = isinstance(src, int)
        summary = TrackSummary(labels)
        annotated = None
        n, t0, ok_end = 0, time.perf_counter(), False
        try:
            for index, pos, rgb in read_frames(cap, step):
                time_ms = index * 1000.0 / fps if fps > 0 else float(pos or 0.0)
                faces = follower.faces(rgb, detect=opts.detect)
                if calibration is not None:
                    elapsed = (time.perf_counter() - t0) if camera else time_ms / 1000.0
                    if not calibration.take(elapsed, faces):
                        tracker.reader, calibration = calibration.finish(), None
                tracked = tracker.update(faces)
                if calibration is not None:
                    for t in tracked:
                        t["baseline"] = {"mode": "plain", "reason": "calibrating"}
                summary.add(time_ms, tracked)
                if timeline is not None:
                    timeline.add(src, time_ms, tracked, rgb)
                n += 1
                if opts.annotate and not camera:
                    if annotated is None:
                        annotated = _AnnotatedWriter(cv2, src, opts.annotate, fps / step if fps > 0 else 10.0,
                                                     (rgb.shape[1], rgb.shape[0]))
                    annotated.write(rgb, faces)
                untracked = [f.to_dict() for f in faces if f.label is None]
                if opts.output == "json":
                    print(json.dumps({"path": str(src), "frame": index, "time_ms": round(time_ms, 1),
                                      "faces": tracked + untracked,
                                      "timings": {k: round(v, 2) for k, v in faces.timings.items()}}))
                elif writer is not None:
                    for t in tracked:
                        writer.writerow([src, index, f"{time_ms:.1f}", t["track"]] + list(t["box"])
                                        + [t["label"], int(t.get("uncertain", False))]
                                        + (csv_columns(t.get("baseline"), t["label"]) if read else [])
                                        + [t["probabilities"][l] for l in labels])
                else:
                    desc = ", ".join(f"#{t['track']} {t['label']}" for t in tracked) or "no face"
                    print(f"{src} frame {index} ({time_ms / 1000:.2f} s): {desc}")
            if calibration is not None:           # the source ended while calibrating
                calibration.finish()
            ok_end = True
        finally:
            cap.release()
            if annotated is not None:
                annotated.close(ok_end and n > 0)
        fps_done = n / max(time.perf_counter() - t0, 1e-9)
        if opts.output == "json":
            print(json.dumps({"path": str(src), "summary": {"frames_analysed": n, "frame_step": step,
                                                           "video_fps": round(fps, 3), "detect_every": follower.every,
                                                           "frames_detected": follower.detected,
                                                           "tracks": summary.result()}}))
        print(f"{src}: {n} frames analysed (every {step}), {follower.detected} detected whole, "
              f"{fps_done:.1f} frames/s", file=sys.stderr)
        if n == 0:
            print(f"fer-infer: {src}: no frames could be read", file=sys.stderr)
            failed += 1
    if timeline is not None:
        try:
            write_file(opts.report, timeline.html(f"fer-infer: {', '.join(str(s) for s in sources)}"))
        except OSError as e:
            raise OutputError(f"{opts.report}: cannot write the report ({e.strerror or e})") from None
        print(f"fer-infer: wrote {opts.report}", file=sys.stderr)
    return 1 if failed else 0
