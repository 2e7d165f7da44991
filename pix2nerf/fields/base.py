"""The radiance-field contract: what the renderer, the preview bake, the mesh export, evaluation and training know
of a field.

    latent z (B, z_dim) -> field.latent_codes(z, psi) -> codes: a tuple of per-latent tensors, batch first
    (= field.codes_from_styles(*field.styles(z)): the mapping network's output, then what the field builds from it)
    points (B, N, 3), view directions (B, N, 3), *codes -> field(...) -> rgb (B, N, 3) in [0, 1], raw sigma (B, N)

World units: the camera sits at radius 1 and looks at the origin. A field keeps its parameters in float32 and
follows autocast for its wide products. `pix2nerf.kernels.runner.FieldRunner` runs a field with a choice of kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

import torch
from torch import nn

# a field of one latent with a fixed view direction: points (N, 3) -> rgb (N, 3) in [0, 1], raw sigma (N,)
PointFunction = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
POINT_CHUNK = 2**13  # points per evaluation in a PointFunction: activations stay in a CPU's cache


def sample_latents(
    n: int, z_dim: int, distribution: str, generator: torch.Generator | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """Prior latents (n, z_dim): U(-1, 1) for "uniform" (Pix2NeRF), N(0, I) for "gaussian" (pi-GAN)."""
    if distribution == "gaussian":
        return torch.randn(n, z_dim, generator=generator, device=device)
    return torch.rand(n, z_dim, generator=generator, device=device) * 2 - 1


class RadianceField(nn.Module):
    """Base class of the radiance fields: subclasses set `field_type` and implement `latent_codes` and `forward`;
    `point_function` has a generic implementation that a field may replace with a faster one."""

    field_type: ClassVar[str]
    # CPU inference (renders, point functions) evaluates this many times the SIREN's points per chunk: a field with
    # narrower activations keeps more points in cache, and fewer chunks cost less overhead
    cpu_chunk_factor: ClassVar[int] = 1

    def latent_codes(self, z: torch.Tensor, psi: float = 1.0) -> tuple[torch.Tensor, ...]:
        """Per-latent conditioning for latents z (B, z_dim), each tensor batch first, float32. psi < 1 truncates
        towards the codes of the average latent."""
        raise NotImplementedError

    def forward(
        self, points: torch.Tensor, directions: torch.Tensor, *codes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """rgb (B, N, 3) in [0, 1] and raw sigma (B, N) at world points (B, N, 3) seen along directions (B, N, 3)."""
        raise NotImplementedError

    def styles(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The mapping network's output for latents z (B, z_dim), each tensor batch first, float32 (test-time
        refinement's "style" variable). Default: the codes themselves, for a field whose codes are its styles."""
        return self.latent_codes(z)

    def codes_from_styles(self, *styles: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The codes built from `styles` (differentiable). Default: the styles unchanged."""
        return styles

    def code_synthesis(self) -> nn.Module | None:
        """The module whose weights `codes_from_styles` runs (test-time refinement's generator tuning), or None for a
        field whose codes are its styles."""
        return None

    def parameter_groups(self) -> list[dict]:
        """Optimizer parameter groups, each with an `lr_scale`: the fraction of the generator's learning rate it
        trains at (one group at 1 unless a field says otherwise)."""
        return [{"params": list(self.parameters()), "lr_scale": 1.0}]

    @property
    def device(self) -> torch.device:
        """The device of the field's first parameter."""
        return next(self.module_parameters()).device

    def module_parameters(self) -> Iterator[nn.Parameter]:
        """The field's parameters, module by module: `parameters()` without the names it builds on the way (a
        render asks for them several times)."""
        return (p for module in self.modules() for p in module._parameters.values() if p is not None)

    def point_function(self, codes: Sequence[torch.Tensor], view_direction: Sequence[float]) -> PointFunction:
        """The field of one latent (codes with batch 1) seen along one fixed direction, as a function of position
        that evaluates in chunks without gradients."""
        if any(code.shape[0] != 1 for code in codes):
            raise ValueError(f"point_function takes the codes of one latent, got a batch of {codes[0].shape[0]}")
        direction = torch.tensor(view_direction, dtype=torch.float32, device=self.device)

        @torch.no_grad()
        def evaluate(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            rgb = torch.empty(points.shape[0], 3, device=points.device)
            sigma = torch.empty(points.shape[0], device=points.device)
            for start in range(0, points.shape[0], POINT_CHUNK):
                chunk = points[None, start : start + POINT_CHUNK]
                out_rgb, out_sigma = self(chunk, direction.expand_as(chunk), *codes)
                rgb[start : start + POINT_CHUNK], sigma[start : start + POINT_CHUNK] = out_rgb[0], out_sigma[0]
            return rgb, sigma

        return evaluate
