"""The model's I/O contract: the one source of truth for labels and input rules.

Everything that feeds or reads a fer-edge model imports these names: training
(`train/`), conversion (`convert/`), the benchmarks and the on-device runtime.
The same values are written into every exported ``.tflite`` as metadata, so a
client that reads the metadata (the Android sample, `fer-infer --model X`) never
needs a copy of this file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

#: FER-2013 labels in the dataset's own index order (column ``emotion`` of
#: ``fer2013.csv``).  Index i of every model output is LABELS[i].
LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(LABELS)
LABEL_TO_INDEX = {name: i for i, name in enumerate(LABELS)}

#: Side of a FER-2013 face crop in pixels: the model's input resolution.
#: Any upsampling to the network's working resolution happens inside the graph.
CROP_SIZE = 48


@dataclass(frozen=True)
class InputContract:
    """How a face crop becomes the model's input tensor.

    The input is ``[1, size, size, channels]`` holding a grayscale face crop as
    raw pixel intensities 0..255 (``channels == 3`` repeats the gray value).
    For an int8 model the tensor type is ``uint8`` with scale 1 and zero point 0
    (the bytes of the crop as they are), or ``int8`` with scale 1 and zero point
    -128 (each byte minus 128).  Normalization lives inside the graph.
    """

    size: int = CROP_SIZE
    channels: int = 1
    dtype: str = "uint8"          # "uint8", "int8" or "float32"
    pixel_min: float = 0.0
    pixel_max: float = 255.0

    @property
    def zero_point(self) -> int:
        return -128 if self.dtype == "int8" else 0


@dataclass(frozen=True)
class CropRule:
    """How a face box from a detector becomes a square crop like FER-2013's.

    FER-2013 faces were cropped by a face detector and rescaled to 48x48. The
    crop is a square whose side is ``scale`` times the longer side of the
    BlazeFace box, centred on the box centre moved by ``shift_y`` box heights
    (negative = up). Both are the medians that ``python -m benchmarks.crop_rule``
    measured by running BlazeFace on 1,000 FER-2013 Training crops
    (``benchmarks/results/crop_rule.json``: scale 1.19, shift_y -0.067).
    """

    scale: float = 1.19
    shift_y: float = -0.067
    square: bool = True


#: probabilities below this are raised to it before temperature scaling (log 0 is
#: undefined; an int8 softmax output of 0 means "below half a step of 1/256")
CALIBRATION_FLOOR = 1.0 / 512


def calibrate(probs, temperature: float):
    """Temperature scaling of probabilities: ``softmax(log(max(p, floor)) / T)``
    over the last axis. ``T`` > 1 softens overconfident outputs; the top label
    never changes. Every runtime applies it the same way (the Android core's
    ``Postprocess.calibrate``, the web core's ``calibrate``)."""
    p = np.asarray(probs, np.float64)
    if temperature == 1.0:
        return p
    z = np.log(np.maximum(p, CALIBRATION_FLOOR)) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class BaselineRule:
    """How a face is read against the same person's relaxed face (:mod:`runtime.baseline`), the same in
    every runtime. Fixed here (and carried in the model's metadata), never fitted per user.

    Attributes:
        margin: nats by which a label's rise over the baseline must exceed the neutral label's rise for
            the face to read as that label (issue #45 measured 1 to 2 nats alike on posed photos).
        neutral: the label of a relaxed face.
        min_frames: automatic mode in a video or camera: frames a track's baseline needs before its
            faces are read against it (about 1/6 s at 30 frames a second, 1 s at 5).
        min_photos: automatic mode on a set of photos: the person's other relaxed photos it needs.
        window: automatic mode in a video or camera: the most recent relaxed frames a baseline keeps
            (about 10 s at 30 frames a second; 0 = all).
    """

    margin: float = 1.5
    neutral: str = "neutral"
    min_frames: int = 5
    min_photos: int = 1
    window: int = 300


#: test-time augmentations a client may apply: "none", or "flip" (the mean of
#: the probabilities of the crop and of its mirror image: two model runs)
TTA_MODES = ("none", "flip")


@dataclass(frozen=True)
class ModelContract:
    """Everything a client needs to run a fer-edge model; stored as metadata.

    ``tta`` is the release's recommendation ("flip" when averaging the crop
    and its mirror image measured better on PublicTest, see
    ``python -m convert.release``); clients run one pass unless asked.
    ``temperature`` is the temperature fitted on PublicTest by the release
    (:func:`calibrate`); every client applies it to the model's output, so
    that a probability of 0.8 means right about 80% of the time.
    ``baseline`` is the rule for reading a face against the same person's
    relaxed face (:class:`BaselineRule`).
    """

    labels: tuple[str, ...] = LABELS
    input: InputContract = field(default_factory=InputContract)
    crop: CropRule = field(default_factory=CropRule)
    tta: str = "none"
    temperature: float = 1.0
    baseline: BaselineRule = field(default_factory=BaselineRule)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["labels"] = list(self.labels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelContract":
        labels = tuple(str(x) for x in d.get("labels", LABELS))
        inp = InputContract(**{k: v for k, v in d.get("input", {}).items()
                               if k in InputContract.__dataclass_fields__})
        crop = CropRule(**{k: v for k, v in d.get("crop", {}).items()
                           if k in CropRule.__dataclass_fields__})
        tta = str(d.get("tta", "none"))
        t = d.get("temperature", 1.0)
        t = float(t) if isinstance(t, (int, float)) and 0.05 <= float(t) <= 20.0 else 1.0
        return cls(labels=labels, input=inp, crop=crop, tta=tta if tta in TTA_MODES else "none", temperature=t,
                   baseline=_baseline_rule(d.get("baseline")))


def _baseline_rule(d) -> BaselineRule:
    """The rule a model's metadata carries; the default for a model without one, or with values out of range."""
    rule = BaselineRule()
    if not isinstance(d, dict):
        return rule
    try:
        got = BaselineRule(margin=float(d.get("margin", rule.margin)), neutral=str(d.get("neutral", rule.neutral)),
                           min_frames=int(d.get("min_frames", rule.min_frames)),
                           min_photos=int(d.get("min_photos", rule.min_photos)), window=int(d.get("window", rule.window)))
    except (TypeError, ValueError):
        return rule
    ok = 0.0 < got.margin <= 20.0 and 1 <= got.min_frames <= 10_000 and 1 <= got.min_photos <= 10_000 \
        and 0 <= got.window <= 1_000_000
    return got if ok else rule


DEFAULT_CONTRACT = ModelContract()
