"""The `pix2nerf` command: render, orbit and info on a tiny model folder, one-line errors, `python -m pix2nerf`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from pix2nerf.cli import main as cli


@pytest.fixture
def model_dir(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "car.png"
    Image.new("RGBA", (30, 24), (200, 40, 40, 255)).save(path)
    return path


def test_render_writes_a_view(model_dir, photo, tmp_path, capsys):
    out = tmp_path / "view.png"
    argv = [
        "render",
        str(photo),
        "--model",
        str(model_dir),
        "--yaw",
        "90",
        "--pitch",
        "20",
        "--resolution",
        "8",
        "-o",
        str(out),
    ]
    assert cli.main(argv) == 0
    assert Image.open(out).size == (8, 8) and "yaw 90, pitch 20 degrees" in capsys.readouterr().out


def test_orbit_writes_an_animation(model_dir, photo, tmp_path):
    out = tmp_path / "orbit.webp"
    assert (
        cli.main(["orbit", str(photo), "--model", str(model_dir), "--frames", "3", "--resolution", "8", "-o", str(out)])
        == 0
    )
    with Image.open(out) as animation:
        assert animation.n_frames == 3


def test_orbit_writes_an_mp4(model_dir, photo, tmp_path):
    import av

    out = tmp_path / "orbit.mp4"
    argv = ["orbit", str(photo), "--model", str(model_dir), "--frames", "3", "--resolution", "9", "-o", str(out)]
    assert cli.main(argv) == 0
    with av.open(str(out)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (10, 10)
        assert sum(1 for _ in container.decode(video=0)) == 3


@pytest.mark.parametrize("suffix", [".glb", ".obj", ".ply"])
def test_mesh_writes_each_format(tiny_blob_model, photo, tmp_path, capsys, suffix):
    model, _ = tiny_blob_model  # its field is a blob whatever the latent: a surface to write
    model.save_pretrained(tmp_path / "blob")
    out = tmp_path / f"car{suffix}"
    assert cli.main(["mesh", str(photo), "--model", str(tmp_path / "blob"), "--resolution", "12", "-o", str(out)]) == 0
    data = out.read_bytes()
    assert data[:4] == {".glb": b"glTF", ".obj": b"# pi", ".ply": b"ply\n"}[suffix]
    assert f"wrote {out} (" in capsys.readouterr().out


def test_mesh_orbit_and_render_refuse_bad_outputs_and_options_before_any_work(photo, tmp_path, capsys):
    missing = str(tmp_path / "no-model")  # never loaded: the suffix is checked first
    assert cli.main(["mesh", str(photo), "--model", missing, "-o", str(tmp_path / "car.stl")]) == 2
    assert "cannot write a mesh as '.stl': use one of .glb, .obj, .ply" in capsys.readouterr().err
    assert cli.main(["orbit", str(photo), "--model", missing, "-o", str(tmp_path / "orbit.avi")]) == 2
    assert "cannot write an animation to orbit.avi: use one of .gif, .webp, .mp4" in capsys.readouterr().err
    assert cli.main(["mesh", str(photo), "--model", missing, "--resolution", "0"]) == 2
    assert "--resolution must be an integer in [1, 1024], got 0" in capsys.readouterr().err
    assert cli.main(["mesh", str(photo), "--model", missing, "--resolution", "8"]) == 2
    assert "resolution (8) must be a multiple of brick (3) times 2" in capsys.readouterr().err
    for option, message in (("--fps", "--fps must be a finite number in (0, "), ("--frames", "--frames must be an")):
        assert cli.main(["orbit", str(photo), "--model", missing, option, "0", "-o", str(tmp_path / "o.gif")]) == 2
        assert message in capsys.readouterr().err
    for output in (tmp_path / "view", tmp_path):
        assert cli.main(["render", str(photo), "--model", missing, "-o", str(output)]) == 2
        assert "-o must name an image file such as view.png" in capsys.readouterr().err
    assert cli.main(["render", str(photo), "--model", missing, "--device", "gpu", "-o", str(tmp_path / "v.png")]) == 2
    assert "--device must be a torch device such as 'cpu' or 'cuda', got 'gpu'" in capsys.readouterr().err


def test_render_creates_the_output_folder(model_dir, photo, tmp_path):
    out = tmp_path / "views" / "front.png"
    assert cli.main(["render", str(photo), "--model", str(model_dir), "--resolution", "8", "-o", str(out)]) == 0
    assert out.is_file()


def test_info_reports_config_parameters_and_files(model_dir, capsys):
    assert cli.main(["info", str(model_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["config"]["preset"] == "tiny" and info["parameters"]["field"] > 0
    assert info["files"]["model.safetensors"] > 0


@pytest.mark.parametrize(
    "make_input, message",
    [
        (lambda tmp: tmp / "missing.png", "missing.png"),
        (lambda tmp: (tmp / "notes.png").write_text("hello") and tmp / "notes.png", "not an image file"),
    ],
)
def test_bad_inputs_are_one_line_errors(model_dir, tmp_path, capsys, make_input, message):
    source = make_input(tmp_path)
    assert cli.main(["render", str(source), "--model", str(model_dir), "-o", str(tmp_path / "v.png")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("pix2nerf render: error:") and message in error and "\n" not in error


def test_unknown_model_is_a_one_line_error(photo, tmp_path, capsys):
    assert cli.main(["info", str(tmp_path / "no-model")]) == 2
    assert "pix2nerf info: error:" in capsys.readouterr().err


def test_python_dash_m_lists_every_subcommand():
    result = subprocess.run([sys.executable, "-m", "pix2nerf", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for name in cli.SUBCOMMANDS:
        assert name in result.stdout
