"""Numeric precision of renders and training steps: names, their autocast contexts, and what a device supports.

- "fp16": matmuls on tensor cores in float16 under autocast; the FiLM (gamma * (W h + c) + beta) and the sine stay in
  float32 (see pix2nerf.fields.siren.FiLMSirenLayer), as the official training did.
- "bf16": the same with bfloat16; "fp32": no autocast.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_precision(precision: str, device: torch.device) -> str:
    """ "auto" -> "fp16" on CUDA, "fp32" elsewhere; other names are checked and returned."""
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {sorted(PRECISIONS)}, got {str(precision)[:40]!r}")
    return precision


def autocast(precision: str, device: torch.device):
    """The autocast context of a resolved precision name."""
    dtype = PRECISIONS[precision]
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def fp16_on_cuda(points: torch.Tensor) -> bool:
    """Whether `points` are on CUDA under float16 autocast."""
    return points.is_cuda and torch.is_autocast_enabled("cuda") and torch.get_autocast_dtype("cuda") == torch.float16
