"""A FiLM-SIREN layer's product, FiLM and sine, forward and backward, as Triton kernels: the training path on CUDA.

A layer is h = sin(gamma * (x W^T + c) + beta) with per-latent gamma and beta (B, H). Here the product's float32
accumulator goes straight into the FiLM and the sine: the forward kernel reads x and writes h, and the backward
kernel recomputes the product from the saved x, reads dL/dh and writes dL/dy (y = x W^T + c) while it sums dL/dgamma
and dL/dbeta over its points in registers. Neither y nor any other intermediate of points x H goes through memory;
dL/dx and dL/dW are then two cuBLAS products of dL/dy. The trainer's default on CUDA under fp16 (field_kernels
"auto"); docs/performance.md has their speed against torch.compile, and the tiles come from the sweep in
benchmarks/gpu_film_sine_kernels.py.

Shapes: x (B, N, K) in the matmul dtype, weight (H, K) in x's dtype, bias (H), gamma and beta (B, H) float32;
h and dL/dy (B, N, H). A width K under 16 (the first layer's coordinates) is multiplied in float32 without tensor
cores, and its weight gradient is summed in the backward kernel too (the coordinates need no gradient, so dL/dy is
not written at all).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl

from pix2nerf.kernels.triton_math import FAST, cosine, sine


class Tile(NamedTuple):
    """A program's share of a layer: block_m points x block_n output channels, block_k input channels per step."""

    block_m: int
    block_n: int
    block_k: int
    num_warps: int
    num_stages: int


FORWARD_TILE = Tile(128, 128, 64, 4, 3)
BACKWARD_TILE = Tile(64, 128, 64, 4, 3)


