"""Fast views: the folded per-latent field, baking, grid renders against the model's own, orbits, animations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from pix2nerf import Pix2NeRF, Pix2NeRFConfig
from pix2nerf.outputs import LOCKED_VIEW_DIRECTION, Latent
from pix2nerf.preview.animation import orbit_poses, render_orbit, save_animation
from pix2nerf.preview.baked_field import bake
from pix2nerf.rendering.cameras import world_rays


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


@pytest.fixture(scope="module")
def blob(tiny_blob_model):
    return tiny_blob_model


@pytest.fixture(scope="module")
def blob_baked(blob):
    model, z = blob
    return bake(model, z, resolution=48, brick=3)


def test_latent_field_matches_the_radiance_field():
    torch.manual_seed(0)
    config = Pix2NeRFConfig.from_preset("tiny", hidden_dim=32)
    model = Pix2NeRF(config).eval()
    z = model.sample_latents(1)
    frequencies, phase_shifts = model.field.latent_codes(z)
    points = torch.rand(1, 1000, 3) - 0.5
    view = torch.tensor(LOCKED_VIEW_DIRECTION).expand_as(points)
    with torch.no_grad():
        rgb, sigma = model.field(points, view, frequencies, phase_shifts)
    fast_rgb, fast_sigma = model.field.point_function((frequencies, phase_shifts), LOCKED_VIEW_DIRECTION)(
        points[0], chunk=300
    )
    torch.testing.assert_close(fast_rgb, rgb[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast_sigma, sigma[0], atol=1e-4, rtol=1e-5)
    with pytest.raises(ValueError, match="one latent"):
        model.field.point_function((frequencies.expand(2, -1), phase_shifts.expand(2, -1)), LOCKED_VIEW_DIRECTION)


def test_bake_holds_the_field_at_refined_lattice_points(blob, blob_baked):
    model, z = blob
    baked = blob_baked
    assert baked.resolution == 48 and baked.cells == 16 and baked.num_bricks > 0
    origins, directions = world_rays(torch.tensor([0.0, 77.0]), torch.tensor([0.0, -40.0]), 16, model.config.fov)
    depths = torch.tensor([model.config.ray_start, model.config.ray_end])
    samples = origins[:, None, None] + directions[:, :, None] * depths[:, None]
    assert baked.half_size == pytest.approx(float(samples.norm(dim=-1).max()), abs=1e-5)  # the farthest sample
    density = baked.density_grid()
    assert density.shape == (49, 49, 49)
    field = model.field.point_function(model.field.latent_codes(z), LOCKED_VIEW_DIRECTION)
    index = torch.tensor([[24, 24, 24], [20, 25, 30], [29, 23, 22], [24, 19, 24]])  # (x, y, z), near the blob
    points = -baked.half_size + index * baked.spacing
    rgb, sigma = field(points)
    torch.testing.assert_close(density[index[:, 0], index[:, 1], index[:, 2]], sigma, atol=1e-3, rtol=1e-4)
    query_rgb, query_sigma = baked.query(points[None])
    torch.testing.assert_close(query_sigma[0], sigma, atol=1e-2, rtol=1e-4)
    torch.testing.assert_close(query_rgb[0], rgb, atol=1e-4, rtol=1e-4)
    far_rgb, far_sigma = baked.query(torch.tensor([[0.9, 0.0, 0.0], [0.0, -0.9, 0.3]]))
    assert far_sigma.abs().max() == 0 and far_rgb.shape == (2, 3)


def test_bake_reports_progress_and_bakes_the_same_field(blob, blob_baked, monkeypatch):
    """With a progress callback the passes evaluate in chunks and report rising fractions up to 1; the baked arrays
    are those baked without one."""
    from pix2nerf.preview import baked_field

    model, z = blob
    monkeypatch.setattr(baked_field, "PROGRESS_POINTS", 500)
    fractions = []
    baked = bake(model, z, resolution=48, brick=3, progress=fractions.append)
    assert len(fractions) > 4 and fractions == sorted(fractions) and fractions[-1] == 1.0 and fractions[0] > 0
    torch.testing.assert_close(baked.lattice, blob_baked.lattice)
    torch.testing.assert_close(baked.bricks, blob_baked.bricks)
    assert torch.equal(baked.cell_state, blob_baked.cell_state)


def test_baked_views_match_the_model_render(blob, blob_baked):
    model, z = blob
    yaws, pitches = torch.tensor([0.0, 120.0, 250.0]), torch.tensor([10.0, 35.0, -5.0])
    reference = model.render(z.expand(3, -1), yaws, pitches, resolution=24)
    fast = blob_baked.render(yaws, pitches, resolution=24)
    assert fast.rgb.shape == (3, 3, 24, 24) and fast.depth.shape == fast.opacity.shape == (3, 24, 24)
    assert 0 <= fast.rgb.min() and fast.rgb.max() <= 1
    assert reference.opacity.mean() > 0.1  # the blob is really there
    for view in range(3):
        assert psnr(fast.rgb[view], reference.rgb[view]) > 35
    assert (fast.opacity - reference.opacity).abs().mean() < 0.01
    single = blob_baked.render(120.0, 35.0, resolution=24)
    torch.testing.assert_close(single.rgb[0], fast.rgb[1])
    turned = dataclasses.replace(blob_baked, yaw_offset=120.0)  # a model calibrated to another yaw origin
    torch.testing.assert_close(turned.render(0.0, 35.0, resolution=24).rgb[0], fast.rgb[1])


def test_bake_rejects_bad_requests(blob):
    model, z = blob
    with pytest.raises(ValueError, match="one latent"):
        bake(model, z.expand(2, -1))
    with pytest.raises(ValueError, match="multiple of brick"):
        bake(model, z, resolution=31, brick=3)
    with pytest.raises(ValueError, match="yaw must be a finite number"):
        bake(model, z, resolution=16, brick=1).render(float("nan"), 0.0)


def test_orbit_frames_progress_and_animation(tmp_path, blob_baked, blob):
    assert orbit_poses(4, 10.0)[0].tolist() == [0.0, 90.0, 180.0, 270.0]
    calls = []
    frames = render_orbit(
        blob_baked, num_frames=5, resolution=16, progress=lambda done, total: calls.append((done, total))
    )
    assert len(frames) == 5 and frames[0].size == (16, 16)
    assert calls == [(i, 5) for i in range(1, 6)]
    for suffix in (".gif", ".webp"):
        path = save_animation(frames, tmp_path / f"orbit{suffix}", fps=10)
        with Image.open(path) as animation:
            assert animation.n_frames == 5 and animation.size == (16, 16)
        assert save_animation(frames, tmp_path / f"again{suffix}", fps=10).read_bytes() == path.read_bytes()
    with pytest.raises(ValueError, match=r"use one of \.gif, \.webp, \.mp4"):
        save_animation(frames, tmp_path / "orbit.avi")
    model, z = blob
    assert len(render_orbit(model, z, num_frames=2, resolution=8)) == 2
    with pytest.raises(ValueError, match="needs a latent"):
        render_orbit(model)


def test_mp4_is_h264_with_every_frame_and_even_size(tmp_path):
    import av

    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    frames = [Image.new("RGB", (17, 15), colour) for colour in colours]  # odd sizes are padded to even
    path = save_animation(frames, tmp_path / "orbit.mp4", fps=10)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (stream.width, stream.height, stream.average_rate) == (18, 16, 10)
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    assert len(decoded) == 3
    for frame, colour in zip(decoded, colours):
        assert np.abs(frame.reshape(-1, 3).mean(0) - colour).max() < 8
    assert save_animation(frames, tmp_path / "again.mp4", fps=10).read_bytes() == path.read_bytes()


def test_full_quality_orbits_render_a_latents_refined_codes(blob):
    model, z = blob
    plain = Latent(z, torch.zeros(1), torch.full((1,), 20.0))
    frequencies, phase_shifts = model.field.latent_codes(z)
    refined = Latent(z, plain.yaw, plain.pitch, codes=(frequencies, phase_shifts + 0.5))
    first = render_orbit(model, plain, num_frames=2, resolution=8, full_quality=True)
    second = render_orbit(model, refined, num_frames=2, resolution=8, full_quality=True)
    assert any(a.tobytes() != b.tobytes() for a, b in zip(first, second))
