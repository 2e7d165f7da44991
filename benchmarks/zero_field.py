"""A zero-cost radiance field for the benchmarks: its codes are one number per latent and its forward one linear map
of the point, so a training iteration or render with it measures everything but the field."""

from __future__ import annotations

import torch
from torch import nn

from pix2nerf import Pix2NeRFConfig
from pix2nerf.fields.base import RadianceField


class ZeroCostField(RadianceField):
    """codes: (B, 1) = a linear map of z (so the encoder still gets gradients); rgb = sigmoid(A p + code), sigma =
    a p + b for points p (B, N, 3); view directions unused."""

    field_type = "zero"

    def __init__(self, config: Pix2NeRFConfig) -> None:
        super().__init__()
        self.code = nn.Linear(config.z_dim, 1)
        self.point = nn.Linear(3, 4)

    def latent_codes(self, z: torch.Tensor, psi: float = 1.0) -> tuple[torch.Tensor, ...]:
        """(code (B, 1),) of latents z (B, z_dim), truncated towards the code of z = 0 by psi."""
        return (self.code(z * psi).float(),)

    def forward(
        self, points: torch.Tensor, directions: torch.Tensor, *codes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.point(points)
        return torch.sigmoid(out[..., :3] + codes[0][:, None, :]), out[..., 3]
