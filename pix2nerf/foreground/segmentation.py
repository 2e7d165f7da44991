"""Background removal with the project's small segmentation network (`network`, weights shipped with the package,
trained on composites of the synthetic objects: `training`), refined at the photo's resolution.

Data flow: RGB photo -> copy with the long side at the net's input size (sides rounded to the net's multiple) ->
SegmentationNet -> mask logits upsampled (bilinear) to the photo's size -> sigmoid -> guided filter (the photo's grey
levels guide the mask's edges) -> the connected component with the most mask, and its soft edge -> RGBA (alpha =
mask).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pix2nerf import images as image_utils
from pix2nerf.foreground.network import SegmentationNet, load_network
from pix2nerf.images import ImageSource

GUIDED_RADIUS = 2  # px at the net's input resolution: the guided filter's window radius (scaled to the photo)
GUIDED_EPSILON = 1e-2  # the guided filter's regulariser (grey levels in [0, 1], squared)
COMPONENT_LEVEL = 0.5  # mask value from which pixels join a connected component


@functools.lru_cache(maxsize=1)
def shipped_network() -> SegmentationNet:
    """The package's segmentation network (loaded once)."""
    return load_network()


def input_size(width: int, height: int, net: SegmentationNet) -> tuple[int, int]:
    """(width, height) px of the copy the net reads: the long side at config.input_size, the aspect kept up to
    rounding each side to a multiple of config.multiple."""
    multiple, scale = net.config.multiple, net.config.input_size / max(width, height)
    return tuple(max(multiple, round(side * scale / multiple) * multiple) for side in (width, height))


def network_probability(image: Image.Image, net: SegmentationNet) -> np.ndarray:
    """The net's foreground probability (H, W) float32 in [0, 1] of an RGB PIL image (W x H), upsampled to it."""
    small = image.resize(input_size(*image.size, net), Image.Resampling.BILINEAR)
    rgb = torch.from_numpy(np.asarray(small, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    with torch.inference_mode():
        logits = F.interpolate(net(rgb), size=image.size[::-1], mode="bilinear", align_corners=False)
    return torch.sigmoid(logits)[0, 0].numpy()


def guided_filter(guide: np.ndarray, mask: np.ndarray, radius: int, epsilon: float) -> np.ndarray:
    """He et al.'s guided filter: `mask` (H, W) smoothed within (2 radius + 1)^2 windows as a local linear function
    of `guide` (H, W), so that its edges follow the guide's; float32, clipped to [0, 1]."""
    from scipy import ndimage  # imported on use: `import pix2nerf` stays light

    def mean(x: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(x, 2 * radius + 1, mode="nearest")

    guide_mean, mask_mean = mean(guide), mean(mask)
    slope = (mean(guide * mask) - guide_mean * mask_mean) / (mean(guide * guide) - guide_mean**2 + epsilon)
    offset = mask_mean - slope * guide_mean
    return np.clip(mean(slope) * guide + mean(offset), 0, 1).astype(np.float32)


def main_component(mask: np.ndarray, margin: int) -> np.ndarray:
    """`mask` (H, W) in [0, 1] kept only within `margin` px of its heaviest connected component (8-neighbourhood,
    pixels >= COMPONENT_LEVEL; the one with the largest sum of mask), 0 elsewhere; unchanged without a component."""
    from scipy import ndimage  # imported on use: `import pix2nerf` stays light

    labels, count = ndimage.label(mask >= COMPONENT_LEVEL, structure=np.ones((3, 3)))
    if count == 0:
        return mask
    mass = np.bincount(labels.reshape(-1), weights=mask.reshape(-1), minlength=count + 1)[1:]
    keep = ndimage.binary_dilation(labels == int(mass.argmax()) + 1, np.ones((3, 3)), iterations=margin)
    return np.where(keep, mask, 0).astype(np.float32)


def foreground_probability(image: Image.Image, net: SegmentationNet | None = None) -> np.ndarray:
    """Soft foreground mask (H, W) float32 in [0, 1] of an RGB PIL image (W x H): `network_probability` (by `net`,
    default the shipped one), guided by the photo's grey levels, its main component kept (with a margin of the guided
    filter's radius for its soft edge)."""
    net = net or shipped_network()
    probability = network_probability(image, net)
    radius = max(1, round(GUIDED_RADIUS * max(image.size) / net.config.input_size))
    grey = np.asarray(image.convert("L"), dtype=np.float32) / 255
    return main_component(guided_filter(grey, probability, radius, GUIDED_EPSILON), radius)


def remove_background(image: ImageSource) -> Image.Image:
    """A PIL photo (any mode) -> RGBA PIL image of the same size whose alpha is the object's mask (soft edge).
    Other sources (paths, bytes, arrays) are read by `images.load_image`, whose ValueErrors they may raise."""
    if not isinstance(image, Image.Image):
        image = image_utils.load_image(image)
    rgb_image = image.convert("RGB")
    mask = foreground_probability(rgb_image)
    rgba = rgb_image.copy()
    rgba.putalpha(Image.fromarray((mask * 255).round().astype(np.uint8), "L"))
    return rgba
