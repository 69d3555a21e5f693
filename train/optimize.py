"""Model-optimization stages (TensorFlow Model Optimization, tf-keras only):
quantization-aware training (QAT) and magnitude pruning.

Both take a trained float model and fine-tune it for a few epochs:

* :func:`qat_model` wraps the backbone and head for QAT. The preprocessing
  layers (normalize, gray_to_rgb, resize) stay unannotated: they hold no
  weights and the converter quantizes them from the calibration faces.
* :func:`pruned_model` applies low-magnitude pruning to the convolution and
  dense kernels with a polynomial sparsity schedule; :func:`strip_pruning`
  removes the wrappers before export.
"""

from __future__ import annotations

from runtime.errors import ConfigError

QAT_TYPES = ("Conv2D", "DepthwiseConv2D", "Dense", "BatchNormalization", "ReLU", "Add", "ZeroPadding2D",
             "GlobalAveragePooling2D", "Dropout")
PRUNE_TYPES = ("Conv2D", "Dense")


def _tfmot():
    try:
        import tensorflow_model_optimization as tfmot  # deferred: tfmot (and TensorFlow) only for QAT and pruning
    except ImportError:
        raise ConfigError("QAT and pruning need tensorflow-model-optimization: pip install '.[train]'") from None
    return tfmot


def qat_model(model):
    """A QAT copy of ``model`` (fake-quantized weights and activations)."""
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    tfmot = _tfmot()
    q = tfmot.quantization.keras

    def annotate(layer):
        if type(layer).__name__ in QAT_TYPES:
            return q.quantize_annotate_layer(layer)
        return layer.__class__.from_config(layer.get_config())

    annotated = keras.models.clone_model(model, clone_function=annotate)
    annotated.set_weights(model.get_weights())
    with q.quantize_scope():
        return q.quantize_apply(annotated)


def pruned_model(model, target_sparsity: float, begin_step: int, end_step: int, frequency: int = 50):
    """Wrap conv and dense kernels for magnitude pruning to ``target_sparsity``,
    reached by ``end_step`` (masks updated every ``frequency`` steps)."""
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    tfmot = _tfmot()
    sched = tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=target_sparsity,
                                                 begin_step=begin_step, end_step=end_step,
                                                 frequency=max(1, frequency))

    def wrap(layer):
        if type(layer).__name__ in PRUNE_TYPES:
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=sched)
        return layer.__class__.from_config(layer.get_config())

    pruned = keras.models.clone_model(model, clone_function=wrap)
    # Wrapped layers keep the original layer (and its weights); copy the rest by name.
    for layer in pruned.layers:
        if type(layer).__name__ not in ("PruneLowMagnitude",) and layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return pruned


def pruning_callbacks():
    return [_tfmot().sparsity.keras.UpdatePruningStep()]


def strip_pruning(model):
    return _tfmot().sparsity.keras.strip_pruning(model)


def sparsity(model) -> float:
    """Fraction of zero weights among the conv and dense kernels."""
    zeros = total = 0
    for layer in model.layers:
        if type(layer).__name__ in PRUNE_TYPES:
            k = layer.get_weights()[0]
            zeros += int((k == 0).sum())
            total += k.size
    return zeros / max(total, 1)
