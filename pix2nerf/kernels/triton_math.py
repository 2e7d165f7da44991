"""Sine and cosine for the Triton kernels (pix2nerf.kernels.fused_siren, pix2nerf.kernels.siren_layers).

On a GPU they are the hardware's approximate instructions: they scale the argument to turns and keep the fraction,
so their error grows like float32's rounding of the argument itself (the sine measured on an H100 against float64:
6e-7 for |arg| <= 3.2, 1e-5 at 100, 4e-5 at 300), far under a float16 step. Triton's CPU interpreter
(TRITON_INTERPRET=1, used by the tests) has no inline PTX and takes tl.sin and tl.cos.
"""

from __future__ import annotations

import os

import triton
import triton.language as tl

FAST = os.environ.get("TRITON_INTERPRET") != "1"  # pass as the kernels' FAST argument


@triton.jit
def sine(arg, FAST: tl.constexpr):
    """sin(arg), float32."""
    if FAST:
        return tl.inline_asm_elementwise(
            "sin.approx.f32 $0, $1;", "=r,r", [arg], dtype=tl.float32, is_pure=True, pack=1
        )
    else:
        return tl.sin(arg)


@triton.jit
def cosine(arg, FAST: tl.constexpr):
    """cos(arg), float32."""
    if FAST:
        return tl.inline_asm_elementwise(
            "cos.approx.f32 $0, $1;", "=r,r", [arg], dtype=tl.float32, is_pure=True, pack=1
        )
    else:
        return tl.cos(arg)
