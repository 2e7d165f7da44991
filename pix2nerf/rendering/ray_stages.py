"""The sampler and compositor as three pure stages around the field's two passes, so that `torch.compile` can fuse
each one, forward and backward, while the reference path runs the same maths op by op.

    coarse:    rays, jitter          -> coarse depths (B, R, S), points and view directions (B, R * S, 3)
    fine:      coarse depths, sigma  -> fine depths (B, R, S) by inverse CDF, their points, coarse opacity (B, R)
    composite: both sample sets      -> merged by depth, alpha-composited: pixels (B, R, 3), depth, opacity (B, R)

Every random number (stratified jitter, density noise, inverse-CDF positions) is drawn by the caller
(`pix2nerf.rendering.volume.render_rays`) in the reference order, so both forms give the same samples from one
generator. Which form runs is the field runner's choice (`FieldRunner.ray_stages`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from pix2nerf.rendering.compositing import alpha_weights, composite
from pix2nerf.rendering.sampling import importance_depths, stratified_depths

Rays = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # origins, directions, view directions, each (B, R, 3)


def sample_points(rays: Rays, depths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World points and their view directions (B, R * S, 3) at depths (B, R, S) along rays (B, R, 3) each."""
    origins, directions, view = rays
    batch, count, steps = depths.shape
    points = origins[:, :, None, :] + directions[:, :, None, :] * depths[..., None]
    view_per_sample = view[:, :, None, :].expand(batch, count, steps, 3)
    return points.reshape(batch, -1, 3), view_per_sample.reshape(batch, -1, 3)


def coarse_stage(
    rays: Rays, jitter: torch.Tensor | None, near: float, far: float, num_steps: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stratified depths (B, R, S) (jitter: `stratified_jitter` or None) and their points and view directions."""
    directions = rays[1]
    depths = stratified_depths(
        directions.shape[:2], num_steps, near, far, jitter, device=directions.device, dtype=directions.dtype
    )
    return depths, *sample_points(rays, depths)


def fine_stage(
    rays: Rays, depths: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor | None, u: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fine depths (B, R, K) at CDF positions u (B, R, K) of the coarse weights (from sigma (B, R, S) plus noise),
    their points and view directions (B, R * K, 3), and the coarse opacity (B, R). Called without gradients."""
    weights = alpha_weights(sigma, depths, noise)
    fine_depths = importance_depths(depths, weights, u)
    return fine_depths, *sample_points(rays, fine_depths), weights.sum(-1)


def merge_samples(
    fine: tuple[torch.Tensor, torch.Tensor, torch.Tensor], coarse: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fine and coarse (rgb (..., S, 3), sigma (..., S), depths (..., S)) merged into one depth-sorted set
    (..., 2S, .)."""
    (fine_rgb, fine_sigma, fine_depths), (rgb, sigma, depths) = fine, coarse
    depths, order = torch.sort(torch.cat([fine_depths, depths], -1), dim=-1)
    rgb = torch.gather(torch.cat([fine_rgb, rgb], -2), -2, order[..., None].expand(*order.shape, 3))
    sigma = torch.gather(torch.cat([fine_sigma, sigma], -1), -1, order)
    return rgb, sigma, depths


def composite_stage(
    fine: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
    coarse: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    background: str,
    noise: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixels (..., 3), depth (...) and opacity (...) of the coarse samples (rgb, sigma, depths) merged with the fine
    ones (None: coarse only), noise on the merged sigma."""
    samples = coarse if fine is None else merge_samples(fine, coarse)
    pixels, depth, weights = composite(*samples, background, noise)
    return pixels, depth, weights.sum(-1)


@dataclass(frozen=True)
class RayStages:
    """One form of the three stages: "reference" (op by op) or "compiled" (each stage one torch.compile graph)."""

    name: str
    coarse: Callable[..., tuple[torch.Tensor, ...]]
    fine: Callable[..., tuple[torch.Tensor, ...]]
    composite: Callable[..., tuple[torch.Tensor, ...]]


REFERENCE_RAY_STAGES = RayStages("reference", coarse_stage, fine_stage, composite_stage)

# inductor's options for every graph the project compiles: no padded matrix-product shapes, whose padded strides a
# graph compiled for dynamic shapes kept at the first shape's values (torch 2.11: an assert_size_stride failure when a
# run that began at 64 px reached 128 px)
INDUCTOR_OPTIONS = {"shape_padding": False}


@functools.cache
def compiled_ray_stages(backend: str = "inductor") -> RayStages:
    """The stages through torch.compile (`backend`: "inductor" fuses them into Triton kernels on CUDA; "aot_eager"
    traces the same graphs, forward and backward, without generating code). Each stage is one graph (fullgraph)."""
    options = dict(options=INDUCTOR_OPTIONS) if backend == "inductor" else {}
    compile_stage = functools.partial(torch.compile, backend=backend, fullgraph=True, **options)
    return RayStages("compiled", *(compile_stage(stage) for stage in (coarse_stage, fine_stage, composite_stage)))
