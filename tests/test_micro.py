"""The micro tier under TensorFlow Lite for Microcontrollers, and its C export.

TFLM's Python interpreter (PyPI ``tflite-micro``, reference kernels) runs the
bundled micro model on 300 PrivateTest crops (generated faces when FER-2013
is absent): the same labels as LiteRT on at least 99% of them, a tensor arena
of at most 128 KiB by TFLM's recording allocator, a file of at most 256 KiB
with TFLM operators only. ``python -m convert.firmware`` writes C that the
system compiler builds into an object file (no board needed).
"""

import shutil
import subprocess

import numpy as np
import pytest

from benchmarks import consistency
from convert import firmware
from runtime.classifier import BUNDLED

MICRO = BUNDLED["micro"]
KIB = 1024

tflm = pytest.importorskip("tflite_micro", reason="tflite-micro is a dev dependency (make setup installs it)")


def _crops(fer_root_or_none) -> tuple[np.ndarray, np.ndarray | None]:
    if fer_root_or_none is None:
        from tests.conftest import synthetic_faces

        return synthetic_faces(300), None
    from train import fer2013

    pv = fer2013.load(fer_root_or_none).split("PrivateTest")
    idx = np.random.default_rng(0).permutation(len(pv))[:300]
    return pv.images[idx], pv.labels[idx]


@pytest.fixture(scope="module")
def data_root():
    from tests.conftest import real_data_path

    return real_data_path()


def test_micro_model_fits_a_microcontroller():
    data = MICRO.read_bytes()
    assert len(data) <= 256 * KIB, f"{len(data)} bytes"
    ops = firmware.operators(data)                       # raises on an operator TFLM lacks
    assert set(ops) <= set(firmware.TFLM_OPS)
    arena = firmware.measure(MICRO)
    assert arena["total"] <= 128 * KIB, f"arena {arena['total']} bytes"
    assert arena["reserve"] >= arena["total"]


def test_micro_model_gives_litert_labels_under_tflm(data_root):
    crops, labels = _crops(data_root)
    tflm_raw = consistency.tflm_outputs(MICRO, crops)
    ref = consistency.raw_outputs(MICRO, crops, "litert", xnnpack=False, reference=True)
    xnn = consistency.raw_outputs(MICRO, crops, "litert", xnnpack=True)
    m = consistency.matrix({"tflm": tflm_raw, "litert-reference": ref, "litert-xnnpack": xnn}, labels)
    agree = {(p["a"], p["b"]): p["agreement"] for p in m["pairs"]}
    # TFLM's kernels are TFLite's reference kernels: the same labels as LiteRT's reference kernels
    assert agree[("tflm", "litert-reference")] >= 0.99, m["pairs"]
    # and as LiteRT with XNNPACK (what fer-infer runs) at the micro tier's measured level (docs/consistency.md)
    assert agree[("tflm", "litert-xnnpack")] >= 0.93, m["pairs"]
    if labels is not None:
        assert abs(m["accuracy"]["tflm"] - m["accuracy"]["litert-xnnpack"]) < 0.03


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_c_export_compiles_into_an_object_file(tmp_path):
    r = firmware.export(MICRO, tmp_path / "fw")
    assert r["arena"]["total"] <= 128 * KIB and r["bytes"] == MICRO.stat().st_size
    header = (tmp_path / "fw" / "fer_model.h").read_text()
    assert f"#define FER_MODEL_ARENA_MEASURED {r['arena']['total']}" in header
    assert "#define FER_MODEL_INPUT_SIZE 48" in header and "X(AddConv2D)" in header
    obj = tmp_path / "fer_model.o"
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-c", str(tmp_path / "fw" / "fer_model.c"),
                    "-o", str(obj)], check=True)
    syms = {line.split()[-1]: line.split() for line in
            subprocess.run(["nm", "-S", str(obj)], capture_output=True, text=True, check=True).stdout.splitlines()}
    addr, size = int(syms["fer_model_data"][0], 16), int(syms["fer_model_data"][1], 16)
    assert addr % 16 == 0 and size == MICRO.stat().st_size
    if shutil.which("c++"):
        # a firmware's resolver set-up, with a stand-in resolver that counts the calls
        tu = tmp_path / "resolver.cc"
        methods = " ".join(f"void {m}() {{ n++; }}" for m in sorted(set(firmware.TFLM_OPS.values())))
        tu.write_text('#include "fer_model.h"\nstruct R { int n = 0; ' + methods + ' };\n'
                      "int added() { R resolver;\n#define ADD(m) resolver.m();\nFER_MODEL_OPS(ADD)\n"
                      "return resolver.n == FER_MODEL_OP_COUNT ? 0 : 1; }\n"
                      "int main() { return added(); }\n")
        exe = tmp_path / "resolver"
        subprocess.run(["c++", "-std=c++17", "-Wall", "-Werror", "-I", str(tmp_path / "fw"), str(tu),
                        str(tmp_path / "fw" / "fer_model.c"), "-x", "none", "-o", str(exe)], check=True)
        assert subprocess.run([str(exe)]).returncode == 0


