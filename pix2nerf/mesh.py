"""Meshes from radiance fields: marching cubes on the density, vertex colours from the field, binary glTF export.

Data flow: latent -> `preview.bake` (or an existing BakedField) -> density grid -> marching cubes at a density
threshold -> vertices in world units (y up, the object's front towards +z, as the cameras see it) -> colours
from the baked field at the vertices -> `Mesh` -> `.to_glb(path)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .model import Latent, Pix2NeRF
from .preview import BakedField

DEFAULT_THRESHOLD = 10.0  # raw density sigma at the surface (per world unit)
DEFAULT_MESH_RESOLUTION = 128


@dataclass
class Mesh:
    """A triangle mesh: vertices (V, 3) float32 world units, faces (F, 3) int64 counter-clockwise seen from
    outside, colors (V, 3) uint8 sRGB."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray

    def to_glb_bytes(self) -> bytes:
        """The mesh as a binary glTF 2.0 file (POSITION, COLOR_0, indices)."""
        return glb_bytes(self.vertices, self.faces, self.colors)

    def to_glb(self, path: str | Path) -> Path:
        """Write the mesh as a .glb file; returns the path."""
        raise NotImplementedError


def glb_bytes(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None) -> bytes:
    """A binary glTF 2.0 container of one triangle mesh: vertices (V, 3) float, faces (F, 3) int, optional
    colors (V, 3) uint8 (stored as normalized unsigned bytes)."""
    raise NotImplementedError


def mesh_from_density(
    density: np.ndarray | torch.Tensor,
    spacing: float,
    origin: float | tuple[float, float, float],
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes on a density lattice (X, Y, Z) indexed (x, y, z): vertices (V, 3) in world units
    (origin + index * spacing) and faces (F, 3) facing outwards (from high density to low).
    Raises ValueError when the field has no surface at this threshold."""
    raise NotImplementedError


def mesh_from_baked(baked: BakedField, threshold: float = DEFAULT_THRESHOLD) -> Mesh:
    """The surface of a baked field at `threshold`, coloured by the baked (locked-view) rgb at the vertices."""
    raise NotImplementedError


def mesh_from_latent(
    model: Pix2NeRF,
    latent_or_z: Latent | torch.Tensor,
    resolution: int = DEFAULT_MESH_RESOLUTION,
    threshold: float = DEFAULT_THRESHOLD,
) -> Mesh:
    """Bake the field of one latent at `resolution` cells per axis and mesh it (see `mesh_from_baked`)."""
    raise NotImplementedError
