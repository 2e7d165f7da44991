"""Cameras: the project's degree convention, the official radians convention, poses, rays and pose priors.

Public angles are degrees. yaw 0 / pitch 0 is the front view; positive pitch looks from above. The camera sits
on the unit sphere at (-cos(pitch) sin(yaw), sin(pitch), cos(pitch) cos(yaw)) and looks at the origin, y up.

Internally the official pi-GAN / Pix2NeRF convention is used: theta (azimuth) and phi (polar angle from +y),
origin = (sin phi cos theta, cos phi, sin phi sin theta), front view theta = phi = pi/2.
`degrees_to_official` and `official_to_degrees` are the only place where the two meet.
"""

from __future__ import annotations

import math
from numbers import Real

import torch

from pix2nerf.limits import shorten

MIN_POLAR = 1e-5  # the official code keeps phi inside (1e-5, pi - 1e-5)


def degrees_to_official(yaw: torch.Tensor, pitch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(yaw, pitch) in degrees -> (theta, phi) in radians, official convention."""
    theta = torch.deg2rad(yaw) + math.pi / 2
    phi = math.pi / 2 - torch.deg2rad(pitch)
    return theta, phi


def official_to_degrees(theta: torch.Tensor, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(theta, phi) in radians, official convention -> (yaw, pitch) in degrees."""
    return torch.rad2deg(theta - math.pi / 2), torch.rad2deg(math.pi / 2 - phi)


def degrees_tensor(name: str, value: float | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """A float or tensor of angles in degrees, checked by `pix2nerf.limits.check_degrees`, as a float32 tensor (N,)
    on `device`; ValueError naming `name` when it is empty. (No second look at the values: on a GPU it would wait
    for the device.)"""
    angles = torch.as_tensor(value, dtype=torch.float32).reshape(-1).to(device)
    if angles.numel() == 0:
        raise ValueError(f"{name} must be degrees, got an empty {type(value).__name__}")
    return angles


def wrap_degrees(angle):
    """Wrap angles in degrees (a float or a tensor) into [-180, 180)."""
    return (angle + 180.0) % 360.0 - 180.0


GAUSSIAN_PRIOR_SPREADS = 2.0  # a gaussian pose prior's range: mean +- 2 standard deviations (95% of its poses)


def prior_ranges(config) -> tuple[tuple[float, float], tuple[float, float]]:
    """The poses a model's prior covers, in degrees: (yaw_min, yaw_max) in the data's frame (at most the full
    circle) and (pitch_min, pitch_max) within [-90, 90]. Uniform priors span mean +- spread, gaussian ones mean +-
    GAUSSIAN_PRIOR_SPREADS spreads."""
    scale = GAUSSIAN_PRIOR_SPREADS if config.pose_distribution == "gaussian" else 1.0
    yaw_half = min(scale * config.yaw_spread, 180.0)
    yaw_mean = -180.0 + yaw_half if yaw_half >= 180.0 else config.yaw_mean - config.yaw_offset
    pitch_half = scale * config.pitch_spread
    pitch = (max(config.pitch_mean - pitch_half, -90.0), min(config.pitch_mean + pitch_half, 90.0))
    return (yaw_mean - yaw_half, yaw_mean + yaw_half), pitch


def camera_origins(theta: torch.Tensor, phi: torch.Tensor, radius: float = 1.0) -> torch.Tensor:
    """Camera centres (B, 3) on a sphere of `radius` for official angles theta, phi (B,)."""
    phi = phi.clamp(MIN_POLAR, math.pi - MIN_POLAR)
    return radius * torch.stack(
        [torch.sin(phi) * torch.cos(theta), torch.cos(phi), torch.sin(phi) * torch.sin(theta)], dim=-1
    )


def constant_vectors(vector: tuple[float, float, float], like: torch.Tensor) -> torch.Tensor:
    """`vector` repeated to the shape (..., 3) of `like`, filled on its device (no host copy, so that a CUDA graph
    can capture it)."""
    out = torch.empty_like(like)
    for axis, value in enumerate(vector):
        out[..., axis] = value
    return out


def look_at_cam2world(origins: torch.Tensor) -> torch.Tensor:
    """Camera-to-world matrices (B, 4, 4) of cameras at `origins` (B, 3) looking at the world origin, y up.

    Camera space follows OpenGL: x right, y up, the camera looks down -z.
    """
    forward = torch.nn.functional.normalize(-origins, dim=-1)
    up = constant_vectors((0.0, 1.0, 0.0), forward)
    left = torch.nn.functional.normalize(torch.cross(up, forward, dim=-1), dim=-1)
    up = torch.nn.functional.normalize(torch.cross(forward, left, dim=-1), dim=-1)
    cam2world = torch.eye(4, dtype=origins.dtype, device=origins.device).repeat(origins.shape[0], 1, 1)
    cam2world[:, :3, :3] = torch.stack([-left, up, -forward], dim=-1)
    cam2world[:, :3, 3] = origins
    return cam2world


def camera_ray_directions(
    resolution: int, fov: float, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Unit ray directions in camera space, (H*W, 3), row-major from the top-left pixel.

    Pixel coordinates span [-1, 1] edge to edge (no half-pixel offset); `fov` is the full field of view in degrees.
    """
    coords = torch.linspace(-1.0, 1.0, resolution, device=device, dtype=dtype)
    y, x = torch.meshgrid(-coords, coords, indexing="ij")
    z = torch.full_like(x, -1.0 / math.tan(math.radians(fov) / 2))
    return torch.nn.functional.normalize(torch.stack([x, y, z], dim=-1).reshape(-1, 3), dim=-1)


def scene_half_size(fov: float, ray_start: float, ray_end: float) -> float:
    """Half edge (world units) of the origin-centred cube holding every point the renderer samples with a camera
    of `fov` degrees at radius 1: the distance from the origin of the farthest sample, on an image corner's ray at
    depth ray_start or ray_end."""
    corner = math.atan(math.tan(math.radians(fov) / 2) * math.sqrt(2))
    return max(math.sqrt(1 + t * t - 2 * t * math.cos(corner)) for t in (ray_start, ray_end))


def world_rays(
    yaw: torch.Tensor, pitch: torch.Tensor, resolution: int, fov: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays of B cameras at (yaw, pitch) in degrees: origins (B, 3) and unit directions (B, H*W, 3)."""
    theta, phi = degrees_to_official(yaw, pitch)
    origins = camera_origins(theta, phi)
    cam2world = look_at_cam2world(origins)
    dirs_cam = camera_ray_directions(resolution, fov, device=yaw.device, dtype=yaw.dtype)
    dirs = torch.einsum("bij,nj->bni", cam2world[:, :3, :3], dirs_cam)
    return origins, dirs


def project_points(
    points: torch.Tensor, yaw: torch.Tensor, pitch: torch.Tensor, resolution: int, fov: float
) -> torch.Tensor:
    """Pixel coordinates (B, N, 2) as (column, row), in pixels, of world points (B, N, 3) seen by cameras (B,).

    The inverse of `camera_ray_directions`: pixel centres lie on linspace(-1, 1) edge to edge.
    """
    theta, phi = degrees_to_official(yaw, pitch)
    cam2world = look_at_cam2world(camera_origins(theta, phi))
    rotation, origin = cam2world[:, :3, :3], cam2world[:, :3, 3]
    local = torch.einsum("bji,bnj->bni", rotation, points - origin[:, None])
    focal = 1.0 / math.tan(math.radians(fov) / 2)
    x = focal * local[..., 0] / -local[..., 2]
    y = focal * local[..., 1] / -local[..., 2]
    col = (x + 1) / 2 * (resolution - 1)
    row = (1 - y) / 2 * (resolution - 1)
    return torch.stack([col, row], dim=-1)


def sample_poses(
    n: int,
    distribution: str,
    yaw_mean: float,
    yaw_spread: float,
    pitch_mean: float,
    pitch_spread: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw n camera poses (yaw, pitch) in degrees from a pose prior.

    - "gaussian": yaw ~ N(yaw_mean, yaw_spread), pitch ~ N(pitch_mean, pitch_spread).
    - "spherical_uniform": yaw ~ U(yaw_mean +- yaw_spread); the camera is area-uniform on the sphere band of
      pitches pitch_mean +- pitch_spread (sin(pitch) uniform), as the official CARLA / chairs prior.
    """
    u = torch.rand(2, n, generator=generator, device=device)
    if distribution == "gaussian":
        normal = torch.randn(2, n, generator=generator, device=device)
        yaw = yaw_mean + yaw_spread * normal[0]
        pitch = pitch_mean + pitch_spread * normal[1]
    elif distribution == "spherical_uniform":
        yaw = yaw_mean + yaw_spread * (2 * u[0] - 1)
        low = math.sin(math.radians(max(pitch_mean - pitch_spread, -90.0)))
        high = math.sin(math.radians(min(pitch_mean + pitch_spread, 90.0)))
        pitch = torch.rad2deg(torch.asin((low + (high - low) * u[1]).clamp(-1.0, 1.0)))
    else:
        raise ValueError(f"unknown pose distribution {distribution!r}; expected 'gaussian' or 'spherical_uniform'")
    return yaw, pitch


def zoomed_fov(fov: float, zoom: float) -> float:
    """The field of view (degrees) that magnifies a `fov` degree view `zoom` times (zoom > 0; 1 keeps it)."""
    if isinstance(zoom, bool) or not isinstance(zoom, Real) or not (zoom > 0 and math.isfinite(zoom)):
        raise ValueError(f"zoom must be a positive finite factor, got {shorten(zoom)}")
    return math.degrees(2 * math.atan(math.tan(math.radians(fov) / 2) / zoom))
