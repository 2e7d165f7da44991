"""Re-framing: crop a photo around its object's mask and scale it so that the object fills as much of the frame as
objects do in the model's training data (config.foreground_fraction, a range), padded with the model's background."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pix2nerf import images as image_utils

MASK_LEVEL = 128  # alpha (0-255) at and above which a pixel belongs to the object
# Offset of the object's box centre from the frame's (a fraction of the side) left as is: the synthetic cars' 98th
# percentile (perspective puts boxes off-centre; benchmarks/foreground.py).
CENTRE_TOLERANCE = 0.08


def object_box(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) pixel box (right and bottom exclusive) of alpha (H, W) uint8 >= MASK_LEVEL, or
    None when no pixel is that opaque."""
    rows, columns = np.nonzero(alpha >= MASK_LEVEL)
    if rows.size == 0:
        return None
    return int(columns.min()), int(rows.min()), int(columns.max()) + 1, int(rows.max()) + 1


def box_fraction(alpha: np.ndarray) -> float:
    """The object's extent: the longer side of its box over the frame's longer side (0 when there is no object)."""
    box = object_box(alpha)
    if box is None:
        return 0.0
    return max(box[2] - box[0], box[3] - box[1]) / max(alpha.shape)


def reframe(rgba: Image.Image, extent: tuple[float, float], background: tuple[int, int, int]) -> Image.Image:
    """RGBA image -> RGB image framed like the training data: the object's extent (`box_fraction`) clamped into
    extent = (low, high) and its box centred in a square frame, composited over `background` and padded with it.
    An image already framed so (square, extent in range, box centred within CENTRE_TOLERANCE of the side), or
    without an opaque pixel, is only composited. A frame smaller than images.MIN_SIDE (a few-pixel object) is enlarged
    to it (bicubic), so that the framed image passes the same checks as an upload."""
    low, high = extent
    if not 0 < low <= high <= 1:
        raise ValueError(f"extent must be (low, high) with 0 < low <= high <= 1, got {tuple(extent)}")
    flat = image_utils.to_rgb(rgba, background)
    alpha = np.asarray(rgba.getchannel("A")) if rgba.mode == "RGBA" else np.full(rgba.size[::-1], 255, np.uint8)
    box = object_box(alpha)
    if box is None:
        return flat
    longest = max(box[2] - box[0], box[3] - box[1])
    fraction = longest / max(flat.size)
    target = min(max(fraction, low), high)
    centre_x, centre_y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    offset = max(abs(centre_x - flat.width / 2), abs(centre_y - flat.height / 2)) / max(flat.size)
    if flat.width == flat.height and target == fraction and offset <= CENTRE_TOLERANCE:
        return flat
    size = max(1, round(longest / target))
    left, top = round(centre_x - size / 2), round(centre_y - size / 2)
    frame = Image.new("RGB", (size, size), background)
    visible = (max(left, 0), max(top, 0), min(left + size, flat.width), min(top + size, flat.height))
    frame.paste(flat.crop(visible), (visible[0] - left, visible[1] - top))
    if size < image_utils.MIN_SIDE:
        frame = frame.resize((image_utils.MIN_SIDE,) * 2, Image.Resampling.BICUBIC)
    return frame
