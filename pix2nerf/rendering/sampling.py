"""Depths along rays: stratified samples and hierarchical inverse-CDF (importance) samples.

Depths t are distances along unit ray directions, in the same units as the scene (the camera sits at radius 1).
"""

from __future__ import annotations

import torch

PDF_EPS = 1e-5  # added to weights before normalising, as the official sample_pdf does


def stratified_jitter(
    batch_shape: tuple[int, ...],
    num_steps: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor | None:
    """U(0, 1) draws (*batch_shape, num_steps) that `stratified_depths` turns into jitter; None for one step."""
    if num_steps < 2:
        return None
    return torch.rand(*batch_shape, num_steps, generator=generator, device=device, dtype=dtype)


def stratified_depths(
    batch_shape: tuple[int, ...],
    num_steps: int,
    near: float,
    far: float,
    jitter: torch.Tensor | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """`num_steps` depths from near to far (inclusive), shape (*batch_shape, num_steps).

    jitter (*batch_shape, num_steps) in [0, 1) (`stratified_jitter`), when given, moves each depth by (jitter - 0.5)
    times the spacing (the official training perturbation).
    """
    depths = torch.linspace(near, far, num_steps, device=device, dtype=dtype).expand(*batch_shape, num_steps)
    if jitter is not None:
        spacing = (far - near) / (num_steps - 1)
        depths = depths + (jitter - 0.5) * spacing
    return depths


def pdf_positions(
    batch_shape: tuple[int, ...],
    num_samples: int,
    deterministic: bool,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Positions u (*batch_shape, num_samples) in [0, 1] where `inverse_cdf` reads the CDF: evenly spaced when
    `deterministic`, else U(0, 1)."""
    if deterministic:
        u = torch.linspace(0.0, 1.0, num_samples, device=device, dtype=dtype)
        return u.expand(*batch_shape, num_samples).contiguous()
    return torch.rand(*batch_shape, num_samples, generator=generator, device=device, dtype=dtype)


def inverse_cdf(bins: torch.Tensor, weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Samples at CDF positions u (..., K) of the piecewise-constant density `weights` (..., M) (non-negative) over
    `bins` (..., M + 1) edges -> (..., K) depths."""
    weights = weights + PDF_EPS
    pdf = weights / weights.sum(-1, keepdim=True)
    cdf = torch.cumsum(pdf, -1)
    cdf = torch.cat([torch.zeros_like(cdf[..., :1]), cdf], -1)
    above = torch.searchsorted(cdf.contiguous(), u, right=True)
    below = (above - 1).clamp_min(0)
    above = above.clamp_max(cdf.shape[-1] - 1)
    cdf_below, cdf_above = torch.gather(cdf, -1, below), torch.gather(cdf, -1, above)
    bins_below, bins_above = torch.gather(bins, -1, below), torch.gather(bins, -1, above)
    denom = cdf_above - cdf_below
    denom = torch.where(denom < PDF_EPS, torch.ones_like(denom), denom)
    return bins_below + (u - cdf_below) / denom * (bins_above - bins_below)


def sample_pdf(
    bins: torch.Tensor,
    weights: torch.Tensor,
    num_samples: int,
    deterministic: bool,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Inverse-CDF samples of the piecewise-constant density `weights` over `bins`.

    bins: (..., M + 1) bin edges; weights: (..., M) non-negative; returns (..., num_samples) depths.
    `deterministic` spaces u evenly over [0, 1]; otherwise u ~ U(0, 1).
    """
    u = pdf_positions(weights.shape[:-1], num_samples, deterministic, generator, bins.device, bins.dtype)
    return inverse_cdf(bins, weights, u)


def importance_depths(coarse_depths: torch.Tensor, coarse_weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Fine depths (..., K) drawn at CDF positions u (..., K) (`pdf_positions`) where the coarse pass put its weight
    (..., S), as the official code: bins are the midpoints of the coarse depths, weights the inner coarse weights
    plus 1e-5."""
    midpoints = 0.5 * (coarse_depths[..., 1:] + coarse_depths[..., :-1])
    return inverse_cdf(midpoints, coarse_weights[..., 1:-1] + PDF_EPS, u)
