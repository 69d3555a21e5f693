"""Classify face crops with a fer-edge ``.tflite`` model."""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .contract import DEFAULT_CONTRACT, TTA_MODES, ModelContract, calibrate
from .errors import ModelError
from .interpreter import Backend, find_backend, make_interpreter
from .metadata import ModelFileInfo, inspect_file
from .preprocess import to_gray_crop

_DTYPES = {"uint8": np.uint8, "int8": np.int8, "float32": np.float32}

BUNDLED_MODEL = Path(__file__).parent / "models" / "fer_mobilenetv2_int8.tflite"
#: the microcontroller tier (TFLM operators only, at most 256 KiB): ``--model micro``
MICRO_MODEL = Path(__file__).parent / "models" / "fer_mobilenetv2_micro_int8.tflite"
#: names ``--model`` takes for the bundled models
BUNDLED = {"release": BUNDLED_MODEL, "micro": MICRO_MODEL}


@dataclass
class Prediction:
    """One crop's result: the top label, its probability, and all of them."""

    label: str
    score: float
    probabilities: dict[str, float]

    def top_k(self, k: int) -> list[tuple[str, float]]:
        return sorted(self.probabilities.items(), key=lambda kv: -kv[1])[:k]


class Classifier:
    """Runs a fer-edge TFLite model on face crops.

    Args:
        model: path to a ``.tflite``, or a bundled tier: ``"release"`` (the
            default) or ``"micro"`` (the
            microcontroller model, also the smallest and quickest here).
        threads: interpreter threads.
        backend: a :class:`runtime.interpreter.Backend` (default: best installed).
        xnnpack, reference: kernel choice for the benchmarks (see
            :func:`runtime.interpreter.make_interpreter`).
        tta: "none" (one pass), "flip" (mean of the crop's and its mirror
            image's probabilities: two passes) or "auto" (what the model's
            metadata recommends).
        calibrated: apply the model's temperature (metadata) to the
            probabilities; False gives the model's raw softmax.

    Raises:
        ModelError: missing, malformed or contract-breaking model.
    """

    def __init__(self, model: str | Path | None = None, threads: int | None = None,
                 backend: Backend | None = None, xnnpack: bool = True, reference: bool = False,
                 tta: str = "none", calibrated: bool = True):
        if tta not in TTA_MODES + ("auto",):
            raise ValueError(f"tta must be one of {', '.join(TTA_MODES + ('auto',))} (got {tta!r})")
        bundled = model is None or str(model) in BUNDLED
        path = BUNDLED.get(str(model or "release"), Path(str(model)))
        if bundled and not path.is_file():
            raise ModelError(f"the bundled model is missing ({path}); pass --model PATH")

        self.path = path
        self.info: ModelFileInfo = inspect_file(path)
        if not self.info.has_metadata:
            warnings.warn(f"{path.name} has no fer-edge metadata; assuming FER-2013 labels and a "
                          f"{DEFAULT_CONTRACT.input.size}x{DEFAULT_CONTRACT.input.size} gray input", stacklevel=2)
        self.contract: ModelContract = self.info.contract
        self._check_contract()
        self.backend = backend or find_backend()
        self.interpreter = make_interpreter(path.read_bytes(), threads, self.backend, xnnpack, reference)
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        self.size = int(self._in["shape"][1])
        self.channels = int(self._in["shape"][3])
        self.labels = self.contract.labels
        self.tta = self.contract.tta if tta == "auto" else tta
        self.temperature = self.contract.temperature if calibrated else 1.0

    @classmethod
    def from_bytes(cls, data: bytes, **kw) -> "Classifier":
        with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
            f.write(data)
            f.flush()
            return cls(f.name, **kw)

    def _check_contract(self) -> None:
        info, name = self.info, self.path.name
        if len(info.inputs) != 1 or len(info.outputs) != 1:
            raise ModelError(f"{name}: expected 1 input and 1 output, found {len(info.inputs)} and "
                             f"{len(info.outputs)}")
        i, o = info.inputs[0], info.outputs[0]
        if len(i.shape) != 4 or i.shape[1] != i.shape[2] or i.shape[3] not in (1, 3) or i.shape[1] < 8:
            raise ModelError(f"{name}: input shape {list(i.shape)} is not [1, S, S, 1|3]")
        if i.dtype not in _DTYPES:
            raise ModelError(f"{name}: input type {i.dtype} is not uint8, int8 or float32")
        if o.dtype not in _DTYPES:
            raise ModelError(f"{name}: output type {o.dtype} is not uint8, int8 or float32")
        k = o.shape[-1] if o.shape else 0
        if len(o.shape) != 2 or k != len(self.contract.labels):
            raise ModelError(f"{name}: output shape {list(o.shape)} does not match "
                             f"{len(self.contract.labels)} labels")

    # -- the I/O contract ---------------------------------------------------
    def input_tensor(self, crop: np.ndarray) -> np.ndarray:
        """The exact input tensor for a uint8 gray crop ``[S, S]`` (already resized)."""
        crop = np.asarray(crop)
        if crop.shape != (self.size, self.size) or crop.dtype != np.uint8:
            raise ValueError(f"crop must be uint8 [{self.size}, {self.size}], got {crop.dtype} {crop.shape}")
        x = crop[None, :, :, None]
        if self.channels == 3:
            x = np.repeat(x, 3, axis=3)
        dtype = self._in["dtype"]
        scale, zp = self._in["quantization"]
        if dtype == np.float32:
            return x.astype(np.float32)
        if scale == 1.0:
            return (x.astype(np.int16) + zp).astype(dtype)   # uint8: zp 0; int8: zp -128
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zp), info.min, info.max).astype(dtype)

    def probabilities_from_output(self, raw: np.ndarray) -> np.ndarray:
        """Dequantize the output tensor with its own scale and zero point."""
        raw = np.asarray(raw).reshape(-1)
        scale, zp = self._out["quantization"]
        if self._out["dtype"] != np.float32 and scale:
            return (raw.astype(np.float32) - zp) * scale
        return raw.astype(np.float32)

    # -- running ------------------------------------------------------------
    def run_raw(self, crop: np.ndarray) -> np.ndarray:
        """The output tensor as the interpreter gives it (quantized for int8 models).

        Faces of one photo or frame go through this one interpreter in turn: the
        converted graph has a batch of one (``convert.graph``), and resizing
        XNNPACK's input to each photo's face count would re-plan the graph every
        time, which costs more than the invokes it saves."""
        self.interpreter.set_tensor(self._in["index"], self.input_tensor(crop))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._out["index"]).copy()

    def run(self, crop: np.ndarray) -> np.ndarray:
        """Probabilities ``[K]`` for one uint8 gray crop ``[S, S]`` (with :attr:`tta`,
        then the model's temperature)."""
        p = self.probabilities_from_output(self.run_raw(crop))
        if self.tta == "flip":
            p = (p + self.probabilities_from_output(self.run_raw(np.ascontiguousarray(crop[:, ::-1])))) / 2.0
        return calibrate(p, self.temperature).astype(np.float32) if self.temperature != 1.0 else p

    @property
    def output_quantization(self) -> tuple[float, int]:
        scale, zp = self._out["quantization"]
        return float(scale), int(zp)

    def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities ``[N, K]`` for uint8 crops ``[N, S, S]``."""
        return np.stack([self.run(c) for c in crops]) if len(crops) else np.zeros((0, len(self.labels)))

    def classify_crop(self, crop) -> Prediction:
        """Classify one face crop: a uint8 array or a PIL image of any size."""
        p = self.run(to_gray_crop(crop, self.size))
        i = int(np.argmax(p))
        return Prediction(self.labels[i], float(p[i]), {l: float(v) for l, v in zip(self.labels, p)})
