"""Decode images safely and cut face crops the way FER-2013 was cut.

Every image a user gives goes through :func:`load_image`: a pixel limit
against decompression bombs, EXIF orientation applied, 16-bit / CMYK /
palette / alpha / animated images normalized to 8-bit RGB, and every decoder
failure turned into a one-line :class:`~runtime.errors.ImageError`.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .contract import CropRule
from .errors import ImageError

#: Default pixel limit (width x height): 64 MP covers any phone photo.
DEFAULT_MAX_PIXELS = int(os.environ.get("FER_MAX_PIXELS", 64_000_000))


def load_image(source, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Open ``source`` (path, bytes, numpy array or PIL image) as 8-bit RGB.

    Raises:
        ImageError: not an image, corrupt, truncated, or over ``max_pixels``.
    """
    return open_image(source, max_pixels)[0]


def open_image(source, max_pixels: int = DEFAULT_MAX_PIXELS, min_long_side: int | None = None):
    """:func:`load_image`, and for JPEG files optionally decoded smaller.

    With ``min_long_side``, a JPEG at least twice that size is decoded at
    1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling: much faster than a full
    decode and a resize, and a proper low-pass filter), the smallest whose
    longer side is still at least ``min_long_side``.

    Returns:
        (PIL RGB image, (sx, sy)): the factors from its pixels to the pixels
        of the full-size image (1.0, 1.0 when decoded at full size).
    """
    scale = (1.0, 1.0)
    if isinstance(source, np.ndarray):
        return _from_array(source), scale
    if isinstance(source, Image.Image):
        im = source
    else:
        name = "image" if isinstance(source, (bytes, bytearray)) else os.fspath(source)
        if not isinstance(source, (bytes, bytearray)):
            p = Path(name)
            if p.is_dir():
                raise ImageError(f"{name}: is a directory, not an image")
            if not p.exists():
                raise ImageError(f"{name}: no such file")
            if p.stat().st_size == 0:
                raise ImageError(f"{name}: empty file")
        old = Image.MAX_IMAGE_PIXELS
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                Image.MAX_IMAGE_PIXELS = max_pixels
                im = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else name)
                w, h = im.size
                if w * h > max_pixels:
                    raise ImageError(f"{name}: {w}x{h} pixels exceeds the limit of {max_pixels} "
                                     "(raise it with --max-pixels)")
                im.seek(0)            # animated: the first frame
                if min_long_side and im.format == "JPEG" and max(w, h) >= 2 * min_long_side:
                    k = min_long_side / max(w, h)
                    im.draft("RGB", (int(np.ceil(w * k)), int(np.ceil(h * k))))
                    scale = (w / im.size[0], h / im.size[1])
                im.load()
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{name}: too many pixels (limit {max_pixels}); a decompression bomb?") from None
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not an image, or a format Pillow cannot read") from None
        except PermissionError:
            raise ImageError(f"{name}: permission denied") from None
        except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError,
                RuntimeError, MemoryError, struct.error) as e:
            msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
            raise ImageError(f"{name}: corrupt or truncated image ({msg})") from None
        finally:
            Image.MAX_IMAGE_PIXELS = old
    try:
        # Transposing copies the image: only when the EXIF orientation asks for it.
        orientation = im.getexif().get(_ORIENTATION, 1)
        if orientation not in (1, None):
            im = ImageOps.exif_transpose(im) or im
            if orientation in (5, 6, 7, 8):       # the quarter turns swap the axes
                scale = scale[::-1]
    except Exception:  # a broken EXIF block must not lose the image
        pass
    return _to_rgb(im), scale


#: the EXIF orientation tag
_ORIENTATION = 0x0112


def _to_rgb(im):
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "I;16N"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif mode == "F":
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
        im = Image.fromarray(np.nan_to_num(a).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))   # alpha over white
        im = Image.alpha_composite(bg, im)
    return im if im.mode == "RGB" else im.convert("RGB")


def _from_array(a: np.ndarray):
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageError(f"array of shape {a.shape} is not an image")
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and a.max() <= 1.0:
            a = a * 255.0
        a = np.clip(a, 0, 255).astype(np.uint8)
    return _to_rgb(Image.fromarray(a))


def to_gray(im) -> np.ndarray:
    """uint8 gray of a PIL image (see :func:`gray_from_rgb`)."""
    return gray_from_rgb(np.asarray(im.convert("RGB"), dtype=np.uint8))


