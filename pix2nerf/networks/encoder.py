"""The CCS encoder E: image -> (latent z, camera pose)."""

from __future__ import annotations

import torch
from torch import nn

from pix2nerf.networks.blocks import ProgressivePyramid, StridedResidualBlock


class CCSEncoder(nn.Module):
    """images (B, 3, R, R) in [-1, 1] -> z = tanh(.) (B, z_dim) and pose (B, 2) = (phi, theta) in radians,
    the official (pitch, yaw) order and convention, unbounded."""

    def __init__(self, channels: list[int], z_dim: int) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.pyramid = ProgressivePyramid(channels, StridedResidualBlock, z_dim + 2)

    def forward(self, images: torch.Tensor, alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.pyramid(images, alpha)
        return torch.tanh(out[:, : self.z_dim]), out[:, self.z_dim :]
