"""The model variants the suite compares: the bundled int8 model plus float32,
float16 and dynamic-range TFLite files converted from the release Keras model.

The float variants are rebuilt by ``python -m convert.quantize``'s own
converter (no accuracy gate: the suite measures their accuracy itself) into
``build/variants/<sha12 of the Keras file>/`` and reused while the Keras
model is unchanged. Without TensorFlow only the int8 model is measured.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from runtime.classifier import BUNDLED
from train.paths import REPO

KERAS = REPO / "models" / "fer_mobilenetv2.keras"
CACHE = REPO / "build" / "variants"
FLOAT_MODES = ("float32", "float16", "dynamic")


def tier_variant(tier: str) -> str:
    """The suite's variant name of a bundled tier (``runtime.classifier.BUNDLED``): ``int8`` for the release,
    ``<tier>_int8`` for the others."""
    return "int8" if tier == "release" else f"{tier}_int8"


def shipped_tiers() -> dict[str, str]:
    """{tier: variant} of the bundled tiers, in ``--model`` order."""
    return {tier: tier_variant(tier) for tier in BUNDLED}


def _sha12(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def build(int8: Path, keras: Path = KERAS, cache: Path = CACHE, log=print) -> dict[str, Path]:
    """{variant: .tflite path}; int8 first. Float variants only when TF and the Keras model exist."""
    out = {"int8": Path(int8)}
    if not keras.is_file():
        log(f"variants: {keras} not found; int8 only")
        return out
    try:
        import convert  # noqa: F401  (deferred: tf-keras; TensorFlow is optional for the benchmarks)
        from convert.quantize import (  # deferred: TensorFlow is optional here
            QuantizationConfig,
            quantize,
        )
    except ImportError:
        log("variants: TensorFlow is not installed; int8 only")
        return out
    folder = cache / _sha12(keras)
    folder.mkdir(parents=True, exist_ok=True)
    for mode in FLOAT_MODES:
        path = folder / f"fer_mobilenetv2_{mode}.tflite"
        if not path.is_file():
            log(f"variants: converting {keras.name} to {mode}")
            quantize(keras, path, getattr(QuantizationConfig, f"for_{mode}")(), skip_gate=True, log=lambda *_: None)
        out[mode] = path
    return out
