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
  (docs/consistency.md). Folded, the int8 graph
  starts with one convolution on the raw bytes.

  The fold is exact inside the image; on the first row and column the
  original graph pads with zeros *after* normalization, which a convolution
  on raw pixels cannot reproduce, so those output pixels differ. The
  conversion gate measures the folded model against the original float
  model like any other conversion.

  A model that works on the 48x48 crop itself with an unpadded first
  convolution (``stem: valid``, the micro tier) folds exactly: its front is
  normalization, gray to RGB and the 3x3 stride-2 convolution, which become
  one 3x3 stride-2 convolution on the raw crop, with no padding anywhere.
"""

from __future__ import annotations

import numpy as np

from convert.metadata import schema
from runtime import flatbuf
from train.model import custom_objects

FRONT = ("normalize", "gray_to_rgb", "imagenet_norm", "resize", "Conv1_pad", "Conv1")


def _keras():
    import tf_keras as keras  # deferred: TensorFlow is heavy and only needed here

    return keras


def edge_pad_layer():
    """A Keras layer that pads H and W by one pixel, repeating the edge (TFLite MIRROR_PAD, SYMMETRIC)."""
    return custom_objects()["EdgePad"]


def can_fold(model) -> str | None:
    """None when :func:`fold_front` applies to ``model``, else why not."""
    names = [layer.name for layer in model.layers]
    if any(layer.__class__.__name__.startswith("Quantize") for layer in model.layers):
        return "quantization-aware model (its fake-quant nodes fix the front's ranges)"
    if "Conv1" not in names or "normalize" not in names:
        return "no fer-edge front (normalize ... Conv1)"
    if model.inputs[0].shape[-1] != 1:
        return "3-channel input"
    crop = int(model.inputs[0].shape[1])
    size = int(model.get_layer("resize").output_shape[1]) if "resize" in names else crop
    conv = model.get_layer("Conv1")
    if tuple(conv.strides) != (2, 2) or tuple(conv.kernel_size) != (3, 3):
        return "the first convolution is not 3x3 stride 2"
    if size == crop and "Conv1_pad" not in names and conv.padding == "valid":
        return None
    if size != 2 * crop:
        return f"working resolution {size} is not twice the {crop}-pixel crop (nor the crop with an unpadded stem)"
    return None


def _native(model) -> bool:
    """The front works on the crop itself, unpadded (the exact stride-2 fold)."""
    return "resize" not in [layer.name for layer in model.layers]


def _front_kernel(model):
    """(kernel [3, 3, 1, F], bias [F]) of the front as one convolution (stride
    1 on the upsampled front, stride 2 on the native one), read off the
    front's response to single pixels near the image centre."""
    keras = _keras()
    front = keras.Model(model.inputs[0], model.get_layer("Conv1").output)
    crop = int(model.inputs[0].shape[1])
    native = _native(model)
    o = crop // 4 if native else crop // 2          # the output pixel probed
    at = 2 * o if native else o - 1                 # the input pixel its tap (0, 0) sees
    probes = np.zeros((10, crop, crop, 1), np.float32)
    for k in range(9):
        probes[k + 1, at + k // 3, at + k % 3, 0] = 100.0
    out = front.predict(probes, verbose=0).astype(np.float64)
    base = out[0, o, o]
    kernel = np.zeros((3, 3, 1, out.shape[-1]))
    for k in range(9):
        kernel[k // 3, k % 3, 0] = (out[k + 1, o, o] - base) / 100.0
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
    native = _native(model)
    inp = keras.Input((crop, crop, 1), batch_size=1, name="image")
    pad = (lambda t: t) if native else edge_pad_layer()(name="front_pad")
    conv = keras.layers.Conv2D(kernel.shape[-1], 3, strides=2 if native else 1, padding="valid", use_bias=True,
                               name="Conv1_folded")
    x = conv(pad(inp))
    conv.set_weights([kernel, bias])
    if check:
        rng = np.random.default_rng(0)
        probe = rng.integers(0, 256, (2, crop, crop, 1)).astype(np.float32)
        want = front.predict(probe, verbose=0)
        got = conv(pad(probe)).numpy()
        inside = 0 if native else 1                 # the native fold is exact up to the border too
        err = float(np.abs(want - got)[:, inside:, inside:].max())
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
        how = "3x3 stride-2 convolution on the raw crop (exact)" if _native(model) else "3x3 convolution on the raw crop"
        return fold_front(model), {"batch": 1, "front": f"folded into one {how}"}
    return fixed_batch(model), {"batch": 1, "front": f"as trained ({why})"}


def operators(tflite: bytes) -> list[str]:
    """The builtin operator names of a ``.tflite``, in graph order (repeats kept).
    Read with fer-edge's own flatbuffer reader; no TensorFlow needed."""
    names = {v: k for k, v in vars(schema().BuiltinOperator).items() if not k.startswith("_")}
    model = flatbuf.root(tflite, b"TFL3")
    # OperatorCode: 0 deprecated_builtin_code (int8), 3 builtin_code (int32); the larger is the code
    codes = [max(c.scalar(0, "b"), c.scalar(3, "i")) for c in model.tables(1)]
    out = []
    for g in model.tables(2):
        for op in g.tables(3):
            i = op.scalar(0, "I")
            out.append(names.get(codes[i], "CUSTOM") if i < len(codes) else "CUSTOM")
    return out


def multiply_accumulates(tflite: bytes) -> int:
    """Multiply-accumulates of one inference, counted from the ``.tflite``'s own
    tensor shapes: convolutions (out_h * out_w * out_c * k_h * k_w * in_c),
    depthwise convolutions (out_h * out_w * out_c * k_h * k_w) and fully
    connected layers (in * out); elementwise operators are not counted."""
    model = flatbuf.root(tflite, b"TFL3")
    ops = operators(tflite)
    total, k = 0, 0
    for g in model.tables(2):
        shapes = [tuple(t.scalars(0, "i")) for t in g.tables(0)]
        for op in g.tables(3):
            name = ops[k]
            k += 1
            ins, outs = op.scalars(1, "i"), op.scalars(2, "i")
            if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                continue
            out, w = shapes[outs[0]], shapes[ins[1]]
            if name == "CONV_2D":          # filter [out_c, k_h, k_w, in_c]
                total += out[1] * out[2] * out[3] * w[1] * w[2] * w[3]
            elif name == "DEPTHWISE_CONV_2D":  # filter [1, k_h, k_w, out_c]
                total += out[1] * out[2] * out[3] * w[1] * w[2]
            else:                          # weights [out, in]
                total += w[0] * w[1]
    return int(total)
