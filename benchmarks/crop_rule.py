"""Measure the face-crop rule of FER-2013: how a BlazeFace box relates to the crop.

FER-2013 faces were cropped by a detector and rescaled to 48x48. Running
BlazeFace on those crops (placed in a larger canvas so the whole face is
detectable) shows where a BlazeFace box sits inside a FER crop: the crop side
divided by the box's longer side gives ``CropRule.scale``, and the vertical
offset of the crop centre from the box centre, in box heights, gives
``CropRule.shift_y``. The medians go into :mod:`runtime.contract`.

    python -m benchmarks.crop_rule --data PATH [--n 2000] [--json out.json]
    python -m benchmarks.crop_rule --detector full --n 1000 --json benchmarks/results/crop_rule_full.json
    python -m benchmarks.crop_rule --faces ../shared/data/posed --json benchmarks/results/crop_rule_posed.json

With ``--faces`` it measures a folder of face crops (``<label>/<image>``, such as
``posed/``'s lab crops) instead of FER-2013's Training faces: where the runtime's
crop of a whole photo of such a face would sit against that folder's framing.

With ``--detector full`` it also measures, on the crops where both models
find one face, how the full-range box relates to the short-range box of the
same face: the short box's side over the full box's longer side, and the
vertical shift of the short box's centre in full-box heights; the medians are
``runtime.detect.FULL_RANGE_BOX``.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from PIL import Image

from runtime.detect import load_detector
from runtime.errors import DataError, FerError
from train import fer2013, user_folder


def _canvas(img: np.ndarray, p: int, upscale: int) -> np.ndarray:
    """A crop padded by ``p`` pixels of its edge and upscaled, as RGB: the whole face detectable."""
    canvas = np.pad(img, p, mode="edge")
    big = np.asarray(Image.fromarray(canvas).resize((canvas.shape[1] * upscale,) * 2, Image.BILINEAR))
    return np.repeat(big[..., None], 3, axis=2)


def _spread(values: list[float], n_images: int) -> dict:
    """p10, median and p90 of ``values``; none (no crop had its face found) is an error, not a NaN."""
    if not values:
        raise DataError(f"BlazeFace found exactly one face in none of the {n_images} crops")
    return {k: round(float(v), 3) for k, v in zip(("p10", "median", "p90"), np.percentile(values, [10, 50, 90]))}


def measure(images: np.ndarray, detector, pad: float = 1.0, upscale: int = 4) -> dict:
    """Per-image (scale, shift_x, shift_y) of crops where exactly one face is found."""
    s = images.shape[1]
    p = int(round(pad * s))
    scales, sx, sy = [], [], []
    for img in images:
        dets = detector.detect(_canvas(img, p, upscale))
        if len(dets) != 1:
            continue
        x, y, w, h = (v / upscale for v in dets[0].box)
        x, y = x - p, y - p
        scales.append(s / max(w, h))
        sx.append((s / 2 - (x + w / 2)) / w)
        sy.append((s / 2 - (y + h / 2)) / h)
    n = len(images)
    return {"images": int(n), "one_face_found": len(scales), "scale": _spread(scales, n),
            "shift_x": _spread(sx, n), "shift_y": _spread(sy, n)}


def box_mapping(images: np.ndarray, short, full, pad: float = 1.0, upscale: int = 4) -> dict:
    """Medians (and p10/p90) of the full-range box -> short-range box mapping over ``images``."""
    p = int(round(pad * images.shape[1]))
    scale, shift = [], []
    for img in images:
        rgb = _canvas(img, p, upscale)
        a, b = short.detect(rgb), full.detect(rgb)
        if len(a) != 1 or len(b) != 1:
            continue
        (xs, ys, ws, hs), (xf, yf, wf, hf) = a[0].box, b[0].box
        scale.append(max(ws, hs) / max(wf, hf))
        shift.append(((ys + hs / 2) - (yf + hf / 2)) / hf)
    return {"both_found_one_face": len(scale), "short_side_over_full_side": _spread(scale, len(images)),
            "short_centre_shift_y": _spread(shift, len(images))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.crop_rule", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="FER-2013 path (default: $FER_DATA)")
    ap.add_argument("--n", type=int, default=2000, help="Training images measured (seeded sample)")
    ap.add_argument("--json", help="also write the result here")
    ap.add_argument("--detector", choices=["short", "full"], default="short", help="BlazeFace model measured")
    ap.add_argument("--faces", help="a folder of face crops, <label>/<image>, measured instead of FER-2013")
    a = ap.parse_args(argv)
    try:
        d = (user_folder.load(a.faces, None, detect=False, log=lambda m: None) if a.faces
             else fer2013.load(fer2013.find_data(a.data) or "").split("Training"))
        det = load_detector(a.detector)
    except (DataError, FerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    idx = np.random.default_rng(0).permutation(len(d.images))[: a.n]
    if a.detector == "full":
        det.map_to_short = False               # the model's own boxes
    try:
        r = measure(d.images[idx], det)
        if a.detector == "full":
            r["detector"] = "BlazeFace full-range (its own boxes)"
            r["full_to_short_box"] = box_mapping(d.images[idx], load_detector("short"), det)
    except (DataError, FerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    r["command"] = "python -m benchmarks.crop_rule " + " ".join(argv if argv is not None else sys.argv[1:])
    print(json.dumps(r, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
