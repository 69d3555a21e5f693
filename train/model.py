"""MobileNetV2 for FER: raw grayscale crops in, 7 probabilities out.

The graph holds the whole preprocessing, so clients only crop, resize to the
crop size and copy bytes (see :mod:`runtime.contract`)::

    raw crop [48,48,C] 0..255 -> (gray x3) -> resize to image_size -> normalize
      -> MobileNetV2 features -> global average pool -> dropout -> dense softmax

The backbone follows Keras' own MobileNetV2 layer for layer and uses its layer
names, so Keras ImageNet weights load by name. Two details differ by where the
weights came from and are configurable:

* ``padding``: Keras pads stride-2 convolutions on the bottom/right only
  ("keras"); torchvision pads one pixel on every side ("torch"). Using the
  padding the weights were trained with keeps the converted model exact.
* ``normalization``: Keras scales to [-1, 1]; torchvision subtracts the
  ImageNet mean and divides by its std per RGB channel.
"""

from __future__ import annotations

from runtime.contract import CROP_SIZE, NUM_CLASSES

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: (filters, stride, expansion) of the 17 inverted-residual blocks.
BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6),
          (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6),
          (160, 2, 6), (160, 1, 6), (160, 1, 6), (320, 1, 6))


def make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _pad(layers, x, name: str, padding: str):
    """Explicit padding before a stride-2 3x3 conv."""
    if padding == "torch":
        return layers.ZeroPadding2D(((1, 1), (1, 1)), name=name)(x)
    h, w = int(x.shape[1]), int(x.shape[2])
    return layers.ZeroPadding2D(((1 - (1 - h % 2), 1), (1 - (1 - w % 2), 1)), name=name)(x)


