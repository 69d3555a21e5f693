"""Write the committed seed corpus under tests/fuzz/seeds/{image,model}/.

    python tests/fuzz/make_seeds.py      (needs the training extra for the tiny model)

Images: one small file per format and mode the runtime must handle. Models:
the hostile corpus plus a tiny valid int8 classifier with fer-edge metadata
(an average pool and a dense layer: a few kB, so that fuzzing runs fast).
"""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
SEEDS = HERE / "seeds"


def images() -> dict[str, bytes]:
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    out = {}

    def save(name, im, fmt, **kw):
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        out[name] = buf.getvalue()

    save("rgb.png", rgb, "PNG")
    save("gray.png", rgb.convert("L"), "PNG")
    save("rgba.png", rgb.convert("RGBA"), "PNG")
    save("palette.png", rgb.convert("P"), "PNG")
    save("gray16.png", Image.fromarray((rng.integers(0, 65535, (8, 8))).astype(np.uint16)), "PNG")
    save("rgb.jpg", rgb, "JPEG", quality=80)
    exif = Image.Exif()
    exif[0x0112] = 6                      # orientation: rotate
    save("exif_rotated.jpg", rgb, "JPEG", exif=exif.tobytes())
    save("cmyk.jpg", rgb.convert("CMYK"), "JPEG")
    frames = [rgb.convert("P"), rgb.transpose(Image.FLIP_LEFT_RIGHT).convert("P")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    out["animated.gif"] = buf.getvalue()
    save("rgb.bmp", rgb, "BMP")
    save("rgb.tiff", rgb, "TIFF")
    save("rgb.webp", rgb, "WEBP")
    return out


def tiny_model() -> bytes:
    import train  # noqa: F401  (tf-keras)
    import tf_keras as keras

    from convert.metadata import ModelInfo, populate
    from convert.quantize import QuantizationConfig, io_contract, to_tflite
    from runtime.contract import LABELS, ModelContract

    keras.utils.set_random_seed(0)
    x = keras.Input((48, 48, 1))
    y = keras.layers.AveragePooling2D(8)(keras.layers.Rescaling(1 / 255.0)(x))
    y = keras.layers.Dense(len(LABELS), activation="softmax")(keras.layers.Flatten()(y))
    faces = np.random.default_rng(0).integers(0, 256, (16, 48, 48), dtype=np.uint8)
    raw = to_tflite(keras.Model(x, y), QuantizationConfig.for_int8(), faces)
    return populate(raw, ModelContract(input=io_contract(raw)), ModelInfo(name="fuzz seed model"))


def main() -> int:
    sys.path.insert(0, str(ROOT))
    for target in ("image", "model"):
        shutil.rmtree(SEEDS / target, ignore_errors=True)
        (SEEDS / target).mkdir(parents=True)
    for name, data in images().items():
        (SEEDS / "image" / name).write_bytes(data)
    tiny = tiny_model()
    (SEEDS / "model" / "tiny_int8.tflite").write_bytes(tiny)
    for f in sorted((ROOT / "tests" / "hostile" / "corpus").glob("*.tflite")):
        if f.stat().st_size:
            shutil.copy(f, SEEDS / "model" / f.name)
    for target in ("image", "model"):
        print(target, len(list((SEEDS / target).iterdir())), "seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