@triton.jit
def _product_tile(
    x_ptr,
    weight_ptr,
    bias_ptr,
    row_offsets,
    rows_valid,
    cols,
    K: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """x W^T + c on rows `row_offsets` (BLOCK_M,) and output channels `cols` (BLOCK_N,): float32 (BLOCK_M, BLOCK_N)."""
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    if K < 16:  # too narrow for tensor cores: outer products in float32
        for k in tl.static_range(K):
            x = tl.load(x_ptr + row_offsets * K + k, mask=rows_valid, other=0.0).to(tl.float32)
            w = tl.load(weight_ptr + cols * K + k).to(tl.float32)
            acc += x[:, None] * w[None, :]
    else:
        for start in range(0, K, BLOCK_K):
            ks = start + tl.arange(0, BLOCK_K)
            x = tl.load(
                x_ptr + row_offsets[:, None] * K + ks[None, :], mask=rows_valid[:, None] & (ks < K)[None, :], other=0.0
            )
            w = tl.load(weight_ptr + cols[None, :] * K + ks[:, None], mask=(ks < K)[:, None], other=0.0)
            acc = tl.dot(x, w, acc, input_precision="ieee")
    return acc + tl.load(bias_ptr + cols).to(tl.float32)[None, :]


@triton.jit
def _film_tile(
    x_ptr,
    weight_ptr,
    bias_ptr,
    gamma_ptr,
    beta_ptr,
    num_points,
    K: tl.constexpr,
    H: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """This program's tile: (block of points, latent, output channels (BLOCK_N,), valid rows and row offsets
    (BLOCK_M,), y = x W^T + c float32 (BLOCK_M, BLOCK_N), gamma and beta (1, BLOCK_N)). The channel blocks of one
    block of points are neighbours in the launch order, so the second reads its x from L2."""
    channel_blocks: tl.constexpr = H // BLOCK_N
    block = tl.program_id(0) // channel_blocks
    cols = (tl.program_id(0) % channel_blocks) * BLOCK_N + tl.arange(0, BLOCK_N)
    batch = tl.program_id(1).to(tl.int64)
    rows = block * BLOCK_M + tl.arange(0, BLOCK_M)
    valid = rows < num_points
    row_offsets = batch * num_points + rows
    y = _product_tile(x_ptr, weight_ptr, bias_ptr, row_offsets, valid, cols, K, BLOCK_M, BLOCK_N, BLOCK_K)
    gamma = tl.load(gamma_ptr + batch * H + cols)[None, :]
    beta = tl.load(beta_ptr + batch * H + cols)[None, :]
    return block, batch, cols, valid, row_offsets, y, gamma, beta


@triton.jit
def _film_sine_forward_kernel(
    x_ptr,
    weight_ptr,
    bias_ptr,
    gamma_ptr,
    beta_ptr,
    out_ptr,
    num_points,
    K: tl.constexpr,
    H: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    FAST: tl.constexpr,
):
    _, _, cols, valid, row_offsets, y, gamma, beta = _film_tile(
        x_ptr, weight_ptr, bias_ptr, gamma_ptr, beta_ptr, num_points, K, H, BLOCK_M, BLOCK_N, BLOCK_K
    )
    out = sine(gamma * y + beta, FAST)
    tl.store(out_ptr + row_offsets[:, None] * H + cols[None, :], out.to(out_ptr.dtype.element_ty), mask=valid[:, None])


@triton.jit
def _film_sine_backward_kernel(
    x_ptr,
    weight_ptr,
    bias_ptr,
    gamma_ptr,
    beta_ptr,
    grad_out_ptr,
    grad_y_ptr,
    partial_gamma_ptr,
    partial_beta_ptr,
    partial_weight_ptr,
    num_points,
    num_blocks,
    K: tl.constexpr,
    H: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    WRITE_GRAD_Y: tl.constexpr,
    FAST: tl.constexpr,
):
    block, batch, cols, valid, row_offsets, y, gamma, beta = _film_tile(
        x_ptr, weight_ptr, bias_ptr, gamma_ptr, beta_ptr, num_points, K, H, BLOCK_M, BLOCK_N, BLOCK_K
    )
    offsets = row_offsets[:, None] * H + cols[None, :]
    grad_out = tl.load(grad_out_ptr + offsets, mask=valid[:, None], other=0.0).to(tl.float32)
    grad_arg = grad_out * cosine(gamma * y + beta, FAST)  # zero on masked rows
    grad_y = grad_arg * gamma
    if WRITE_GRAD_Y:
        tl.store(grad_y_ptr + offsets, grad_y.to(grad_y_ptr.dtype.element_ty), mask=valid[:, None])
    partial = block + batch * num_blocks
    tl.store(partial_gamma_ptr + partial * H + cols, tl.sum(grad_arg * y, axis=0))
    tl.store(partial_beta_ptr + partial * H + cols, tl.sum(grad_arg, axis=0))
    if K < 16:  # a narrow input's weight gradient, summed here instead of by a product that reads dL/dy back
        for k in tl.static_range(K):
            x = tl.load(x_ptr + row_offsets * K + k, mask=valid, other=0.0).to(tl.float32)
            tl.store(partial_weight_ptr + (partial * K + k) * H + cols, tl.sum(grad_y * x[:, None], axis=0))


def _launch_shape(x: torch.Tensor, weight: torch.Tensor) -> tuple[int, int, int, int]:
    """(B, N, K, H), checked: a power-of-two width H of at least 16, matching K."""
    batch, num_points, width = x.shape
    hidden = weight.shape[0]
    if weight.shape[1] != width or hidden & (hidden - 1) or not 16 <= hidden <= 1024 or x.numel() >= 2**31:
        raise ValueError(
            f"FiLM-sine kernels need x (B, N, K) and weight (H, K) with H a power of two from 16 to 1024, "
            f"got {tuple(x.shape)} and {tuple(weight.shape)}"
        )
    return batch, num_points, width, hidden


def _launch(kernel, tile: Tile, batch: int, num_points: int, hidden: int, *args, **constants) -> None:
    """Run `kernel` on every (block of points, block of channels, latent)."""
    block_n = min(tile.block_n, hidden)
    kernel[(triton.cdiv(num_points, tile.block_m) * (hidden // block_n), batch)](
        *args,
        num_points,
        **constants,
        H=hidden,
        BLOCK_M=tile.block_m,
        BLOCK_N=block_n,
        BLOCK_K=tile.block_k,
        FAST=FAST,
        num_warps=tile.num_warps,
        num_stages=tile.num_stages,
    )


def film_sine_forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """sin(gamma * (x W^T + c) + beta) as `out_dtype` (B, N, H), the product accumulated and the rest computed in
    float32; every tensor contiguous."""
    batch, num_points, width, hidden = _launch_shape(x, weight)
    out = torch.empty(batch, num_points, hidden, device=x.device, dtype=out_dtype)
    if out.numel():
        _launch(
            _film_sine_forward_kernel,
            FORWARD_TILE,
            batch,
            num_points,
            hidden,
            x,
            weight,
            bias,
            gamma,
            beta,
            out,
            K=width,
        )
    return out


def film_sine_backward(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    grad_out: torch.Tensor,
    need_grad_y: bool = True,
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """For h = film_sine_forward(...) and dL/dh (B, N, H), where y = x W^T + c: dL/dy (B, N, H) in x's dtype (or
    None where not needed), dL/dgamma and dL/dbeta (B, H) float32, and for K under 16 dL/dW (H, K) float32 (else
    None); the sums over points are taken per program, then over programs."""
    batch, num_points, width, hidden = _launch_shape(x, weight)
    narrow = width < 16
    point_blocks = max(1, triton.cdiv(num_points, BACKWARD_TILE.block_m))
    grad_y = torch.empty(batch, num_points, hidden, device=x.device, dtype=x.dtype) if need_grad_y else None
    partial_gamma = torch.zeros(batch * point_blocks, hidden, device=x.device, dtype=torch.float32)
    partial_beta = torch.zeros_like(partial_gamma)
    partial_weight = torch.zeros(batch * point_blocks, width if narrow else 0, hidden, device=x.device)
    if num_points and batch:
        _launch(
            _film_sine_backward_kernel,
            BACKWARD_TILE,
            batch,
            num_points,
            hidden,
            x,
            weight,
            bias,
            gamma,
            beta,
            grad_out.contiguous(),
            partial_gamma if grad_y is None else grad_y,  # (a stand-in pointer, unwritten)
            partial_gamma,
            partial_beta,
            partial_weight,
            K=width,
            num_blocks=point_blocks,
            WRITE_GRAD_Y=need_grad_y,
        )
    grad_weight = partial_weight.sum(0).t() if narrow else None
    per_latent = lambda partial: partial.view(batch, point_blocks, hidden).sum(1)  # noqa: E731
    return grad_y, per_latent(partial_gamma), per_latent(partial_beta), grad_weight


ALIGNMENT = 8  # input widths in multiples of this keep cuBLAS's backward products on tensor-core kernels


class TritonFiLMSine(torch.autograd.Function):
    """sin(gamma * (x W^T + c) + beta) as `out_dtype` by the kernels above; stores x only and recomputes the
    product in the backward pass (as pix2nerf.fields.siren.recomputed_film_sine, whose signature it shares).

    x (B, N, K), weight (H, K) in the matmul dtype; bias (H), gamma and beta (B, H) float32. Any K works; a K of 16
    or more that is not a multiple of ALIGNMENT leaves the backward products on slow unaligned kernels (as the colour
    layer's 259 channels did), so the field builds that input 264 wide
    (`SirenField.forward_with`'s input_alignment).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, gamma, beta, out_dtype):
        x, weight, gamma, beta = x.contiguous(), weight.contiguous(), gamma.contiguous(), beta.contiguous()
        ctx.save_for_backward(x, weight, bias, gamma, beta)
        return film_sine_forward(x, weight, bias, gamma, beta, out_dtype)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, bias, gamma, beta = ctx.saved_tensors
        need_grad_x = ctx.needs_input_grad[0]
        grad_y, grad_gamma, grad_beta, grad_weight = film_sine_backward(
            x, weight, bias, gamma, beta, grad_out, need_grad_y=need_grad_x or x.shape[-1] >= 16
        )
        grad_x = grad_y @ weight if need_grad_x else None
        if grad_weight is None:
            grad_weight = grad_y.reshape(-1, grad_y.shape[-1]).t() @ x.reshape(-1, x.shape[-1])
        grad_bias = (gamma * grad_beta).sum(0)  # sum over points of dL/dy = gamma * dL/dbeta, per latent
        return grad_x, grad_weight.to(weight.dtype), grad_bias.to(bias.dtype), grad_gamma, grad_beta, None
