"""Empty-space skipping for inference renders of whole images: fewer field evaluations where the image is background.

A probe pass renders every second row and column of pixels in full. The other pixels are rendered only next to a
probe whose opacity reached `EMPTY_OPACITY` (one probe of margin in each direction: 2 to 3 pixels);
the rest are background (opacity 0, depth 0). Inside every rendered ray, `render_rays` also skips the fine samples
when the coarse opacity stays below the same threshold (`RaySamplingSettings.skip_empty_below`).

A skipped pixel moves by about the opacity the full render would give it, most where only the full render's fine samples
found density (docs/performance.md has the measured error). An object thinner than the probe spacing can
fall between probes. The probe pass runs from 16 px up, and only for white or no background: with the official
"last_sample" background every ray takes colour from the field, so only the fine-sample skip applies.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from pix2nerf.rendering.volume import (
    FieldFn,
    RaySamplingSettings,
    gather_rays,
    per_ray_origins,
    render_rays_in_chunks,
    scatter_rays,
    scatter_selected,
    selected_rays,
)

EMPTY_OPACITY = 1e-3  # rays (and their neighbourhoods) below this opacity count as empty
PROBE_STRIDE = 2
MIN_PROBE_RESOLUTION = 16  # below, 2 px between probes is too coarse a net (and the render is cheap anyway)
BACKGROUND_RGB = {"white": 1.0, "none": 0.0}


def render_image_skipping_empty(
    field_fn: FieldFn,
    origins: torch.Tensor,
    directions: torch.Tensor,
    resolution: int,
    settings: RaySamplingSettings,
    view_directions: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    max_points_per_chunk: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render the rays of B square images (B, resolution**2, in raster order) like `render_rays_in_chunks`, skipping
    empty space. origins (B, 3) or (B, R, 3), directions and view_directions (B, R, 3); generator: for stratified
    jitter.     Returns rgb (B, R, 3) in [0, 1], depth (B, R) and opacity (B, R)."""
    settings = dataclasses.replace(settings, skip_empty_below=EMPTY_OPACITY)
    batch, num_rays = directions.shape[:2]
    if num_rays != resolution * resolution:
        raise ValueError(f"expected {resolution}x{resolution} rays per image, got {num_rays}")
    origins = per_ray_origins(origins, num_rays)
    view = directions if view_directions is None else view_directions
    rays = (origins, directions, view)

    def render(*ray_tensors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return render_rays_in_chunks(
            field_fn, *ray_tensors[:2], settings, ray_tensors[2], generator, max_points_per_chunk
        )

    def render_at(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return render(*(gather_rays(r, index) for r in rays))

    if settings.background not in BACKGROUND_RGB or resolution < MIN_PROBE_RESOLUTION:  # only the fine-sample skip
        return render(*rays)

    pixel = torch.arange(num_rays, device=directions.device).view(resolution, resolution)
    probes = pixel[::PROBE_STRIDE, ::PROBE_STRIDE]
    probe_index = probes.reshape(1, -1).expand(batch, -1)
    probe_out = render_at(probe_index)

    # pixels within one probe of an occupied probe are rendered; probes themselves are done
    occupied = (probe_out[2] >= EMPTY_OPACITY).float().view(batch, 1, *probes.shape)
    near = F.max_pool2d(occupied, 3, stride=1, padding=1)
    near = near.repeat_interleave(PROBE_STRIDE, -2).repeat_interleave(PROBE_STRIDE, -1)[..., :resolution, :resolution]
    wanted = near.reshape(batch, num_rays) > 0
    wanted[:, probes.reshape(-1)] = False

    rgb = torch.full(
        (batch, num_rays, 3), BACKGROUND_RGB[settings.background], device=directions.device, dtype=directions.dtype
    )
    depth = torch.zeros(batch, num_rays, device=directions.device, dtype=directions.dtype)
    opacity = torch.zeros_like(depth)
    outputs = scatter_rays((rgb, depth, opacity), probe_index, probe_out)
    count = int(wanted.sum(1).max())
    if count == 0:
        return outputs
    index = selected_rays(wanted, count)
    return scatter_selected(outputs, wanted, index, render_at(index))
