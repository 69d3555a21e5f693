"""python -m convert.quantize on a tiny model: every mode, the I/O contract,
the metadata round trip, and the accuracy gate passing and failing."""

import json

import numpy as np
import pytest

import convert  # noqa: F401
from runtime.contract import LABELS
from runtime.metadata import inspect_file

from .conftest import synthetic_faces


@pytest.mark.parametrize("mode", ["float32", "float16", "dynamic"])
def test_float_modes_convert_and_run(tiny_keras_model, tmp_path, mode):
    from convert.quantize import QuantizationConfig, load_keras_model, to_tflite
    from runtime.classifier import Classifier

    model = load_keras_model(tiny_keras_model)
    q = {"float32": QuantizationConfig.for_float32, "float16": QuantizationConfig.for_float16,
         "dynamic": QuantizationConfig.for_dynamic}[mode]()
    path = tmp_path / f"{mode}.tflite"
    path.write_bytes(to_tflite(model, q))
    with pytest.warns(UserWarning, match="no fer-edge metadata"):
        clf = Classifier(path)
    faces = synthetic_faces(4, seed=5)
    p = clf.predict_proba(faces)
    ref = model.predict(faces[..., None].astype(np.float32), verbose=0)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-3)
    np.testing.assert_allclose(p, ref, atol=2e-2)


def test_int8_io_contract(tiny_int8, tiny_keras_model):
    info = inspect_file(tiny_int8)
    i, o = info.inputs[0], info.outputs[0]
    assert i.shape == (1, 48, 48, 1) and i.dtype == "uint8" and i.scale == 1.0 and i.zero_point == 0
    assert o.shape == (1, 7) and o.dtype == "uint8"
    # The runtime's input tensor is the crop's bytes as they are.
    from runtime.classifier import Classifier

    clf = Classifier(tiny_int8)
    face = synthetic_faces(1, seed=2)[0]
    np.testing.assert_array_equal(clf.input_tensor(face)[0, :, :, 0], face)
    # int8 output, read with its own scale and zero point, tracks the float model.
    from convert.quantize import load_keras_model

    ref = load_keras_model(tiny_keras_model).predict(face[None, ..., None].astype(np.float32), verbose=0)[0]
    np.testing.assert_allclose(clf.run(face), ref, atol=0.05)


def test_int8_input_type_variant(tiny_keras_model):
    from convert.quantize import QuantizationConfig, io_contract, load_keras_model, to_tflite

    raw = to_tflite(load_keras_model(tiny_keras_model), QuantizationConfig.for_int8("int8"), synthetic_faces(16))
    c = io_contract(raw)
    assert c.dtype == "int8" and c.zero_point == -128


def test_metadata_round_trip_with_our_reader(tiny_int8):
    info = inspect_file(tiny_int8)
    assert info.has_metadata and info.name == "tiny test model"
    assert info.contract.labels == LABELS
    assert info.contract.input.size == 48 and info.contract.input.channels == 1
    assert info.associated_files["labels.txt"].decode().split() == list(LABELS)
    doc = json.loads(info.associated_files["fer_contract.json"])
    assert doc["crop"]["scale"] == info.contract.crop.scale


