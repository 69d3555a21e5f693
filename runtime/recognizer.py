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
from PIL import Image

from .classifier import Classifier, Prediction
from .detect import (
    AUTO_MIN_FACE,
    AutoBlazeFace,
    BlazeFace,
    Detection,
    HaarCascade,
    blazeface_model,
    load_detector,
    min_face_fraction,
)
from .preprocess import DEFAULT_MAX_PIXELS, crop_box, cut, gray_from_rgb, open_image

#: a face whose crop (the crop rule's square) is narrower than this, in pixels of
#: the image, is reported with its box and no label: upscaled more than 2x into
#: the 48x48 input it holds too little detail for a useful answer
MIN_CROP_SIDE = 24


@dataclass
class Face:
    """One face: ``box`` = [x, y, width, height] in pixels of the original image.

    ``label`` is None (and ``probabilities`` empty) when the face was not
    classified; ``reason`` says why. ``uncertain`` is set when the top
    probability is below the recognizer's ``min_confidence``.
    """

    box: list[float]
    score: float
    label: str | None
    probabilities: dict[str, float]
    keypoints: list[list[float]] = field(default_factory=list)
    uncertain: bool = False
    reason: str | None = None
    #: the detector pass that found it ("short", "full", "squares", "tiles", "recheck", "haar"; "" for a crop taken whole)
    detector: str = ""
    #: how the face was read against the person's baseline (:mod:`runtime.baseline`: mode, faces in the
    #: baseline, the plain label, each label's rise over neutral in nats); None when read plainly
    baseline: dict | None = None

    def to_dict(self, top_k: int | None = None) -> dict:
        probs = self.probabilities
        if top_k:
            probs = dict(sorted(probs.items(), key=lambda kv: -kv[1])[:top_k])
        out = {"box": [round(v, 1) for v in self.box], "score": round(self.score, 4),
               **({"detector": self.detector} if self.detector else {}), "label": self.label,
               "probabilities": {k: round(v, 4) for k, v in probs.items()}}
        if self.uncertain:
            out["uncertain"] = True
        if self.baseline is not None:
            out["baseline"] = self.baseline
        if self.reason:
            out["reason"] = self.reason
        return out


class Faces(list):
    """The faces of one image (a list of :class:`Face`) with what finding them took:
    ``size``, the image's (width, height) at full size, and ``timings`` in
    milliseconds (``decode_ms``; ``detect_ms``: finding the faces and cutting their crops;
    ``classify_ms``; ``total_ms``, their sum)."""

    def __init__(self, faces=(), size: tuple[int, int] = (0, 0), timings: dict[str, float] | None = None):
        super().__init__(faces)
        self.size = size
        self.timings = dict(timings or {})


def looks_like_crop(rgb, max_side: int = 96) -> bool:
    """Small, square, gray images (FER-2013 style) are face crops already.
    ``rgb``: an RGB uint8 array or PIL image."""
    w, h = rgb.size if not isinstance(rgb, np.ndarray) else rgb.shape[1::-1]
    if h != w or h > max_side:
        return False
    rgb = np.asarray(rgb)
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


