"""The reference networks of the Raspberry Pi 4 estimate (``benchmarks.pi4``):
four float32 ImageNet networks whose Pi 4 latency XNNPACK publishes, built
here with random weights by tf-keras' applications and converted to TFLite
(their instruction counts do not depend on the weight values). Cached in
``build/reference/``.
"""

from __future__ import annotations

from pathlib import Path

from train.io import atomic_path
from train.paths import REPO

FOLDER = REPO / "build" / "reference"

#: XNNPACK's README at google/XNNPACK commit 1f5d9bc97e24ee6eba48c26d7d74630ffd650d9d,
#: the Raspberry Pi table: multi-threaded (4 cores) latency in ms on a
#: Raspberry Pi 4 (BCM2711), end2end_bench on Raspbian Buster, December 12, 2019,
#: models with random weights.
SOURCE = ("XNNPACK README (github.com/google/XNNPACK, commit 1f5d9bc9), Raspberry Pi table: RPi 4 (BCM2711), "
          "multi-threaded, end2end_bench on Raspbian Buster, 2019-12-12, random weights")
PUBLISHED_MS = {
    "mobilenet_v1_1.0_224": 79.0,
    "mobilenet_v2_1.0_224": 47.0,
    "mobilenet_v3_large_224": 42.0,
    "mobilenet_v3_small_224": 15.0,
}


def _keras_model(name: str):
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    kw = dict(input_shape=(224, 224, 3), weights=None, classes=1000)
    if name == "mobilenet_v1_1.0_224":
        return keras.applications.MobileNet(alpha=1.0, **kw)
    if name == "mobilenet_v2_1.0_224":
        return keras.applications.MobileNetV2(alpha=1.0, **kw)
    if name == "mobilenet_v3_large_224":
        return keras.applications.MobileNetV3Large(include_preprocessing=False, **kw)
    if name == "mobilenet_v3_small_224":
        return keras.applications.MobileNetV3Small(include_preprocessing=False, **kw)
    raise KeyError(name)


def path(name: str) -> Path:
    return FOLDER / f"{name}_float32.tflite"


def build(name: str) -> Path | None:
    """The reference's float32 ``.tflite`` (built once), or None without TensorFlow."""
    out = path(name)
    if out.is_file():
        return out
    try:
        import tensorflow as tf  # deferred: TensorFlow is optional for the benchmarks
        import tf_keras as keras  # deferred: as TensorFlow

        import train  # noqa: F401  (deferred: sets TF_USE_LEGACY_KERAS before TensorFlow loads)
    except ImportError:
        return None
    keras.utils.set_random_seed(0)
    data = tf.lite.TFLiteConverter.from_keras_model(_keras_model(name)).convert()

    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=".tflite") as tmp:
        tmp.write_bytes(data)
    return out
