"""What `preprocess="auto"` does to a user's image before the encoder: re-frame an RGBA image by its alpha; remove
the background of a photo whose border is not one colour, then re-frame; leave a photo on a plain background (the
training data's look) as it is. `"none"` leaves every image as it is."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pix2nerf import images as image_utils
from pix2nerf.foreground.framing import reframe
from pix2nerf.foreground.segmentation import remove_background

PREPROCESS_MODES = ("auto", "none")
BORDER_WIDTH = 0.03  # fraction of the short side read as the border
BORDER_TOLERANCE = 12  # 0-255: border pixels within this of the border's median colour count as uniform
UNIFORM_SHARE = 0.97  # share of border pixels that must be uniform


def has_transparency(image: Image.Image) -> bool:
    """Whether the image has an alpha channel with at least one pixel below fully opaque."""
    return image.mode == "RGBA" and np.asarray(image.getchannel("A")).min() < 255


def uniform_border(image: Image.Image) -> bool:
    """Whether the image's border band is one colour (a plain backdrop, as the training renders have)."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    band = max(1, round(BORDER_WIDTH * min(pixels.shape[:2])))
    border = np.concatenate(
        [
            pixels[:band].reshape(-1, 3),
            pixels[-band:].reshape(-1, 3),
            pixels[:, :band].reshape(-1, 3),
            pixels[:, -band:].reshape(-1, 3),
        ]
    )
    close = (np.abs(border - np.median(border, 0)) <= BORDER_TOLERANCE).all(1)
    return close.mean() >= UNIFORM_SHARE


def prepare_image(
    image: Image.Image, mode: str, extent: tuple[float, float], background: tuple[int, int, int]
) -> Image.Image:
    """A loaded image (RGB or RGBA) -> what the encoder's crop and resize take, following `mode` ("auto" or "none";
    see the module docstring). extent: config.foreground_fraction (low, high); background: the model's RGB
    background."""
    if mode not in PREPROCESS_MODES:
        raise ValueError(f"preprocess must be one of {PREPROCESS_MODES}, got {mode!r}")
    if mode == "none":
        return image
    if has_transparency(image):
        return reframe(image, extent, background)
    if uniform_border(image):
        return image
    return reframe(remove_background(image), extent, background)


def prepare_images(sources: list, mode: str, extent: tuple[float, float], background: tuple[int, int, int]) -> list:
    """`prepare_image` on each image source (loaded with `images.load_image`); "none" passes sources through
    untouched. Errors name the failing index when there are several."""
    if mode not in PREPROCESS_MODES:
        raise ValueError(f"preprocess must be one of {PREPROCESS_MODES}, got {mode!r}")
    if mode == "none":
        return sources
    prepared = []
    for index, source in enumerate(sources):
        try:
            prepared.append(prepare_image(image_utils.load_image(source), mode, extent, background))
        except ValueError as exc:
            if len(sources) == 1:
                raise
            raise ValueError(f"image {index}: {exc}") from exc
    return prepared
