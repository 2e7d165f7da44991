"""The radiance field's inference pass fused into one Triton kernel: points in, rgb and sigma out.

Each program takes BLOCK_M points of one latent through every layer of pix2nerf.fields.siren.SirenField without
writing activations to memory: the first FiLM-SIREN layer (3 -> H) in float32, the hidden ones as float16
tensor-core matmuls with float32 accumulators, then the FiLM and the sine in float32, the colour layer, and the
density and colour heads in float32. These are the numerics of the fp16 autocast path (`fp16` precision; only the
view direction stays float32 here), so the kernel stands in for it where no gradients are needed. The unfused path
writes and reads each layer's activations (points x H floats per layer), which bounds it by memory bandwidth; here
the matmuls and the sine are the cost.

Shapes: points and view directions (B, N, 3) float32; frequencies and phase shifts (B, (L + 1) * H) raw codes;
returns rgb (B, N, 3) in [0, 1] and raw sigma (B, N), float32. H must be a power of two from 16 to 256.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from pix2nerf.fields.base import RadianceField
from pix2nerf.fields.siren import FREQUENCY_OFFSET, FREQUENCY_SCALE, SirenField
from pix2nerf.kernels.triton_math import FAST, sine

BLOCK_M = 128  # points per program (benchmarks/gpu_fused_field.py swept 32-256 and 4 or 8 warps on an H100)
NUM_WARPS = 8
NUM_STAGES = 1  # weight loads not software-pipelined: at 2 stages the first version asked for 262 KiB of shared memory


def supports(field: RadianceField) -> bool:
    """Whether the kernel handles this field: a SirenField whose width is a power of two in 16..256 (a tile of H x H
    weights per layer)."""
    if not isinstance(field, SirenField):
        return False
    hidden = field.hidden_dim
    return 16 <= hidden <= 256 and hidden & (hidden - 1) == 0


@triton.jit
def _film_sine(acc, gamma_ptr, beta_ptr, bias_ptr, cols, FAST_SINE: tl.constexpr):
    """sin(gamma * (acc + bias) + beta) for a (BLOCK_M, len(cols)) float32 tile of the layer's units `cols`."""
    gamma = tl.load(gamma_ptr + cols)
    shift = gamma * tl.load(bias_ptr + cols) + tl.load(beta_ptr + cols)
    return sine(acc * gamma[None, :] + shift[None, :], FAST_SINE)


@triton.jit
def _matmul_half(h0, h1, weight_ptr, cols, H: tl.constexpr):
    """The units `cols` (one half) of [h0 h1] W^T: float16 halves (BLOCK_M, H / 2) of the input, W^T stored
    (in, out) as (H, H); float32 accumulator.

    Activations travel as two halves so that each product holds a quarter of the weights in shared memory and no
    tile has to be split or joined; computing one output half at a time bounds the live accumulators."""
    HALF: tl.constexpr = H // 2
    weight = weight_ptr + tl.arange(0, HALF)[:, None] * H + cols[None, :]
    return tl.dot(h1, tl.load(weight + HALF * H), tl.dot(h0, tl.load(weight)))


@triton.jit
def _linear3(inputs_ptr, point, valid, weight_ptr, cols, scale):
    """(scale * x) W[cols]^T for 3-vectors x at inputs_ptr + point (BLOCK_M rows, masked) and W (H, 3), float32."""
    out = tl.zeros((point.shape[0], cols.shape[0]), dtype=tl.float32)
    for axis in tl.static_range(3):
        x = tl.load(inputs_ptr + point + axis, mask=valid, other=0.0) * scale
        out += x[:, None] * tl.load(weight_ptr + cols * 3 + axis)[None, :]
    return out


