"""The region a model's cameras can see: points inside the ray range of every camera of its pose prior.

A camera of the prior sits on the unit sphere and samples its rays between config.ray_start and config.ray_end.
Density closer to some camera than ray_start, or farther from some camera than ray_end, is missing from that
camera's renders, so the training never shaped it: meshes keep only points whose distance to every camera of the
prior lies in [ray_start, ray_end]. Coordinates are the field's (the generator's frame, where the prior lives).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pix2nerf.config import Pix2NeRFConfig
from pix2nerf.rendering.cameras import camera_origins, degrees_to_official

PRIOR_YAWS, PRIOR_PITCHES = 64, 16  # cameras of the prior's grid: yaw and pitch steps
GAUSSIAN_SPREADS = 2.0  # a gaussian prior's cameras reach this many standard deviations
MARGIN_LATTICE = 49  # lattice points per axis where `clip_density` evaluates the margin everywhere
POINTS_PER_CHUNK = 2**14


@dataclass(frozen=True)
class ViewRegion:
    """Points whose distance to each camera in `cameras` (K, 3), world units, lies in [near, far]."""

    cameras: torch.Tensor
    near: float
    far: float

    @classmethod
    def from_config(cls, config: Pix2NeRFConfig) -> ViewRegion:
        """The region of a model's pose prior (a grid of its yaws and pitches) and ray range."""
        scale = GAUSSIAN_SPREADS if config.pose_distribution == "gaussian" else 1.0
        yaw_spread = min(config.yaw_spread * scale, 180.0)
        low = max(config.pitch_mean - config.pitch_spread * scale, -90.0)
        high = min(config.pitch_mean + config.pitch_spread * scale, 90.0)
        yaws = config.yaw_mean + torch.linspace(-yaw_spread, yaw_spread, PRIOR_YAWS)
        pitches = torch.linspace(low, high, PRIOR_PITCHES)
        yaw, pitch = (grid.reshape(-1) for grid in torch.meshgrid(yaws, pitches, indexing="ij"))
        return cls(camera_origins(*degrees_to_official(yaw, pitch)), config.ray_start, config.ray_end)

    def margin(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance (...) in world units of points (..., 3) inside the region: min over cameras of
        (distance - near) and (far - distance); negative outside."""
        flat = points.reshape(-1, 3).float()
        cameras = self.cameras.to(flat.device, torch.float32)
        out = torch.empty(flat.shape[0], device=flat.device)
        for start in range(0, flat.shape[0], POINTS_PER_CHUNK):
            distance = torch.cdist(flat[start : start + POINTS_PER_CHUNK], cameras)
            out[start : start + POINTS_PER_CHUNK] = torch.minimum(
                distance.amin(1) - self.near, self.far - distance.amax(1)
            )
        return out.reshape(points.shape[:-1])

    def clip_density(self, density: torch.Tensor, spacing: float, origin: float, threshold: float) -> torch.Tensor:
        """Density lattice (X, Y, Z) indexed (x, y, z), point i at origin + i * spacing, capped at
        threshold * margin / spacing: a lattice point stays at or above the surface threshold only where its margin
        is at least one spacing, so every marching-cubes vertex (within one spacing of such a point; the margin is
        1-Lipschitz) lies inside the region. The margin is exact wherever the cap can decide the surface and
        interpolated from MARGIN_LATTICE points per axis elsewhere."""
        axes = [torch.linspace(origin, origin + spacing * (n - 1), MARGIN_LATTICE) for n in density.shape]
        coarse = self.margin(torch.stack(torch.meshgrid(*axes, indexing="ij"), -1))
        margin = F.interpolate(coarse[None, None], size=tuple(density.shape), mode="trilinear", align_corners=True)
        margin = margin[0, 0].to(density.device)
        # interpolating a 1-Lipschitz function is off by at most this
        error = max(float(a[1] - a[0]) for a in axes) * 3**0.5
        decide = (density >= threshold) & (margin > -error) & (margin < spacing + error)
        index = decide.nonzero()
        if index.numel():
            margin[decide] = self.margin(origin + spacing * index.float())
        return torch.minimum(density, threshold * margin / spacing)
