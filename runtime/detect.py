"""Face detection: BlazeFace short-range and full-range (TFLite) with numpy
decoding, both together for group photos (``auto``); OpenCV's Haar cascade as
the fallback.

BlazeFace's model files are not shipped with fer-edge: ``fer-infer
--fetch-detector`` takes them from the pinned PyPI wheel ``mediapipe==0.10.21``
(Apache-2.0), checks their sha256 and caches them per user (see
:mod:`runtime.fetch`).

Short-range (128x128 input) finds faces within about 2 m, down to about 12%
of the photo's longer side; full-range (192x192, one anchor per 4-pixel cell)
finds smaller, farther faces. Full-range boxes sit differently on a face
(measured by ``python -m benchmarks.crop_rule --detector full``), so they are
mapped to the short-range box of the same face (:data:`FULL_RANGE_BOX`), and
one crop rule, the model's, serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DetectorError, ModelError
from .fetch import cached_detector_path, cached_full_range_path
from .interpreter import make_interpreter
from .metadata import inspect_file

BLAZEFACE_INPUT = 128
#: The smallest face box the short-range model finds, as a fraction of the
#: image's longer side: 0.13 found, 0.105 missed, with the sample photo's face
#: shrunk on larger canvases (see tests/test_runtime.py).
BLAZEFACE_MIN_FACE = 0.12
#: the same for full-range alone and for auto (with tiles); measured in tests/test_runtime.py
BLAZEFACE_FULL_MIN_FACE = 0.06
AUTO_MIN_FACE = 0.03
#: auto stops after a pass when every face found so far is at least this many
#: times the smallest face that pass finds (AutoBlazeFace.needs_next)
AUTO_SPREAD = 1.5
#: ... and every face found so far scores at least this (a doubtful box is no reason to stop)
AUTO_SURE = 0.75
#: SSD anchor layout of the short-range model: (feature-map side, anchors per cell).
BLAZEFACE_LAYERS = ((16, 2), (8, 6))
#: the full-range model: 192x192 input, one 48x48 anchor layer
BLAZEFACE_FULL_INPUT = 192
BLAZEFACE_FULL_LAYERS = ((48, 1),)
#: a full-range box -> the short-range box of the same face: (side of the square
#: short-range box / longer side of the full-range box, vertical shift of its
#: centre in full-range box heights), medians over FER-2013 Training crops where
#: both find one face (benchmarks/results/crop_rule_full.json)
FULL_RANGE_BOX = (0.946, 0.025)
#: auto: photos with a longer side of at least this many pixels are also
#: searched tile by tile with full-range: 3x3 tiles of 40% of each side, 30%
#: apart, so a face of 3% of the longer side is 7.5% of a tile's, where
#: full-range finds it; a face up to 10% of the side lies whole inside a tile
TILE_FROM = 640
#: auto: an image at least this many times as long as high (a 16:9 video frame, a panorama) is also
#: searched by full-range in squares of its shorter side (AutoBlazeFace.squares) whenever full-range ran on
#: the whole image and the tiles do not run: a face of 6% of the shorter side, under full-range's whole-image
#: limit, is found there (two people at different depths in a 1280x720 clip: faces of 56 and 165 px)
WIDE = 1.5
#: auto: a doubtful box (under AUTO_SURE) whose shorter side is under (1 - EDGE_CUT) of its longer one lies a
#: quarter or more outside the image (boxes are square): it is dropped, not re-checked
EDGE_CUT = 0.25
#: full-range's threshold (MediaPipe's own for that model)
FULL_MIN_SCORE = 0.6


@dataclass
class Detection:
    """A face in image pixels: box (x, y, w, h), score, and 6 keypoints
    (right eye, left eye, nose tip, mouth, right ear, left ear) as (x, y)."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: tuple[tuple[float, float], ...] = ()
    #: the pass that found it: "short", "full", "squares", "tiles", "recheck" (full-range on the region of a short-range box
    #: its keypoints contradict), "haar"
    source: str = ""

    def shifted(self, dx: float, dy: float, source: str | None = None) -> "Detection":
        """The same face ``dx``, ``dy`` pixels further (a tile's or a region's box in the whole image), with
        ``source`` when given."""
        x, y, w, h = self.box
        return Detection((x + dx, y + dy, w, h), self.score, tuple((px + dx, py + dy) for px, py in self.keypoints),
                         self.source if source is None else source)