@triton.jit
def _radiance_field_kernel(
    points_ptr,
    directions_ptr,
    gamma_ptr,
    beta_ptr,
    first_weight_ptr,
    first_bias_ptr,
    hidden_weight_ptr,
    hidden_bias_ptr,
    color_direction_weight_ptr,
    color_weight_ptr,
    color_bias_ptr,
    density_weight_ptr,
    density_bias_ptr,
    rgb_weight_ptr,
    rgb_bias_ptr,
    rgb_ptr,
    sigma_ptr,
    num_points,
    input_scale,
    NUM_HIDDEN: tl.constexpr,
    H: tl.constexpr,
    BLOCK_M: tl.constexpr,
    FAST_SINE: tl.constexpr,
):
    HALF: tl.constexpr = H // 2
    block = tl.program_id(0)
    batch = tl.program_id(1).to(tl.int64)
    rows = block * BLOCK_M + tl.arange(0, BLOCK_M)
    valid = rows < num_points
    point = (batch * num_points + rows) * 3
    c0 = tl.arange(0, HALF)  # the units of each half
    c1 = c0 + HALF
    gamma_ptr += batch * (NUM_HIDDEN + 2) * H  # this latent's gammas and betas: (L + 1) slices of H
    beta_ptr += batch * (NUM_HIDDEN + 2) * H

    # first layer, 3 -> H, float32: the raw coordinates need the precision
    pre0 = _linear3(points_ptr, point, valid, first_weight_ptr, c0, input_scale)
    pre1 = _linear3(points_ptr, point, valid, first_weight_ptr, c1, input_scale)
    f0 = _film_sine(pre0, gamma_ptr, beta_ptr, first_bias_ptr, c0, FAST_SINE)
    f1 = _film_sine(pre1, gamma_ptr, beta_ptr, first_bias_ptr, c1, FAST_SINE)

    # hidden layers, H -> H: float16 operands, float32 accumulators, FiLM and sine in float32
    for layer in range(NUM_HIDDEN):
        h0, h1 = f0.to(tl.float16), f1.to(tl.float16)
        weight, bias = hidden_weight_ptr + layer * H * H, hidden_bias_ptr + layer * H
        gamma, beta = gamma_ptr + (layer + 1) * H, beta_ptr + (layer + 1) * H
        f0 = _film_sine(_matmul_half(h0, h1, weight, c0, H), gamma, beta, bias, c0, FAST_SINE)
        f1 = _film_sine(_matmul_half(h0, h1, weight, c1, H), gamma, beta, bias, c1, FAST_SINE)

    sigma = tl.sum(f0 * tl.load(density_weight_ptr + c0)[None, :], axis=1)
    sigma += tl.sum(f1 * tl.load(density_weight_ptr + c1)[None, :], axis=1) + tl.load(density_bias_ptr)
    tl.store(sigma_ptr + batch * num_points + rows, sigma, mask=valid)

    # colour layer: [view direction (3, float32), features (H, float16 matmul)] -> H, then the head
    h0, h1 = f0.to(tl.float16), f1.to(tl.float16)
    gamma, beta = gamma_ptr + (NUM_HIDDEN + 1) * H, beta_ptr + (NUM_HIDDEN + 1) * H
    red = tl.zeros((BLOCK_M,), dtype=tl.float32) + tl.load(rgb_bias_ptr)
    green = tl.zeros((BLOCK_M,), dtype=tl.float32) + tl.load(rgb_bias_ptr + 1)
    blue = tl.zeros((BLOCK_M,), dtype=tl.float32) + tl.load(rgb_bias_ptr + 2)
    for half in tl.static_range(2):
        cols = c0 + half * HALF
        pre = _matmul_half(h0, h1, color_weight_ptr, cols, H)
        pre += _linear3(directions_ptr, point, valid, color_direction_weight_ptr, cols, 1.0)
        color = _film_sine(pre, gamma, beta, color_bias_ptr, cols, FAST_SINE)
        red += tl.sum(color * tl.load(rgb_weight_ptr + cols)[None, :], axis=1)
        green += tl.sum(color * tl.load(rgb_weight_ptr + H + cols)[None, :], axis=1)
        blue += tl.sum(color * tl.load(rgb_weight_ptr + 2 * H + cols)[None, :], axis=1)
    tl.store(rgb_ptr + point, tl.sigmoid(red), mask=valid)
    tl.store(rgb_ptr + point + 1, tl.sigmoid(green), mask=valid)
    tl.store(rgb_ptr + point + 2, tl.sigmoid(blue), mask=valid)


