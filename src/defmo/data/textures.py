"""Object and background appearance: procedural textures, texture images, background crops with augmentation.

All functions take a ``numpy.random.Generator`` so a sample is a pure function of its seed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from defmo.data.assets import Background, read_background_frame, read_rgb

TEXTURE_SIDE = 128


def procedural_texture(rng: np.random.Generator, side: int = TEXTURE_SIDE) -> np.ndarray:
    """A random procedural texture, RGB uint8 ``(side, side, 3)``: checks, stripes, smooth noise or a gradient."""
    kind = int(rng.integers(4))
    yy, xx = np.mgrid[0:side, 0:side] / side
    if kind == 0:
        k = int(rng.integers(2, 12))
        pattern = ((np.floor(xx * k) + np.floor(yy * k)) % 2).astype(np.float64)
    elif kind == 1:
        angle, freq = rng.uniform(0, np.pi), rng.uniform(2, 16)
        pattern = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy))
    elif kind == 2:
        coarse = rng.uniform(0, 1, size=(int(rng.integers(3, 16)),) * 2)
        pattern = cv2.resize(coarse, (side, side), interpolation=cv2.INTER_CUBIC)
    else:
        pattern = np.clip(xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1) + 0.5, 0, 1)
    c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    img = c0 + np.clip(pattern, 0, 1)[..., None] * (c1 - c0)
    return (img * 255).round().astype(np.uint8)


def image_texture(path: Path, rng: np.random.Generator, side: int = TEXTURE_SIDE) -> np.ndarray:
    """A random square crop of a texture image, resized to ``side`` and colour-jittered; RGB uint8."""
    img = random_crop(read_rgb(path), rng, side, min_frac=0.3)
    return colour_jitter(img, rng)


def pick_texture(textures: list[Path], rng: np.random.Generator) -> np.ndarray:
    """Half of the objects get a procedural texture, half a (held-out per split) texture image."""
    if not textures or rng.uniform() < 0.5:
        return procedural_texture(rng)
    return image_texture(textures[int(rng.integers(len(textures)))], rng)


def random_crop(img: np.ndarray, rng: np.random.Generator, width: int, height: int | None = None,
                min_frac: float = 0.4) -> np.ndarray:
    """A random crop with the output's aspect ratio (its short edge between ``min_frac`` and 1 of what fits),
    resized to ``(height, width)``."""
    height = width if height is None else height
    h, w = img.shape[:2]
    fit = min(h, w * height / width)  # the largest crop height with this aspect that fits
    ch = max(4, min(h, int(round(fit * rng.uniform(min_frac, 1.0)))))
    cw = max(4, min(w, int(round(ch * width / height))))
    y0, x0 = int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))
    patch = img[y0:y0 + ch, x0:x0 + cw]
    interp = cv2.INTER_AREA if ch >= height else cv2.INTER_LINEAR
    return cv2.resize(patch, (width, height), interpolation=interp)


def colour_jitter(img: np.ndarray, rng: np.random.Generator, strength: float = 0.2) -> np.ndarray:
    """Per-channel gain, brightness offset and gamma; uint8 in, uint8 out."""
    x = img.astype(np.float64) / 255.0
    x = x * rng.uniform(1 - strength, 1 + strength, 3) + rng.uniform(-strength, strength) / 2
    x = np.clip(x, 0, 1) ** rng.uniform(1 - strength, 1 + strength)
    return (x * 255).round().astype(np.uint8)


def background_image(bg: Background, rng: np.random.Generator, width: int, height: int | None = None) -> np.ndarray:
    """A background for one sample: random frame, crop, flips and colour jitter; RGB uint8 ``(height, width, 3)``."""
    img = random_crop(read_background_frame(bg, rng), rng, width, height)
    if rng.uniform() < 0.5:
        img = img[:, ::-1]
    if rng.uniform() < 0.5:
        img = img[::-1]
    return colour_jitter(np.ascontiguousarray(img), rng)
