"""The built wheel outside the checkout: it carries the default model, and a fresh virtual environment with only the
wheel installed renders with it from another directory (no --model), and `pix2nerf info` describes it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_WHEEL_BYTES = 40 * 2**20
MODEL_FILES = ("config.json", "model.safetensors", "README.md")


def run(command: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIX2NERF_MODEL")}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.install
def test_the_wheel_renders_with_the_default_model_from_another_directory(tmp_path):
    source = tmp_path / "source"  # a copy, so that the build writes nothing into the checkout
    shutil.copytree(REPO_ROOT / "pix2nerf", source / "pix2nerf", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)], tmp_path)
    (wheel,) = (tmp_path / "dist").glob("pix2nerf-*.whl")
    assert wheel.stat().st_size <= MAX_WHEEL_BYTES
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = Parser().parsestr(archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    for name in MODEL_FILES:
        assert f"pix2nerf/models/pix2nerf-synthetic-cars/{name}" in names, name
    assert "pix2nerf/foreground/weights/segmentation.safetensors" in names  # remove_background's network
    assert metadata["License-Expression"] == "MIT"
    requires = metadata.get_all("Requires-Dist")
    assert "huggingface_hub>=0.30" in requires and any(r.startswith("psutil") and "train" in r for r in requires)

    # a fresh environment: the wheel alone, its dependencies (torch, ...) seen from this interpreter's site-packages
    environment = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(environment)
    python = environment / "bin" / "python"
    site = Path(
        run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip()
    )
    (site / "dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )  # a path: its .pth files stay unread
    run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)], tmp_path)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy2(REPO_ROOT / "examples" / "car_0.png", elsewhere / "car.png")
    where = run([str(python), "-c", "import pix2nerf; print(pix2nerf.__file__)"], elsewhere).stdout
    assert Path(where.strip()).is_relative_to(environment)
    run([str(python), "-m", "pix2nerf", "render", "car.png", "--resolution", "16", "-o", "out.png"], elsewhere)
    assert (elsewhere / "out.png").stat().st_size > 0
    info = json.loads(run([str(environment / "bin" / "pix2nerf"), "info", "--json"], elsewhere).stdout)
    assert info["model"] == "default" and info["config"]["preset"] == "synthetic_cars_triplane"
