"""The tri-plane field's generator: a mapping network from z to a style w, and a style-modulated convolutional
synthesis network from a learned 4 x 4 constant to three feature planes.

z (B, z_dim) -> StyleMapping -> w (B, W)
w (B, W) -> PlaneSynthesis -> planes (B, 3, C, R, R): one ModulatedConv 3x3 per resolution (4, 8, ..., R / 2; nearest
neighbour doubling between them; each output scaled to unit RMS per latent), then a modulated 1x1 conv without
demodulation to 3 * C channels at R / 2, bilinearly upsampled to R (`upsample_planes`): no convolution runs at the
planes' full resolution.
(A pixel shuffle from 4 * 3 * C channels, as before, gave the planes a 2 x 2 texel checkerboard that showed as stripes
on every render.)

StyleGAN2's modulation and demodulation, applied to the activations (x * s, a shared conv, times the demodulation
factor) so that the batch shares one ordinary convolution. Under autocast the convolutions run in reduced precision;
the styles and the demodulation factors are float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.2
DEMODULATION_EPS = 1e-8
BASE_RESOLUTION = 4  # the learned constant's size


def _float32_region(device: torch.device):
    return torch.autocast(device.type, enabled=False)


def _unit_rms(x: torch.Tensor) -> torch.Tensor:
    """x (B, C, H, W) scaled to a root mean square of 1 per latent (over channels and positions; float32 statistics).

    Demodulation keeps a layer's gain at 1 only for uncorrelated inputs: trained weights that add up spatially smooth
    inputs coherently grew the activations at every layer until the decoder's colours saturated to black and white
    (train/runs/triplane-plane-defects/). This bounds them whatever the weights learn."""
    with _float32_region(x.device):
        scale = torch.rsqrt(x.float().pow(2).mean((1, 2, 3), keepdim=True) + DEMODULATION_EPS)
    return x * scale.to(x.dtype)


class StyleMapping(nn.Module):
    """z (B, z_dim) -> second-moment normalisation -> (Linear, LeakyReLU 0.2) x num_layers -> w (B, width), float32."""

    def __init__(self, z_dim: int, width: int, num_layers: int) -> None:
        super().__init__()
        dims = [z_dim] + [width] * num_layers
        layers: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            linear = nn.Linear(d_in, d_out)
            nn.init.kaiming_normal_(linear.weight, a=LEAKY_SLOPE, nonlinearity="leaky_relu")
            nn.init.zeros_(linear.bias)
            layers += [linear, nn.LeakyReLU(LEAKY_SLOPE)]
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        with _float32_region(z.device):
            z = z.float()
            return self.layers(z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + DEMODULATION_EPS))


class ModulatedConv(nn.Module):
    """A k x k convolution whose input channels are scaled per latent by a style s = A w + 1 (B, I) and, with
    `demodulate`, whose output channels are rescaled to unit expected variance: x (B, I, H, W) -> (B, O, H, W).
    A starts as `style_gain` times a unit-gain linear map of w."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int, demodulate: bool, style_gain: float
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        with torch.no_grad():
            self.weight.mul_((in_channels * kernel_size**2) ** -0.5)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.affine = nn.Linear(style_dim, in_channels)
        nn.init.kaiming_normal_(self.affine.weight, nonlinearity="linear")
        with torch.no_grad():
            self.affine.weight.mul_(style_gain)
        nn.init.ones_(self.affine.bias)
        self.demodulate = demodulate

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        with _float32_region(w.device):
            styles = self.affine(w.float())
            if self.demodulate:
                energy = styles.pow(2) @ self.weight.pow(2).sum((2, 3)).t()  # (B, O): sum over i, k of (W s)^2
                scale = torch.rsqrt(energy + DEMODULATION_EPS)
        out = F.conv2d(x * styles.to(x.dtype)[:, :, None, None], self.weight, padding=self.weight.shape[-1] // 2)
        if self.demodulate:
            out = out * scale.to(out.dtype)[:, :, None, None]
        return out + self.bias.to(out.dtype)[:, None, None]


class PlaneSynthesis(nn.Module):
    """w (B, style_dim) -> planes (B, 3, C, R, R) float32, R = 8 * 2^(len(widths) - 1), stored channels last (a
    permuted view of a contiguous (B, 3, R, R, C) tensor: each texel's C features adjacent)."""

    def __init__(self, style_dim: int, widths: list[int], plane_channels: int, style_gain: float) -> None:
        super().__init__()
        self.constant = nn.Parameter(torch.randn(1, widths[0], BASE_RESOLUTION, BASE_RESOLUTION))
        self.convs = nn.ModuleList(
            [
                ModulatedConv(c_in, c_out, 3, style_dim, True, style_gain)
                for c_in, c_out in zip(widths[:1] + widths, widths)
            ]
        )
        self.to_planes = ModulatedConv(widths[-1], 3 * plane_channels, 1, style_dim, False, style_gain)
        self.plane_channels = plane_channels

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        x = self.constant.expand(w.shape[0], -1, -1, -1)
        for index, conv in enumerate(self.convs):
            if index:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = _unit_rms(F.leaky_relu(conv(x, w), LEAKY_SLOPE))
        return upsample_planes(self.to_planes(x, w), self.plane_channels)


def upsample_planes(x: torch.Tensor, plane_channels: int) -> torch.Tensor:
    """The synthesis's last stage: x (B, 3 * C, R / 2, R / 2) -> planes (B, 3, C, R, R) float32, bilinearly doubled
    (as `F.interpolate(..., scale_factor=2, mode="bilinear", align_corners=False)`) and stored channels last (each
    texel's C features adjacent).

    Written as fixed 0.75 / 0.25 blends of neighbouring texels along each axis on the texel-last layout: the backward
    is slices and sums, where interpolate's is a scatter, and compiled it runs as a few fused kernels
    (`benchmarks/gpu_plane_upsample.py` times it against interpolate)."""
    batch, _, half, _ = x.shape
    texels = x.float().view(batch, 3, plane_channels, half, half).permute(0, 1, 3, 4, 2)  # (B, 3, R/2, R/2, C)
    return _double(_double(texels, 2), 3).permute(0, 1, 4, 2, 3)


def _double(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Bilinear doubling along `dim` (align_corners=False, edges clamped): texel i gives two, 0.75 of itself plus
    0.25 of texel i - 1, then plus 0.25 of texel i + 1."""
    size = t.shape[dim]
    previous = torch.cat([t.narrow(dim, 0, 1), t.narrow(dim, 0, size - 1)], dim)
    following = torch.cat([t.narrow(dim, 1, size - 1), t.narrow(dim, size - 1, 1)], dim)
    return torch.stack([0.75 * t + 0.25 * previous, 0.75 * t + 0.25 * following], dim + 1).flatten(dim, dim + 1)
