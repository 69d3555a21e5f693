"""Conversion stage: Keras model -> TFLite (int8, float16, dynamic-range, float32)
with the model contract embedded as TFLite metadata."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
