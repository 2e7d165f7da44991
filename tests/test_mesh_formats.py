"""Mesh files: OBJ (vertex colours as `v x y z r g b`) and binary PLY written and read back, `Mesh.save` by suffix."""

from __future__ import annotations

import numpy as np
import pytest

from pix2nerf.preview.mesh import Mesh
from pix2nerf.preview.mesh_formats import MESH_FORMATS, mesh_file_bytes, obj_bytes, ply_bytes

VERTICES = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32) * 0.3 - 0.1
FACES = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
COLORS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], np.uint8)


def read_obj(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """vertices, 0-based faces and colours (uint8, rounded from [0, 1]) of an OBJ text."""
    lines = [line.split() for line in data.decode("ascii").splitlines() if line and not line.startswith("#")]
    rows = np.array([[float(x) for x in line[1:]] for line in lines if line[0] == "v"])
    faces = np.array([[int(x) - 1 for x in line[1:]] for line in lines if line[0] == "f"])
    colors = np.rint(rows[:, 3:] * 255).astype(np.uint8) if rows.shape[1] == 6 else None
    return rows[:, :3], faces, colors


def read_ply(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """vertices, faces and colours of a binary little-endian PLY with the properties pix2nerf writes."""
    header, body = data.split(b"end_header\n", 1)
    lines = header.decode("ascii").splitlines()
    assert lines[:2] == ["ply", "format binary_little_endian 1.0"]
    counts = {line.split()[1]: int(line.split()[2]) for line in lines if line.startswith("element")}
    names = [line.split()[-1] for line in lines if line.startswith("property ") and "list" not in line]
    kinds = {"x": "<f4", "y": "<f4", "z": "<f4", "red": "u1", "green": "u1", "blue": "u1"}
    records = np.frombuffer(body, [(name, kinds[name]) for name in names], counts["vertex"])
    polygons = np.frombuffer(body, [("count", "u1"), ("indices", "<i4", (3,))], counts["face"], records.nbytes)
    assert records.nbytes + polygons.nbytes == len(body) and (polygons["count"] == 3).all()
    vertices = np.stack([records[axis] for axis in "xyz"], 1)
    colors = np.stack([records[c] for c in ("red", "green", "blue")], 1) if "red" in names else None
    return vertices, polygons["indices"], colors


@pytest.mark.parametrize("writer, reader, tolerance", [(obj_bytes, read_obj, 1e-6), (ply_bytes, read_ply, 0.0)])
def test_obj_and_ply_round_trip_vertices_faces_and_colours(writer, reader, tolerance):
    vertices, faces, colors = reader(writer(VERTICES, FACES, COLORS))
    np.testing.assert_allclose(vertices, VERTICES, atol=tolerance)
    np.testing.assert_array_equal(faces, FACES)
    np.testing.assert_array_equal(colors, COLORS)
    vertices, faces, colors = reader(writer(VERTICES, FACES))
    assert len(vertices) == 4 and len(faces) == 4 and colors is None


def test_mesh_save_picks_the_format_by_suffix(tmp_path):
    mesh = Mesh(VERTICES, FACES, COLORS)
    assert mesh.save(tmp_path / "car.glb").read_bytes()[:4] == b"glTF"
    assert read_obj(mesh.save(tmp_path / "car.OBJ").read_bytes())[0].shape == (4, 3)
    np.testing.assert_array_equal(read_ply(mesh.save(tmp_path / "car.ply").read_bytes())[2], COLORS)
    assert mesh.nbytes == VERTICES.nbytes + FACES.nbytes + COLORS.nbytes
    with pytest.raises(ValueError, match=r"cannot write a mesh as '\.stl': use one of \.glb, \.obj, \.ply"):
        mesh.save(tmp_path / "car.stl")
    assert not (tmp_path / "car.stl").exists()


@pytest.mark.parametrize("suffix", sorted(MESH_FORMATS))
def test_every_format_checks_the_arrays(suffix):
    with pytest.raises(ValueError, match="faces index vertices 0..3"):
        mesh_file_bytes(suffix, VERTICES, FACES + 1, COLORS)
    with pytest.raises(ValueError, match="colors must be a uint8 array"):
        mesh_file_bytes(suffix, VERTICES, FACES, COLORS.astype(np.float32))
