"""Volume rendering: integration of colour and density along rays, and the hierarchical ray renderer.

Data flow: rays (origins, directions) -> coarse depths -> field -> weights -> fine depths -> field -> integrate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from pix2nerf.rendering.compositing import density_noise, integrate
from pix2nerf.rendering.ray_stages import REFERENCE_RAY_STAGES, RayStages, merge_samples, sample_points
from pix2nerf.rendering.sampling import pdf_positions, stratified_jitter

# field_fn(points (B, N, 3), directions (B, N, 3)) -> (rgb (B, N, 3) in [0, 1], sigma (B, N) raw density)
FieldFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


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
    stages: RayStages = REFERENCE_RAY_STAGES,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render rays (B, R) with `num_steps` coarse and, if hierarchical, `num_steps` fine samples per ray.

    origins (B, 3) or (B, R, 3); directions (B, R, 3) unit vectors. view_directions (B, R, 3), when given, replace
    the ray directions as the field's view-dependence input (for example locked to (0, 0, -1)).
    `stages`: the sampler and compositor's form (pix2nerf.rendering.ray_stages); every form draws the same random
    numbers from `generator`. With `settings.skip_empty_below` > 0, rays whose coarse opacity is below it keep their
    coarse-only result: the field is evaluated only for the other rays' fine samples (op by op). A skipped pixel
    moves by the opacity its fine samples would have added: about the threshold, more where they would have found
    density the coarse ones missed.
    Returns rgb (B, R, 3) in [0, 1], depth (B, R) and opacity (B, R) = the sum of the weights before background.
    """
    batch, num_rays = directions.shape[:2]
    steps = settings.num_steps
    rays = (per_ray_origins(origins, num_rays), directions, directions if view_directions is None else view_directions)
    like = dict(device=directions.device, dtype=directions.dtype)
    jitter = None if settings.deterministic else stratified_jitter((batch, num_rays), steps, generator, **like)
    depths, points, view = stages.coarse(rays, jitter, settings.near, settings.far, steps)
    rgb, sigma = _evaluate(field_fn, points, view, depths.shape)
    if not settings.hierarchical:
        noise = density_noise(sigma, settings.noise_std, generator)
        return stages.composite(None, (rgb, sigma, depths), settings.background, noise)
    with torch.no_grad():
        coarse_noise = density_noise(sigma, settings.noise_std, generator)
        u = pdf_positions((batch, num_rays), steps, settings.deterministic, generator, **like)
        fine_depths, fine_points, fine_view, coarse_opacity = stages.fine(rays, depths, sigma, coarse_noise, u)
    if settings.skip_empty_below > 0:
        busy = coarse_opacity >= settings.skip_empty_below
        fewest, num_busy = torch.stack(torch.aminmax(busy.sum(1))).tolist()  # one read from the device
        if fewest < num_rays:  # each batch element as it would render alone
            return _render_busy_rays(
                field_fn, rays, (rgb, sigma, depths), fine_depths, busy, num_busy, settings, generator
            )
    fine_rgb, fine_sigma = _evaluate(field_fn, fine_points, fine_view, fine_depths.shape)
    noise = density_noise(sigma, settings.noise_std, generator, 2 * steps)
    return stages.composite((fine_rgb, fine_sigma, fine_depths), (rgb, sigma, depths), settings.background, noise)


def _evaluate(field_fn: FieldFn, points: torch.Tensor, view: torch.Tensor, shape: torch.Size):
    """The field at points and view directions (B, R * S, 3) -> rgb (B, R, S, 3), sigma (B, R, S) for `shape`."""
    rgb, sigma = field_fn(points, view)
    return rgb.reshape(*shape, 3), sigma.reshape(shape)


def _render_busy_rays(field_fn, rays, coarse, fine_depths, busy, num_busy, settings, generator):
    """Coarse-only integration for every ray, then coarse + fine for the busy ones (per batch element, the
    `num_busy` rays listed first by a stable sort; elements with fewer busy rays fill up with empty ones)."""
    rgb, sigma, depths = coarse
    pixels, depth, weights = integrate(rgb, sigma, depths, settings.background, settings.noise_std, generator)
    opacity = weights.sum(-1)
    if num_busy == 0:
        return pixels, depth, opacity
    index = selected_rays(busy, num_busy)
    picked_fine = gather_rays(fine_depths, index)
    fine = _evaluate(
        field_fn, *sample_points(tuple(gather_rays(r, index) for r in rays), picked_fine), picked_fine.shape
    )
    merged = merge_samples((*fine, picked_fine), tuple(gather_rays(values, index) for values in (rgb, sigma, depths)))
    busy_pixels, busy_depth, busy_weights = integrate(*merged, settings.background, settings.noise_std, generator)
    updates = (busy_pixels, busy_depth, busy_weights.sum(-1))
    return scatter_selected((pixels, depth, opacity), busy, index, updates)


def per_ray_origins(origins: torch.Tensor, num_rays: int) -> torch.Tensor:
    """Ray origins (B, 3), one camera per batch element, or already (B, R, 3) -> (B, R, 3)."""
    return origins[:, None, :].expand(-1, num_rays, -1) if origins.dim() == 2 else origins


def selected_rays(mask: torch.Tensor, count: int) -> torch.Tensor:
    """Indices (B, count) of the rays where mask (B, R) is set, in order; batch elements with fewer selected rays
    fill up with unselected ones (`scatter_selected` keeps those rays' values)."""
    return torch.argsort((~mask).to(torch.uint8), dim=1, stable=True)[:, :count]


def scatter_selected(
    outputs: tuple[torch.Tensor, ...], mask: torch.Tensor, index: torch.Tensor, updates: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, ...]:
    """`scatter_rays` of updates (B, K, ...) at index (B, K) = `selected_rays(mask, K)`, where mask (B, R) selects
    the ray: the fill-up rays keep their values, so that each batch element comes out as it would alone."""
    chosen = gather_rays(mask, index)
    kept = tuple(
        torch.where(chosen.view(*chosen.shape, *[1] * (new.dim() - 2)), new, gather_rays(out, index))
        for new, out in zip(updates, outputs)
    )
    return scatter_rays(outputs, index, kept)


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
    stages: RayStages = REFERENCE_RAY_STAGES,
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
            stages,
        )
        for start in range(0, num_rays, step)
    ]
    return tuple(torch.cat(parts, dim=1) for parts in zip(*outputs))