def test_firmware_cli_errors(tmp_path, tiny_int8, capsys, monkeypatch):
    assert firmware.main([str(tmp_path / "none.tflite"), "--out", str(tmp_path)]) == firmware.EXIT_BAD
    assert "no such model file" in capsys.readouterr().err
    assert firmware.main([str(MICRO), "--out", str(tmp_path), "--name", "9bad"]) == firmware.EXIT_BAD
    assert firmware.main([str(MICRO), "--out", str(tmp_path), "--arena", "-5"]) == firmware.EXIT_BAD
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\0" * 64)
    assert firmware.main([str(junk), "--out", str(tmp_path / "o")]) == firmware.EXIT_BAD
    assert not (tmp_path / "o").exists()
    monkeypatch.setattr(firmware, "_tflm", lambda: (_ for _ in ()).throw(
        firmware.FirmwareError("TFLM's Python interpreter is not installed", firmware.EXIT_NO_TFLM)))
    assert firmware.main([str(MICRO), "--out", str(tmp_path / "o")]) == firmware.EXIT_NO_TFLM
    assert "pip install" not in capsys.readouterr().out
    # an arena measured elsewhere needs no TFLM here
    assert firmware.main([str(MICRO), "--out", str(tmp_path / "o2"), "--arena", "50000"]) == 0
    assert "#define FER_MODEL_ARENA_SIZE 55296" in (tmp_path / "o2" / "fer_model.h").read_text()


def test_firmware_export_takes_a_three_label_model_labels_from_the_file(tmp_path):
    """A model fine-tuned on a user's labels exports with its own three labels (tests/fixtures), and the C
    compiles; TFLM gives the label the Python runtime gives on the fixture's crops."""
    import base64
    import json

    from tests.conftest import REPO

    g = json.loads((REPO / "tests" / "fixtures" / "three_labels.json").read_text())
    model = REPO / g["model"]
    firmware.export(model, tmp_path / "fw", name="mine")
    header = (tmp_path / "fw" / "mine.h").read_text()
    source = (tmp_path / "fw" / "mine.c").read_text()
    assert "#define MINE_NUM_LABELS 3" in header
    assert 'mine_labels[MINE_NUM_LABELS] = {"calm", "gasp", "grin"}' in source
    assert "angry" not in source and "neutral" not in source
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-c", str(tmp_path / "fw" / "mine.c"),
                    "-o", str(tmp_path / "mine.o")], check=True)
    m = firmware.TflmModel(model)
    for case in g["cases"]:
        crop = np.frombuffer(base64.b64decode(case["crop_b64"]), np.uint8).reshape(48, 48)
        raw = m.run_raw(crop).reshape(-1)
        assert g["labels"][int(np.argmax(raw))] == case["label"]
