"""Volume rendering: integration of colour and density along rays, and the hierarchical ray renderer.

Data flow: rays (origins, directions) -> coarse depths -> field -> weights -> fine depths -> field -> integrate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from pix2nerf.rendering.sampling import importance_depths, stratified_depths

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
        sigma = sigma + noise_std * torch.randn(
            sigma.shape, generator=generator, device=sigma.device, dtype=sigma.dtype
        )
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
    skip_empty_below: float = 0.0  # rays whose coarse opacity is below this get no fine samples; 0 keeps them all

    @classmethod
    def from_config(cls, config, num_steps: int | None = None, **settings) -> RaySamplingSettings:
        """A model config's ray range and background, its samples per ray unless `num_steps` is given, and any
        other field of these settings."""
        steps = config.num_steps if num_steps is None else num_steps
        return cls(near=config.ray_start, far=config.ray_end, num_steps=steps, background=config.background, **settings)


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
    With `settings.skip_empty_below` > 0, rays whose coarse opacity is below it keep their coarse-only result:
    the field is evaluated only for the other rays' fine samples. A skipped pixel moves by the opacity its fine
    samples would have added: about the threshold, more where they would have found density the coarse ones missed.
    Returns rgb (B, R, 3) in [0, 1], depth (B, R) and opacity (B, R) = the sum of the weights before background.
    """
    batch, num_rays = directions.shape[:2]
    steps = settings.num_steps
    origins = per_ray_origins(origins, num_rays)
    view = directions if view_directions is None else view_directions

    def evaluate(rays: tuple[torch.Tensor, ...], depths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ray_origins, ray_directions, ray_view = rays
        count = depths.shape[1]
        points = ray_origins[:, :, None, :] + ray_directions[:, :, None, :] * depths[..., None]
        view_per_sample = ray_view[:, :, None, :].expand(batch, count, steps, 3)
        rgb, sigma = field_fn(points.reshape(batch, -1, 3), view_per_sample.reshape(batch, -1, 3))
        return rgb.reshape(batch, count, steps, 3), sigma.reshape(batch, count, steps)

    rays = (origins, directions, view)
    depths = stratified_depths(
        (batch, num_rays),
        steps,
        settings.near,
        settings.far,
        jitter=not settings.deterministic,
        generator=generator,
        device=directions.device,
        dtype=directions.dtype,
    )
    rgb, sigma = evaluate(rays, depths)
    if not settings.hierarchical:
        pixels, depth, weights = integrate(rgb, sigma, depths, settings.background, settings.noise_std, generator)
        return pixels, depth, weights.sum(-1)
    with torch.no_grad():
        _, _, coarse_weights = integrate(rgb, sigma, depths, "none", settings.noise_std, generator)
        fine_depths = importance_depths(depths, coarse_weights, steps, settings.deterministic, generator)
    if settings.skip_empty_below > 0:
        busy = coarse_weights.sum(-1) >= settings.skip_empty_below
        num_busy = int(busy.sum(1).max())
        if num_busy < num_rays:
            return _render_busy_rays(
                evaluate, rays, (rgb, sigma, depths), fine_depths, busy, num_busy, settings, generator
            )
    pixels, depth, weights = integrate(
        *_merge_fine(evaluate(rays, fine_depths), fine_depths, rgb, sigma, depths),
        settings.background,
        settings.noise_std,
        generator,
    )
    return pixels, depth, weights.sum(-1)


def _merge_fine(fine: tuple[torch.Tensor, torch.Tensor], fine_depths, rgb, sigma, depths):
    """Coarse and fine samples (..., S, .) merged into one depth-sorted set (..., 2S, .): rgb, sigma, depths."""
    fine_rgb, fine_sigma = fine
    depths, order = torch.sort(torch.cat([fine_depths, depths], -1), dim=-1)
    rgb = torch.gather(torch.cat([fine_rgb, rgb], -2), -2, order[..., None].expand(*order.shape, 3))
    sigma = torch.gather(torch.cat([fine_sigma, sigma], -1), -1, order)
    return rgb, sigma, depths


def _render_busy_rays(evaluate, rays, coarse, fine_depths, busy, num_busy, settings, generator):
    """Coarse-only integration for every ray, then coarse + fine for the busy ones (per batch element, the
    `num_busy` rays listed first by a stable sort; elements with fewer busy rays fill up with empty ones)."""
    rgb, sigma, depths = coarse
    pixels, depth, weights = integrate(rgb, sigma, depths, settings.background, settings.noise_std, generator)
    opacity = weights.sum(-1)
    if num_busy == 0:
        return pixels, depth, opacity
    index = selected_rays(busy, num_busy)
    picked_fine = gather_rays(fine_depths, index)
    merged = _merge_fine(
        evaluate(tuple(gather_rays(r, index) for r in rays), picked_fine),
        picked_fine,
        *(gather_rays(values, index) for values in (rgb, sigma, depths)),
    )
    busy_pixels, busy_depth, busy_weights = integrate(*merged, settings.background, settings.noise_std, generator)
    return scatter_rays((pixels, depth, opacity), index, (busy_pixels, busy_depth, busy_weights.sum(-1)))


def per_ray_origins(origins: torch.Tensor, num_rays: int) -> torch.Tensor:
    """Ray origins (B, 3), one camera per batch element, or already (B, R, 3) -> (B, R, 3)."""
    return origins[:, None, :].expand(-1, num_rays, -1) if origins.dim() == 2 else origins


def selected_rays(mask: torch.Tensor, count: int) -> torch.Tensor:
    """Indices (B, count) of the rays where mask (B, R) is set, in order; batch elements with fewer selected rays
    fill up with unselected ones (computing those too is harmless)."""
    return torch.argsort((~mask).to(torch.uint8), dim=1, stable=True)[:, :count]


def _per_ray_index(index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Ray indices (B, K) broadcast over the trailing dimensions of values (B, R, ...) -> (B, K, ...)."""
    return index.view(*index.shape, *[1] * (values.dim() - 2)).expand(-1, -1, *values.shape[2:])


def gather_rays(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values (B, R, ...) at ray indices (B, K) -> (B, K, ...)."""
    return torch.gather(values, 1, _per_ray_index(index, values))


def scatter_rays(
    outputs: tuple[torch.Tensor, ...], index: torch.Tensor, updates: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, ...]:
    """Copies of outputs (B, R, ...) with the rays at index (B, K) replaced by updates (B, K, ...)."""
    return tuple(out.scatter(1, _per_ray_index(index, out), new) for out, new in zip(outputs, updates))


def render_rays_in_chunks(
    field_fn: FieldFn,
    origins: torch.Tensor,
    directions: torch.Tensor,
    settings: RaySamplingSettings,
    view_directions: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    max_points_per_chunk: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`render_rays` over chunks of rays of at most `max_points_per_chunk` field evaluations (None: all at once),
    which bounds memory; same arguments and outputs."""
    batch, num_rays = directions.shape[:2]
    origins = per_ray_origins(origins, num_rays)
    evaluations_per_ray = batch * settings.num_steps * (2 if settings.hierarchical else 1)
    step = num_rays if max_points_per_chunk is None else max(1, max_points_per_chunk // evaluations_per_ray)
    outputs = [
        render_rays(
            field_fn,
            origins[:, start : start + step],
            directions[:, start : start + step],
            settings,
            None if view_directions is None else view_directions[:, start : start + step],
            generator,
        )
        for start in range(0, num_rays, step)
    ]
    return tuple(torch.cat(parts, dim=1) for parts in zip(*outputs))