class Recognizer:
    """Detector + classifier.

    Args:
        model: ``.tflite`` path, or a bundled tier: ``"release"`` (the default) or ``"micro"``.
        detector: "auto", "short" (alias "blazeface"), "full", "haar", "none" (inputs are crops), or
            an object with ``detect(rgb) -> list[Detection]`` (``rgb``: uint8 ``[H, W, 3]``).
        threads: interpreter threads.
        align: rotate each face upright by its eye keypoints (BlazeFace only).
        max_pixels: decompression-bomb limit for inputs.
        min_face: skip detected faces whose box's longer side is below this
            many pixels (of the original image).
        min_confidence: mark a face ``uncertain`` when its top probability is
            below this (the label is kept).
        tta: "none", "flip" (each face classified with its mirror image too,
            probabilities averaged: two model runs) or "auto" (the model's
            recommendation, from its metadata).
        reduce_jpeg: with BlazeFace, decode large JPEG files at 1/2, 1/4 or 1/8
            scale, down to :meth:`min_long_side` (boxes are still given in
            pixels of the full-size image). A 12-megapixel phone photo then
            decodes at about 1000x750 pixels, several times faster.
    """

    def __init__(self, model=None, detector="auto", threads: int | None = None, align: bool = False,
                 max_pixels: int = DEFAULT_MAX_PIXELS, min_score: float = 0.5, reduce_jpeg: bool = True,
                 tta: str = "none", min_face: float = 0.0, min_confidence: float = 0.0):
        if min_face < 0 or not 0.0 <= min_confidence <= 1.0:
            raise ValueError("min_face must be >= 0 and min_confidence within 0..1")
        self.min_face, self.min_confidence = float(min_face), float(min_confidence)
        self.classifier = Classifier(model, threads=threads, tta=tta)
        self.contract = self.classifier.contract
        self._detector_spec, self._threads, self._min_score = detector, threads, min_score
        self._detector = None if isinstance(detector, str) else detector
        self.align, self.max_pixels, self.reduce_jpeg = align, max_pixels, reduce_jpeg

    @property
    def detector(self):
        if self._detector is None and self._detector_spec != "none":
            self._detector = load_detector(self._detector_spec, self._threads, self.classifier.backend)
            if hasattr(self._detector, "min_score"):
                self._detector.min_score = self._min_score
        return self._detector

    def classify_crop(self, crop) -> Prediction:
        return self.classifier.classify_crop(crop)

    def _uses_blazeface(self) -> bool:
        """Whether faces are (or will be) found by BlazeFace, without loading
        a detector that a batch of face crops never needs."""
        if self._detector is not None:
            return isinstance(self._detector, (BlazeFace, AutoBlazeFace))
        return isinstance(self._detector_spec, str) and blazeface_model(self._detector_spec) is not None

    def min_long_side(self) -> int:
        """The smallest longer side a photo may be decoded at for BlazeFace:
        there, the smallest face the detector finds
        (:func:`runtime.detect.min_face_fraction` of the longer side) still
        gives a crop of twice the model's input side."""
        frac = min_face_fraction(self._detector if self._detector is not None else self._detector_spec)
        return self._long_side_for(frac)

    def _long_side_for(self, frac: float) -> int:
        """The longer side at which a face of ``frac`` of it gives a crop of twice the model's input side."""
        return int(np.ceil(2 * self.classifier.size / (self.contract.crop.scale * frac)))

    def _decode_again(self, found_size: tuple[int, int], full_size: tuple[int, int], dets) -> int | None:
        """After detecting on a JPEG decoded at reduced size: the longer side to decode it at again, when the
        faces found (or the tiles ``auto`` went on to) are too small there for a crop of twice the model's input
        side, and the full-size photo holds more pixels; else None."""
        side, full = max(found_size), max(full_size)
        if full <= side:
            return None
        need = None
        det = self._detector
        if isinstance(det, AutoBlazeFace) and det.wants_tiles:
            need = self._long_side_for(AUTO_MIN_FACE)
        elif dets:
            smallest = min(max(d.box[2], d.box[3]) for d in dets) / side
            if self.contract.crop.scale * smallest * side < 2 * self.classifier.size:
                need = self._long_side_for(smallest)
        return need if need is not None and need > side else None

    def face_crop(self, image, det) -> np.ndarray:
        """The model-input crop of one detection, by the model's crop rule
        (``image``: RGB or gray uint8 array, or PIL RGB image)."""
        size = self.classifier.size
        w, h = image.size if not isinstance(image, np.ndarray) else image.shape[1::-1]
        region = crop_box(det.box, self.contract.crop, w, h)
        gray = image
        if self.align and len(det.keypoints) >= 2:
            if not isinstance(image, np.ndarray):
                gray = np.asarray(image.convert("L"))      # the same bytes as gray_from_rgb
            else:
                gray = gray_from_rgb(image) if image.ndim == 3 else image
            (rx, ry), (lx, ly) = det.keypoints[0], det.keypoints[1]
            angle = np.degrees(np.arctan2(ly - ry, lx - rx))
            if abs(angle) > 1.0:
                cx, cy = region[0] + region[2] / 2, region[1] + region[3] / 2
                gray = np.asarray(Image.fromarray(gray).rotate(angle, resample=Image.BILINEAR, center=(cx, cy)))
        return cut(gray, region, size)

    def find_faces(self, image, detect: bool | None = None, still: bool = True) -> Faces:
        """The faces of ``image`` (path, bytes, array or PIL image) with their
        model-input crops, before classification: ``[(face, crop)]`` (a
        :class:`Faces` with the image's size and the decode and detect
        timings), ``crop`` None (and ``face.reason`` set) for a face too small to classify. The
        face path every stage shares: :meth:`predict` classifies these crops,
        and training and calibration on a user's folder take them as they are
        (``train.user_folder``), so that training and serving see the same crops.
        ``detect=None`` detects unless the image looks like a face crop
        already (small, square, gray) or the recognizer has no detector;
        ``detect=False`` takes the whole image as the crop. ``still``: a photo (``auto`` pays only for doubt:
        :meth:`runtime.detect.AutoBlazeFace.detect`); False for a video frame.
        """
        t0 = time.perf_counter()
        reduce = self.reduce_jpeg and detect is not False and self._uses_blazeface()
        # A PIL image: the detector reads a 128-pixel copy of it and each crop
        # only its own pixels, so the whole photo is never copied into numpy.
        rgb, (sx, sy) = open_image(image, self.max_pixels, self.min_long_side() if reduce else None)
        t1 = time.perf_counter()
        w, h = rgb.size
        full_size = (int(round(w * sx)), int(round(h * sy)))
        if detect is None:
            detect = self._detector_spec != "none" and not looks_like_crop(rgb)
        if detect:
            det = self.detector

            def run(im):          # the built-in detectors read the PIL image; another gets its pixels
                if isinstance(det, AutoBlazeFace):
                    return det.detect(im, still=still)
                return det.detect(im if isinstance(det, (BlazeFace, HaarCascade)) else np.asarray(im))

            reduced = reduce and (sx > 1 or sy > 1)
            lazy = isinstance(det, AutoBlazeFace) and reduced
            dets = det.detect(rgb, tiles=False, still=still) if lazy else run(rgb)   # tiles, if wanted, larger
            again = self._decode_again(rgb.size, full_size, dets) if reduced else None
            if again:     # small faces in a photo decoded small: once more at the size their crops need
                rgb, (sx, sy) = open_image(image, self.max_pixels, again)
                w, h = rgb.size
                dets = run(rgb)
            elif lazy and det.wants_tiles:
                dets = det.finish_tiles()                 # no larger decode helps: the tiles here
        else:
            dets = [Detection((0.0, 0.0, float(w), float(h)), 1.0)]
        found = self._crops(rgb, dets, sx, sy, detect)
        t2 = time.perf_counter()
        return Faces(found, full_size, {"decode_ms": (t1 - t0) * 1e3, "detect_ms": (t2 - t1) * 1e3})

    def _crops(self, rgb, dets, sx: float = 1.0, sy: float = 1.0, detect: bool = True):
        """``[(face, crop)]`` of detections ``dets`` (boxes in pixels of ``rgb``; ``sx``, ``sy``: its scale to
        the original image)."""
        w, h = rgb.size if not isinstance(rgb, np.ndarray) else rgb.shape[1::-1]
        out = []
        for d in dets:
            x, y, bw, bh = d.box
            box = [float(x * sx), float(y * sy), float(bw * sx), float(bh * sy)]
            kps = [[float(kx * sx), float(ky * sy)] for kx, ky in d.keypoints]
            if detect and max(box[2], box[3]) < self.min_face:
                continue
            side = self.contract.crop.scale * max(bw, bh) * max(sx, sy)     # the crop, in original pixels
            if detect and side < MIN_CROP_SIDE:
                out.append((Face(box, float(d.score), None, {}, kps, detector=d.source,
                                 reason=f"face too small: its crop is {side:.0f} px, under {MIN_CROP_SIDE} px"), None))
                continue
            crop = cut(rgb, (0, 0, w, h), self.classifier.size) if not detect else self.face_crop(rgb, d)
            out.append((Face(box, float(d.score), None, {}, kps, detector=d.source if detect else ""), crop))
        return out

    def classify(self, found: Faces) -> Faces:
        """Label the faces of :meth:`find_faces` (those with a crop) in place; returns the faces,
        with ``found``'s size and timings and the classification's added."""
        t0 = time.perf_counter()
        faces = []
        for face, crop in found:
            if crop is not None:
                p = self.classifier.run(crop)
                i = int(np.argmax(p))
                face.label = self.classifier.labels[i]
                face.probabilities = {lab: float(v) for lab, v in zip(self.classifier.labels, p)}
                face.uncertain = bool(p[i] < self.min_confidence)
            faces.append(face)
        timings = dict(getattr(found, "timings", {}))
        timings["classify_ms"] = (time.perf_counter() - t0) * 1e3
        timings["total_ms"] = sum(timings.get(k, 0.0) for k in ("decode_ms", "detect_ms", "classify_ms"))
        return Faces(faces, getattr(found, "size", (0, 0)), timings)

    def predict_at(self, rgb: np.ndarray, dets) -> Faces:
        """Faces and expressions at given detections of an RGB frame (``runtime.video``'s tracking: the boxes
        follow from the frame before, no detector over the whole frame)."""
        t0 = time.perf_counter()
        crops = self._crops(rgb, dets)
        return self.classify(Faces(crops, tuple(rgb.shape[1::-1]),
                                   {"decode_ms": 0.0, "detect_ms": (time.perf_counter() - t0) * 1e3}))

    def predict(self, image, detect: bool | None = None, still: bool = True) -> Faces:
        """Faces and expressions in ``image`` (path, bytes, array or PIL image): a
        list of :class:`Face` that also carries the image's size and the timings.

        ``detect=None`` detects unless the image looks like a face crop
        already (small, square, gray) or the recognizer has no detector. ``still=False``: a video frame
        (:meth:`find_faces`).
        """
        return self.classify(self.find_faces(image, detect, still))
