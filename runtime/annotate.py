"""Boxes and labels drawn on images and video frames, readable on any photo:
each label on a filled band at its box, the text scaled to the image, one
colour per expression; an uncertain face says so, an unclassified one says why."""

from __future__ import annotations

from PIL import ImageDraw, ImageFont

#: band colour per expression (RGB); text is white or black, whichever reads better
COLOURS = {"angry": (214, 39, 40), "disgust": (140, 86, 75), "fear": (148, 103, 189), "happy": (255, 187, 0),
           "sad": (31, 119, 180), "surprise": (23, 190, 207), "neutral": (127, 127, 127)}
UNKNOWN = (90, 90, 90)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)        # Pillow >= 10.1: scalable default font
    except TypeError:  # pragma: no cover - older Pillow: the fixed bitmap font
        return ImageFont.load_default()


def _text_colour(rgb) -> tuple[int, int, int]:
    r, g, b = rgb
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


def caption(face) -> str:
    if face.label is None:
        return "too small" if face.reason and "small" in face.reason else "not classified"
    text = f"{face.label} {face.probabilities[face.label]:.2f}"
    return text + " (uncertain)" if face.uncertain else text


def draw_faces(im, faces):
    """Draw ``faces`` (runtime.recognizer.Face) on the PIL RGB image ``im`` in place; return it."""
    d = ImageDraw.Draw(im)
    side = max(im.size)
    lw = max(2, round(side / 400))
    font = _font(max(12, round(side / 45)))
    for f in faces:
        x, y, w, h = f.box
        colour = COLOURS.get(f.label, UNKNOWN) if f.label else UNKNOWN
        d.rectangle([x, y, x + w, y + h], outline=colour, width=lw)
        text = caption(f)
        l, t, r, b = d.textbbox((0, 0), text, font=font)
        pad = max(2, lw)
        bw, bh = r - l + 2 * pad, b - t + 2 * pad
        by = y - bh if y - bh >= 0 else y + h          # above the box, or below it at the top edge
        bx = min(max(0, x), max(0, im.size[0] - bw))
        d.rectangle([bx, by, bx + bw, by + bh], fill=colour)
        d.text((bx + pad - l, by + pad - t), text, fill=_text_colour(colour), font=font)
    return im
