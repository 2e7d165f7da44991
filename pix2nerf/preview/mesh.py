"""Meshes from radiance fields: marching cubes on the density, vertex colours from the field, binary glTF export.

Data flow: latent -> `preview.bake` (or an existing BakedField) -> density lattice -> capped outside the region
the model's cameras see (`preview.region`) -> marching cubes at a density threshold -> vertices in world units ->
the components that matter (`main_components`) -> colours from the baked (locked-view) field at the vertices ->
`Mesh` -> `.to_glb(path)`. World coordinates are already glTF's: y up, and the object's front (what the yaw 0 camera at
+z sees) faces +z, so viewers show the mesh upright and facing them.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pix2nerf.extras import require
from pix2nerf.model import Pix2NeRF
from pix2nerf.outputs import Latent
from pix2nerf.preview.baked_field import DEFAULT_BAKE_RESOLUTION, BakedField, bake
from pix2nerf.preview.region import ViewRegion

# Raw density sigma (per world unit) at the surface: a ray crossing 0.01 units of it keeps exp(-0.1) = 90% of its
# light, so the surface sits where matter starts to show, as pi-GAN's shape extraction suggests (threshold 10).
DEFAULT_THRESHOLD = 10.0
# Softer fields (short training runs peak at a few units) get their surface at this fraction of their peak instead.
SOFT_FIELD_FRACTION = 0.5
# Connected components kept besides the largest: those holding at least this share of the surface area.
MIN_COMPONENT_SHARE = 0.05

GLB_MAGIC, GLB_VERSION = b"glTF", 2
CHUNK_JSON, CHUNK_BIN = b"JSON", b"BIN\x00"
FLOAT, UNSIGNED_BYTE, UNSIGNED_INT = 5126, 5121, 5125  # glTF componentType codes
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963  # glTF bufferView targets
TRIANGLES = 4


@dataclass
class Mesh:
    """A triangle mesh: vertices (V, 3) float32 in world units, faces (F, 3) int64 counter-clockwise seen from
    outside, colors (V, 3) uint8 RGB."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray

    def to_glb_bytes(self) -> bytes:
        """The mesh as a binary glTF 2.0 file (POSITION, COLOR_0, indices; unlit vertex colours)."""
        return glb_bytes(self.vertices, self.faces, self.colors)

    def to_glb(self, path: str | Path) -> Path:
        """Write the mesh as a .glb file; returns the path."""
        path = Path(path)
        path.write_bytes(self.to_glb_bytes())
        return path


def _padded(data: bytes, fill: bytes) -> bytes:
    return data + fill * (-len(data) % 4)


def glb_bytes(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None) -> bytes:
    """A binary glTF 2.0 container of one triangle mesh with an unlit material (KHR_materials_unlit).

    vertices (V, 3) float, faces (F, 3) integer indices into vertices, colors (V, 3) uint8 (stored as RGBA
    normalized unsigned bytes, the 4-byte aligned form glTF allows) or None.
    """
    vertices = np.ascontiguousarray(vertices, dtype=np.float32)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or not len(vertices) or not np.isfinite(vertices).all():
        raise ValueError(f"vertices must be a non-empty finite (V, 3) array, got shape {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or not len(faces) or not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f"faces must be a non-empty (F, 3) integer array, got {faces.dtype} {faces.shape}")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise ValueError(f"faces index vertices 0..{len(vertices) - 1}, got indices {faces.min()}..{faces.max()}")
    blobs = [vertices.tobytes()]
    attributes = {"POSITION": 0}
    accessors = [
        {
            "bufferView": 0,
            "componentType": FLOAT,
            "count": len(vertices),
            "type": "VEC3",
            "min": vertices.min(0).tolist(),
            "max": vertices.max(0).tolist(),
        }
    ]
    if colors is not None:
        colors = np.asarray(colors)
        if colors.shape != vertices.shape or colors.dtype != np.uint8:
            raise ValueError(
                f"colors must be a uint8 array shaped like vertices {vertices.shape}, got {colors.dtype} {colors.shape}"
            )
        rgba = np.concatenate([colors, np.full((len(colors), 1), 255, np.uint8)], 1)
        blobs.append(rgba.tobytes())
        attributes["COLOR_0"] = len(accessors)
        accessors.append(
            {"bufferView": 1, "componentType": UNSIGNED_BYTE, "normalized": True, "count": len(colors), "type": "VEC4"}
        )
    blobs.append(np.ascontiguousarray(faces, dtype=np.uint32).tobytes())
    accessors.append(
        {"bufferView": len(blobs) - 1, "componentType": UNSIGNED_INT, "count": faces.size, "type": "SCALAR"}
    )

    views, offset = [], 0
    for index, blob in enumerate(blobs):
        target = ELEMENT_ARRAY_BUFFER if index == len(blobs) - 1 else ARRAY_BUFFER
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(blob), "target": target})
        offset += len(blob)  # every blob is a multiple of 4 bytes long
    binary = b"".join(blobs)
    document = {
        "asset": {"version": "2.0", "generator": "pix2nerf"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [
            {
                "primitives": [
                    {"attributes": attributes, "indices": len(accessors) - 1, "material": 0, "mode": TRIANGLES}
                ]
            }
        ],
        "materials": [
            {
                "pbrMetallicRoughness": {
                    "baseColorFactor": [1.0, 1.0, 1.0, 1.0],
                    "metallicFactor": 0.0,
                    "roughnessFactor": 1.0,
                },
                "doubleSided": True,
                "extensions": {"KHR_materials_unlit": {}},
            }
        ],
        "extensionsUsed": ["KHR_materials_unlit"],
        "buffers": [{"byteLength": len(binary)}],
        "bufferViews": views,
        "accessors": accessors,
    }
    json_chunk = _padded(json.dumps(document, separators=(",", ":")).encode(), b" ")
    bin_chunk = _padded(binary, b"\x00")
    length = 12 + 8 + len(json_chunk) + 8 + len(bin_chunk)
    return b"".join(
        [
            GLB_MAGIC,
            struct.pack("<II", GLB_VERSION, length),
            struct.pack("<I", len(json_chunk)),
            CHUNK_JSON,
            json_chunk,
            struct.pack("<I", len(bin_chunk)),
            CHUNK_BIN,
            bin_chunk,
        ]
    )


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
) -> Mesh:
    """Bake the field of one latent (a Latent or z (1, z_dim)) at `resolution` cells per axis and mesh it inside the
    region its cameras see."""
    return mesh_from_baked(bake(model, latent_or_z, resolution=resolution), threshold)
