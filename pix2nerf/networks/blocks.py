"""Building blocks of the encoder and discriminators: CoordConv, residual blocks, fromRGB adapters, and the
progressive image pyramid with fade-in shared by all of them."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pix2nerf.networks.transposed_grad_conv import transposed_grad_conv2d


def _kaiming_leaky_(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=0.2, mode="fan_in", nonlinearity="leaky_relu")


def pointwise_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int = 1) -> torch.Tensor:
    """`F.conv2d(x, weight, bias, stride)` for a 1x1 kernel, as a matrix product over channels: x (B, C, H, W),
    weight (O, C, 1, 1) -> (B, O, H', W') in x's memory layout.

    Its derivatives of every order are matrix products; cuDNN's generic double backward of a 1x1 convolution (R1's,
    through fromRGB and the skips) computes the weight's share as a convolution whose kernel is the whole image,
    which it serves with a slow kernel (docs/performance.md)."""
    channels_last = is_channels_last(x)
    x, matrix = x[:, :, ::stride, ::stride], weight.flatten(1)
    if channels_last:
        return F.linear(x.movedim(1, -1), matrix, bias).movedim(-1, 1)
    y = torch.matmul(matrix, x.flatten(2)).unflatten(2, x.shape[-2:])
    return y if bias is None else y + bias.to(y.dtype)[:, None, None]  # autocast's dtype, as F.conv2d's


def average_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """`F.avg_pool2d(x, 2)` of (B, C, H, W) with even H and W, as a mean over 2 x 2 cells: its backward is a broadcast
    (no pooling-backward kernel), in x's memory layout."""
    if is_channels_last(x):  # pool the (B, H, W, C) view, so that the result keeps the layout
        return x.movedim(1, -1).unflatten(1, (-1, 2)).unflatten(3, (-1, 2)).mean((2, 4)).movedim(-1, 1)
    return x.unflatten(2, (-1, 2)).unflatten(4, (-1, 2)).mean((3, 5))


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether (B, C, H, W) x is laid out channels last (and not also contiguous, as when H = W = 1)."""
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def coordinate_channels(x: torch.Tensor) -> torch.Tensor:
    """Two channels (B, 2, H, W) in [-1, 1]: the row coordinate, then the column coordinate."""
    batch, _, height, width = x.shape
    rows = torch.linspace(-1.0, 1.0, height, device=x.device, dtype=x.dtype)
    cols = torch.linspace(-1.0, 1.0, width, device=x.device, dtype=x.dtype)
    grid = torch.stack(torch.meshgrid(rows, cols, indexing="ij"))
    return grid.expand(batch, 2, height, width)


class CoordConv(nn.Module):
    """A convolution that also sees the pixel coordinates (CoordConv, Liu et al. 2018).

    The weight (O, C + 2, k, k) is that of one convolution of the input concatenated with `coordinate_channels`;
    by linearity it runs as two: the input's C channels (aligned as the input is, no concatenated copy) plus the
    coordinates' share, which depends on no image and is computed once for the batch (1, O, H', W', the bias
    included). `transposed_input_grad` (`use_transposed_input_grad`) convolves the input through
    `transposed_grad_conv2d`, whose second derivative (R1) avoids cuDNN's fallback kernel; its backward passes that
    build a graph (R1's first) then give the input's gradient only.
    """

    def __init__(self, in_channels: int, out_channels: int, **conv_kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels + 2, out_channels, **conv_kwargs)
        if self.conv.groups != 1 or self.conv.padding_mode != "zeros":
            raise ValueError(f"CoordConv takes groups 1 and zero padding only: {self.conv}")
        self.transposed_input_grad = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, channels = self.conv, self.conv.in_channels - 2
        if x.ndim != 4 or x.shape[1] != channels:
            raise ValueError(f"CoordConv expects (B, {channels}, H, W) inputs, got {tuple(x.shape)}")
        weight, coordinate_weight = conv.weight[:, :channels], conv.weight[:, channels:]
        options = conv.stride, conv.padding, conv.dilation
        coordinates = F.conv2d(coordinate_channels(x[:1]), coordinate_weight, conv.bias, *options)
        if self.transposed_input_grad:
            images = transposed_grad_conv2d(
                x, weight, None, conv.stride[0], conv.padding[0], input_only_when_creating_graph=True
            )
        else:
            images = F.conv2d(x, weight, None, *options)
        return images + coordinates


def use_transposed_input_grad(module: nn.Module, enabled: bool) -> None:
    """Sets `transposed_input_grad` of every CoordConv in `module` (same values and derivatives; R1's kernels)."""
    for layer in module.modules():
        if isinstance(layer, CoordConv):
            conv = layer.conv
            square = len(set(conv.stride)) == 1 and len(set(conv.padding)) == 1
            if enabled and not (square and conv.dilation == (1, 1)):
                raise ValueError(f"transposed_grad_conv2d takes square strides, square paddings, dilation 1: {conv}")
            layer.transposed_input_grad = bool(enabled)


class StridedResidualBlock(nn.Module):
    """CCS block: CoordConv 3x3, CoordConv 3x3 stride 2, plus a strided 1x1 skip; halves the resolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = CoordConv(in_channels, out_channels, kernel_size=3, padding=1)
        self.conv2 = CoordConv(out_channels, out_channels, kernel_size=3, stride=2, padding=1)
        _kaiming_leaky_(self)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x), 0.2)), 0.2)
        return (y + pointwise_conv2d(x, self.skip.weight, self.skip.bias, stride=2)) / math.sqrt(2)


class PooledResidualBlock(nn.Module):
    """Progressive-discriminator block: two CoordConv 3x3, then 2x2 average pooling of both paths."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = CoordConv(in_channels, out_channels, kernel_size=3, padding=1)
        self.conv2 = CoordConv(out_channels, out_channels, kernel_size=3, padding=1)
        _kaiming_leaky_(self)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = average_pool2x2(F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x), 0.2)), 0.2))
        identity = average_pool2x2(x)
        if self.skip is not None:
            identity = pointwise_conv2d(identity, self.skip.weight, self.skip.bias)
        return (y + identity) / math.sqrt(2)


