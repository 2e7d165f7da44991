"""Fast novel views of one latent on a CPU: the radiance field baked onto a grid once, then ray-marched cheaply.

Data flow: latent -> `bake` (field evaluated on a coarse lattice, refined only where there is density) ->
`BakedField` (rgb and raw sigma on a regular grid, trilinear) -> `BakedField.render` (the model's own coarse +
importance sampler and integration, reading the grid instead of the network) -> `RenderOutput`.

View dependence is locked (direction (0, 0, -1)), as in `Pix2NeRF.render`'s default, so colour is a function of
position only. World units: the camera sits at radius 1; the grid spans the cube [-half_size, half_size]^3.
`ViewEngine` adds a bounded per-image cache for apps; `render_orbit` and `save_animation` make turntables.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from .model import Latent, Pix2NeRF, RenderOutput
from .rendering import RaySamplingSettings

DEFAULT_BAKE_RESOLUTION = 128  # fine grid cells per axis
DEFAULT_COARSE_RESOLUTION = 32  # occupancy cells per axis (must divide the fine resolution)
DEFAULT_CACHE_SIZE = 8  # images a ViewEngine keeps baked

# progress(done, total) is called after each orbit frame
ProgressFn = Callable[[int, int], None]


@dataclass
class BakedField:
    """The locked-view radiance field of one latent on a regular lattice over [-half_size, half_size]^3.

    values: (1, 4, N + 1, N + 1, N + 1) float32, channels (r, g, b, raw sigma), indexed (z, y, x) as
    `grid_sample` reads them; rgb in [0, 1]. occupied: (C, C, C) bool, indexed (z, y, x): coarse cells where the
    interpolated density can be positive (everything else is skipped while rendering).
    settings: the model's sampler (near, far, num_steps, background) that `render` reproduces.
    """

    values: torch.Tensor
    occupied: torch.Tensor
    half_size: float
    fov: float
    settings: RaySamplingSettings
    latent: Latent | None = None

    @property
    def resolution(self) -> int:
        """Fine grid cells per axis."""
        return self.values.shape[-1] - 1

    @property
    def nbytes(self) -> int:
        """Memory held by the grid tensors, in bytes."""
        raise NotImplementedError

    def query(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Trilinear rgb (B, N, 3) in [0, 1] and raw sigma (B, N) at world points (B, N, 3); zero density outside."""
        raise NotImplementedError

    def render(
        self, yaw: float | torch.Tensor, pitch: float | torch.Tensor, resolution: int = 128, num_steps: int | None = None
    ) -> RenderOutput:
        """Render poses in degrees (floats or (B,) tensors) like `Pix2NeRF.render` with its defaults
        (hierarchical, deterministic, locked view), reading the grid: rgb (B, 3, H, W) in [0, 1], depth, opacity."""
        raise NotImplementedError

    def density_grid(self) -> tuple[torch.Tensor, float]:
        """Raw sigma on the lattice, (N + 1, N + 1, N + 1) indexed (x, y, z), and the lattice spacing in world units."""
        raise NotImplementedError


def bake(
    model: Pix2NeRF,
    latent_or_z: Latent | torch.Tensor,
    *,
    resolution: int = DEFAULT_BAKE_RESOLUTION,
    coarse_resolution: int = DEFAULT_COARSE_RESOLUTION,
    half_size: float | None = None,
    psi: float = 1.0,
) -> BakedField:
    """Sample the field of one latent (a Latent or z (1, z_dim)) onto a grid of `resolution` cells per axis.

    The field is evaluated on a `coarse_resolution` lattice first; the fine lattice is evaluated only inside coarse
    cells that hold density (and their neighbours), elsewhere it is the coarse grid upsampled.
    half_size: the cube's half edge in world units (None: derived from the config's ray range).
    """
    raise NotImplementedError


def orbit_poses(num_frames: int = 36, pitch: float = 20.0, start_yaw: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Yaws (num_frames,) evenly around 360 degrees from `start_yaw`, and a constant pitch, in degrees."""
    raise NotImplementedError


def render_orbit(
    source: BakedField | Pix2NeRF,
    latent: Latent | torch.Tensor | None = None,
    *,
    num_frames: int = 36,
    pitch: float = 20.0,
    start_yaw: float = 0.0,
    resolution: int = 128,
    progress: ProgressFn | None = None,
) -> list:
    """Turntable frames (PIL images) of a baked field, or of a model and latent (full-quality renders)."""
    raise NotImplementedError


def save_animation(frames: Sequence[Any], path: str | Path, fps: float = 12.0) -> Path:
    """Write PIL frames as a looping animated GIF or WebP (chosen by the path's suffix); deterministic bytes."""
    raise NotImplementedError


@dataclass
class PreparedImage:
    """What a ViewEngine keeps per image: the encoder input (1, 3, R, R) in [-1, 1], its latent and its bake."""

    key: str
    encoder_input: torch.Tensor
    latent: Latent
    baked: BakedField


class ViewEngine:
    """Novel views of uploaded images for an app: encode + bake once per image, then cheap views.

    Images are keyed by the content of their encoder input, so the same picture sent twice (or re-encoded) reuses
    the work; at most `cache_size` images stay baked (least recently used are dropped).
    """

    def __init__(
        self, model: Pix2NeRF, cache_size: int = DEFAULT_CACHE_SIZE, bake_resolution: int = DEFAULT_BAKE_RESOLUTION
    ) -> None:
        self.model = model
        self.cache_size = cache_size
        self.bake_resolution = bake_resolution
        self._cache: OrderedDict[str, PreparedImage] = OrderedDict()

    def prepare(self, image: Any) -> PreparedImage:
        """Encode and bake an image (anything `Pix2NeRF.preprocess` accepts), or fetch it from the cache."""
        raise NotImplementedError

    def view(
        self, image: Any, yaw: float, pitch: float, resolution: int = 128, full_quality: bool = False
    ) -> RenderOutput:
        """One view (batch of 1) in degrees: from the baked grid, or with the model's own sampler when full_quality."""
        raise NotImplementedError

    def orbit(self, image: Any, **orbit_kwargs: Any) -> list:
        """Turntable frames of an image's baked field; keyword arguments as `render_orbit`."""
        raise NotImplementedError
