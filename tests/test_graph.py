"""convert.graph: the folded front and the fixed batch."""

import numpy as np
import pytest

import convert  # noqa: F401
from convert import graph


@pytest.fixture(scope="module")
def torch_style_96():
    from train.model import build_model

    m = build_model(image_size=96, alpha=0.35, dropout=0.0, padding="torch", normalization="torch", bn_epsilon=1e-5)
    rng = np.random.default_rng(0)
    m.get_layer("Conv1").set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32)
                                      for w in m.get_layer("Conv1").get_weights()])
    return m


def test_fold_is_exact_inside_the_image(torch_style_96):
    import tf_keras as keras

    m = torch_style_96
    folded = graph.fold_front(m)
    assert tuple(folded.inputs[0].shape) == (1, 48, 48, 1) and tuple(folded.outputs[0].shape) == (1, 7)
    names = {layer.name for layer in folded.layers}
    assert "resize" not in names and "normalize" not in names and "Conv1_folded" in names
    x = np.random.default_rng(1).integers(0, 256, (1, 48, 48, 1)).astype(np.float32)
    want = keras.Model(m.inputs[0], m.get_layer("bn_Conv1").output).predict(x, verbose=0)
    got = keras.Model(folded.inputs[0], folded.get_layer("bn_Conv1").get_output_at(-1)).predict(x, verbose=0)
    inner = np.abs(want - got)[:, 1:, 1:]
    assert inner.max() < 1e-3 * np.abs(want).max()
    assert np.abs(want - got)[:, 0].max() > inner.max()     # the first row is where the fold differs (documented)


def test_prepare_says_why_it_does_not_fold():
    from train.model import build_model

    m72 = build_model(image_size=72, alpha=0.35, dropout=0.0)
    model, rec = graph.prepare(m72)
    assert "72 is not twice" in rec["front"] and tuple(model.inputs[0].shape) == (1, 48, 48, 1)
    _, rec = graph.prepare(m72, fold=False)
    assert "not asked" in rec["front"]
    with pytest.raises(ValueError, match="cannot fold"):
        graph.fold_front(m72)


def test_folded_int8_has_fixed_batch_and_no_elementwise_front(torch_style_96):
    from convert.quantize import QuantizationConfig, io_contract, to_tflite
    from tests.conftest import synthetic_faces

    model, rec = graph.prepare(torch_style_96)
    tfl = to_tflite(model, QuantizationConfig.for_int8(samples=20), synthetic_faces(20))
    ops = graph.operators(tfl)
    assert ops[:3] == ["QUANTIZE", "MIRROR_PAD", "CONV_2D"], ops[:4]
    assert not {"RESIZE_BILINEAR", "CONCATENATION", "MUL", "SUB"} & set(ops)
    assert io_contract(tfl).size == 48
    from runtime.metadata import inspect_bytes

    info = inspect_bytes(tfl)
    assert list(info.inputs[0].shape) == [1, 48, 48, 1] and list(info.outputs[0].shape) == [1, 7]


def test_native_front_with_an_unpadded_stem_folds_exactly():
    """The micro tier's front (48x48 crop, unpadded 3x3 stride-2 convolution) is
    one stride-2 convolution on the raw crop, exact up to the border; its
    int8 graph starts with that convolution and holds TFLM operators only."""
    import tf_keras as keras

    from convert import firmware
    from convert.quantize import QuantizationConfig, to_tflite
    from tests.conftest import synthetic_faces
    from train.model import build_model

    m = build_model(image_size=48, alpha=0.35, blocks=5, head_channels=64, stem="valid", dropout=0.0)
    model, rec = graph.prepare(m)
    assert "stride-2" in rec["front"] and "exact" in rec["front"]
    x = np.random.default_rng(2).integers(0, 256, (2, 48, 48, 1)).astype(np.float32)
    want = keras.Model(m.inputs[0], m.get_layer("bn_Conv1").output).predict(x, verbose=0)
    got = keras.Model(model.inputs[0], model.get_layer("bn_Conv1").get_output_at(-1)).predict(x[:1], verbose=0)
    assert np.abs(want[:1] - got).max() < 1e-4 * max(1.0, np.abs(want).max())
    np.testing.assert_allclose(m.predict(x, verbose=0)[:1], model.predict(x[:1], verbose=0), atol=1e-5)
    tfl = to_tflite(model, QuantizationConfig.for_int8(samples=20), synthetic_faces(20))
    ops = graph.operators(tfl)
    assert ops[:2] == ["QUANTIZE", "CONV_2D"] and "PAD" not in ops and "MIRROR_PAD" not in ops
    assert firmware.operators(tfl)       # every operator is one TFLM implements


def test_multiply_accumulates_counted_from_the_tflite():
    """Conv (oh*ow*oc*kh*kw*ic), depthwise (oh*ow*oc*kh*kw), dense (in*out), from the file's shapes."""
    import tf_keras as keras

    from convert.quantize import QuantizationConfig, to_tflite
    from tests.conftest import synthetic_faces

    inp = keras.Input((48, 48, 1), batch_size=1)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="valid")(inp)                 # 23x23x8, k 3x3x1
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)                          # 23x23x8, k 3x3
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(7, activation="softmax")(x)
    tfl = to_tflite(keras.Model(inp, out), QuantizationConfig.for_int8(samples=10), synthetic_faces(10))
    assert graph.multiply_accumulates(tfl) == 23 * 23 * 8 * 9 * 1 + 23 * 23 * 8 * 9 + 8 * 7
