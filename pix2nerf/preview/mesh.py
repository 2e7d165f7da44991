"""Meshes from radiance fields: marching cubes on the density, vertex colours from the field, mesh files.

Data flow: latent -> `preview.bake` (or an existing BakedField) -> density lattice -> capped outside the region
the model's cameras see (`preview.region`) -> marching cubes at a density threshold -> vertices in world units ->
the components that matter (`main_components`) -> colours from the baked (locked-view) field at the vertices ->
`Mesh` -> `.save(path)` (GLB, OBJ or PLY:
`preview.mesh_formats`). World coordinates are already glTF's: y up, and the object's front (what the yaw 0 camera at
+z sees) faces +z, so viewers show the mesh upright and facing them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pix2nerf.extras import require
from pix2nerf.model import Pix2NeRF
from pix2nerf.outputs import Latent
from pix2nerf.preview.baked_field import DEFAULT_BAKE_RESOLUTION, BakedField, bake
from pix2nerf.preview.mesh_formats import mesh_file_bytes
from pix2nerf.preview.region import ViewRegion

# Raw density sigma (per world unit) at the surface: a ray crossing 0.01 units of it keeps exp(-0.1) = 90% of its
# light, so the surface sits where matter starts to show, as pi-GAN's shape extraction suggests (threshold 10).
DEFAULT_THRESHOLD = 10.0
# Softer fields (short training runs peak at a few units) get their surface at this fraction of their peak instead.
SOFT_FIELD_FRACTION = 0.5
# Connected components kept besides the largest: those holding at least this share of the surface area.
MIN_COMPONENT_SHARE = 0.05


@dataclass
class Mesh:
    """A triangle mesh: vertices (V, 3) float32 in world units, faces (F, 3) int64 counter-clockwise seen from
    outside, colors (V, 3) uint8 RGB."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray

    def to_bytes(self, suffix: str = ".glb") -> bytes:
        """The mesh as the file format of `suffix`: ".glb" (binary glTF 2.0, unlit vertex colours), ".obj" (vertex
        colours as `v x y z r g b`) or ".ply" (binary little-endian, uchar vertex colours)."""
        return mesh_file_bytes(suffix, self.vertices, self.faces, self.colors)

    def save(self, path: str | Path) -> Path:
        """Write the mesh in the format of the path's suffix (.glb, .obj or .ply); returns the path."""
        path = Path(path)
        data = self.to_bytes(path.suffix)
        path.write_bytes(data)
        return path

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays, in bytes."""
        return self.vertices.nbytes + self.faces.nbytes + self.colors.nbytes


def mesh_from_density(
    density: np.ndarray | torch.Tensor,
    spacing: float,
    origin: float | tuple[float, float, float],
    threshold: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes on a density lattice (X, Y, Z) indexed (x, y, z), lattice point i at origin + i * spacing:
    vertices (V, 3) float32 in world units and faces (F, 3) int64, counter-clockwise seen from the low-density side.
    The lattice is padded with empty space, so the mesh is closed even where density touches its border.
    threshold: raw sigma at the surface; None takes `surface_threshold` of the lattice's peak.
    Raises ValueError when the field has no surface at this threshold."""
    marching_cubes = require("skimage.measure", "the mesh export").marching_cubes
    volume = density.detach().cpu().numpy() if isinstance(density, torch.Tensor) else np.asarray(density)
    volume = volume.astype(np.float32, copy=False)
    if volume.ndim != 3 or min(volume.shape) < 2:
        raise ValueError(f"density must be a 3D lattice of at least 2 points per axis, got shape {volume.shape}")
    if not np.isfinite(volume).all():
        raise ValueError("density contains NaN or infinite values")
    if threshold is None:
        threshold = surface_threshold(float(volume.max()))
    if not volume.max() > threshold:
        raise ValueError(
            f"the field has no surface at this threshold: the density peaks at {volume.max():.3g}, below the "
            f"threshold {threshold:g}; try a lower threshold"
        )
    volume = np.pad(volume, 1, constant_values=min(float(volume.min()), threshold) - 1.0)
    vertices, faces, _, _ = marching_cubes(volume, level=threshold, spacing=(spacing,) * 3)
    vertices += np.asarray(origin, dtype=np.float64) - spacing  # the padding shifted the lattice by one point
    return vertices.astype(np.float32), faces[:, ::-1].astype(np.int64)  # skimage winds them the other way


def surface_threshold(peak: float) -> float:
    """The default surface density of a field whose density peaks at `peak`: DEFAULT_THRESHOLD, or for a softer
    field SOFT_FIELD_FRACTION of its peak (a field with no positive density has no surface: ValueError)."""
    if not peak > 0:
        raise ValueError(f"the field has no surface: it is empty (the density peaks at {peak:.3g})")
    return min(DEFAULT_THRESHOLD, SOFT_FIELD_FRACTION * peak)


def main_components(
    vertices: np.ndarray, faces: np.ndarray, min_share: float = MIN_COMPONENT_SHARE
) -> tuple[np.ndarray, np.ndarray]:
    """The mesh's largest connected component (by surface area) and any other holding at least `min_share` of
    the total area: vertices (V', 3) and faces (F', 3) re-indexed."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(vertices),) * 2)
    _, labels = connected_components(graph, directed=False)
    a, b, c = (vertices[faces[:, i]].astype(np.float64) for i in range(3))
    areas = np.linalg.norm(np.cross(b - a, c - a), axis=1) / 2
    component_area = np.bincount(labels[faces[:, 0]], weights=areas, minlength=labels.max() + 1)
    keep = (component_area >= min_share * component_area.sum()) | (component_area == component_area.max())
    kept_faces = faces[keep[labels[faces[:, 0]]]]
    used = np.unique(kept_faces)
    remap = np.full(len(vertices), -1, np.int64)
    remap[used] = np.arange(len(used))
    return vertices[used], remap[kept_faces]


def mesh_from_baked(baked: BakedField, threshold: float | None = None, region: ViewRegion | None = None) -> Mesh:
    """The surface of a baked field at `threshold` (raw sigma; None: `surface_threshold`) inside `region` (None:
    the bake's, `baked.region`), its main components (`main_components`), coloured by the baked rgb at the
    vertices."""
    density = baked.density_grid()
    if threshold is None:
        threshold = surface_threshold(float(density.max()))
    region = baked.region if region is None else region
    if region is not None:
        density = region.clip_density(density, baked.spacing, -baked.half_size, threshold)
    vertices, faces = mesh_from_density(density, baked.spacing, -baked.half_size, threshold)
    vertices, faces = main_components(vertices, faces)
    inside = np.clip(vertices, -baked.half_size, baked.half_size) * (1 - 1e-6)  # padding vertices lie just outside
    rgb, _ = baked.query(torch.from_numpy(inside).to(baked.lattice.device))
    colors = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return Mesh(vertices=vertices, faces=faces, colors=colors)


def mesh_from_latent(
    model: Pix2NeRF,
    latent_or_z: Latent | torch.Tensor,
    resolution: int = DEFAULT_BAKE_RESOLUTION,
    threshold: float | None = None,
    progress: Callable[[float], None] | None = None,
) -> Mesh:
    """Bake the field of one latent (a Latent or z (1, z_dim)) at `resolution` cells per axis and mesh it inside the
    region its cameras see. progress(fraction) reports the bake (`bake`'s progress)."""
    return mesh_from_baked(bake(model, latent_or_z, resolution=resolution, progress=progress), threshold)
