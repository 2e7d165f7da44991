"""Discriminators D: image -> (realness logit, camera pose). CCS (CelebA) or progressive CoordConv (CARLA, chairs)."""

from __future__ import annotations

import torch
from torch import nn

from pix2nerf.networks.blocks import PooledResidualBlock, ProgressivePyramid, StridedResidualBlock

BLOCKS = {"ccs": StridedResidualBlock, "progressive": PooledResidualBlock}


class Discriminator(nn.Module):
    """images (B, 3, R, R) in [-1, 1] -> logit (B, 1) and pose (B, 2) = (phi, theta) radians, official order."""

    def __init__(self, channels: list[int], kind: str = "progressive") -> None:
        super().__init__()
        if kind not in BLOCKS:
            raise ValueError(f"unknown discriminator type {kind!r}; expected one of {sorted(BLOCKS)}")
        self.pyramid = ProgressivePyramid(channels, BLOCKS[kind], 3)

    def forward(self, images: torch.Tensor, alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.pyramid(images, alpha)
        return out[:, :1], out[:, 1:]