@pytest.mark.slow
def test_metadata_is_read_by_the_standard_schema(tiny_int8):
    """MediaPipe's generated reader of metadata_schema.fbs parses what we wrote."""
    from runtime import flatbuf
    from runtime.metadata import METADATA_NAME

    from .helpers import metadata_schema_module

    s = metadata_schema_module()
    data = tiny_int8.read_bytes()
    model = flatbuf.root(data, b"TFL3")
    (meta,) = [m for m in model.tables(6) if m.string(0) == METADATA_NAME]
    buf = model.tables(4)[meta.scalar(1, "I")].bytes_(0)
    assert s.ModelMetadata.ModelMetadataBufferHasIdentifier(buf, 0)
    mm = s.ModelMetadata.GetRootAsModelMetadata(buf, 0)
    assert mm.Name() == b"tiny test model" and mm.MinParserVersion() == b"1.0.0"
    assert mm.SubgraphMetadataLength() == 1
    sg = mm.SubgraphMetadata(0)
    inp, out = sg.InputTensorMetadata(0), sg.OutputTensorMetadata(0)
    assert inp.Content().ContentPropertiesType() == s.ContentProperties.ImageProperties
    props = s.ImageProperties()
    props.Init(inp.Content().ContentProperties().Bytes, inp.Content().ContentProperties().Pos)
    assert props.ColorSpace() == s.ColorSpaceType.GRAYSCALE and props.DefaultSize().Width() == 48
    assert inp.Stats().Max(0) == 255.0 and inp.Stats().Min(0) == 0.0
    f = out.AssociatedFiles(0)
    assert f.Name() == b"labels.txt" and f.Type() == s.AssociatedFileType.TENSOR_AXIS_LABELS
    assert mm.AssociatedFiles(0).Name() == b"fer_contract.json"


def test_gate_passes_and_fails(tiny_keras_model, tiny_folder, tmp_path):
    from convert.quantize import GateError, QuantizationConfig, quantize

    root, _ = tiny_folder
    out = tmp_path / "ok.tflite"
    rep = quantize(tiny_keras_model, out, QuantizationConfig.for_int8(samples=20), data=root, max_drop=100.0,
                   log=lambda m: None)
    assert out.is_file() and rep["gate"]["n"] == 21
    assert rep["calibration"]["split"] == "Training" and len(rep["calibration"]["sha256"]) == 64
    assert inspect_file(out).extra["accuracy_gate"] == "passed"
    bad = tmp_path / "bad.tflite"
    with pytest.raises(GateError, match="accuracy gate failed"):
        quantize(tiny_keras_model, bad, QuantizationConfig.for_int8(samples=20), data=root, max_drop=-100.0,
                 log=lambda m: None)
    assert not bad.exists() and not list(tmp_path.glob(".bad*"))


def test_skipping_the_gate_is_recorded(tiny_keras_model, tmp_path, tiny_folder):
    from convert.quantize import QuantizationConfig, quantize

    out = tmp_path / "f16.tflite"
    quantize(tiny_keras_model, out, QuantizationConfig.for_float16(), data=tiny_folder[0], skip_gate=True,
             log=lambda m: None)
    assert "skipped" in inspect_file(out).extra["accuracy_gate"]


def test_cli_errors_have_exit_codes(tmp_path, tiny_keras_model, capsys):
    from convert.quantize import main

    assert main([str(tmp_path / "missing.keras"), "--out", str(tmp_path / "x.tflite")]) == 2
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"garbage")
    assert main([str(junk), "--out", str(tmp_path / "x.tflite")]) == 2
    assert main([str(tiny_keras_model), "--out", str(tmp_path / "x.bin")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 3 and "Traceback" not in err
    assert not (tmp_path / "x.tflite").exists()


def test_wrong_number_of_outputs_is_refused(tmp_path):
    import tf_keras as keras

    from convert.quantize import main

    inp = keras.Input((48, 48, 1))
    m = keras.Model(inp, keras.layers.Dense(5)(keras.layers.Flatten()(inp)))
    p = tmp_path / "five.keras"
    m.save(p)
    assert main([str(p), "--out", str(tmp_path / "x.tflite"), "--skip-gate"]) == 2


def test_the_sign_test_of_the_small_split_gate():
    import numpy as np

    from convert.quantize import sign_test

    f = np.array([True] * 4 + [False] * 96)
    assert sign_test(f, ~f & False) == 1 / 16                     # 4 faces float alone gets right, none int8
    assert sign_test(f, f) == 1.0                                 # no face they disagree on
    both = np.array([True, False] * 10)
    assert sign_test(both, ~both) == sign_test(~both, both) > 0.5   # 10 each way: no evidence
    assert sign_test(np.array([True] * 8), np.array([False] * 8)) < 0.05
