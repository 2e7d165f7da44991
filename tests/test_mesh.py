"""Mesh export: marching cubes on known densities, the binary glTF container, meshes of a model's field."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
import torch

from pix2nerf.preview.mesh import (
    DEFAULT_THRESHOLD,
    Mesh,
    main_components,
    mesh_from_baked,
    mesh_from_density,
    mesh_from_latent,
    surface_threshold,
)
from pix2nerf.preview.mesh_formats import glb_bytes


def sphere_density(radius: float, resolution: int = 48, half: float = 0.5, center=(0.0, 0.0, 0.0)):
    """A density lattice (x, y, z) of a solid sphere: 100 inside, 0 outside, linear over one lattice step."""
    axis = np.linspace(-half, half, resolution + 1)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    distance = np.sqrt((x - center[0]) ** 2 + (y - center[1]) ** 2 + (z - center[2]) ** 2)
    spacing = 2 * half / resolution
    return np.clip(100 * (radius - distance) / spacing + 50, 0, 100), spacing, -half


def edges_shared_twice(faces: np.ndarray) -> bool:
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return bool((counts == 2).all())


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (vertices[faces[:, i]].astype(np.float64) for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)


def test_sphere_gives_a_closed_outward_mesh_of_the_right_radius():
    density, spacing, origin = sphere_density(0.3)
    vertices, faces = mesh_from_density(density, spacing, origin, threshold=50.0)
    radii = np.linalg.norm(vertices, axis=1)
    assert abs(radii.mean() - 0.3) < 0.01 * 0.3
    assert radii.std() < 0.01
    assert edges_shared_twice(faces)
    assert signed_volume(vertices, faces) == pytest.approx(4 / 3 * math.pi * 0.3**3, rel=0.03)  # outward winding


def test_density_touching_the_border_still_gives_a_closed_mesh():
    density, spacing, origin = sphere_density(0.3, center=(0.35, 0.0, 0.0))  # sticks out of the +x face
    vertices, faces = mesh_from_density(torch.from_numpy(density), spacing, origin, threshold=50.0)
    assert edges_shared_twice(faces)
    assert 0.5 < vertices[:, 0].max() < 0.5 + spacing  # closed between the border and the padding layer
    assert signed_volume(vertices, faces) > 0


def test_soft_fields_get_their_surface_at_half_their_peak():
    density, spacing, origin = sphere_density(0.3)
    soft = density * 0.06  # peaks at 6, below the default threshold
    vertices, faces = mesh_from_density(soft, spacing, origin)
    assert surface_threshold(6.0) == 3.0 and surface_threshold(500.0) == DEFAULT_THRESHOLD
    assert abs(np.linalg.norm(vertices, axis=1).mean() - 0.3) < 0.01  # the same sphere (level 50 of 100 scaled)
    assert edges_shared_twice(faces)


def test_empty_field_is_a_clear_error():
    with pytest.raises(ValueError, match="it is empty"):
        mesh_from_density(np.zeros((8, 8, 8)), 0.1, -0.4)
    with pytest.raises(ValueError, match="no surface at this threshold"):
        mesh_from_density(np.ones((8, 8, 8)), 0.1, -0.4, threshold=2.0)
    with pytest.raises(ValueError, match="3D lattice"):
        mesh_from_density(np.zeros((8, 8)), 0.1, -0.4)


def parse_glb(data: bytes) -> tuple[dict, bytes]:
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    json_length, json_type = struct.unpack_from("<I4s", data, 12)
    assert json_type == b"JSON" and json_length % 4 == 0
    document = json.loads(data[20 : 20 + json_length])
    bin_length, bin_type = struct.unpack_from("<I4s", data, 20 + json_length)
    assert bin_type == b"BIN\x00" and bin_length % 4 == 0
    assert 28 + json_length + bin_length == len(data)
    binary = data[28 + json_length :]
    assert document["buffers"][0]["byteLength"] <= bin_length
    return document, binary


def read_accessor(document: dict, binary: bytes, index: int) -> np.ndarray:
    accessor = document["accessors"][index]
    view = document["bufferViews"][accessor["bufferView"]]
    dtype = {5126: np.float32, 5121: np.uint8, 5125: np.uint32}[accessor["componentType"]]
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[accessor["type"]]
    assert view["byteOffset"] % 4 == 0
    array = np.frombuffer(binary, dtype, accessor["count"] * width, view["byteOffset"])
    assert array.nbytes == view["byteLength"]
    return array.reshape(accessor["count"], width)


def test_glb_container_round_trips_plain_arrays():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], np.uint8)
    document, binary = parse_glb(glb_bytes(vertices, faces, colors))
    primitive = document["meshes"][0]["primitives"][0]
    assert document["asset"]["version"] == "2.0" and primitive["mode"] == 4
    positions = read_accessor(document, binary, primitive["attributes"]["POSITION"])
    np.testing.assert_array_equal(positions, vertices)
    assert document["accessors"][primitive["attributes"]["POSITION"]]["max"] == [1, 1, 1]
    rgba = read_accessor(document, binary, primitive["attributes"]["COLOR_0"])
    np.testing.assert_array_equal(rgba[:, :3], colors)
    assert document["accessors"][primitive["attributes"]["COLOR_0"]]["normalized"] is True
    indices = read_accessor(document, binary, primitive["indices"])
    np.testing.assert_array_equal(indices.reshape(-1, 3), faces)
    assert parse_glb(glb_bytes(vertices, faces))[0]["meshes"][0]["primitives"][0]["attributes"] == {"POSITION": 0}


@pytest.mark.parametrize(
    "vertices, faces, colors, message",
    [
        (np.zeros((0, 3)), np.zeros((1, 3), int), None, "vertices"),
        (np.zeros((3, 3)), np.array([[0, 1, 3]]), None, "faces index"),
        (np.zeros((3, 3)), np.array([[0.0, 1.0, 2.0]]), None, "integer"),
        (np.zeros((3, 3)), np.array([[0, 1, 2]]), np.zeros((3, 3)), "uint8"),
    ],
)
def test_glb_rejects_bad_arrays(vertices, faces, colors, message):
    with pytest.raises(ValueError, match=message):
        glb_bytes(vertices, faces, colors)


def test_mesh_of_a_model_field(tmp_path, tiny_blob_model):
    model, z = tiny_blob_model
    mesh = mesh_from_latent(model, z, resolution=48)
    assert isinstance(mesh, Mesh)
    assert mesh.vertices.dtype == np.float32 and mesh.colors.dtype == np.uint8
    assert mesh.colors.shape == mesh.vertices.shape and mesh.faces.max() < len(mesh.vertices)
    assert edges_shared_twice(mesh.faces)
    path = mesh.save(tmp_path / "object.glb")
    document, _ = parse_glb(path.read_bytes())
    assert document["accessors"][0]["count"] == len(mesh.vertices)
    with pytest.raises(ValueError, match="no surface at this threshold"):
        mesh_from_latent(model, z, resolution=48, threshold=1e9)


def test_meshes_keep_only_the_region_the_cameras_see(tiny_blob_model):
    from pix2nerf.preview.baked_field import bake
    from pix2nerf.preview.region import ViewRegion

    model, z = tiny_blob_model
    baked = bake(model, z, resolution=48)
    assert baked.region is not None
    tight = ViewRegion(baked.region.cameras, near=0.88, far=1.12)  # closer than the blob's radius of ~0.2
    full = mesh_from_baked(baked)
    cut = mesh_from_baked(baked, region=tight)
    assert baked.region.margin(torch.from_numpy(full.vertices)).min() >= 0
    assert tight.margin(torch.from_numpy(cut.vertices)).min() >= 0
    assert np.abs(cut.vertices).max() < np.abs(full.vertices).max()
    assert edges_shared_twice(cut.faces)  # capped, not cropped: still closed


def test_small_floaters_are_dropped_and_the_largest_component_kept():
    big, spacing, origin = sphere_density(0.25, center=(-0.15, 0.0, 0.0))
    small, _, _ = sphere_density(0.04, center=(0.35, 0.3, 0.3))
    vertices, faces = mesh_from_density(np.maximum(big, small), spacing, origin, threshold=50.0)
    kept_vertices, kept_faces = main_components(vertices, faces)
    assert len(kept_vertices) < len(vertices)
    assert np.linalg.norm(kept_vertices - (-0.15, 0, 0), axis=1).max() < 0.26  # only the big sphere
    assert edges_shared_twice(kept_faces) and kept_faces.max() == len(kept_vertices) - 1
    medium, _, _ = sphere_density(0.12, center=(0.3, 0.3, 0.3))  # about a fifth of the area: it matters
    vertices, faces = mesh_from_density(np.maximum(big, medium), spacing, origin, threshold=50.0)
    assert len(main_components(vertices, faces)[0]) == len(vertices)
