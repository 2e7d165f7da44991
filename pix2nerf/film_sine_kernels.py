"""The FiLM and sine of a field layer, forward and backward, as Triton kernels: the training path on CUDA.

A FiLM-SIREN layer is y = x W^T + c (a cuBLAS product, in the matmul dtype as the official fp16 training did),
then h = sin(gamma * y + beta) with per-latent gamma and beta (B, H). Compiled by torch.compile, the elementwise
part and the reductions of its gradient read and write float32 tensors of points x H several times per layer; here
one kernel reads y and writes h, and one reads y and dL/dh and writes dL/dy while it sums dL/dgamma and dL/dbeta
over the points in registers. The backward pass recomputes y from the saved x instead of storing it.
Used where the trainer asks for field_kernels="triton": a 32 px generator step took 135.4 ms in 25.0 GB against
133.6 ms in 35.9 GB compiled (benchmarks/results/gpu_h100_run7.json and run6).

Shapes: y (B, N, H) in the matmul dtype; gamma, beta (B, H) float32; h and dL/dy in the dtype asked for.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from .triton_math import FAST, cosine, sine

BLOCK_M = 32  # rows (points) per step of a program
ROWS_PER_PROGRAM = 512  # the backward kernel's partial sums cover this many points each


@triton.jit
def _film_sine_forward_kernel(
    y_ptr, gamma_ptr, beta_ptr, out_ptr, num_points,
    H: tl.constexpr, BLOCK_M: tl.constexpr, FAST: tl.constexpr,
):
    batch = tl.program_id(1).to(tl.int64)
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, H)
    valid = (rows < num_points)[:, None]
    offsets = (batch * num_points + rows)[:, None] * H + cols[None, :]
    gamma = tl.load(gamma_ptr + batch * H + cols)[None, :]
    beta = tl.load(beta_ptr + batch * H + cols)[None, :]
    y = tl.load(y_ptr + offsets, mask=valid, other=0.0).to(tl.float32)
    out = sine(gamma * y + beta, FAST)
    tl.store(out_ptr + offsets, out.to(out_ptr.dtype.element_ty), mask=valid)


@triton.jit
def _film_sine_backward_kernel(
    y_ptr, grad_out_ptr, gamma_ptr, beta_ptr, grad_y_ptr, partial_gamma_ptr, partial_beta_ptr,
    num_points, num_partials,
    H: tl.constexpr, BLOCK_M: tl.constexpr, ROWS_PER_PROGRAM: tl.constexpr, FAST: tl.constexpr,
):
    block = tl.program_id(0)
    batch = tl.program_id(1).to(tl.int64)
    cols = tl.arange(0, H)
    gamma = tl.load(gamma_ptr + batch * H + cols)[None, :]
    beta = tl.load(beta_ptr + batch * H + cols)[None, :]
    sum_gamma = tl.zeros((H,), dtype=tl.float32)
    sum_beta = tl.zeros((H,), dtype=tl.float32)
    for start in range(0, ROWS_PER_PROGRAM, BLOCK_M):
        rows = block * ROWS_PER_PROGRAM + start + tl.arange(0, BLOCK_M)
        valid = (rows < num_points)[:, None]
        offsets = (batch * num_points + rows)[:, None] * H + cols[None, :]
        y = tl.load(y_ptr + offsets, mask=valid, other=0.0).to(tl.float32)
        grad_out = tl.load(grad_out_ptr + offsets, mask=valid, other=0.0).to(tl.float32)
        grad_arg = grad_out * cosine(gamma * y + beta, FAST)  # zero on masked rows
        tl.store(grad_y_ptr + offsets, (grad_arg * gamma).to(grad_y_ptr.dtype.element_ty), mask=valid)
        sum_gamma += tl.sum(grad_arg * y, axis=0)
        sum_beta += tl.sum(grad_arg, axis=0)
    partial = (batch * num_partials + block) * H + cols
    tl.store(partial_gamma_ptr + partial, sum_gamma)
    tl.store(partial_beta_ptr + partial, sum_beta)


def _checked(y: torch.Tensor) -> tuple[int, int, int]:
    batch, num_points, hidden = y.shape
    if hidden & (hidden - 1) or not 16 <= hidden <= 1024 or y.numel() >= 2**31:
        raise ValueError(f"FiLM-sine kernels need a power-of-two width from 16 to 1024, got {tuple(y.shape)}")
    return batch, num_points, hidden


def film_sine_forward(y: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, out_dtype: torch.dtype) -> torch.Tensor:
    """sin(gamma * y + beta) as `out_dtype` (B, N, H), computed in float32; gamma, beta contiguous (B, H) float32."""
    batch, num_points, hidden = _checked(y)
    out = torch.empty(y.shape, device=y.device, dtype=out_dtype)
    if y.numel():
        grid = (triton.cdiv(num_points, BLOCK_M), batch)
        _film_sine_forward_kernel[grid](y, gamma, beta, out, num_points, H=hidden, BLOCK_M=BLOCK_M, FAST=FAST)
    return out


def film_sine_backward(
    y: torch.Tensor, grad_out: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, grad_dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of h = sin(gamma * y + beta) given dL/dh (B, N, H): dL/dy (B, N, H) as `grad_dtype`, and dL/dgamma,
    dL/dbeta (B, H) float32 (summed over points per block of ROWS_PER_PROGRAM, then over blocks)."""
    batch, num_points, hidden = _checked(y)
    grad_out = grad_out.contiguous()
    grad_y = torch.empty(y.shape, device=y.device, dtype=grad_dtype)
    num_partials = max(1, triton.cdiv(num_points, ROWS_PER_PROGRAM))
    partial_gamma = torch.empty(batch, num_partials, hidden, device=y.device, dtype=torch.float32)
    partial_beta = torch.empty_like(partial_gamma)
    _film_sine_backward_kernel[(num_partials, batch)](
        y, grad_out, gamma, beta, grad_y, partial_gamma, partial_beta, num_points, num_partials,
        H=hidden, BLOCK_M=BLOCK_M, ROWS_PER_PROGRAM=ROWS_PER_PROGRAM, FAST=FAST,
    )
    return grad_y, partial_gamma.sum(1), partial_beta.sum(1)


class TritonFiLMSine(torch.autograd.Function):
    """sin(gamma * (x W^T + c) + beta) as `out_dtype`, the product by cuBLAS in x's dtype and the rest by the kernels
    above; stores x only and recomputes the product in the backward pass (as field._RecomputedFiLMSine).

    x (B, N, K), weight (H, K) in the matmul dtype; bias (H), gamma and beta (B, H) float32.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, gamma, beta, out_dtype):
        gamma, beta = gamma.contiguous(), beta.contiguous()
        ctx.save_for_backward(x, weight, bias, gamma, beta)
        return film_sine_forward(F.linear(x, weight, bias.to(x.dtype)), gamma, beta, out_dtype)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, bias, gamma, beta = ctx.saved_tensors
        y = F.linear(x, weight, bias.to(x.dtype))
        grad_y, grad_gamma, grad_beta = film_sine_backward(y, grad_out, gamma, beta, x.dtype)
        grad_x = grad_y @ weight if ctx.needs_input_grad[0] else None
        grad_weight = grad_y.reshape(-1, grad_y.shape[-1]).t() @ x.reshape(-1, x.shape[-1])
        grad_bias = (gamma * grad_beta).sum(0)  # sum over points of dL/dy = gamma * dL/dbeta, per latent
        return grad_x, grad_weight, grad_bias.to(bias.dtype), grad_gamma, grad_beta, None
