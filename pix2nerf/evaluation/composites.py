"""Held-out synthetic objects over real photographs: inputs with a known mask for background removal and framing.

Data flow: category + object ids -> `render_objects` (straight RGBA at the training framing) -> scaled and shifted
onto a square crop of a background photo -> `Composite` (the photo, the object's true mask, the clean input).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from pix2nerf.data.synthetic import render_objects
from pix2nerf.data.synthetic.splits import derived_seed

SPAN = (0.6, 1.0)  # the object's render (its training framing) spans this fraction of the photo's side
SHIFT = 0.1  # the render's centre lies up to this fraction of the side from the photo's centre
COMPOSITE_SEED = 7  # the held-out stream of objects (the shipped model trained on seed 0's train split)
# scikit-image photographs the benchmarks' composites are made on; the segmentation network never trains on them
BENCHMARK_BACKGROUNDS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "brick",
    "grass",
    "gravel",
    "camera",
    "cell",
    "text",
)


@dataclass
class Composite:
    """photo: RGB (size x size); mask: (size, size) bool, the object's true pixels (alpha > 0.5); clean: the
    object over white at the training framing (RGB, render size); object_id, yaw and pitch (degrees) of the view."""

    photo: Image.Image
    mask: np.ndarray
    clean: Image.Image
    object_id: int
    yaw: float
    pitch: float


def benchmark_backgrounds() -> list[np.ndarray]:
    """BENCHMARK_BACKGROUNDS as RGB (H, W, 3) uint8 arrays (gray photos repeated over the channels)."""
    import skimage.data

    photos = [getattr(skimage.data, name)() for name in BENCHMARK_BACKGROUNDS]
    return [np.stack([p] * 3, -1) if p.ndim == 2 else p[..., :3] for p in photos]


def held_out_object_ids(count: int, category: str = "cars") -> list[int]:
    """Ids of `count` test objects of COMPOSITE_SEED (not in any training split of seed 0)."""
    del category  # ids are category-independent seeds
    return [derived_seed(COMPOSITE_SEED, "test", index, 0) for index in range(count)]


def make_composites(
    backgrounds: list[np.ndarray],
    count: int,
    size: int = 256,
    render_size: int = 128,
    seed: int = 0,
    category: str = "cars",
) -> list[Composite]:
    """`count` composites, framed as a user photographs an object: held-out object i at a prior pose, rendered at
    `render_size` px, scaled so that its render spans SPAN of the photo and shifted by up to SHIFT of the photo from
    the centre, on a random square crop (half to all of the short side) of backgrounds[i % len] (H, W, 3 uint8),
    resized to size x size. Gray photos (H, W) are taken as RGB."""
    from pix2nerf.data.synthetic.categories import get_category
    from pix2nerf.data.synthetic.splits import prior_poses

    rng = np.random.default_rng(seed)
    config = get_category(category).config()
    ids = held_out_object_ids(count, category)
    yaw, pitch = prior_poses(config, count, torch.Generator().manual_seed(seed))
    renders = render_objects(category, ids, yaw, pitch, render_size)
    pixels = (renders * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    composites = []
    for index, rgba in enumerate(pixels):
        obj = Image.fromarray(rgba, "RGBA")
        clean = Image.alpha_composite(Image.new("RGBA", obj.size, (255, 255, 255, 255)), obj).convert("RGB")
        background = backgrounds[index % len(backgrounds)]
        background = np.stack([background] * 3, -1) if background.ndim == 2 else background[..., :3]
        side = min(background.shape[:2])
        crop = int(rng.integers(side // 2, side + 1))
        top, left = (int(rng.integers(0, n - crop + 1)) for n in background.shape[:2])
        photo = Image.fromarray(np.ascontiguousarray(background[top : top + crop, left : left + crop]))
        photo = photo.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        scaled = round(size * rng.uniform(*SPAN))
        obj = obj.resize((scaled, scaled), Image.Resampling.BILINEAR)
        x, y = (round((size - scaled) / 2 + size * rng.uniform(-SHIFT, SHIFT)) for _ in range(2))
        photo.paste(obj, (x, y), obj)
        paste = Image.new("L", (size, size))
        paste.paste(obj.getchannel("A"), (x, y))
        mask = np.asarray(paste) > 127
        composites.append(Composite(photo, mask, clean, ids[index], float(yaw[index]), float(pitch[index])))
    return composites


def mask_iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two bool masks (H, W)."""
    union = np.logical_or(predicted, truth).sum()
    return float(np.logical_and(predicted, truth).sum() / union) if union else 1.0
