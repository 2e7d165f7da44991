"""Volume rendering: integration of colour and density along rays, and the hierarchical ray renderer.

Data flow: rays (origins, directions) -> coarse depths -> field -> weights -> fine depths -> field -> integrate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .sampling import importance_depths, stratified_depths

LAST_DELTA = 1e10  # the last sample's interval: it absorbs everything behind it
TRANSMITTANCE_EPS = 1e-10

# field_fn(points (B, N, 3), directions (B, N, 3)) -> (rgb (B, N, 3) in [0, 1], sigma (B, N) raw density)
FieldFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def integrate(
    rgb: torch.Tensor,
    sigma: torch.Tensor,
    depths: torch.Tensor,
    background: str = "white",
    noise_std: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Alpha-composite samples along rays, as the official `fancy_integration` with ReLU density.

    rgb (..., S, 3) in [0, 1], sigma (..., S) raw densities, depths (..., S) sorted.
    background: "white" adds the remaining transmittance as white; "last_sample" gives it to the last sample;
    "none" leaves it black. noise_std: std of Gaussian noise on sigma (training only).
    Returns pixels (..., 3) in [0, 1], depth (..., ) = sum(w * t) and weights (..., S).
    """
    deltas = depths[..., 1:] - depths[..., :-1]
    deltas = torch.cat([deltas, torch.full_like(deltas[..., :1], LAST_DELTA)], -1)
    if noise_std > 0:
        sigma = sigma + noise_std * torch.randn(sigma.shape, generator=generator, device=sigma.device, dtype=sigma.dtype)
    alphas = 1 - torch.exp(-deltas * torch.relu(sigma))
    transmittance = torch.cumprod(
        torch.cat([torch.ones_like(alphas[..., :1]), 1 - alphas + TRANSMITTANCE_EPS], -1), -1
    )[..., :-1]
    weights = alphas * transmittance
    remainder = 1 - weights.sum(-1)
    if background == "last_sample":
        weights = torch.cat([weights[..., :-1], weights[..., -1:] + remainder[..., None]], -1)
    pixels = (weights[..., None] * rgb).sum(-2)
    depth = (weights * depths).sum(-1)
    if background == "white":
        pixels = pixels + remainder[..., None]
    return pixels, depth, weights


@dataclass(frozen=True)
class RaySamplingSettings:
    """How rays are sampled and integrated. Depths are along unit directions; the camera sits at radius 1."""

    near: float
    far: float
    num_steps: int
    hierarchical: bool = True
    deterministic: bool = True  # no stratified jitter, evenly spaced importance samples
    background: str = "white"
    noise_std: float = 0.0


def render_rays(
    field_fn: FieldFn,
    origins: torch.Tensor,
    directions: torch.Tensor,
    settings: RaySamplingSettings,
    view_directions: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render rays (B, R) with `num_steps` coarse and, if hierarchical, `num_steps` fine samples per ray.

    origins (B, 3) or (B, R, 3); directions (B, R, 3) unit vectors. view_directions (B, R, 3), when given, replace
    the ray directions as the field's view-dependence input (for example locked to (0, 0, -1)).
    Returns rgb (B, R, 3) in [0, 1], depth (B, R) and opacity (B, R) = the sum of the weights before background.
    """
    batch, num_rays = directions.shape[:2]
    steps = settings.num_steps
    if origins.dim() == 2:
        origins = origins[:, None, :]
    view = directions if view_directions is None else view_directions
    view_per_sample = view[:, :, None, :].expand(batch, num_rays, steps, 3).reshape(batch, -1, 3)

    def evaluate(depths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        points = origins[:, :, None, :] + directions[:, :, None, :] * depths[..., None]
        rgb, sigma = field_fn(points.reshape(batch, -1, 3), view_per_sample)
        return rgb.reshape(batch, num_rays, steps, 3), sigma.reshape(batch, num_rays, steps)

    depths = stratified_depths(
        (batch, num_rays), steps, settings.near, settings.far, jitter=not settings.deterministic,
        generator=generator, device=directions.device, dtype=directions.dtype,
    )
    rgb, sigma = evaluate(depths)
    if settings.hierarchical:
        with torch.no_grad():
            _, _, coarse_weights = integrate(rgb, sigma, depths, "none", settings.noise_std, generator)
            fine_depths = importance_depths(depths, coarse_weights, steps, settings.deterministic, generator)
        fine_rgb, fine_sigma = evaluate(fine_depths)
        depths, order = torch.sort(torch.cat([fine_depths, depths], -1), dim=-1)
        rgb = torch.gather(torch.cat([fine_rgb, rgb], -2), -2, order[..., None].expand(-1, -1, -1, 3))
        sigma = torch.gather(torch.cat([fine_sigma, sigma], -1), -1, order)
    pixels, depth, weights = integrate(rgb, sigma, depths, settings.background, settings.noise_std, generator)
    return pixels, depth, weights.sum(-1)
