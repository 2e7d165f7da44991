"""Optional dependencies: import one, or fail with one sentence that names the pix2nerf extra that installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS = {  # module -> (distribution, extra)
    "datasets": ("datasets", "train"),
    "skimage": ("scikit-image", "app"),
    "av": ("av", "app"),
}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message says which `pip install 'pix2nerf[EXTRA]'` adds it."""


def require(module: str, purpose: str) -> ModuleType:
    """Import `module` (e.g. "skimage.measure") for `purpose` (what needs it, e.g. "the mesh export")."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        distribution, extra = EXTRAS[module.split(".")[0]]
        raise MissingExtraError(
            f"{purpose} needs {distribution}, which is not installed: pip install 'pix2nerf[{extra}]'"
        ) from error
