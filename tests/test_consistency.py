"""The same answers on every interpreter (docs/consistency.md).

The promise: the XNNPACK family (x86-64, aarch64, WebAssembly) gives identical
labels; tested here against the built web sample's LiteRT.js and, where the
arm64 userland is built, aarch64 XNNPACK.

The floors: 300 PrivateTest crops go through LiteRT with XNNPACK and through
LiteRT's builtin kernels (the kernels of TensorFlow's interpreter and
tflite-runtime). The floors are the bundled models' measured level (benchmark
report, all 3,589 crops) less a margin for the 300-crop sample; they guard
against a converter or graph change that makes the kernel sets part further.
"""

import numpy as np
import pytest

from benchmarks import consistency
from runtime.classifier import BUNDLED

#: lowest label agreement allowed on the 300 crops, per bundled model
FLOOR = {"release": 0.95, "micro": 0.93}


@pytest.mark.data
@pytest.mark.parametrize("tier", sorted(FLOOR))
def test_xnnpack_and_builtin_kernels_agree(fer_root, tier):
    from train import fer2013

    pv = fer2013.load(fer_root).split("PrivateTest")
    idx = np.random.default_rng(0).permutation(len(pv))[:300]
    outs = {name: consistency.raw_outputs(BUNDLED[tier], pv.images[idx], "litert", xnn)
            for name, xnn in (("xnnpack", True), ("builtin", False))}
    m = consistency.matrix(outs, pv.labels[idx])
    agree = m["pairs"][0]["agreement"]
    assert agree >= FLOOR[tier], f"{tier}: {100 * agree:.2f}% same labels"
    acc = m["accuracy"]
    assert abs(acc["xnnpack"] - acc["builtin"]) < 0.03


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize("tier", sorted(FLOOR))
def test_xnnpack_family_gives_identical_labels(fer_root, tier):
    """LiteRT.js (WebAssembly XNNPACK, the web sample's interpreter, in headless Chromium) gives
    the labels of LiteRT's x86-64 XNNPACK on every one of 300 PrivateTest crops.
    Needs the built web sample (make web-build, which make test runs first)."""
    from train import fer2013

    pv = fer2013.load(fer_root).split("PrivateTest")
    crops = pv.images[np.random.default_rng(1).permutation(len(pv))[:300]]
    web = consistency.browser_outputs(BUNDLED[tier], crops)
    if web is None:
        pytest.skip("web sample not built (make web-build)")
    x86 = consistency.raw_outputs(BUNDLED[tier], crops, "litert", True)
    assert np.array_equal(web.argmax(1), x86.argmax(1))
    assert np.abs(web - x86).max() <= 1


def test_interpreters_that_share_kernels_agree_exactly(tiny_int8):
    from tests.conftest import synthetic_faces

    faces = synthetic_faces(20)
    a = consistency.raw_outputs(tiny_int8, faces, "litert", xnnpack=False)
    b = consistency.raw_outputs(tiny_int8, faces, "tensorflow", xnnpack=False)
    assert np.array_equal(a, b)
    m = consistency.matrix({"a": a, "b": b}, None)
    assert m["pairs"][0] == {"a": "a", "b": "b", "n": 20, "agreement": 1.0, "max_diff": 0, "mean_diff": 0.0,
                             "identical": 1.0}


def test_a_kernel_set_on_fewer_crops_is_compared_on_those():
    """The emulated arm64 sets see a sample of the crops: their pairs compare
    those rows, and the report shows a pair's accuracies only when they are over
    the pair's crops."""
    from benchmarks.report import consistency_lines

    full = np.zeros((4, 3), np.int32)
    full[:, 0] = [9, 0, 9, 0]
    full[:, 1] = [0, 9, 0, 9]
    part = full[[1, 3]].copy()                 # rows 1 and 3 of the crops
    part[1] = [0, 0, 9]
    m = consistency.matrix({"x86": full, "arm64": part}, np.array([0, 1, 0, 1]), {"arm64": np.array([1, 3])})
    assert m["pairs"][0]["n"] == 2 and m["pairs"][0]["agreement"] == 0.5 and m["pairs"][0]["identical"] == 0.5
    assert m["rows"] == {"x86": 4, "arm64": 2} and m["accuracy"] == {"x86": 1.0, "arm64": 0.5} and m["n"] == 4
    rows = consistency_lines({"int8": m})
    assert "| int8 | x86 | arm64 | 2 | 50.00% | 9 | 3.00 | 50.00% |  | 50.00% |" in rows


@pytest.mark.data
def test_xnnpack_on_arm64_gives_the_x86_labels(fer_root):
    """Where the emulated arm64 userland is built (make arm64-setup), LiteRT's
    aarch64 XNNPACK kernels give the labels of the x86 ones, within one output
    step (the benchmark's matrix has the full comparison)."""
    from train import fer2013

    crops = fer2013.load(fer_root).split("PrivateTest").images[:60]
    arm = consistency.arm64_outputs(BUNDLED["release"], crops, xnnpack=True)
    if arm is None:
        pytest.skip("arm64 userland not built (make arm64-setup)")
    x86 = consistency.raw_outputs(BUNDLED["release"], crops, "litert", True)
    assert np.array_equal(arm.argmax(1), x86.argmax(1))
    assert np.abs(arm - x86).max() <= 1
