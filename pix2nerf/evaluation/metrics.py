"""Image metrics shared by the training losses and the evaluation: PSNR, SSIM (the official code's, and
scikit-image's for comparison with other papers) and the object colour error."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pix2nerf.extras import require

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, (B,), of images (B, C, H, W)."""
    mse = (x.float() - y.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-12))


def _gaussian_window(channels: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(SSIM_WINDOW, device=device, dtype=dtype) - SSIM_WINDOW // 2
    g = torch.exp(-(coords**2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW).contiguous()


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image, (B,), of images (B, C, H, W): 11x11 Gaussian window, sigma 1.5,
    C1 = (0.01 L)^2, C2 = (0.03 L)^2 with L = data_range, zero padding (the pytorch-ssim form of the official code)."""
    x, y = x.float(), y.float()
    channels = x.shape[1]
    window = _gaussian_window(channels, x.device, x.dtype)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, padding=SSIM_WINDOW // 2, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(1)


def ssim_skimage(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image, (B,), of images (B, C, H, W) as scikit-image computes it
    (`structural_similarity(data_range=..., channel_axis=-1)`: 7x7 uniform window, no padding, the pixelNeRF
    protocol's form)."""
    structural_similarity = require("skimage.metrics", "scikit-image's SSIM").structural_similarity
    x_np = x.detach().float().cpu().permute(0, 2, 3, 1).numpy().astype(np.float64)
    y_np = y.detach().float().cpu().permute(0, 2, 3, 1).numpy().astype(np.float64)
    values = [structural_similarity(a, b, data_range=data_range, channel_axis=-1) for a, b in zip(x_np, y_np)]
    return torch.tensor(values, dtype=torch.float32)


def colour_error(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Object colour error per image, (B,): the L2 distance between the mean RGB of x and of y (B, 3, H, W) over
    the pixels of mask (B, H, W) (the object: ground-truth alpha > 0.5); 0 where the mask is empty."""
    weights = mask.float()[:, None]
    count = weights.sum((2, 3)).clamp_min(1.0)
    mean_x, mean_y = (x.float() * weights).sum((2, 3)) / count, (y.float() * weights).sum((2, 3)) / count
    return (mean_x - mean_y).norm(dim=1)
