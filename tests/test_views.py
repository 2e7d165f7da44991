"""Framing and progress of views: zoom, progress callbacks, batched orbits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pix2nerf.images import tensor_to_pil
from pix2nerf.preview.animation import render_orbit
from pix2nerf.preview.baked_field import bake
from pix2nerf.rendering.cameras import zoomed_fov


def test_zoomed_fov():
    assert zoomed_fov(30.0, 1.0) == pytest.approx(30.0)
    for zoom in (0.5, 2.0):  # the image plane's half width shrinks by the zoom
        assert math.tan(math.radians(zoomed_fov(30.0, zoom) / 2)) * zoom == pytest.approx(math.tan(math.radians(15)))
    with pytest.raises(ValueError, match="zoom must be a positive"):
        zoomed_fov(30.0, 0.0)


def test_zoom_makes_the_object_fill_more_of_the_view(tiny_blob_model):
    model, z = tiny_blob_model
    close = (model.render(z, 0.0, 10.0, resolution=16).opacity > 0.5).sum()
    wide = (model.render(z, 0.0, 10.0, resolution=16, zoom=0.5).opacity > 0.5).sum()
    assert wide < 0.6 * close
    baked = bake(model, z, resolution=24)
    assert (baked.render(0.0, 10.0, 16, zoom=0.5).opacity > 0.5).sum() < 0.6 * close


def test_render_reports_progress_without_changing_the_image(tiny_blob_model):
    model, z = tiny_blob_model
    fractions = []
    out = model.render(z.expand(2, -1), torch.tensor([0.0, 90.0]), 10.0, resolution=16, progress=fractions.append)
    assert len(fractions) > 2 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert torch.equal(out.rgb, model.render(z.expand(2, -1), torch.tensor([0.0, 90.0]), 10.0, resolution=16).rgb)


def test_full_quality_orbit_renders_its_frames_in_one_call(tiny_blob_model):
    model, z = tiny_blob_model
    done = []
    frames = render_orbit(
        model, z, num_frames=3, pitch=10.0, resolution=8, full_quality=True, progress=lambda d, t: done.append((d, t))
    )
    single = model.render(z, 120.0, 10.0, resolution=8)
    assert np.array_equal(np.asarray(frames[1]), np.asarray(tensor_to_pil(single.rgb[0])))
    assert done[-1] == (3, 3)


def test_cli_render_takes_zoom_and_preprocess_and_reports_the_fit(tiny_model, tmp_path, capsys):
    from PIL import Image

    from pix2nerf.cli import main as cli

    tiny_model.save_pretrained(tmp_path / "model")
    Image.new("RGB", (24, 24), (200, 40, 40)).save(tmp_path / "photo.png")
    out = tmp_path / "view.png"
    argv = ["render", str(tmp_path / "photo.png"), "--model", str(tmp_path / "model"), "--resolution", "8"]
    assert cli.main([*argv, "--zoom", "1.5", "--preprocess", "none", "-o", str(out)]) == 0
    assert Image.open(out).size == (8, 8) and " fit" in capsys.readouterr().out