class FusedSirenField:
    """Calls the kernel for one SirenField, with its weights packed once (and again after they change). While a CUDA
    graph captures it, it packs them afresh, so that the graph's replays pack the weights of the moment (an
    optimiser updates them in place, which no version check sees during replays)."""

    def __init__(
        self,
        field: SirenField,
        block_m: int = BLOCK_M,
        num_warps: int = NUM_WARPS,
        num_stages: int = NUM_STAGES,
        fast_sine: bool = FAST,
    ) -> None:
        if not supports(field):
            raise ValueError(f"the fused kernel needs a power-of-two hidden_dim from 16 to 256, got {field.hidden_dim}")
        self.field = field
        self.block_m, self.num_warps, self.num_stages, self.fast_sine = block_m, num_warps, num_stages, fast_sine
        self._packed: dict[str, torch.Tensor] | None = None
        self._versions: tuple[int, ...] = ()
        self.compiled_kernel = None

    def _weights(self) -> dict[str, torch.Tensor]:
        """The field's weights in the kernel's layout; repacked when a parameter changed in place or was replaced."""
        if _capturing(self.field.device):
            return _pack(self.field)
        params = list(self.field.parameters())
        versions = tuple(p._version for p in params) + tuple(p.data_ptr() for p in params)
        if self._packed is None or versions != self._versions:
            self._packed = _pack(self.field)
            self._versions = versions
        return self._packed

    def __call__(
        self, points: torch.Tensor, directions: torch.Tensor, frequencies: torch.Tensor, phase_shifts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """rgb (B, N, 3) in [0, 1] and raw sigma (B, N), float32, as SirenField.forward under fp16 autocast."""
        field, w = self.field, self._weights()
        batch, num_points = points.shape[:2]
        if points.numel() >= 2**31:
            raise ValueError("too many points for one kernel launch; render in chunks")
        points = points.float().contiguous()
        directions = directions.float().contiguous()
        gammas = (FREQUENCY_SCALE * frequencies.float() + FREQUENCY_OFFSET).contiguous()
        betas = phase_shifts.float().contiguous()
        rgb = torch.empty(batch, num_points, 3, device=points.device, dtype=torch.float32)
        sigma = torch.empty(batch, num_points, device=points.device, dtype=torch.float32)
        if num_points == 0:
            return rgb, sigma
        grid = (triton.cdiv(num_points, self.block_m), batch)
        self.compiled_kernel = _radiance_field_kernel[grid](  # (kept for benchmarks: registers, spills)
            points,
            directions,
            gammas,
            betas,
            w["first_weight"],
            w["first_bias"],
            w["hidden_weight"],
            w["hidden_bias"],
            w["color_direction_weight"],
            w["color_weight"],
            w["color_bias"],
            w["density_weight"],
            w["density_bias"],
            w["rgb_weight"],
            w["rgb_bias"],
            rgb,
            sigma,
            num_points,
            float(field.input_scale),
            NUM_HIDDEN=len(field.film_layers) - 1,
            H=field.hidden_dim,
            BLOCK_M=self.block_m,
            FAST_SINE=self.fast_sine,
            num_warps=self.num_warps,
            num_stages=self.num_stages,
        )
        return rgb, sigma


def _capturing(device: torch.device) -> bool:
    """Whether a CUDA graph is capturing the current stream of `device`."""
    return device.type == "cuda" and torch.cuda.is_current_stream_capturing()


@torch.no_grad()
def _pack(field: SirenField) -> dict[str, torch.Tensor]:
    """Kernel layout: hidden and colour weights transposed to (in, out) float16, everything else float32."""
    hidden = field.film_layers[1:]
    color = field.color_film.linear
    return {
        "first_weight": field.film_layers[0].linear.weight.float().contiguous(),  # (H, 3)
        "first_bias": field.film_layers[0].linear.bias.float().contiguous(),
        "hidden_weight": torch.stack([layer.linear.weight.t() for layer in hidden]).half().contiguous(),  # (L-1, H, H)
        "hidden_bias": torch.stack([layer.linear.bias for layer in hidden]).float().contiguous(),  # (L-1, H)
        "color_direction_weight": color.weight[:, :3].float().contiguous(),  # (H, 3)
        "color_weight": color.weight[:, 3:].t().half().contiguous(),  # (H, H)
        "color_bias": color.bias.float().contiguous(),
        "density_weight": field.density_head.weight[0].float().contiguous(),  # (H,)
        "density_bias": field.density_head.bias.float().contiguous(),  # (1,)
        "rgb_weight": field.color_head.weight.float().contiguous(),  # (3, H)
        "rgb_bias": field.color_head.bias.float().contiguous(),
    }
