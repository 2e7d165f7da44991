"""Alpha compositing of samples along rays, as the official `fancy_integration` with ReLU density."""

from __future__ import annotations

import torch

LAST_DELTA = 1e10  # the last sample's interval: it absorbs everything behind it
TRANSMITTANCE_EPS = 1e-10


def density_noise(
    sigma: torch.Tensor, noise_std: float, generator: torch.Generator | None = None, num_samples: int | None = None
) -> torch.Tensor | None:
    """Gaussian noise with std `noise_std` (training only; None when 0) for raw densities like sigma (..., S), or
    (..., num_samples) where given."""
    if noise_std <= 0:
        return None
    shape = sigma.shape if num_samples is None else (*sigma.shape[:-1], num_samples)
    return noise_std * torch.randn(shape, generator=generator, device=sigma.device, dtype=sigma.dtype)


def alpha_weights(sigma: torch.Tensor, depths: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Each sample's weight (..., S) = alpha x transmittance, from raw densities sigma (..., S) (plus `noise`,
    `density_noise`) at sorted depths (..., S)."""
    deltas = depths[..., 1:] - depths[..., :-1]
    deltas = torch.cat([deltas, torch.full_like(deltas[..., :1], LAST_DELTA)], -1)
    if noise is not None:
        sigma = sigma + noise
    alphas = 1 - torch.exp(-deltas * torch.relu(sigma))
    transmittance = torch.cumprod(
        torch.cat([torch.ones_like(alphas[..., :1]), 1 - alphas + TRANSMITTANCE_EPS], -1), -1
    )[..., :-1]
    return alphas * transmittance


def composite(
    rgb: torch.Tensor,
    sigma: torch.Tensor,
    depths: torch.Tensor,
    background: str = "white",
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Alpha-composite samples along rays: rgb (..., S, 3) in [0, 1], raw densities sigma (..., S) (plus `noise`),
    sorted depths (..., S).

    background: "white" adds the remaining transmittance as white; "last_sample" gives it to the last sample;
    "none" leaves it black. Returns pixels (..., 3) in [0, 1], depth (..., ) = sum(w * t) and weights (..., S).
    """
    weights = alpha_weights(sigma, depths, noise)
    remainder = 1 - weights.sum(-1)
    if background == "last_sample":
        weights = torch.cat([weights[..., :-1], weights[..., -1:] + remainder[..., None]], -1)
    pixels = (weights[..., None] * rgb).sum(-2)
    depth = (weights * depths).sum(-1)
    if background == "white":
        pixels = pixels + remainder[..., None]
    return pixels, depth, weights


def integrate(
    rgb: torch.Tensor,
    sigma: torch.Tensor,
    depths: torch.Tensor,
    background: str = "white",
    noise_std: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`composite` with Gaussian noise of std `noise_std` on sigma drawn from `generator` (training only)."""
    return composite(rgb, sigma, depths, background, density_noise(sigma, noise_std, generator))
