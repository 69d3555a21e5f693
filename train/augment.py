"""Seeded, stateless augmentation of 48x48 face crops inside tf.data.

Every random draw is a function of (seed, epoch, batch index), so a resumed
run sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import math


def augment_batch(images, seed, cfg, offset=0, total=None):
    """Augment a float32 batch ``[B, H, W, 1]`` of pixels 0..255.

    Args:
        images: the batch, or rows ``offset .. offset + B`` of a batch of
            ``total`` rows (a worker's share of a global batch): the random
            draws are made for all ``total`` rows and sliced, so every row is
            augmented exactly as it would be in the whole batch.
        seed: int32 tensor ``[2]`` for the stateless generators.
        cfg: a :class:`train.config.TrainConfig` (flip, rotate_deg, shift,
            zoom, erase_prob, light, sharpen_prob).
    """
    import tensorflow as tf  # deferred: TensorFlow is heavy and only needed here

    n = tf.shape(images)[0]
    b = n if total is None else total
    h, w = images.shape[1], images.shape[2]
    seeds = tf.random.experimental.stateless_split(seed, 8)
    x = images

    def draw(shape, s, lo=0.0, hi=1.0):
        return tf.random.stateless_uniform(shape, s, lo, hi)[offset:offset + n]

    if cfg.flip:
        flip = draw([b, 1, 1, 1], seeds[0]) < 0.5
        x = tf.where(flip, tf.reverse(x, axis=[2]), x)
    if cfg.rotate_deg or cfg.shift or cfg.zoom:
        ang = draw([b], seeds[1], -1.0, 1.0) * (cfg.rotate_deg * math.pi / 180.0)
        scale = 1.0 + draw([b], seeds[2], -1.0, 1.0) * cfg.zoom
        tx = draw([b], seeds[3], -1.0, 1.0) * cfg.shift * w
        ty = draw([b], seeds[4], -1.0, 1.0) * cfg.shift * h
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        a0, a1 = tf.cos(ang) / scale, -tf.sin(ang) / scale
        b0, b1 = tf.sin(ang) / scale, tf.cos(ang) / scale
        a2 = cx - a0 * cx - a1 * cy + tx
        b2 = cy - b0 * cx - b1 * cy + ty
        zeros = tf.zeros_like(a0)
        transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        x = tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=transforms, output_shape=tf.constant([h, w]), fill_value=0.0,
            interpolation="BILINEAR", fill_mode="REFLECT")
    if cfg.erase_prob > 0:
        # Random erasing: a rectangle of 2-20% of the area filled with noise.
        area = draw([b], seeds[5], 0.02, 0.2) * h * w
        ratio = tf.exp(draw([b], seeds[6], math.log(0.3), math.log(3.3)))
        eh = tf.minimum(tf.sqrt(area * ratio), h - 1.0)
        ew = tf.minimum(tf.sqrt(area / ratio), w - 1.0)
        u = draw([b, 3], seeds[7])
        y0 = u[:, 0] * (h - eh)
        x0 = u[:, 1] * (w - ew)
        on = u[:, 2] < cfg.erase_prob
        yy = tf.range(h, dtype=tf.float32)[None, :, None]
        xx = tf.range(w, dtype=tf.float32)[None, None, :]
        inside = ((yy >= y0[:, None, None]) & (yy < (y0 + eh)[:, None, None])
                  & (xx >= x0[:, None, None]) & (xx < (x0 + ew)[:, None, None]) & on[:, None, None])
        noise = draw(tf.concat([[b], tf.shape(x)[1:]], 0), tf.stack([seed[0], seed[1] + 7919]), 0.0, 255.0)
        x = tf.where(inside[..., None], noise, x)
    if getattr(cfg, "light", 0.0) > 0 or getattr(cfg, "sharpen_prob", 0.0) > 0:
        # draws of their own (a second split), so the draws above stay what they were without them
        x = _real_photo(tf, tf.clip_by_value(x, 0.0, 255.0), tf.stack([seed[0], seed[1] + 104729]), cfg, draw, b)
    return tf.clip_by_value(x, 0.0, 255.0)


def _real_photo(tf, x, seed, cfg, draw, b):
    """What real photos differ in from FER-2013's crops: light (gamma, contrast, brightness, each within
    ``cfg.light``) and sharpness (with probability ``cfg.sharpen_prob`` an unsharp mask of strength
    0.5..1.5: a face from a sharp photo downsampled to the crop)."""
    s = tf.random.experimental.stateless_split(seed, 5)
    if cfg.light > 0:
        gamma = tf.exp(draw([b, 1, 1, 1], s[0], -1.0, 1.0) * cfg.light)
        x = 255.0 * tf.pow(x / 255.0 + 1e-6, gamma)
        contrast = 1.0 + draw([b, 1, 1, 1], s[1], -1.0, 1.0) * cfg.light
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        x = (x - mean) * contrast + mean + draw([b, 1, 1, 1], s[2], -1.0, 1.0) * cfg.light * 64.0
    if cfg.sharpen_prob > 0:
        k = tf.constant([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0
        blur = tf.nn.depthwise_conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT"),
                                      k[:, :, None, None], [1, 1, 1, 1], "VALID")
        amount = draw([b, 1, 1, 1], s[3], 0.5, 1.5)
        on = draw([b, 1, 1, 1], s[4]) < cfg.sharpen_prob
        x = tf.where(on, x + amount * (x - blur), x)
    return x
