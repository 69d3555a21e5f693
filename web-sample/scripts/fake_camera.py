"""Write a fake-camera clip for headless Chromium (``--use-file-for-fake-video-capture``):
the sample photo on a 640x480 frame, as uncompressed YUV4MPEG2 (4:2:0, JPEG
range), and the same frame as a PNG so ``fer-infer`` can be run on it.

    python web-sample/scripts/fake_camera.py OUT_DIR [--frames 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "runtime" / "samples" / "astronaut.png"
W, H = 640, 480


def frame() -> Image.Image:
    photo = Image.open(SAMPLE).convert("RGB").resize((H, H), Image.BILINEAR)
    canvas = Image.new("RGB", (W, H), (96, 96, 96))
    canvas.paste(photo, ((W - H) // 2, 0))
    return canvas


def y4m(image: Image.Image, frames: int) -> bytes:
    ycc = np.asarray(image.convert("YCbCr"))
    y = ycc[..., 0]
    # 4:2:0: each chroma sample is the mean of a 2x2 block
    cb, cr = (ycc[..., k].reshape(H // 2, 2, W // 2, 2).mean((1, 3)).round().astype(np.uint8) for k in (1, 2))
    body = b"FRAME\n" + y.tobytes() + cb.tobytes() + cr.tobytes()
    return f"YUV4MPEG2 W{W} H{H} F15:1 Ip A1:1 C420jpeg\n".encode() + body * frames


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--frames", type=int, default=10)
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    im = frame()
    im.save(a.out / "camera.png")
    (a.out / "camera.y4m").write_bytes(y4m(im, a.frames))
    print(a.out / "camera.y4m")
    return 0


if __name__ == "__main__":
    sys.exit(main())