def build_backbone(layers, x, alpha: float = 1.0, padding: str = "keras",
                   bn_epsilon: float = 1e-3, bn_momentum: float = 0.99, head_channels: int = 0,
                   stem: str = "pad", blocks: int = len(BLOCKS)):
    """MobileNetV2 feature extractor on tensor ``x`` (3 channels, normalized).

    ``head_channels`` sets the last 1x1 convolution's width (0: MobileNetV2's
    1280, wider with alpha > 1); ``stem="valid"`` drops the padding before
    the first stride-2 convolution (the micro tier: its front then folds
    exactly into one convolution on the raw crop, see :mod:`convert.graph`);
    ``blocks`` keeps the first so many of the 17 inverted-residual blocks.
    """
    bn = dict(epsilon=bn_epsilon, momentum=bn_momentum)
    first = make_divisible(32 * alpha, 8)
    if stem == "pad":
        x = _pad(layers, x, "Conv1_pad", padding)
    x = layers.Conv2D(first, 3, strides=2, padding="valid", use_bias=False, name="Conv1")(x)
    x = layers.BatchNormalization(name="bn_Conv1", **bn)(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    in_ch = first
    for block_id, (filters, stride, expansion) in enumerate(BLOCKS[:blocks]):
        out_ch = make_divisible(int(filters * alpha), 8)
        inp = x
        if block_id:
            prefix = f"block_{block_id}_"
            x = layers.Conv2D(expansion * in_ch, 1, padding="same", use_bias=False, name=prefix + "expand")(x)
            x = layers.BatchNormalization(name=prefix + "expand_BN", **bn)(x)
            x = layers.ReLU(6.0, name=prefix + "expand_relu")(x)
        else:
            prefix = "expanded_conv_"
        if stride == 2:
            x = _pad(layers, x, prefix + "pad", padding)
        x = layers.DepthwiseConv2D(3, strides=stride, use_bias=False,
                                   padding="same" if stride == 1 else "valid", name=prefix + "depthwise")(x)
        x = layers.BatchNormalization(name=prefix + "depthwise_BN", **bn)(x)
        x = layers.ReLU(6.0, name=prefix + "depthwise_relu")(x)
        x = layers.Conv2D(out_ch, 1, padding="same", use_bias=False, name=prefix + "project")(x)
        x = layers.BatchNormalization(name=prefix + "project_BN", **bn)(x)
        if in_ch == out_ch and stride == 1:
            x = layers.Add(name=prefix + "add")([inp, x])
        in_ch = out_ch
    last = head_channels or (make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280)
    x = layers.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(name="Conv_1_bn", **bn)(x)
    return layers.ReLU(6.0, name="out_relu")(x)


_CUSTOM: dict = {}


def custom_objects() -> dict:
    """Layers of fer-edge models that Keras must know to load them (registered once)."""
    if _CUSTOM:
        return _CUSTOM
    import tensorflow as tf  # deferred: TensorFlow is heavy and only needed here
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    @keras.saving.register_keras_serializable("fer_edge")
    class SeededDropout(keras.layers.Layer):
        """Dropout whose masks are a function of (seed, step): the step counter is a
        weight saved with every checkpoint, so a resumed run draws exactly the masks
        an uninterrupted run would have drawn. Identity at inference."""

        def __init__(self, rate: float, seed: int = 0, **kwargs):
            super().__init__(**kwargs)
            self.rate, self.seed = float(rate), int(seed)

        def build(self, input_shape):
            self.step = self.add_weight(name="step", shape=(), dtype="int64", initializer="zeros", trainable=False,
                                        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            super().build(input_shape)

        def call(self, x, training=None):
            if training is None:
                training = keras.backend.learning_phase()

            def drop():
                step = self.step.assign_add(1)
                seed = tf.stack([tf.constant(self.seed, tf.int64), step])
                return tf.nn.experimental.stateless_dropout(x, self.rate, seed=seed)

            if isinstance(training, bool) or isinstance(training, int):
                return drop() if training and self.rate > 0 else tf.identity(x)
            return tf.cond(tf.cast(training, tf.bool), drop, lambda: tf.identity(x))

        def get_config(self):
            return {**super().get_config(), "rate": self.rate, "seed": self.seed}

    @keras.saving.register_keras_serializable("fer_edge")
    class EdgePad(keras.layers.Layer):
        """Pads height and width by one pixel that repeats the edge pixel
        (``tf.pad`` SYMMETRIC; TFLite MIRROR_PAD). The folded front of
        :mod:`convert.graph` starts with it."""

        def call(self, x):
            return tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")

    for cls in (SeededDropout, EdgePad):
        _CUSTOM[cls.__name__] = cls
        _CUSTOM[f"fer_edge>{cls.__name__}"] = cls
    return _CUSTOM


def build_model(image_size: int = 96, alpha: float = 1.0, channels: int = 1,
                crop_size: int = CROP_SIZE, num_classes: int = NUM_CLASSES, dropout: float = 0.2,
                padding: str = "keras", normalization: str = "keras", bn_epsilon: float = 1e-3,
                bn_momentum: float = 0.99, name: str = "fer_mobilenetv2",
                seed: int = 0, head_channels: int = 0, stem: str = "pad", blocks: int = len(BLOCKS)):
    """Build the FER MobileNetV2 (tf-keras).

    Args:
        image_size: the network's working resolution (48-224); the crop is
            resized to it inside the graph.
        alpha: width multiplier.
        channels: 1 or 3 channels in the model's input (3 = gray repeated).
        crop_size: side of the input crop (48 for FER-2013).
        num_classes: outputs; 1000 gives an ImageNet classifier (for tests of
            weight conversion, with RGB input).
        padding, normalization: "keras" or "torch" (see module docstring).
        seed: seed of the dropout masks (see ``SeededDropout``).
        head_channels, stem, blocks: see :func:`build_backbone`.
    Returns:
        A ``tf.keras.Model`` mapping ``[B, crop, crop, channels]`` float pixels
        0..255 to ``[B, num_classes]`` softmax probabilities.
    """
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    if not 32 <= image_size <= 224:
        raise ValueError(f"image_size must be within 32..224, got {image_size}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if padding not in ("keras", "torch") or normalization not in ("keras", "torch"):
        raise ValueError("padding and normalization must be 'keras' or 'torch'")
    if stem not in ("pad", "valid") or head_channels < 0 or not 1 <= blocks <= len(BLOCKS):
        raise ValueError(f"stem must be 'pad' or 'valid', head_channels >= 0, blocks 1..{len(BLOCKS)}")
    layers = keras.layers
    inputs = keras.Input((crop_size, crop_size, channels), name="image")
    # Normalize first, while the tensor still holds raw pixels: the int8
    # converter then calibrates the input tensor on exactly 0..255 (scale 1,
    # zero point 0). Concatenating before normalizing makes it merge the ranges.
    x = layers.Normalization(mean=[127.5] * channels, variance=[127.5 ** 2] * channels, name="normalize")(inputs)
    if channels == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    if normalization == "torch":
        # From [-1, 1] to ImageNet mean/std per RGB channel:
        # (x/255 - m) / s  ==  (y - (2m - 1)) / (2s)  with  y = (x - 127.5) / 127.5
        x = layers.Normalization(mean=[2.0 * m - 1.0 for m in IMAGENET_MEAN],
                                 variance=[(2.0 * s) ** 2 for s in IMAGENET_STD], name="imagenet_norm")(x)
    if image_size != crop_size:
        x = layers.Resizing(image_size, image_size, interpolation="bilinear", name="resize")(x)
    x = build_backbone(layers, x, alpha, padding, bn_epsilon, bn_momentum, head_channels, stem, blocks)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = custom_objects()["SeededDropout"](dropout, seed=seed, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)
