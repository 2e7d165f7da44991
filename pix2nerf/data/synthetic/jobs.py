"""Rendering objects by id: `render_objects` gives images, `render_rows` turns a job (a batch of dataset rows:
objects by id, one pose each) into RGBA PNG bytes.

Kept apart from the dataset assembly so that worker processes import only torch, PIL and the renderer.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from pix2nerf.data.synthetic.categories import get_category, make_objects
from pix2nerf.data.synthetic.renderer import render_views


@dataclass(frozen=True)
class RenderJob:
    """One batch of rows to render: objects by id, one pose each (degrees)."""

    category: str
    object_ids: list[int]
    yaw: list[float]
    pitch: list[float]
    resolution: int
    supersample: int
    device: str


def render_rows(job: RenderJob) -> list[bytes]:
    """RGBA PNG bytes of each row of `job`."""
    images = render_objects(
        job.category, job.object_ids, job.yaw, job.pitch, job.resolution, job.supersample, job.device
    )
    pixels = (images * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [encode_png(p) for p in pixels]


def render_objects(
    category: str,
    object_ids: list[int],
    yaw: list[float] | torch.Tensor,
    pitch: list[float] | torch.Tensor,
    resolution: int = 128,
    supersample: int = 2,
    device: str = "cpu",
) -> torch.Tensor:
    """Straight RGBA images (V, 4, H, W) in [0, 1] of objects object_ids[i] (V ids, repeats allowed) of a category
    seen from (yaw[i], pitch[i]) in degrees, with the category's cameras (fov, ray range)."""
    chosen = get_category(category)
    config = chosen.config()
    unique = list(dict.fromkeys(object_ids))
    index = torch.tensor([unique.index(i) for i in object_ids], device=device)
    shapes = make_objects(chosen, unique, device).select(index)
    return render_views(
        shapes,
        torch.as_tensor(yaw, dtype=torch.float32),
        torch.as_tensor(pitch, dtype=torch.float32),
        resolution,
        config.fov,
        config.ray_start,
        config.ray_end,
        supersample,
        chunk=2**20 if shapes.device.type == "cuda" else 2**16,
    )


def encode_png(rgba: np.ndarray) -> bytes:
    """PNG bytes of an RGBA image (H, W, 4) uint8; deterministic (no metadata)."""
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
