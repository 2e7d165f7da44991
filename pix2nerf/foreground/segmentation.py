"""Background removal without learned weights: GrabCut-like colour models seeded from the photo's border
(background) and a centre box (probable foreground), refined with a smoothness prior.

Data flow: RGB photo -> working copy of WORK_SIZE px (long side) -> ColorModel of the border and of the centre
box -> ITERATIONS x (log-likelihood ratio -> mean-field smoothing -> the component over the centre, holes filled ->
refit both models on the new labels) -> soft mask upsampled to the photo -> RGBA (alpha = mask).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from pix2nerf.foreground.gmm import ColorModel

WORK_SIZE = 128  # px, long side of the working copy
BORDER = 0.04  # border band (fraction of the side) that is background
CENTRE_BOX = 0.5  # side of the centre box (fraction of each side) that seeds the foreground
COMPONENTS = 5  # Gaussians per colour model
ITERATIONS = 4  # refits of the colour models
SMOOTHNESS = 2.0  # mean-field weight of the neighbours' labels against the colour evidence (nats)
MEAN_FIELD_STEPS = 5
CENTRE_PRIOR = 2.0  # log-odds of foreground at the centre, falling linearly to -CENTRE_PRIOR at the border
NEIGHBOURS = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.float32) / 8


def _seeds(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Border band (definite background) and centre box (probable foreground), (H, W) bool each."""
    band = max(1, round(BORDER * min(height, width)))
    border = np.ones((height, width), bool)
    border[band:-band, band:-band] = False
    box = np.zeros((height, width), bool)
    top, left = round(height * (1 - CENTRE_BOX) / 2), round(width * (1 - CENTRE_BOX) / 2)
    box[top : height - top, left : width - left] = True
    return border, box


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _mean_field(evidence: np.ndarray, fixed_background: np.ndarray) -> np.ndarray:
    """Foreground probability (H, W) from per-pixel log-likelihood ratios (H, W) and a 3 x 3 smoothness prior."""
    from scipy import ndimage  # imported on use: `import pix2nerf` stays light

    q = _sigmoid(evidence)
    for _ in range(MEAN_FIELD_STEPS):
        q = _sigmoid(evidence + 2 * SMOOTHNESS * ndimage.correlate(2 * q - 1, NEIGHBOURS, mode="nearest"))
        q[fixed_background] = 0
    return q


def _clean(mask: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The foreground component (8-neighbourhood) with the most pixels in the centre box (or the largest, when none
    reaches it), with its holes filled."""
    from scipy import ndimage  # imported on use: `import pix2nerf` stays light

    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count == 0:
        return mask
    in_box = np.bincount(labels[box], minlength=count + 1)[1:]
    if in_box.max() == 0:
        in_box = np.bincount(labels.reshape(-1), minlength=count + 1)[1:]
    return ndimage.binary_fill_holes(labels == int(in_box.argmax()) + 1)


def foreground_probability(rgb: np.ndarray) -> np.ndarray:
    """Soft foreground mask (H, W) float32 in [0, 1] of a photo (H, W, 3) float32 in [0, 1], at its own size."""
    from scipy import ndimage  # imported on use: `import pix2nerf` stays light

    height, width = rgb.shape[:2]
    colors = rgb.reshape(-1, 3)
    border, box = _seeds(height, width)
    y, x = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    prior = CENTRE_PRIOR * (1 - 2 * np.maximum(np.abs(x), np.abs(y)))
    foreground = box
    for _ in range(ITERATIONS):
        background_model = ColorModel.fit(colors[~foreground.reshape(-1)], COMPONENTS)
        foreground_model = ColorModel.fit(colors[foreground.reshape(-1)], COMPONENTS)
        ratio = foreground_model.log_likelihood(colors) - background_model.log_likelihood(colors)
        q = _mean_field(np.clip(ratio, -20, 20).reshape(height, width) + prior, border)
        updated = _clean(q > 0.5, box)
        if not updated.any() or np.array_equal(updated, foreground):
            break
        foreground = updated
    return ndimage.uniform_filter(foreground.astype(np.float32), 3, mode="nearest")


def remove_background(image: Image.Image) -> Image.Image:
    """A PIL photo (any mode) -> RGBA PIL image of the same size whose alpha is the object's mask (soft edge)."""
    rgb_image = image.convert("RGB")
    width, height = rgb_image.size
    scale = WORK_SIZE / max(width, height)
    small = rgb_image.resize((max(2, round(width * scale)), max(2, round(height * scale))), Image.Resampling.BILINEAR)
    mask = foreground_probability(np.asarray(small, dtype=np.float32) / 255)
    alpha = Image.fromarray((mask * 255).round().astype(np.uint8), "L").resize(
        (width, height), Image.Resampling.BILINEAR
    )
    rgba = rgb_image.copy()
    rgba.putalpha(alpha)
    return rgba
