"""Mesh files, chosen by suffix: binary glTF (.glb), Wavefront OBJ (.obj) and binary PLY (.ply).

Every writer takes vertices (V, 3) float in world units (y up, the object's front facing +z), faces (F, 3) integer
indices into vertices, counter-clockwise seen from outside, and colors (V, 3) uint8 RGB or None, checked once by
`mesh_arrays`, and returns the file's bytes.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable

import numpy as np

from pix2nerf.limits import shorten

GLB_MAGIC, GLB_VERSION = b"glTF", 2
CHUNK_JSON, CHUNK_BIN = b"JSON", b"BIN\x00"
FLOAT, UNSIGNED_BYTE, UNSIGNED_INT = 5126, 5121, 5125  # glTF componentType codes
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963  # glTF bufferView targets
TRIANGLES = 4


def mesh_arrays(
    vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The arrays checked and made contiguous: vertices float32 (V, 3), faces int64 (F, 3), colors uint8 or None."""
    vertices = np.ascontiguousarray(vertices, dtype=np.float32)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or not len(vertices) or not np.isfinite(vertices).all():
        raise ValueError(f"vertices must be a non-empty finite (V, 3) array, got shape {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or not len(faces) or not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f"faces must be a non-empty (F, 3) integer array, got {faces.dtype} {faces.shape}")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise ValueError(f"faces index vertices 0..{len(vertices) - 1}, got indices {faces.min()}..{faces.max()}")
    if colors is not None:
        colors = np.ascontiguousarray(colors)
        if colors.shape != vertices.shape or colors.dtype != np.uint8:
            raise ValueError(
                f"colors must be a uint8 array shaped like vertices {vertices.shape}, got {colors.dtype} {colors.shape}"
            )
    return vertices, np.ascontiguousarray(faces, dtype=np.int64), colors


def _padded(data: bytes, fill: bytes) -> bytes:
    return data + fill * (-len(data) % 4)


def glb_bytes(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None) -> bytes:
    """A binary glTF 2.0 container of one triangle mesh with an unlit material (KHR_materials_unlit).

    vertices (V, 3) float, faces (F, 3) integer indices into vertices, colors (V, 3) uint8 (stored as RGBA
    normalized unsigned bytes, the 4-byte aligned form glTF allows) or None.
    """
    vertices, faces, colors = mesh_arrays(vertices, faces, colors)
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
        rgba = np.concatenate([colors, np.full((len(colors), 1), 255, np.uint8)], 1)
        blobs.append(rgba.tobytes())
        attributes["COLOR_0"] = len(accessors)
        accessors.append(
            {"bufferView": 1, "componentType": UNSIGNED_BYTE, "normalized": True, "count": len(colors), "type": "VEC4"}
        )
    blobs.append(faces.astype(np.uint32).tobytes())
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


def obj_bytes(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None) -> bytes:
    """A Wavefront OBJ text: `v x y z` lines (with colours, the common `v x y z r g b` extension, r g b in [0, 1],
    which MeshLab, Blender and trimesh read), then 1-based `f a b c` lines."""
    vertices, faces, colors = mesh_arrays(vertices, faces, colors)
    text = io.StringIO()
    text.write("# pix2nerf\n")
    if colors is None:
        np.savetxt(text, vertices, fmt="v %.7g %.7g %.7g")
    else:
        np.savetxt(text, np.hstack([vertices, colors / 255.0]), fmt="v %.7g %.7g %.7g %.5f %.5f %.5f")
    np.savetxt(text, faces + 1, fmt="f %d %d %d")
    return text.getvalue().encode("ascii")


def ply_bytes(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None) -> bytes:
    """A binary little-endian PLY: float x, y, z and (with colours) uchar red, green, blue per vertex, and a uchar
    count with int indices per face."""
    vertices, faces, colors = mesh_arrays(vertices, faces, colors)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    records = np.empty(len(vertices), dtype=fields)
    for axis, name in enumerate("xyz"):
        records[name] = vertices[:, axis]
    if colors is not None:
        for channel, name in enumerate(("red", "green", "blue")):
            records[name] = colors[:, channel]
    polygons = np.empty(len(faces), dtype=[("count", "u1"), ("indices", "<i4", (3,))])
    polygons["count"], polygons["indices"] = 3, faces
    properties = "".join(f"property {'float' if kind == '<f4' else 'uchar'} {name}\n" for name, kind in fields)
    header = (
        f"ply\nformat binary_little_endian 1.0\ncomment pix2nerf\nelement vertex {len(vertices)}\n{properties}"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    return header.encode("ascii") + records.tobytes() + polygons.tobytes()


MESH_FORMATS: dict[str, Callable[..., bytes]] = {".glb": glb_bytes, ".obj": obj_bytes, ".ply": ply_bytes}


def mesh_writer(suffix: str) -> Callable[..., bytes]:
    """The writer of the file format of `suffix` (".glb", ".obj" or ".ply", any case); ValueError for others."""
    writer = MESH_FORMATS.get(suffix.lower())
    if writer is None:
        raise ValueError(f"cannot write a mesh as {shorten(suffix)}: use one of {', '.join(MESH_FORMATS)}")
    return writer


def mesh_file_bytes(suffix: str, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None) -> bytes:
    """The mesh as the file format of `suffix` (".glb", ".obj" or ".ply", any case)."""
    return mesh_writer(suffix)(vertices, faces, colors)
