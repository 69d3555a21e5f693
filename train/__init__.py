"""Training stage. The user's path: ``python -m train`` on a folder of labelled
photos or FER-2013 (one data type, :mod:`train.data`, from :mod:`train.sources`;
the loop, :mod:`train.loop`). The lab that made the bundled models:
:mod:`train.recipes`.

tf-keras (Keras 2) is used rather than Keras 3 because TensorFlow Model
Optimization (QAT, pruning) only works with it; the variable must be set before
TensorFlow is first imported, so it is set here, at package import, cheaply.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
