"""Empty-space skipping (pix2nerf.rendering.empty_space, and the fine-sample skip of rendering.volume.render_rays)
against the full render: the same image within 40 dB with far fewer field evaluations, per image in a batch, and
only where it applies."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pix2nerf.evaluation.metrics import psnr
from pix2nerf.rendering.cameras import world_rays
from pix2nerf.rendering.empty_space import render_image_skipping_empty
from pix2nerf.rendering.volume import RaySamplingSettings, render_rays


@pytest.fixture()
def wide_blob(tiny_blob_model, monkeypatch):
    """The blob model seen with an 80 degree field of view: the blob covers about a sixth of the image."""
    model, z = tiny_blob_model
    monkeypatch.setattr(model, "config", dataclasses.replace(model.config, fov=80.0))
    points = []
    forward = model.field.forward
    monkeypatch.setattr(model.field, "forward", lambda p, *a: points.append(p.shape[0] * p.shape[1]) or forward(p, *a))
    return model, z, points


def render(model, z, yaw, pitch, skip, points):
    points.clear()
    out = model.render(z, yaw, pitch, resolution=32, num_steps=12, kernels="reference", skip_empty=skip)
    return out, sum(points)


def test_skipping_matches_the_full_render_with_a_third_of_the_field_evaluations(wide_blob):
    model, z, points = wide_blob
    full, full_points = render(model, z, 30.0, 20.0, False, points)
    fast, fast_points = render(model, z, 30.0, 20.0, True, points)
    assert 0.02 < (full.opacity > 1e-3).float().mean() < 0.3  # the scene has both object and empty space
    assert fast_points < full_points / 3
    assert psnr(fast.rgb, full.rgb).min() >= 40.0
    assert ((fast.opacity - full.opacity).abs() > 1e-2).float().mean() < 0.01
    assert ((fast.depth - full.depth).abs() > 1e-2).float().mean() < 0.01
    # the default render skips empty space
    default = model.render(z, 30.0, 20.0, resolution=32, num_steps=12, kernels="reference")
    torch.testing.assert_close(default.rgb, fast.rgb)


@pytest.mark.parametrize("resolution", [3, 17, 31])
def test_odd_and_tiny_resolutions_match_the_full_render(wide_blob, resolution):
    model, z, _ = wide_blob
    full = model.render(z, 30.0, 20.0, resolution=resolution, num_steps=12, skip_empty=False)
    fast = model.render(z, 30.0, 20.0, resolution=resolution, num_steps=12, skip_empty=True)
    assert psnr(fast.rgb, full.rgb).item() >= 40.0


def test_each_image_of_a_batch_skips_its_own_empty_space(wide_blob):
    model, z, points = wide_blob
    yaws, pitches = torch.tensor([0.0, 120.0, -60.0]), torch.tensor([5.0, 30.0, 60.0])
    codes = z.expand(3, -1)
    batch, _ = render(model, codes, yaws, pitches, True, points)
    for i in range(3):
        single, _ = render(model, z, yaws[i : i + 1], pitches[i : i + 1], False, points)
        assert psnr(batch.rgb[i : i + 1], single.rgb).item() >= 40.0


def hazy_ball(points, directions):
    """A red ball of radius 0.2 at the origin in a faint haze (radius 0.5) below the skipping threshold."""
    radius = points.norm(dim=-1)
    haze = (radius < 0.5).float() * 5e-4
    return torch.tensor([1.0, 0.0, 0.0]).expand(*points.shape[:-1], 3), (radius < 0.2).float() * 200.0 + haze


def test_a_batch_renders_each_image_as_it_would_alone():
    """The rays an image's skipping leaves out stay left out when another image of its batch needs more rays: a red
    ball in a faint haze (below the skipping threshold, so a skipped ray and a rendered one differ), seen from two
    distances."""

    origins, directions = world_rays(torch.tensor([30.0, 30.0]), torch.tensor([20.0, 20.0]), 32, 40.0)
    origins = origins * torch.tensor([[1.0], [1.6]])  # the second camera further away: fewer pixels on the ball
    settings = RaySamplingSettings(near=0.4, far=2.2, num_steps=24)
    together = render_image_skipping_empty(hazy_ball, origins, directions, 32, settings)
    for i in range(2):
        alone = render_image_skipping_empty(hazy_ball, origins[i : i + 1], directions[i : i + 1], 32, settings)
        for a, b in zip(together, alone):
            torch.testing.assert_close(a[i : i + 1], b, atol=1e-6, rtol=0)


def test_render_rays_renders_each_ray_set_of_a_batch_as_alone():
    """One image whose rays all meet the ball beside one with empty (hazy) rays: the latter's empty rays still skip
    their fine samples."""
    origins = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    offsets = torch.stack([torch.linspace(-0.05, 0.05, 16), torch.linspace(-0.4, 0.4, 16)])
    directions = torch.stack([offsets, torch.zeros(2, 16), -torch.ones(2, 16)], -1)
    directions = torch.nn.functional.normalize(directions, dim=-1)
    settings = RaySamplingSettings(near=0.4, far=1.6, num_steps=24, skip_empty_below=1e-3)
    together = render_rays(hazy_ball, origins, directions, settings)
    assert bool((together[2][0] > 1e-3).all()) and not bool((together[2][1] > 1e-3).all())
    for i in range(2):
        alone = render_rays(hazy_ball, origins[i : i + 1], directions[i : i + 1], settings)
        for a, b in zip(together, alone):
            torch.testing.assert_close(a[i : i + 1], b, atol=1e-7, rtol=0)


def test_last_sample_background_renders_every_pixel(wide_blob, monkeypatch):
    model, z, points = wide_blob
    monkeypatch.setattr(model, "config", dataclasses.replace(model.config, background="last_sample"))
    full, full_points = render(model, z, 30.0, 20.0, False, points)
    fast, fast_points = render(model, z, 30.0, 20.0, True, points)
    coarse_points = 32 * 32 * 12
    assert coarse_points <= fast_points < full_points  # every ray's coarse samples, fine samples where busy
    assert psnr(fast.rgb, full.rgb).min() >= 40.0


def test_render_rays_skips_fine_samples_of_empty_rays():
    def sphere(points, directions):  # a red ball of radius 0.1 at the origin
        inside = points.norm(dim=-1) < 0.1
        rgb = torch.tensor([1.0, 0.0, 0.0]).expand(*points.shape[:-1], 3)
        return rgb, inside.float() * 200.0

    calls = []

    def counted(points, directions):
        calls.append(points.shape[1])
        return sphere(points, directions)

    origins = torch.tensor([[0.0, 0.0, 1.0]])
    offsets = torch.linspace(-0.3, 0.3, 16)
    directions = torch.nn.functional.normalize(torch.stack([offsets, torch.zeros(16), -torch.ones(16)], -1), dim=-1)[
        None
    ]
    settings = RaySamplingSettings(near=0.7, far=1.3, num_steps=24)
    full = render_rays(sphere, origins, directions, settings)
    fast = render_rays(counted, origins, directions, dataclasses.replace(settings, skip_empty_below=1e-3))
    busy = int((full[2] > 1e-3).sum())
    assert 0 < busy < 16
    assert calls == [16 * 24, busy * 24]
    for a, b in zip(fast, full):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=0)
