"""Optional dependencies: without them, one sentence names the extra to install (simulated by hiding the module)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from pix2nerf.cli import main as cli
from pix2nerf.extras import MissingExtraError
from pix2nerf.preview.mesh import mesh_from_density


def test_eval_without_datasets_names_the_train_extra(tiny_model, tmp_path, capsys, monkeypatch):
    tiny_model.save_pretrained(tmp_path / "model")
    (tmp_path / "data").mkdir()
    monkeypatch.setitem(sys.modules, "datasets", None)
    assert cli.main(["eval", str(tmp_path / "model"), "--data", str(tmp_path / "data"), "--no-progress"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "pix2nerf eval: error: reading a dataset needs datasets, which is not installed: pip install 'pix2nerf[train]'"
    )


def test_mesh_export_without_scikit_image_names_the_app_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage.measure", None)
    message = r"the mesh export needs scikit-image, .* pip install 'pix2nerf\[app\]'"
    with pytest.raises(MissingExtraError, match=message):
        mesh_from_density(np.ones((8, 8, 8)), 0.1, -0.4)


def test_mp4_without_av_names_the_app_extra(tmp_path, monkeypatch):
    from PIL import Image

    from pix2nerf.preview.animation import save_animation

    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(MissingExtraError, match=r"MP4 video needs av, .* pip install 'pix2nerf\[app\]'"):
        save_animation([Image.new("RGB", (8, 8))], tmp_path / "orbit.mp4")


def test_make_dataset_without_datasets_names_the_train_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)
    assert cli.main(["make-dataset", "--category", "cars", "--out", str(tmp_path / "cars"), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "make-dataset needs datasets, which is not installed: pip install 'pix2nerf[train]'" in error


def test_render_needs_no_extra(tmp_path):
    """The core install renders: no extra's package is imported on the way (each hidden in a fresh interpreter)."""
    import subprocess
    from pathlib import Path

    car = Path(__file__).resolve().parents[1] / "examples" / "car_0.png"
    hidden = ("datasets", "gradio", "skimage", "av", "accelerate", "tensorboard", "psutil")
    code = (
        f"import sys; sys.modules.update(dict.fromkeys({hidden!r})); from pix2nerf.cli.main import main; "
        f"sys.exit(main(['render', {str(car)!r}, '--resolution', '16', '-o', {str(tmp_path / 'out.png')!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.png").is_file()
