"""The tri-plane field's bilinear lookups as one weighted gather on Triton (issue 27), forward and backward.

out[m] = sum_k weights[m, k] * table[index[m, k]]: the same function as `F.embedding_bag(index, table,
per_sample_weights=weights, mode="sum")`, which the field uses elsewhere. Its backward accumulates the table's
gradient with float32 atomic adds where embedding_bag's sorts the indices first, and gives the weights' gradient
(what reaches the points) only when they need one. (Summing runs of equal texels in consecutive rows before the atomic
adds measured slower on a training render's rows, where 4-8% of rows repeat their predecessor's texel:
benchmarks/results/gpu_plane_gather_h100.json.) The atomic adds are relaxed by default (`atomic_semantics`): nothing
orders them against each other, where Triton's own default, acquire-release, fences each one. They make the table's
gradient's last bits depend on the order the GPU runs them in: under `torch.use_deterministic_algorithms(True)` the
gather refuses to run where that gradient is asked for (warns with `warn_only=True`). Indices are not checked: they
must lie in [0, T), as the field's clamped texel coordinates do.
"""

from __future__ import annotations

import warnings

import torch
import triton
import triton.language as tl
from torch.autograd.function import once_differentiable

ROWS_PER_PROGRAM = 64
ATOMIC_SEMANTICS = ("relaxed", "acq_rel")


@triton.jit
def _row_block(rows, C: tl.constexpr, C_BLOCK: tl.constexpr, ROWS: tl.constexpr):
    """This program's ROWS rows (int64) and C_BLOCK channels, with their masks (rows < `rows`, channels < C)."""
    row = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    row_ok = row < rows
    channel = tl.arange(0, C_BLOCK)
    return row, row_ok, channel, row_ok[:, None] & (channel < C)[None, :]


@triton.jit
def _gather_forward(
    index_ptr,
    weights_ptr,
    table_ptr,
    out_ptr,
    rows,
    K: tl.constexpr,
    C: tl.constexpr,
    C_BLOCK: tl.constexpr,
    ROWS: tl.constexpr,
):
    row, row_ok, channel, ok = _row_block(rows, C, C_BLOCK, ROWS)
    total = tl.zeros((ROWS, C_BLOCK), tl.float32)
    for k in tl.static_range(K):
        texel = tl.load(index_ptr + row * K + k, mask=row_ok, other=0).to(tl.int64)
        weight = tl.load(weights_ptr + row * K + k, mask=row_ok, other=0.0)
        values = tl.load(table_ptr + texel[:, None] * C + channel[None, :], mask=ok, other=0.0)
        total += weight[:, None] * values
    tl.store(out_ptr + row[:, None] * C + channel[None, :], total, mask=ok)


@triton.jit
def _gather_backward(
    index_ptr,
    weights_ptr,
    table_ptr,
    grad_out_ptr,
    grad_table_ptr,
    grad_weights_ptr,
    rows,
    K: tl.constexpr,
    C: tl.constexpr,
    C_BLOCK: tl.constexpr,
    ROWS: tl.constexpr,
    TABLE_GRAD: tl.constexpr,
    WEIGHTS_GRAD: tl.constexpr,
    SEM: tl.constexpr,
):
    row, row_ok, channel, ok = _row_block(rows, C, C_BLOCK, ROWS)
    grad = tl.load(grad_out_ptr + row[:, None] * C + channel[None, :], mask=ok, other=0.0)
    for k in tl.static_range(K):
        texel = tl.load(index_ptr + row * K + k, mask=row_ok, other=0).to(tl.int64)
        at = texel[:, None] * C + channel[None, :]
        if TABLE_GRAD:
            weight = tl.load(weights_ptr + row * K + k, mask=row_ok, other=0.0)
            tl.atomic_add(grad_table_ptr + at, weight[:, None] * grad, mask=ok, sem=SEM)
        if WEIGHTS_GRAD:
            values = tl.load(table_ptr + at, mask=ok, other=0.0)
            tl.store(grad_weights_ptr + row * K + k, tl.sum(values * grad, 1), mask=row_ok)


def _launch_grid(rows: int) -> tuple[int]:
    return (triton.cdiv(rows, ROWS_PER_PROGRAM),)


class TritonPlaneGather(torch.autograd.Function):
    """index (M, K) int32 texel rows, weights (M, K) float32, table (T, C) float32 -> (M, C) float32; the backward's
    atomic adds with `atomic_semantics` (one of ATOMIC_SEMANTICS)."""

    @staticmethod
    def forward(
        ctx, index: torch.Tensor, weights: torch.Tensor, table: torch.Tensor, atomic_semantics: str
    ) -> torch.Tensor:
        index, weights, table = index.contiguous(), weights.float().contiguous(), table.float().contiguous()
        rows, k = index.shape
        channels = table.shape[1]
        out = torch.empty(rows, channels, device=table.device, dtype=torch.float32)
        if rows:
            _gather_forward[_launch_grid(rows)](
                index, weights, table, out, rows, k, channels, triton.next_power_of_2(channels), ROWS_PER_PROGRAM
            )
        ctx.save_for_backward(index, weights, table)
        ctx.atomic_semantics = atomic_semantics
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        index, weights, table = ctx.saved_tensors
        table_grad, weights_grad = ctx.needs_input_grad[2], ctx.needs_input_grad[1]
        grad_table = torch.zeros_like(table) if table_grad else None
        grad_weights = torch.empty_like(weights) if weights_grad else None
        rows, k = index.shape
        if rows and (table_grad or weights_grad):
            channels = table.shape[1]
            _gather_backward[_launch_grid(rows)](
                index,
                weights,
                table,
                grad_out.float().contiguous(),
                grad_table if table_grad else table,  # an unused pointer where no gradient is asked for
                grad_weights if weights_grad else weights,
                rows,
                k,
                channels,
                triton.next_power_of_2(channels),
                ROWS_PER_PROGRAM,
                table_grad,
                weights_grad,
                ctx.atomic_semantics,
            )
        return None, grad_weights, grad_table, None


@torch.compiler.disable  # a compiled field calls it between its compiled parts
def plane_gather(
    index: torch.Tensor, weights: torch.Tensor, table: torch.Tensor, *, atomic_semantics: str = "relaxed"
) -> torch.Tensor:
    """sum_k weights[m, k] * table[index[m, k]] for each row m: (M, C) float32, on Triton (CUDA or its interpreter).
    `atomic_semantics`: the memory order of the backward's atomic adds ("relaxed", or Triton's default "acq_rel")."""
    if atomic_semantics not in ATOMIC_SEMANTICS:
        raise ValueError(f"atomic_semantics must be one of {', '.join(ATOMIC_SEMANTICS)}, got {atomic_semantics!r}")
    if table.requires_grad and torch.is_grad_enabled() and torch.are_deterministic_algorithms_enabled():
        message = (
            "the Triton plane gather accumulates the planes' gradient with atomic adds, which is not "
            "deterministic: with torch.use_deterministic_algorithms(True) run the tri-plane with kernels "
            "'compile' or 'reference'"
        )
        if not torch.is_deterministic_algorithms_warn_only_enabled():
            raise RuntimeError(message)
        warnings.warn(message, stacklevel=2)
    return TritonPlaneGather.apply(index, weights, table, atomic_semantics)
