"""The tri-plane field's inference pass fused into one Triton kernel: points in, rgb and sigma out (issue 27).

Each program takes BLOCK_M points of one latent: their 12 plane texels' bilinear weights, the weighted sum of those
texels' C features (float32), the decoder MLP as float16 tensor-core matmuls with float32 accumulators, then the
density bump, the scene box and the colour's sigmoid in float32 — the numerics of
pix2nerf.fields.triplane.TriplaneField under fp16 autocast (its head's products in float32 here), without writing the
texel indices, their weights, the features or the decoder's activations to memory as the unfused path does.

It reads the field's parameters as they are on every call (no packed copy), so a CUDA graph that captured it reads
the weights an optimiser updates in place: training's step graphs can replay it.

Shapes: points (B, N, 3) float32; planes (B, 3, C, R, R) or one latent's (1, ...) for every row (also expanded with
stride 0); returns rgb (B, N, 3) in [-m, 1 + m] and raw sigma (B, N), float32. C and the decoder's width must be
powers of two from 16 to 256.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from pix2nerf.fields.base import RadianceField
from pix2nerf.fields.triplane import BLOB_DENSITY, BLOB_RADIUS, TriplaneField

BLOCK_M = 64  # points per program (benchmarks/gpu_fused_triplane.py swept 32-256 and 4 or 8 warps on an H100)
NUM_WARPS = 4


def _power_of_two(n: int) -> bool:
    return 16 <= n <= 256 and n & (n - 1) == 0


def supports(field: RadianceField) -> bool:
    """Whether the kernel handles this field: a TriplaneField whose plane channels and decoder width are powers of
    two from 16 to 256 (tensor-core tiles)."""
    if not isinstance(field, TriplaneField):
        return False
    first = field.decoder[0]
    return _power_of_two(first.in_features) and _power_of_two(first.out_features)


@triton.jit
def _texel_coordinate(coordinate, scale, shift, R: tl.constexpr):
    """The lower texel (int64) and the fraction past it along one axis, as TriplaneField._features computes them."""
    texel = tl.minimum(tl.maximum(coordinate * scale + shift, 0.0), R - 1.0)
    low = tl.minimum(tl.floor(texel), R - 2.0)
    return low.to(tl.int64), texel - low


@triton.jit
def _plane_features(features, table_ptr, start, u, v, scale, shift, channel, valid, R: tl.constexpr, C: tl.constexpr):
    """features + the bilinear features (BLOCK_M, C) of one plane whose texels begin at `start` (int64 rows)."""
    low_u, fraction_u = _texel_coordinate(u, scale, shift, R)
    low_v, fraction_v = _texel_coordinate(v, scale, shift, R)
    first = start + low_v * R + low_u
    for corner_v in tl.static_range(2):
        weight_v = fraction_v if corner_v else 1.0 - fraction_v
        for corner_u in tl.static_range(2):
            weight = weight_v * (fraction_u if corner_u else 1.0 - fraction_u)
            texel = first + corner_v * R + corner_u
            values = tl.load(table_ptr + texel[:, None] * C + channel[None, :], mask=valid[:, None], other=0.0)
            features += weight[:, None] * values
    return features


@triton.jit
def _linear_relu(x, weight_ptr, bias_ptr, IN: tl.constexpr, OUT: tl.constexpr):
    """relu(x W^T + b) rounded to float16: x (BLOCK_M, IN) float16, W (OUT, IN) and b (OUT,) float32 parameters."""
    rows = tl.arange(0, IN)
    cols = tl.arange(0, OUT)
    weight = tl.load(weight_ptr + cols[None, :] * IN + rows[:, None]).to(tl.float16)  # W^T: (IN, OUT)
    out = tl.dot(x, weight) + tl.load(bias_ptr + cols)[None, :]
    return tl.maximum(out, 0.0).to(tl.float16)


@triton.jit
def _head_column(hidden, head_weight_ptr, head_bias_ptr, column, D: tl.constexpr):
    """One output of the decoder's head: hidden (BLOCK_M, D) float16 times its float16-rounded weights, float32."""
    weight = tl.load(head_weight_ptr + column * D + tl.arange(0, D)).to(tl.float16).to(tl.float32)
    return tl.sum(hidden.to(tl.float32) * weight[None, :], axis=1) + tl.load(head_bias_ptr + column)


