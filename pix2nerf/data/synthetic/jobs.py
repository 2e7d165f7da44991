"""Render jobs: a batch of dataset rows (objects by id, one pose each) to RGBA PNG bytes.

Kept apart from the dataset assembly so that worker processes import only torch, PIL and the renderer.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .categories import get_category, make_objects
from .renderer import render_views


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
    category = get_category(job.category)
    config = category.config()
    unique = list(dict.fromkeys(job.object_ids))
    index = torch.tensor([unique.index(i) for i in job.object_ids], device=job.device)
    shapes = make_objects(category, unique, job.device).select(index)
    images = render_views(
        shapes, torch.tensor(job.yaw, device=job.device), torch.tensor(job.pitch, device=job.device),
        job.resolution, config.fov, config.ray_start, config.ray_end, job.supersample,
        chunk=2**20 if shapes.device.type == "cuda" else 2**16,
    )
    pixels = (images * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [encode_png(p) for p in pixels]


def encode_png(rgba: np.ndarray) -> bytes:
    """PNG bytes of an RGBA image (H, W, 4) uint8; deterministic (no metadata)."""
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