class FromRGB(nn.Module):
    """1x1 convolution from an RGB image to a pyramid level's channels, LeakyReLU 0.2."""

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(pointwise_conv2d(x, self.conv.weight, self.conv.bias), 0.2)


class ProgressivePyramid(nn.Module):
    """An image pyramid that accepts any power-of-two resolution up to 2 ** len(channels).

    channels[i] is the width at resolution 2 ** (len(channels) - i); each block halves the resolution down to 2x2,
    where a 2x2 convolution gives `out_features` numbers. Entering at a resolution above the lowest, the first
    block's output fades in over the adapter of the half-size image: alpha * block + (1 - alpha) * fromRGB(down).
    """

    def __init__(self, channels: list[int], block: type[nn.Module], out_features: int) -> None:
        super().__init__()
        self.channels = list(channels)
        self.from_rgb = nn.ModuleList([FromRGB(c) for c in channels])
        self.blocks = nn.ModuleList([block(c_in, c_out) for c_in, c_out in zip(channels[:-1], channels[1:])])
        self.head = nn.Conv2d(channels[-1], out_features, 2)

    @property
    def max_resolution(self) -> int:
        return 2 ** len(self.channels)

    def forward(self, images: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """images (B, 3, R, R) in [-1, 1] -> (B, out_features)."""
        resolution = images.shape[-1]
        if (
            images.shape[-2] != resolution
            or resolution & (resolution - 1)
            or not 2 <= resolution <= self.max_resolution
        ):
            raise ValueError(
                f"images must be square with a power-of-two side in [2, {self.max_resolution}], "
                f"got {tuple(images.shape[-2:])}"
            )
        start = len(self.channels) - int(math.log2(resolution))
        x = self.from_rgb[start](images)
        for i, block in enumerate(self.blocks[start:]):
            if i == 1 and alpha < 1.0:
                x = alpha * x + (1 - alpha) * self.from_rgb[start + 1](
                    F.interpolate(images, scale_factor=0.5, mode="nearest")
                )
            x = block(x)
        return self.head(x).flatten(1)