@triton.jit
def _triplane_kernel(
    points_ptr,
    table_ptr,
    first_weight_ptr,
    first_bias_ptr,
    hidden_weight_ptr,
    hidden_bias_ptr,
    head_weight_ptr,
    head_bias_ptr,
    rgb_ptr,
    sigma_ptr,
    num_points,
    latent_texels,
    scale,
    shift,
    half_size,
    blob_scale,
    blob_density,
    colour_margin,
    R: tl.constexpr,
    C: tl.constexpr,
    D: tl.constexpr,
    NUM_HIDDEN: tl.constexpr,
    BLOCK_M: tl.constexpr,
):
    batch = tl.program_id(1).to(tl.int64)
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    valid = rows < num_points
    point = (batch * num_points + rows) * 3
    x = tl.load(points_ptr + point, mask=valid, other=0.0)
    y = tl.load(points_ptr + point + 1, mask=valid, other=0.0)
    z = tl.load(points_ptr + point + 2, mask=valid, other=0.0)

    # the XY, XZ and YZ planes (pix2nerf.fields.triplane.PLANE_COLUMNS), summed
    channel = tl.arange(0, C)
    start = batch * latent_texels
    features = tl.zeros((BLOCK_M, C), dtype=tl.float32)
    features = _plane_features(features, table_ptr, start, x, y, scale, shift, channel, valid, R, C)
    features = _plane_features(features, table_ptr, start + R * R, x, z, scale, shift, channel, valid, R, C)
    features = _plane_features(features, table_ptr, start + 2 * R * R, y, z, scale, shift, channel, valid, R, C)

    hidden = _linear_relu(features.to(tl.float16), first_weight_ptr, first_bias_ptr, C, D)
    for layer in range(NUM_HIDDEN):
        hidden = _linear_relu(hidden, hidden_weight_ptr + layer * D * D, hidden_bias_ptr + layer * D, D, D)

    bump = tl.maximum((x * x + y * y + z * z) * blob_scale + 1.0, 0.0) * blob_density
    inside = (tl.abs(x) <= half_size) & (tl.abs(y) <= half_size) & (tl.abs(z) <= half_size)
    density = _head_column(hidden, head_weight_ptr, head_bias_ptr, 0, D) + bump
    tl.store(sigma_ptr + batch * num_points + rows, tl.where(inside, density, 0.0), mask=valid)
    for colour in tl.static_range(3):
        logit = _head_column(hidden, head_weight_ptr, head_bias_ptr, colour + 1, D)
        value = tl.sigmoid(logit) * (1.0 + 2.0 * colour_margin) - colour_margin
        tl.store(rgb_ptr + point + colour, value, mask=valid)


class FusedTriplaneField:
    """Calls the kernel for one TriplaneField."""

    def __init__(self, field: TriplaneField, block_m: int = BLOCK_M, num_warps: int = NUM_WARPS) -> None:
        if not supports(field):
            raise ValueError(
                "the fused tri-plane kernel needs plane channels and a decoder width that are powers of two from 16 "
                "to 256"
            )
        self.field = field
        self.block_m, self.num_warps = block_m, num_warps

    def __call__(
        self, points: torch.Tensor, directions: torch.Tensor, planes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """rgb (B, N, 3) and raw sigma (B, N), float32, as TriplaneField.forward under fp16 autocast; directions are
        not used (a tri-plane's colour does not depend on them)."""
        field = self.field
        batch, num_points = points.shape[:2]
        if points.numel() >= 2**31:
            raise ValueError("too many points for one kernel launch; render in chunks")
        channels, resolution = planes.shape[2], planes.shape[-1]
        one_latent = planes.shape[0] == 1 or planes.stride(0) == 0
        planes = planes[:1] if one_latent else planes
        # (P * 3 * R * R, C): a view of planes in the layout latent_codes gives them, a copy of any other
        table = planes.float().permute(0, 1, 3, 4, 2).reshape(-1, channels).contiguous()
        points = points.float().contiguous()
        linears = [module for module in field.decoder if isinstance(module, torch.nn.Linear)]
        first, hidden, head = linears[0], linears[1:-1], linears[-1]
        if hidden:  # stacked on every call: a CUDA graph replays the stacking with the weights of the moment
            hidden_weight = torch.stack([layer.weight for layer in hidden]).float()
            hidden_bias = torch.stack([layer.bias for layer in hidden]).float()
        else:
            hidden_weight, hidden_bias = first.weight, first.bias  # unused pointers
        rgb = torch.empty(batch, num_points, 3, device=points.device, dtype=torch.float32)
        sigma = torch.empty(batch, num_points, device=points.device, dtype=torch.float32)
        if num_points == 0:
            return rgb, sigma
        half_size = field.half_size
        grid = (triton.cdiv(num_points, self.block_m), batch)
        _triplane_kernel[grid](
            points,
            table,
            first.weight.float().contiguous(),
            first.bias.float().contiguous(),
            hidden_weight.contiguous(),
            hidden_bias.contiguous(),
            head.weight.float().contiguous(),
            head.bias.float().contiguous(),
            rgb,
            sigma,
            num_points,
            0 if one_latent else 3 * resolution**2,
            resolution / (2 * half_size),
            resolution / 2 - 0.5,
            half_size,
            -1 / (BLOB_RADIUS * half_size) ** 2,
            BLOB_DENSITY,
            float(field.colour_margin),
            R=resolution,
            C=channels,
            D=first.out_features,
            NUM_HIDDEN=len(hidden),
            BLOCK_M=self.block_m,
            num_warps=self.num_warps,
        )
        return rgb, sigma
