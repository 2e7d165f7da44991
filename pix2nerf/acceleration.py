"""Fast paths for the field on CUDA, chosen automatically behind the same API.

- precision "fp16": matmuls on tensor cores in float16 under autocast; the FiLM (gamma * (W h + c) + beta) and the
  sine stay in float32 (see pix2nerf.field.FiLMSirenLayer), as the official training did.
- a compiled field (torch.compile): fuses the FiLM and sine into few kernels and, in training, recomputes those
  cheap pointwise ops in the backward pass instead of storing their outputs.
Both are off on the CPU, where the plain float32 path runs.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Callable

import torch

from .field import RadianceField

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" -> "fp16" on CUDA, "fp32" elsewhere; other names are checked and returned."""
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {sorted(PRECISIONS)}, got {precision!r}")
    return precision


def autocast(precision: str, device: torch.device):
    """The autocast context of a resolved precision name."""
    dtype = PRECISIONS[precision]
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def compile_available(device: torch.device) -> bool:
    """torch.compile's GPU backend needs CUDA and Triton."""
    if device.type != "cuda":
        return False
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def compiled_field(field: RadianceField) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """A compiled version of `field.forward` (same signature and results within rounding), made once per field."""
    compiled = getattr(field, "_compiled_forward", None)
    if compiled is None:
        compiled = torch.compile(field.forward, dynamic=True)
        object.__setattr__(field, "_compiled_forward", compiled)
    return compiled
