"""The training's mixed precision: the script's flag, else what `accelerate launch` (or its config) set."""

from __future__ import annotations

import os

PRECISIONS = ("no", "fp16", "bf16")
LAUNCHER_VARIABLE = "ACCELERATE_MIXED_PRECISION"  # set by `accelerate launch --mixed_precision` or its config file


def choose_mixed_precision(flag: str | None, device_type: str, environ=os.environ) -> tuple[str, str | None]:
    """(precision, a warning or None). The script's `flag` when given, else the launcher's, else fp16 on CUDA and
    no elsewhere; the warning says when the flag overrides a different launcher setting."""
    launcher = environ.get(LAUNCHER_VARIABLE)
    if launcher is not None and launcher not in PRECISIONS:
        raise ValueError(f"{LAUNCHER_VARIABLE}={launcher[:20]!r} is not one of {', '.join(PRECISIONS)}")
    if flag is not None:
        if flag not in PRECISIONS:
            raise ValueError(f"--mixed_precision must be one of {', '.join(PRECISIONS)}, got {flag[:20]!r}")
        warning = None
        if launcher is not None and launcher != flag:
            warning = f"--mixed_precision {flag} overrides the launcher's mixed precision {launcher}"
        return flag, warning
    if launcher is not None:
        return launcher, None
    return ("fp16" if device_type == "cuda" else "no"), None
