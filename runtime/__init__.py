"""fer-edge on-device runtime: numpy, Pillow and a TFLite interpreter, nothing else.

Public API::

    from runtime import Recognizer, Classifier, LABELS
"""

__version__ = "0.1.0"

from .contract import LABELS  # noqa: E402,F401


def __getattr__(name):
    # Lazy, so `import runtime` stays cheap (fer-infer --version answers fast).
    if name in ("Recognizer", "Face"):
        from . import recognizer  # lazy: numpy and Pillow load on first use

        return getattr(recognizer, name)
    if name in ("Classifier", "Prediction"):
        from . import classifier  # lazy, as above

        return getattr(classifier, name)
    raise AttributeError(name)
