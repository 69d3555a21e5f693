"""The reference network for the Raspberry Pi 4 estimate: MobileNetV2 1.0 224
float32 (ImageNet shape, 1000 classes), built with random weights by
tf-keras' ``MobileNetV2`` and converted to TFLite (latency does not depend
on the weight values). Cached in ``build/reference/``.

The estimate: (our p50 / the reference's p50, both measured here in the same
run with the same interpreter at the published figure's thread count) x a
published Pi 4 latency of the reference. ``PUBLISHED`` is the default figure;
``--pi4-reference MS --pi4-source TEXT --pi4-threads N`` give another.

It assumes that our model and the reference keep the ratio of their times
from this CPU to the Pi's Cortex-A72, which an int8 model against a float
reference need not do (int8 and float kernels differ between AVX2 and NEON):
an estimate, not a Pi measurement.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PATH = REPO / "build" / "reference" / "mobilenet_v2_1.0_224_float32.tflite"

# XNNPACK's README, "Raspberry Pi" table (google/XNNPACK at commit 0085ae36):
# MobileNet v2 1.0X, FP32, RPi 4 (BCM2711), 44 ms, multi-threaded, measured
# with end2end-bench on Raspbian Buster, February 12, 2020. The README does not
# state the thread count; a Pi 4 has 4 cores, so the ratio is taken at 4.
PUBLISHED = {
    "ms": 44.0,
    "threads": 4,
    "source": "XNNPACK README (github.com/google/XNNPACK, commit 0085ae36), Raspberry Pi table: MobileNet v2 "
              "1.0X FP32 on RPi 4 (BCM2711), multi-threaded (count not stated; 4 cores), end2end-bench, "
              "2020-02-12",
}


def build(path: Path = PATH) -> Path | None:
    if path.is_file():
        return path
    try:
        import train  # noqa: F401
        import tensorflow as tf
        import tf_keras as keras
    except ImportError:
        return None
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), alpha=1.0, weights=None, classes=1000)
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    from train.io import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".tflite") as tmp:
        tmp.write_bytes(data)
    return path


def latency(path: Path, threads: int = 1, warmup: int = 10, runs: int = 100, budget_s: float = 3.0,
            backend=None) -> dict:
    from benchmarks.latency import time_calls
    from runtime.interpreter import find_backend, make_interpreter

    b = backend or find_backend()
    interp = make_interpreter(path.read_bytes(), threads, b)
    inp = interp.get_input_details()[0]
    x = np.random.default_rng(0).standard_normal(inp["shape"]).astype(np.float32)

    def once():
        interp.set_tensor(inp["index"], x)
        interp.invoke()

    r = time_calls(once, warmup, runs, budget_s, min_runs=20)
    r.update(interpreter=f"{b.name} {b.version}", threads=threads, model=path.name)
    return r