def keypoint_scale(d: Detection) -> float | None:
    """The face's scale from its keypoints over the box's longer side (:data:`KEYPOINT_SCALE`), or None
    without keypoints."""
    if len(d.keypoints) < 4:
        return None
    kp = np.asarray(d.keypoints[:4], np.float64)
    eyes = np.hypot(*(kp[0] - kp[1]))
    eye_mouth = np.hypot(*((kp[0] + kp[1]) / 2 - kp[3]))
    return float(max(eyes, eye_mouth) / max(d.box[2], d.box[3], 1e-9))


def consistent(d: Detection) -> bool:
    """Whether a box agrees with its own keypoints: eyes, nose and mouth inside it (a tenth of its side to
    spare) and the face they draw in proportion to its side (:data:`KEYPOINT_SCALE`)."""
    k = keypoint_scale(d)
    if k is None:
        return True
    x, y, w, h = d.box
    m = 0.1 * max(w, h)
    inside = all(x - m <= px <= x + w + m and y - m <= py <= y + h + m for px, py in d.keypoints[:4])
    return inside and KEYPOINT_SCALE[0] <= k <= KEYPOINT_SCALE[1]


def _area(z: np.ndarray) -> np.ndarray:
    return (z[..., 2] - z[..., 0]) * (z[..., 3] - z[..., 1])


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Area shared by one box ``a`` (x0, y0, x1, y1) and each of boxes ``b`` ``[N, 4]``."""
    x0, y0 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    x1, y1 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    return np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)


def containment(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection of one box ``a`` (x0, y0, x1, y1) with boxes ``b`` ``[N, 4]`` over the smaller box's area."""
    return _intersection(a, b) / np.maximum(np.minimum(_area(a), _area(b)), 1e-9)