def gray_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma in 16-bit fixed point, as Pillow's "L" conversion computes it:
    ``(R*19595 + G*38470 + B*7471 + 32768) >> 16``. Integer arithmetic, so every
    client (the Android sample included) gets the same bytes."""
    c = rgb.astype(np.uint32)
    return ((c[..., 0] * 19595 + c[..., 1] * 38470 + c[..., 2] * 7471 + 32768) >> 16).astype(np.uint8)


def crop_box(box, crop: CropRule, width: int, height: int):
    """The square crop around a face ``box`` = (x, y, w, h), by the crop rule.

    Returns (left, top, side, side) in float pixels; may extend past the
    image (the outside is filled by edge replication, as :func:`cut` does).
    """
    x, y, w, h = (float(v) for v in box)
    cx, cy = x + w / 2.0, y + h / 2.0 + crop.shift_y * h
    side = crop.scale * (max(w, h) if crop.square else (w + h) / 2.0)
    return cx - side / 2.0, cy - side / 2.0, side, side


def cell_edges(start: float, length: float, size: int):
    """Integer source ranges [a_k, b_k) of the ``size`` output cells along one axis.

    Cell k covers source coordinates ``start + length*k/size`` to
    ``start + length*(k+1)/size``; each cell takes at least one pixel.
    Written with plain float operations in this order so that other clients
    (the Kotlin core) compute bit-identical edges.
    """
    edges = [int(np.floor(start + length * k / size)) for k in range(size + 1)]
    a = np.asarray(edges[:-1], np.int64)
    b = np.maximum(np.asarray(edges[1:], np.int64), a + 1)
    return a, b


def cut(image: np.ndarray, region, size: int) -> np.ndarray:
    """Cut ``region`` (left, top, w, h) from a uint8 image into a ``size`` x ``size`` gray crop.

    ``image`` is gray ``[H, W]`` or RGB ``[H, W, 3]`` (converted by
    :func:`gray_from_rgb`, only inside the region), or a PIL image, of which
    only the pixels the region covers are read out. Each output pixel is the
    rounded mean of the source pixels in its cell (an area filter, which is
    what shrinking a face to 48x48 needs); parts of the region outside the
    image replicate the border. Integer arithmetic only after the cell edges:
    ``(sum + n // 2) // n``. Work is proportional to the region, not the image.
    """
    left, top, w, h = (float(v) for v in region)
    x0, x1 = cell_edges(left, w, size)
    y0, y1 = cell_edges(top, h, size)
    ox, oy = int(x0.min()), int(y0.min())
    # The source rows/columns the cells cover; outside the image, the border repeats.
    ex, ey = int(x1.max()), int(y1.max())
    g = _source_block(image, ox, oy, ex, ey)
    if g.ndim == 3:
        g = gray_from_rgb(g)
    ii = np.zeros((g.shape[0] + 1, g.shape[1] + 1), np.int64)
    ii[1:, 1:] = g.astype(np.int64).cumsum(0).cumsum(1)
    X0, X1, Y0, Y1 = x0 - ox, x1 - ox, y0 - oy, y1 - oy
    s = ii[Y1][:, X1] - ii[Y0][:, X1] - ii[Y1][:, X0] + ii[Y0][:, X0]
    n = (y1 - y0)[:, None] * (x1 - x0)[None, :]
    return ((s + n // 2) // n).astype(np.uint8)


def _source_block(image, ox: int, oy: int, ex: int, ey: int) -> np.ndarray:
    """Pixels [oy:ey, ox:ex] of an array or PIL image, the border repeated outside it.
    Of a PIL image only the part inside those bounds is read out."""
    if isinstance(image, np.ndarray):
        H, W = image.shape[:2]
    else:
        W, H = image.size
    ax, bx = min(max(ox, 0), W - 1), max(min(ex, W), 1)
    ay, by = min(max(oy, 0), H - 1), max(min(ey, H), 1)
    bx, by = max(bx, ax + 1), max(by, ay + 1)
    inner = image[ay:by, ax:bx] if isinstance(image, np.ndarray) else np.asarray(image.crop((ax, ay, bx, by)))
    if (ax, ay, bx, by) == (ox, oy, ex, ey):
        return inner
    cols = np.clip(np.arange(ox, ex), 0, W - 1) - ax
    rows = np.clip(np.arange(oy, ey), 0, H - 1) - ay
    return inner[rows[:, None], cols[None, :]]


def to_gray_crop(crop, size: int) -> np.ndarray:
    """Any crop (array or PIL image, gray or colour, any size) -> uint8 [size, size]."""
    if isinstance(crop, np.ndarray) and crop.dtype == np.uint8 and crop.shape == (size, size):
        return crop
    im = load_image(crop) if not isinstance(crop, Image.Image) else _to_rgb(crop)
    g = to_gray(im)
    if g.shape != (size, size):
        g = cut(g, (0, 0, g.shape[1], g.shape[0]), size)
    return g
