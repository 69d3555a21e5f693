"""Golden vectors for the Kotlin core, exported by the Python runtime from the
committed release model.

    python android-sample/core/goldens.py            # rewrite the goldens
    python android-sample/core/goldens.py --check    # exit 1 if they are stale

Each case: an RGB image and a face box -> the crop bytes (crop rule + area
filter), the model's raw uint8 output on that crop, its scale and zero point,
the probabilities (dequantized, then the model's temperature applied) and
the label. The Kotlin tests and the web core's Node tests (web-sample/) must reproduce the crop bytes exactly and the
probabilities and label from the raw output.

The ``baseline`` cases are the rule for reading a face against the same
person's relaxed face (``runtime.baseline``, constants in
``runtime.contract.BaselineRule``): probability vectors read against a
reference, frame by frame along one track (automatic), and as one sitting of
photos (automatic), each with the labels and rises the Python runtime gives.

The ``letterbox`` cases are for the web sample, which runs BlazeFace itself:
a generated RGB image (:func:`pattern`, which the JavaScript test computes
the same way) and the bytes of the scaled image the Python runtime puts in
BlazeFace's input (``runtime.detect.BlazeFace.input_tensor``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
GOLDENS = Path(__file__).parent / "src" / "test" / "resources" / "goldens.json"
MODEL = REPO / "models" / "fer_mobilenetv2_int8.tflite"
# (name, image side, face box x, y, w, h in that image's pixels)
CASES = (("astronaut-160", 160, 56.0, 22.5, 30.0, 33.75),
         ("astronaut-96-edge", 96, -4.0, 2.0, 40.0, 44.0),
         ("astronaut-512-big", 512, 170.0, 60.0, 95.0, 110.0))


# (width, height) of the generated letterbox images: 2x reduction, 3x with
# partial blocks, upscaling, a tall image, one already 128 wide
LETTERBOX = ((512, 512), (1000, 333), (100, 60), (237, 611), (128, 77))


def pattern(width: int, height: int) -> np.ndarray:
    """A deterministic RGB test image with edges and gradients ([H, W, 3] uint8)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    c = np.arange(3, dtype=np.int64)[None, None, :]
    v = (x[..., None] * x[..., None] * 3 + y[..., None] * 7 + c * 85 + ((x[..., None] * 13) ^ (y[..., None] * 29)))
    return (v & 255).astype(np.uint8)


