"""Graph rewrites applied before conversion.

Two rewrites, both recorded in the conversion report and the model metadata:

* **Fixed batch of 1.** The converted model declares ``[1, 48, 48, 1]`` in
  and ``[1, 7]`` out instead of a dynamic batch (``-1``), which LiteRT.js and
  TensorFlow Lite for Microcontrollers need. Every runtime feeds one crop at a
  time anyway.
* **Folded front** (:func:`fold_front`). The training graph starts with
  elementwise steps on the raw crop: scale to [-1, 1], repeat gray to RGB,
  ImageNet mean/std per channel, 2x bilinear upsampling, zero padding, then
  the first 3x3 stride-2 convolution. All of it is linear, so it is one 3x3
  stride-1 convolution on the 48x48 crop, padded by repeating its edge
  pixels. In int8 the elementwise steps are where interpreters part ways:
  their outputs land exactly halfway between two int8 steps (pixel/127.5,
  0.25/0.75 interpolation weights) far more often than a convolution's do, and
  XNNPACK breaks those ties one way, TFLite's builtin kernels the other
  (README, *Same answers on every interpreter*). Folded, the int8 graph
  starts with one convolution on the raw bytes.

  The fold is exact inside the image; on the first row and column the
  original graph pads with zeros *after* normalization, which a convolution
  on raw pixels cannot reproduce, so those output pixels differ. The
  conversion gate measures the folded model against the original float
  model like any other conversion.
"""

from __future__ import annotations

import numpy as np

FRONT = ("normalize", "gray_to_rgb", "imagenet_norm", "resize", "Conv1_pad", "Conv1")


def _keras():
    import convert  # noqa: F401  (TF_USE_LEGACY_KERAS)
    import tf_keras as keras

    return keras


def edge_pad_layer():
    """A Keras layer that pads H and W by one pixel, repeating the edge (TFLite MIRROR_PAD, SYMMETRIC)."""
    from train.model import custom_objects

    return custom_objects()["EdgePad"]


def can_fold(model) -> str | None:
    """None when :func:`fold_front` applies to ``model``, else why not."""
    names = [layer.name for layer in model.layers]
    if any(layer.__class__.__name__.startswith("Quantize") for layer in model.layers):
        return "quantization-aware model (its fake-quant nodes fix the front's ranges)"
    if "Conv1" not in names or "normalize" not in names:
        return "no fer-edge front (normalize ... Conv1)"
    crop = int(model.inputs[0].shape[1])
    size = int(model.get_layer("resize").output_shape[1]) if "resize" in names else crop
    conv = model.get_layer("Conv1")
    if size != 2 * crop or tuple(conv.strides) != (2, 2) or tuple(conv.kernel_size) != (3, 3):
        return f"working resolution {size} is not twice the {crop}-pixel crop"
    if model.inputs[0].shape[-1] != 1:
        return "3-channel input"
    return None


def _front_kernel(model):
    """(kernel [3, 3, 1, F], bias [F]) of the front as one stride-1 convolution,
    read off the front's response to single pixels at the image centre."""
    keras = _keras()
    front = keras.Model(model.inputs[0], model.get_layer("Conv1").output)
    crop = int(model.inputs[0].shape[1])
    c = crop // 2
    probes = np.zeros((10, crop, crop, 1), np.float32)
    for k in range(9):
        probes[k + 1, c + k // 3 - 1, c + k % 3 - 1, 0] = 100.0
    out = front.predict(probes, verbose=0).astype(np.float64)
    base = out[0, c, c]
    kernel = np.zeros((3, 3, 1, out.shape[-1]))
    for k in range(9):
        ky, kx = k // 3, k % 3
        # the output at (c, c) sees input (c + ky - 1, c + kx - 1) through tap (ky, kx)
        kernel[ky, kx, 0] = (out[k + 1, c, c] - base) / 100.0
    return kernel.astype(np.float32), base.astype(np.float32), front


def fold_front(model, check: bool = True):
    """``model`` with its front folded into one convolution (see the module
    docstring), its batch fixed to 1. The other layers are the same objects.

    Raises:
        ValueError: the model has no foldable front (:func:`can_fold` says why),
            or the fold does not reproduce the front inside the image.
    """
    keras = _keras()
    why = can_fold(model)
    if why:
        raise ValueError(f"cannot fold the front: {why}")
    kernel, bias, front = _front_kernel(model)
    crop = int(model.inputs[0].shape[1])
    inp = keras.Input((crop, crop, 1), batch_size=1, name="image")
    pad = edge_pad_layer()(name="front_pad")
    conv = keras.layers.Conv2D(kernel.shape[-1], 3, padding="valid", use_bias=True, name="Conv1_folded")
    x = conv(pad(inp))
    conv.set_weights([kernel, bias])
    if check:
        rng = np.random.default_rng(0)
        probe = rng.integers(0, 256, (2, crop, crop, 1)).astype(np.float32)
        want = front.predict(probe, verbose=0)
        got = conv(pad(probe)).numpy()
        err = float(np.abs(want - got)[:, 1:, 1:].max())
        if err > 1e-3 * max(1.0, float(np.abs(want).max())):
            raise ValueError(f"the folded front differs from the original inside the image by {err:.3g}")
    tensors = {id(model.get_layer("Conv1").output): x}
    start = [layer.name for layer in model.layers].index("Conv1") + 1
    for layer in model.layers[start:]:
        node = layer._inbound_nodes[0]
        ins = node.input_tensors
        args = [tensors[id(t)] for t in ins] if isinstance(ins, (list, tuple)) else tensors[id(ins)]
        tensors[id(layer.output)] = layer(args)
    return keras.Model(inp, tensors[id(model.outputs[0])], name=model.name)


def fixed_batch(model):
    """``model`` behind a ``[1, ...]`` input (the layers are shared)."""
    keras = _keras()
    if model.inputs[0].shape[0] == 1:
        return model
    inp = keras.Input(tuple(model.inputs[0].shape[1:]), batch_size=1, name="image")
    return keras.Model(inp, model(inp), name=model.name)


def prepare(model, fold: bool = True):
    """(the model to convert, a record of the rewrites) for ``convert.quantize``."""
    why = can_fold(model) if fold else "not asked (--no-fold)"
    if why is None:
        return fold_front(model), {"batch": 1, "front": "folded into one 3x3 convolution on the raw crop"}
    return fixed_batch(model), {"batch": 1, "front": f"as trained ({why})"}


def operators(tflite: bytes) -> list[str]:
    """The builtin operator names of a ``.tflite``, in graph order (repeats kept)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    m = flatbuffer_utils.read_model_from_bytearray(bytearray(tflite))
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    return [names.get(codes[op.opcodeIndex], "CUSTOM") for g in m.subgraphs for op in g.operators]
