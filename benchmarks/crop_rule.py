"""Measure the face-crop rule of FER-2013: how a BlazeFace box relates to the crop.

FER-2013 faces were cropped by a detector and rescaled to 48x48. Running
BlazeFace on those crops (placed in a larger canvas so the whole face is
detectable) shows where a BlazeFace box sits inside a FER crop: the crop side
divided by the box's longer side gives ``CropRule.scale``, and the vertical
offset of the crop centre from the box centre, in box heights, gives
``CropRule.shift_y``. The medians go into :mod:`runtime.contract`.

    python -m benchmarks.crop_rule --data PATH [--n 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def measure(images: np.ndarray, detector, pad: float = 1.0, upscale: int = 4) -> dict:
    """Per-image (scale, shift_x, shift_y) of crops where exactly one face is found."""
    from PIL import Image

    s = images.shape[1]
    p = int(round(pad * s))
    scales, sx, sy, found = [], [], [], 0
    for img in images:
        canvas = np.pad(img, p, mode="edge")
        big = np.asarray(Image.fromarray(canvas).resize((canvas.shape[1] * upscale,) * 2, Image.BILINEAR))
        dets = detector.detect(np.repeat(big[..., None], 3, axis=2))
        if len(dets) != 1:
            continue
        found += 1
        x, y, w, h = (v / upscale for v in dets[0].box)
        x, y = x - p, y - p
        scales.append(s / max(w, h))
        sx.append((s / 2 - (x + w / 2)) / w)
        sy.append((s / 2 - (y + h / 2)) / h)
    q = lambda a: {k: round(float(v), 3) for k, v in zip(("p10", "median", "p90"), np.percentile(a, [10, 50, 90]))}  # noqa: E731
    return {"images": int(len(images)), "one_face_found": found, "scale": q(scales), "shift_x": q(sx),
            "shift_y": q(sy)}


def main(argv=None) -> int:
    from runtime.detect import load_detector
    from runtime.errors import FerError
    from train import dataset
    from train.errors import DataError

    ap = argparse.ArgumentParser(prog="python -m benchmarks.crop_rule", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="FER-2013 path (default: $FER_DATA)")
    ap.add_argument("--n", type=int, default=2000, help="Training images measured (seeded sample)")
    ap.add_argument("--json", help="also write the result here")
    a = ap.parse_args(argv)
    try:
        d = dataset.load(dataset.find_data(a.data) or "").split("Training")
        det = load_detector("blazeface")
    except (DataError, FerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    idx = np.random.default_rng(0).permutation(len(d))[: a.n]
    r = measure(d.images[idx], det)
    r["command"] = "python -m benchmarks.crop_rule " + " ".join(argv if argv is not None else sys.argv[1:])
    print(json.dumps(r, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