def blazeface_anchors(layers=BLAZEFACE_LAYERS) -> np.ndarray:
    """Anchor centres (x, y) in [0, 1]: ``[896, 2]`` for the short-range model,
    ``[2304, 2]`` for the full-range one (``layers=BLAZEFACE_FULL_LAYERS``)."""
    out = []
    for side, per_cell in layers:
        ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        c = np.stack([(xs + 0.5) / side, (ys + 0.5) / side], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(c, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one box ``a`` (x0, y0, x1, y1) with boxes ``b`` ``[N, 4]``."""
    inter = _intersection(a, b)
    return inter / np.maximum(_area(a) + _area(b) - inter, 1e-9)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, extra: np.ndarray, threshold: float = 0.3):
    """MediaPipe-style blending NMS: overlapping detections are averaged,
    weighted by score, instead of simply dropped (steadier boxes).

    Args:
        boxes: ``[N, 4]`` x0, y0, x1, y1. scores: ``[N]``. extra: ``[N, M]``
            values blended like the boxes (keypoints).
    Returns:
        list of (box[4], score, extra[M]).
    """
    order = np.argsort(-scores)
    boxes, scores, extra = boxes[order], scores[order], extra[order]
    out = []
    alive = np.ones(len(scores), bool)
    for i in range(len(scores)):
        if not alive[i]:
            continue
        over = alive & (iou(boxes[i], boxes) > threshold)
        over[i] = True
        w = scores[over][:, None]
        out.append(((boxes[over] * w).sum(0) / w.sum(), float(scores[i]), (extra[over] * w).sum(0) / w.sum()))
        alive &= ~over
    return out


class BlazeFace:
    """BlazeFace short-range or full-range (told apart by the input size) run
    by the same TFLite interpreter as the classifier.

    Args:
        model_path: ``face_detection_short_range.tflite`` or
            ``face_detection_full_range_sparse.tflite``.
        min_score: detection threshold.
    """

    def __init__(self, model_path, min_score: float = 0.5, iou_threshold: float = 0.3,
                 threads: int | None = None, backend=None):
        try:
            info = inspect_file(model_path)
            shape = info.inputs[0].shape if len(info.inputs) == 1 else ()
            if shape not in ((1, BLAZEFACE_INPUT, BLAZEFACE_INPUT, 3),
                             (1, BLAZEFACE_FULL_INPUT, BLAZEFACE_FULL_INPUT, 3)) or len(info.outputs) != 2:
                raise ModelError(f"{model_path}: not a BlazeFace short-range or full-range model")
            self.interpreter = make_interpreter(Path(model_path).read_bytes(), threads, backend)
        except ModelError as e:
            raise DetectorError(str(e)) from None
        self._in = self.interpreter.get_input_details()[0]
        outs = {tuple(d["shape"])[-1]: d for d in self.interpreter.get_output_details()}
        self._reg, self._cls = outs[16], outs[1]
        self.size = int(shape[1])
        self.full = self.size == BLAZEFACE_FULL_INPUT
        self.min_score, self.iou_threshold = min_score, iou_threshold
        self.anchors = blazeface_anchors(BLAZEFACE_FULL_LAYERS if self.full else BLAZEFACE_LAYERS)
        self.name = "blazeface-full" if self.full else "blazeface"
        #: full-range: report boxes as the short-range box of the same face (False: as the model gives them)
        self.map_to_short = True

    @property
    def min_score(self) -> float:
        return self._min_score

    @min_score.setter
    def min_score(self, v: float) -> None:
        """The detection threshold; full-range never goes below :data:`FULL_MIN_SCORE`."""
        self._min_score = max(float(v), FULL_MIN_SCORE) if self.full else float(v)

    @staticmethod
    def letterbox(im, size: int = BLAZEFACE_INPUT):
        """The PIL image scaled by ``128 / max(width, height)`` (whole output
        pixels only, each covering exactly side/128 source pixels).

        Written out step by step so that every client reproduces the bytes
        (the web sample does, web-sample/src/resize.js): Pillow's integer
        ``reduce`` by the whole factor that leaves at least twice the output
        size (what ``reducing_gap=2.0`` does), then one bilinear pass per axis,
        horizontal first. A single two-axis ``resize`` would let Pillow pick
        the pass order itself, which moves pixels by one step.
        """
        w, h = im.size
        side = max(w, h)
        tw, th = (max(1, int(v * size // side)) for v in (w, h))
        if (tw, th) == (w, h):
            return im
        bx, by = min(float(w), tw * side / size), min(float(h), th * side / size)
        fx, fy = max(1, int(bx / tw / 2.0)), max(1, int(by / th / 2.0))
        if fx > 1 or fy > 1:
            im = im.reduce((fx, fy))
            bx, by = bx / fx, by / fy
        im = im.resize((tw, im.size[1]), Image.BILINEAR, box=(0.0, 0.0, bx, float(im.size[1])))
        return im.resize((tw, th), Image.BILINEAR, box=(0.0, 0.0, float(tw), by))

    @classmethod
    def input_tensor(cls, rgb, size: int = BLAZEFACE_INPUT):
        """The model input ``[1, 128, 128, 3]`` in [-1, 1] and the image's (width, height).

        The image is letterboxed (:meth:`letterbox`) into the top-left
        corner, black (-1) right of and below it, so the aspect ratio is kept
        and a box decodes to image pixels by one factor. Only the scaled
        image is built; a PIL input is never copied whole.
        """
        im = rgb if isinstance(rgb, Image.Image) else Image.fromarray(np.asarray(rgb, np.uint8))
        if im.mode != "RGB":
            im = im.convert("RGB")
        w, h = im.size
        small = cls.letterbox(im, size)
        tw, th = small.size
        x = np.full((1, size, size, 3), -1.0, np.float32)
        x[0, :th, :tw] = np.asarray(small, np.float32) / 127.5 - 1.0
        return x, (w, h)

    def detect(self, rgb) -> list[Detection]:
        """Faces in an RGB uint8 image ``[H, W, 3]`` or a PIL RGB image."""
        x, (w, h) = self.input_tensor(rgb, self.size)
        side = max(h, w)
        self.interpreter.set_tensor(self._in["index"], x)
        self.interpreter.invoke()
        reg = self.interpreter.get_tensor(self._reg["index"])[0]
        raw = self.interpreter.get_tensor(self._cls["index"])[0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw.astype(np.float64), -80, 80)))
        keep = scores >= self.min_score
        if not keep.any():
            return []
        reg, scores, anchors = reg[keep] / self.size, scores[keep], self.anchors[keep]
        cx, cy = reg[:, 0] + anchors[:, 0], reg[:, 1] + anchors[:, 1]
        bw, bh = reg[:, 2], reg[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        kps = reg[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
        out = []
        for box, score, kp in weighted_nms(boxes, scores, kps.reshape(len(kps), -1), self.iou_threshold):
            box = box * side
            if self.full and self.map_to_short:
                box = _short_range_box(box)
            x0, y0 = max(0.0, float(box[0])), max(0.0, float(box[1]))
            x1, y1 = min(float(w), float(box[2])), min(float(h), float(box[3]))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            pts = tuple((float(px * side), float(py * side)) for px, py in kp.reshape(6, 2))
            out.append(Detection((x0, y0, x1 - x0, y1 - y0), score, pts, "full" if self.full else "short"))
        return out


def _short_range_box(box: np.ndarray) -> np.ndarray:
    """A full-range box (x0, y0, x1, y1) as the short-range box of the same face (:data:`FULL_RANGE_BOX`)."""
    scale, shift = FULL_RANGE_BOX
    w, h = box[2] - box[0], box[3] - box[1]
    side = scale * max(w, h)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2 + shift * h
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


class AutoBlazeFace:
    """Short-range, full-range and tiles, each pass only when the passes before
    it cannot rule out faces it would find, so that a selfie costs short-range
    alone and a group photo still has every face.

    The passes, each finding smaller faces (fraction of the photo's longer side):

    1. short-range on the whole photo (faces down to :data:`BLAZEFACE_MIN_FACE`);
    2. full-range on the whole photo (down to :data:`BLAZEFACE_FULL_MIN_FACE`);
    3. full-range on 3x3 overlapping tiles (:meth:`tiles`, photos of at least
       :data:`TILE_FROM` pixels), down to :data:`AUTO_MIN_FACE`.

    The rule (:meth:`needs_next`): after a pass, stop when it found faces, each
    scored at least :data:`AUTO_SURE`, and the smallest of all found so far is
    at least :data:`AUTO_SPREAD` times the smallest face that pass can find:
    the faces of one photo are taken to be within that factor of each other in
    size, so a face the next pass would find (smaller than this pass's limit)
    is not expected. A photo where the passes so far found nothing, or only
    doubtful boxes, goes on. What the rule misses is a much smaller
    face beside a large one (someone far behind a selfie): ``exhaustive=True``
    (``--detector all``) runs every pass. ``python -m benchmarks.pipeline``
    measures the misses on its group photos against it.

    Overlapping detections are merged, short-range boxes preferred (the crop
    rule was measured on them). :attr:`last_passes` names the passes the last
    photo took."""

    def __init__(self, short: BlazeFace, full: BlazeFace, exhaustive: bool = False):
        self.short, self.full = short, full
        self.exhaustive = exhaustive
        self.name = "blazeface-auto" + ("-exhaustive" if exhaustive else "")
        self.last_passes: list[str] = []
        self.wants_tiles = False
        self._pending = None
        self.rechecked = 0

    @property
    def min_score(self):
        return self.short.min_score

    @min_score.setter
    def min_score(self, v):
        self.short.min_score = self.full.min_score = v

    @staticmethod
    def tiles(w: int, h: int) -> list[tuple[int, int, int, int]]:
        """The (x0, y0, x1, y1) tiles full-range searches in a w x h photo (none below :data:`TILE_FROM`)."""
        if max(w, h) < TILE_FROM:
            return []
        tw, th = int(np.ceil(w * 0.4)), int(np.ceil(h * 0.4))
        xs = sorted({0, (w - tw) // 2, w - tw})
        ys = sorted({0, (h - th) // 2, h - th})
        return [(x, y, x + tw, y + th) for y in ys for x in xs]

    @staticmethod
    def needs_next(found: list, side: float, limit: float) -> bool:
        """Whether a pass that finds faces down to ``limit`` (of the longer side ``side``) leaves room for
        smaller faces: nothing found yet, a found face under :data:`AUTO_SPREAD` times ``limit``, or one
        scored under :data:`AUTO_SURE`."""
        if not found:
            return True
        smallest = min(max(d.box[2], d.box[3]) for d, _ in found) / side
        return smallest < AUTO_SPREAD * limit or min(d.score for d, _ in found) < AUTO_SURE

    def _tile_pass(self, im, W: int, H: int) -> list:
        return self._region_pass(im, self.tiles(W, H), "tiles")

    @staticmethod
    def squares(w: int, h: int) -> list[tuple[int, int, int, int]]:
        """The (x0, y0, x1, y1) squares of side ``min(w, h)`` that full-range searches across a wide image
        (at least :data:`WIDE` times as long as high, either way), evenly spaced and overlapping by at least
        a fifth of their side; none for an image less wide."""
        s, long_side = min(w, h), max(w, h)
        if long_side < WIDE * s:
            return []
        n = int(np.ceil((long_side / s - 0.2) / 0.8))
        starts = np.linspace(0, long_side - s, n).round().astype(int)
        return [(int(a), 0, int(a) + s, s) if w >= h else (0, int(a), s, int(a) + s) for a in starts]

    def _region_pass(self, im, regions, source: str) -> list:
        """Full-range on each region (x0, y0, x1, y1) of ``im``; a face cut by a region's inner edge is left to
        the neighbouring region, which holds it whole."""
        W, H = im.size
        out = []
        for x0, y0, x1, y1 in regions:
            for d in self.full.detect(im.crop((x0, y0, x1, y1))):
                bx, by, bw, bh = d.box
                if (x0 > 0 and bx <= 1) or (y0 > 0 and by <= 1) or (x1 < W and bx + bw >= x1 - x0 - 1) \
                        or (y1 < H and by + bh >= y1 - y0 - 1):
                    continue
                out.append((d.shifted(x0, y0, source), 0))
        return out

    def _recheck(self, im, d: Detection) -> list:
        """Full-range on the region of a short-range box its keypoints contradict (half its side around it):
        the faces it finds there, or none (a box on a torso, a shirt or a background)."""
        x, y, w, h = d.box
        W, H = im.size
        x0, y0 = max(0, int(x - w / 2)), max(0, int(y - h / 2))
        x1, y1 = min(W, int(np.ceil(x + 1.5 * w))), min(H, int(np.ceil(y + 1.5 * h)))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return []
        return [(f.shifted(x0, y0, "recheck"), 0) for f in self.full.detect(im.crop((x0, y0, x1, y1)))]

    def _confirm(self, im, found: list) -> list:
        """Boxes scored under :data:`AUTO_SURE` are re-checked by full-range on their region: kept when it finds
        a face of about their size there (within :data:`SCALE_APART`), else replaced by the faces it finds
        inside them (a smaller face in a head-and-shoulders box), if any. On the clips of ``benchmarks.clips``
        every box reported where there was no face scored under 0.75 (short-range 0.50-0.57, full-range
        0.60-0.74)."""
        out = []
        for d, prio in found:
            if d.score >= AUTO_SURE or d.source == "recheck":
                out.append((d, prio))
                continue
            x, y, w, h = d.box
            side = max(w, h)
            if min(w, h) < (1 - EDGE_CUT) * side:
                continue      # a doubtful box a quarter or more outside the image: its region cannot confirm it
            again = self._recheck(im, d)
            self.rechecked += 1
            inside = [(f, p) for f, p in again
                      if x <= f.box[0] + f.box[2] / 2 <= x + w and y <= f.box[1] + f.box[3] / 2 <= y + h]
            if any(1 / SCALE_APART <= max(f.box[2], f.box[3]) / side <= SCALE_APART for f, _ in inside):
                out.append((d, prio))
            else:
                out += inside
        return out

    def _short_pass(self, im) -> list:
        """Short-range's faces; a box its own keypoints contradict (:func:`consistent`) is replaced by what
        full-range finds on its region (:meth:`_recheck`), if anything."""
        out = []
        for d in self.short.detect(im):
            if consistent(d):
                out.append((d, 1))
            else:
                out += self._recheck(im, d)
                self.rechecked += 1
        return out

    @staticmethod
    def sure(found: list) -> bool:
        """Whether short-range's pass found faces and every one is sure: scored at least :data:`AUTO_SURE`
        with keypoints that agree with its box (none re-checked)."""
        return bool(found) and all(p == 1 and d.score >= AUTO_SURE for d, p in found)

    def detect(self, rgb, tiles: bool = True, still: bool = False) -> list[Detection]:
        """Faces in an RGB image; with ``tiles=False`` the tile pass is left out, and
        :attr:`wants_tiles` says whether the rule asked for it (``Recognizer``
        then decodes a reduced JPEG again, larger, for the tiles).

        ``still``: a photo, not a video frame. A photo pays only for doubt: when short-range's faces are all
        sure (:meth:`sure`), no other pass runs, whatever their size (issue #46: a tall portrait's face of 16%
        of its longer side cost full-range and three squares, twice short-range's time, and found nothing
        more). A video frame (:class:`runtime.video.Follower`, where the detector runs every tenth frame)
        goes on by :meth:`needs_next` and searches wide frames in squares, so that a far face beside a near
        one gets its track. ``exhaustive`` runs every pass either way."""
        im = rgb if isinstance(rgb, Image.Image) else Image.fromarray(np.asarray(rgb, np.uint8))
        W, H = im.size
        side = float(max(W, H))
        self.rechecked = 0
        found = self._short_pass(im)
        passes = ["short"] + (["recheck"] if self.rechecked else [])
        self.wants_tiles = False
        if still and not self.exhaustive and self.sure(found):
            self.last_passes = passes
            self._pending = None
            return self._merge(found)
        if self.exhaustive or self.needs_next(found, side, BLAZEFACE_MIN_FACE):
            found += [(d, 0) for d in self.full.detect(im)]
            passes.append("full")
            self.wants_tiles = bool(self.tiles(W, H)) and (
                self.exhaustive or self.needs_next(found, side, BLAZEFACE_FULL_MIN_FACE))
            if self.wants_tiles and tiles:
                found += self._tile_pass(im, W, H)
                passes.append("tiles")
            elif not self.wants_tiles and self.squares(W, H):
                # a wide frame: faces of different depths are not within AUTO_SPREAD of each other
                found += self._region_pass(im, self.squares(W, H), "squares")
                passes.append("squares")
        self.last_passes = passes
        if self.wants_tiles and not tiles:
            # the caller decodes the photo again, larger, or calls finish_tiles: doubtful boxes are re-checked
            # then, once, not here as well (issue #46: two re-checks of a group photo's reduced decode were thrown away)
            self._pending = (im, found)
            return self._merge(found)
        self._pending = None
        return self._merge(self._confirm(im, found))

    def finish_tiles(self) -> list[Detection]:
        """The tile pass that ``detect(..., tiles=False)`` left out, on the same image, merged with what the
        whole-frame passes found there (they are not run again; their doubtful boxes are re-checked here)."""
        im, found = self._pending
        self._pending = None
        self.last_passes.append("tiles")
        return self._merge(self._confirm(im, found + self._tile_pass(im, *im.size)))

    @staticmethod
    def _merge(found: list) -> list[Detection]:
        """One box a face: short-range first (the crop rule was measured on its boxes), then by score; a box
        that overlaps one kept by IoU over 0.3, or lies inside it or holds it (:data:`SAME_FACE` of the
        smaller box, :func:`containment`), is the same face and is dropped, unless the kept box is more than
        :data:`SCALE_APART` times its side: then it holds a head and shoulders and the smaller box replaces it."""
        found = sorted(found, key=lambda t: (-t[1], -t[0].score))
        kept: list[Detection] = []
        for d, _ in found:
            b = np.array([d.box[0], d.box[1], d.box[0] + d.box[2], d.box[1] + d.box[3]])
            if kept:
                ks = np.array([[k.box[0], k.box[1], k.box[0] + k.box[2], k.box[1] + k.box[3]] for k in kept])
                same = np.flatnonzero((iou(b, ks) > 0.3) | (containment(b, ks) > SAME_FACE))
                if len(same):
                    k = int(same[0])
                    if max(kept[k].box[2], kept[k].box[3]) > SCALE_APART * max(d.box[2], d.box[3]):
                        kept[k] = d       # a face inside a head-and-shoulders box: the face
                    continue
            kept.append(d)
        return kept


class HaarCascade:
    """OpenCV's frontal-face Haar cascade (needs ``opencv-python-headless<5``)."""

    def __init__(self):
        try:
            import cv2  # deferred: OpenCV is an optional extra
        except ImportError:
            raise DetectorError("OpenCV is not installed") from None
        path = getattr(getattr(cv2, "data", None), "haarcascades", None)
        if not path:
            raise DetectorError("this OpenCV has no Haar cascades (OpenCV 5 dropped them; use opencv<5)")
        self.cascade = cv2.CascadeClassifier(path + "haarcascade_frontalface_default.xml")
        if self.cascade.empty():
            raise DetectorError("OpenCV's Haar cascade failed to load")
        self._cv2 = cv2
        self.name = "haar"

    def detect(self, rgb) -> list[Detection]:
        """Faces in an RGB (or gray) uint8 array or PIL image."""
        rgb = np.asarray(rgb)
        gray = np.asarray(rgb.mean(axis=2), np.uint8) if rgb.ndim == 3 else rgb
        faces = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        # Haar boxes are larger than BlazeFace's (forehead to chin); shrink to
        # a comparable eyebrows-to-mouth box so one crop rule serves both.
        return [Detection((x + 0.1 * w, y + 0.15 * h, 0.8 * w, 0.8 * h), 1.0, (), "haar") for (x, y, w, h) in faces]


#: a face's own scale from its keypoints, the larger of the eye distance and the eye-midpoint-to-mouth distance,
#: over its box's longer side. On 300 wild-dev faces (100-260 px, pasted into a 640x480 grey photo) short-range
#: gives 0.39-0.48 (0.5th to 99.5th percentile, median 0.45), so a short-range box outside
#: KEYPOINT_SCALE is not the box of the face its keypoints draw: a box twice the face (0.22) or one on a torso.
#: Full-range's keypoints on small faces (4-9% of the side) reach down to 0.20, so the rule is short-range's.
KEYPOINT_SCALE = (0.28, 0.65)
#: two boxes are one face when their intersection covers this share of the smaller one (containment, not IoU:
#: a 183 px box inside a 351 px one has an IoU of 0.27 but is the same face)
SAME_FACE = 0.5
#: two boxes of one face whose sides differ by more than this are not the same view of it: the larger one
#: holds a head and shoulders (short-range at 0.5-0.57 on the clips of benchmarks.clips), so the smaller box,
#: which a finer pass found at the face's own scale, is the face
SCALE_APART = 1.6
#: detector names: "short" and "blazeface" are the same (short-range)
DETECTORS = ("auto", "all", "short", "full", "blazeface", "haar")


def blazeface_model(name: str = "auto"):
    """The BlazeFace file :func:`load_detector` ``(name)`` loads (for auto, the
    short-range one), or None when it would load another detector (or none):
    known without loading anything."""
    if name == "full":
        return cached_full_range_path()
    return cached_detector_path() if name in ("auto", "all", "blazeface", "short") else None


def min_face_fraction(detector) -> float:
    """The smallest face, as a fraction of the photo's longer side, that
    ``detector`` finds: a loaded detector, or a name for :func:`load_detector`
    (known without loading it)."""
    if (isinstance(detector, AutoBlazeFace) and detector.exhaustive) or (
            detector == "all" and cached_full_range_path() is not None):
        return AUTO_MIN_FACE
    if isinstance(detector, AutoBlazeFace) or (detector == "auto" and cached_full_range_path() is not None):
        # for decoding: auto decodes a JPEG at the size its first pass needs (short-range's), and again larger
        # only when the faces it finds there are too small for good crops, or it goes on to tiles
        # (Recognizer._decode_again)
        return BLAZEFACE_MIN_FACE
    if (isinstance(detector, BlazeFace) and detector.full) or detector == "full":
        return BLAZEFACE_FULL_MIN_FACE
    return BLAZEFACE_MIN_FACE


def load_detector(name: str = "auto", threads: int | None = None, backend=None):
    """``auto``: BlazeFace short- and full-range together if fetched (short-range
    alone if only it is), else Haar if OpenCV is installed; ``short``
    (``blazeface``) and ``full``: that BlazeFace model.

    Raises:
        DetectorError: with the command that gets a detector.
    """
    if name not in DETECTORS:
        raise DetectorError(f"unknown detector {name!r} (one of {', '.join(DETECTORS)})")
    if name in ("auto", "all", "blazeface", "short", "full"):
        p = blazeface_model(name)
        if p is not None:
            det = BlazeFace(p, threads=threads, backend=backend)
            full = cached_full_range_path() if name in ("auto", "all") else None
            return AutoBlazeFace(det, BlazeFace(full, threads=threads, backend=backend),
                                 exhaustive=name == "all") if full else det
        if name != "auto":
            raise DetectorError(f"BlazeFace {'full-range' if name == 'full' else 'short-range'} is not set up: "
                                "run `fer-infer --fetch-detector` once")
    if name in ("auto", "haar"):
        try:
            return HaarCascade()
        except DetectorError:
            if name == "haar":
                raise
    raise DetectorError("no face detector: run `fer-infer --fetch-detector` once (or pip install "
                        "'opencv-python-headless<5'), or use --no-detect for face crops")
