"""The Python API: find faces in a photo and classify their expressions.

    from runtime import Recognizer
    rec = Recognizer()                       # bundled int8 model, best detector
    for face in rec.predict("photo.jpg"):
        print(face.box, face.label, face.score)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .classifier import Classifier, Prediction
from .preprocess import DEFAULT_MAX_PIXELS, crop_box, cut, gray_from_rgb, load_image


@dataclass
class Face:
    """One face: ``box`` = [x, y, width, height] in pixels of the original image."""

    box: list[float]
    score: float
    label: str
    probabilities: dict[str, float]
    keypoints: list[list[float]] = field(default_factory=list)

    def to_dict(self, top_k: int | None = None) -> dict:
        probs = self.probabilities
        if top_k:
            probs = dict(sorted(probs.items(), key=lambda kv: -kv[1])[:top_k])
        return {"box": [round(v, 1) for v in self.box], "score": round(self.score, 4), "label": self.label,
                "probabilities": {k: round(v, 4) for k, v in probs.items()}}


def looks_like_crop(rgb: np.ndarray, max_side: int = 96) -> bool:
    """Small, square, gray images (FER-2013 style) are face crops already."""
    h, w = rgb.shape[:2]
    if h != w or h > max_side:
        return False
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


class Recognizer:
    """Detector + classifier.

    Args:
        model: ``.tflite`` path, ``"release"`` (the default: the bundled int8 release model) or ``"fast"``.
        detector: "auto", "blazeface", "haar", "none" (inputs are crops), or
            an object with ``detect(rgb) -> list[Detection]``.
        threads: interpreter threads.
        align: rotate each face upright by its eye keypoints (BlazeFace only).
        max_pixels: decompression-bomb limit for inputs.
    """

    def __init__(self, model=None, detector="auto", threads: int | None = None, align: bool = False,
                 max_pixels: int = DEFAULT_MAX_PIXELS, min_score: float = 0.5):
        self.classifier = Classifier(model, threads=threads)
        self.contract = self.classifier.contract
        self._detector_spec, self._threads, self._min_score = detector, threads, min_score
        self._detector = None if isinstance(detector, str) else detector
        self.align, self.max_pixels = align, max_pixels
        self.last_timings: dict[str, float] = {}

    @property
    def detector(self):
        if self._detector is None and self._detector_spec != "none":
            from .detect import load_detector

            self._detector = load_detector(self._detector_spec, self._threads, self.classifier.backend)
            if hasattr(self._detector, "min_score"):
                self._detector.min_score = self._min_score
        return self._detector

    def classify_crop(self, crop) -> Prediction:
        return self.classifier.classify_crop(crop)

    def face_crop(self, image: np.ndarray, det) -> np.ndarray:
        """The model-input crop of one detection (``image`` RGB or gray uint8), by the model's crop rule."""
        size = self.classifier.size
        region = crop_box(det.box, self.contract.crop, image.shape[1], image.shape[0])
        gray = image
        if self.align and len(det.keypoints) >= 2:
            gray = gray_from_rgb(image) if image.ndim == 3 else image
            (rx, ry), (lx, ly) = det.keypoints[0], det.keypoints[1]
            angle = np.degrees(np.arctan2(ly - ry, lx - rx))
            if abs(angle) > 1.0:
                from PIL import Image

                cx, cy = region[0] + region[2] / 2, region[1] + region[3] / 2
                gray = np.asarray(Image.fromarray(gray).rotate(angle, resample=Image.BILINEAR, center=(cx, cy)))
        return cut(gray, region, size)

    def predict(self, image, detect: bool | None = None) -> list[Face]:
        """Faces and expressions in ``image`` (path, bytes, array or PIL image).

        ``detect=None`` detects unless the image looks like a face crop
        already (small, square, gray) or the recognizer has no detector.
        """
        t0 = time.perf_counter()
        rgb = np.asarray(load_image(image, self.max_pixels))
        t1 = time.perf_counter()
        h, w = rgb.shape[:2]
        if detect is None:
            detect = self._detector_spec != "none" and not looks_like_crop(rgb)
        if detect:
            dets = self.detector.detect(rgb)
        else:
            from .detect import Detection

            dets = [Detection((0.0, 0.0, float(w), float(h)), 1.0)]
        t2 = time.perf_counter()
        faces = []
        for d in dets:
            crop = cut(rgb, (0, 0, w, h), self.classifier.size) if not detect else self.face_crop(rgb, d)
            p = self.classifier.run(crop)
            i = int(np.argmax(p))
            faces.append(Face([float(v) for v in d.box], float(d.score), self.classifier.labels[i],
                              {l: float(v) for l, v in zip(self.classifier.labels, p)},
                              [list(k) for k in d.keypoints]))
        t3 = time.perf_counter()
        self.last_timings = {"decode_ms": (t1 - t0) * 1e3, "detect_ms": (t2 - t1) * 1e3,
                             "classify_ms": (t3 - t2) * 1e3, "total_ms": (t3 - t0) * 1e3}
        return faces