def letterbox_cases() -> list[dict]:
    from runtime.detect import BlazeFace

    out = []
    for w, h in LETTERBOX:
        x, _ = BlazeFace.input_tensor(pattern(w, h))
        side = max(w, h)
        tw, th = max(1, w * 128 // side), max(1, h * 128 // side)
        small = np.rint((x[0, :th, :tw] + 1.0) * 127.5).astype(np.uint8)
        out.append({"width": w, "height": h, "scaled_width": tw, "scaled_height": th,
                    "scaled_b64": base64.b64encode(small.tobytes()).decode()})
    return out


def _probs(rng, top: int, strength: float, k: int = 7) -> np.ndarray:
    """A probability vector leaning to ``top`` by ``strength`` (log-odds), float32 as a model gives it."""
    z = rng.normal(0.0, 0.7, k)
    z[top] += strength
    e = np.exp(z - z.max())
    return (e / e.sum()).astype(np.float32)


def baseline_cases(labels) -> dict:
    """Reference, track and photo-sitting cases of the baseline rule, read by the Python runtime."""
    from dataclasses import asdict

    from runtime.baseline import Baseline, Reader, TrackBaseline, auto_photos, reading
    from runtime.contract import BaselineRule

    rng = np.random.default_rng(45)
    n = labels.index("neutral")
    rule = BaselineRule()
    refs = [_probs(rng, 0, 1.5) for _ in range(2)]           # a stern resting face
    faces = [_probs(rng, c, s) for c, s in ((n, 2.0), (0, 2.0), (0, 4.0), (3, 3.0), (4, 1.0), (n, 0.5))]
    base = Baseline()
    for r in refs:
        base.add(r)
    ref_reader = Reader(labels, rule, "reference", base)
    out = {"rule": asdict(rule), "reference": {"references": [r.tolist() for r in refs], "faces": []}}
    for f in faces:
        label, info = reading(ref_reader, f)
        out["reference"]["faces"].append({"probabilities": f.tolist(), "label": label, "rise": list(info["rise"].values())})
    tracks = []
    for name, r in (("default", rule), ("window 4, 2 frames", BaselineRule(min_frames=2, window=4))):
        seq = ([_probs(rng, n, 1.5) for _ in range(8)] + [_probs(rng, 0, 2.5) for _ in range(6)]
               + [_probs(rng, n, 1.0) for _ in range(6)] + [_probs(rng, 3, 3.0) for _ in range(4)])
        tb = TrackBaseline(Reader(labels, r, "auto"))
        frames = []
        for p in seq:
            label, info = tb.read(p)
            frames.append({"probabilities": p.tolist(), "label": label, "faces": info["faces"],
                           "rise": None if info["rise"] is None else list(info["rise"].values())})
        tracks.append({"name": name, "rule": asdict(r), "frames": frames})
    out["tracks"] = tracks
    photos = [_probs(rng, c, s) for c, s in ((n, 2.0), (n, 1.0), (4, 0.5), (3, 3.0), (0, 0.8))]
    read = auto_photos(Reader(labels, rule, "auto"), photos)
    out["photos"] = [{"probabilities": p.tolist(), "label": label, "faces": info["faces"],
                      "rise": None if info["rise"] is None else list(info["rise"].values())}
                     for p, (label, info) in zip(photos, read)]
    return out


def build() -> dict:
    from PIL import Image

    from runtime.classifier import Classifier
    from runtime.contract import calibrate
    from runtime.preprocess import crop_box, cut, gray_from_rgb

    clf = Classifier(MODEL, threads=1, xnnpack=True)
    scale, zp = clf.output_quantization
    photo = Image.open(REPO / "runtime" / "samples" / "astronaut.png").convert("RGB")
    cases = []
    for name, side, x, y, w, h in CASES:
        rgb = np.asarray(photo.resize((side, side), Image.BILINEAR) if side != photo.size[0] else photo, np.uint8)
        crop = cut(gray_from_rgb(rgb), crop_box((x, y, w, h), clf.contract.crop, side, side), clf.size)
        raw = clf.run_raw(crop).reshape(-1)
        probs = calibrate(clf.probabilities_from_output(raw), clf.temperature).astype(np.float32)
        cases.append({"name": name, "width": side, "height": side, "rgb_b64": base64.b64encode(rgb.tobytes()).decode(),
                      "box": [x, y, w, h], "crop_b64": base64.b64encode(crop.tobytes()).decode(),
                      "raw_output": [int(v) for v in raw], "output_scale": scale, "output_zero_point": zp,
                      "probabilities": [float(v) for v in probs], "label": clf.labels[int(np.argmax(probs))]})
    return {"model": "models/fer_mobilenetv2_int8.tflite",
            "model_sha256": hashlib.sha256(MODEL.read_bytes()).hexdigest(),
            "raw_output_from": f"{clf.backend.name} with XNNPACK, 1 thread (other kernel sets can differ: "
                               "README, Same answers on every interpreter)",
            "labels": list(clf.labels), "input_size": clf.size, "temperature": clf.temperature, "cases": cases,
            "letterbox": letterbox_cases(), "baseline": baseline_cases(list(clf.labels))}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    new = json.dumps(build(), indent=1) + "\n"
    if "--check" in argv:
        old = GOLDENS.read_text() if GOLDENS.is_file() else ""
        if old != new:
            stale = GOLDENS.with_suffix(".new.json")
            stale.write_text(new)
            print(f"goldens are stale: regenerate with python {Path(__file__).relative_to(REPO)} "
                  f"(what the runtime gives now is in {stale})", file=sys.stderr)
            return 1
        return 0
    GOLDENS.parent.mkdir(parents=True, exist_ok=True)
    GOLDENS.write_text(new)
    print(f"wrote {GOLDENS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
