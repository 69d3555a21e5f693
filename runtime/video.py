"""Video files and cameras (needs OpenCV): per-face tracking and probability smoothing."""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from .errors import FerError


class Tracker:
    """Greedy IoU tracking of faces across frames with exponential smoothing of
    their probabilities, so labels do not flicker from frame to frame."""

    def __init__(self, labels, smooth: float = 0.6, iou_min: float = 0.3, max_missing: int = 10):
        self.labels, self.smooth, self.iou_min, self.max_missing = list(labels), smooth, iou_min, max_missing
        self.tracks: dict[int, dict] = {}
        self._next = 1

    def update(self, faces) -> list[dict]:
        from .detect import iou

        out, used = [], set()
        for f in faces:
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
            out.append({"track": best, "box": [round(v, 1) for v in f.box], "label": self.labels[i],
                        "probabilities": {l: round(float(v), 4) for l, v in zip(self.labels, sp)}})
        for tid in list(self.tracks):
            if tid not in used:
                self.tracks[tid]["missing"] += 1
                if self.tracks[tid]["missing"] > self.max_missing:
                    del self.tracks[tid]
        return out


def run_video(rec, args, inputs) -> int:
    """Process video files (or ``--camera N``): one JSON line or table line per frame."""
    try:
        import cv2
    except ImportError:
        raise FerError("video needs OpenCV: pip install 'opencv-python-headless<5'") from None
    sources = [args.camera] if args.camera is not None else inputs
    failed = 0
    for src in sources:
        cap = cv2.VideoCapture(src)
        if not cap.isOpened():
            print(f"fer-infer: {src}: cannot open video", file=sys.stderr)
            failed += 1
            continue
        tracker = Tracker(rec.classifier.labels, smooth=args.smooth)
        n, t0 = 0, time.perf_counter()
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                rgb = np.ascontiguousarray(frame[:, :, ::-1])
                faces = rec.predict(rgb, detect=not args.no_detect)
                tracked = tracker.update(faces)
                n += 1
                if args.json:
                    print(json.dumps({"path": str(src), "frame": n - 1, "faces": tracked,
                                      "timings": {k: round(v, 2) for k, v in rec.last_timings.items()}}))
                elif not args.csv:
                    desc = ", ".join(f"#{t['track']} {t['label']}" for t in tracked) or "no face"
                    print(f"{src} frame {n - 1}: {desc}")
        finally:
            cap.release()
        fps = n / max(time.perf_counter() - t0, 1e-9)
        print(f"{src}: {n} frames, {fps:.1f} frames/s", file=sys.stderr)
        if n == 0:
            print(f"fer-infer: {src}: no frames could be read", file=sys.stderr)
            failed += 1
    return 1 if failed else 0
