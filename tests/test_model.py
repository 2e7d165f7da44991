"""The public model API on a tiny model: config round trips, hub I/O (folder and offline cache), encode and render
inputs and shapes, chunked renders, and the one-line errors for bad input."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from pix2nerf import Pix2NeRF, Pix2NeRFConfig
from pix2nerf.config import PRESETS
from pix2nerf.outputs import Latent, RenderOutput
from pix2nerf.rendering.cameras import wrap_degrees

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def same_weights(a: Pix2NeRF, b: Pix2NeRF) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ----------------------------------------------------------------------------------------------------------------
# config
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_config_json(name, tmp_path):
    config = Pix2NeRFConfig.from_preset(name)
    path = tmp_path / "config.json"
    config.to_json_file(path)
    assert Pix2NeRFConfig.from_json_file(path) == config
    assert json.loads(path.read_text())["preset"] == name


def test_official_presets_carry_the_official_settings():
    carla, chairs, celeba = (Pix2NeRFConfig.from_preset(n) for n in ("carla", "srn_chairs", "celeba"))
    assert (carla.siren_variant, carla.z_dim, carla.fov, carla.ray_start, carla.ray_end) == (
        "tallsiren",
        256,
        30,
        0.7,
        1.3,
    )
    assert (chairs.fov, chairs.ray_start, chairs.ray_end, chairs.background) == (52, 0.6, 1.4, "white")
    assert (celeba.siren_variant, celeba.z_dim, celeba.background) == ("spatial", 512, "last_sample")


def test_bad_configs_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown preset 'faces'; available presets"):
        Pix2NeRFConfig.from_preset("faces")
    with pytest.raises(ValueError, match="unknown config fields"):
        Pix2NeRFConfig.from_dict({"preset": "tiny", "colour": 3})
    with pytest.raises(ValueError, match="'triplane_style_gian': did you mean 'triplane_style_gain'"):
        Pix2NeRFConfig.from_dict({"preset": "tiny", "triplane_style_gian": 1.0})
    with pytest.raises(ValueError, match="fov must be a finite number in"):
        Pix2NeRFConfig.from_preset("tiny", fov=0.0)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Pix2NeRFConfig.from_json_file(tmp_path / "config.json")


# ----------------------------------------------------------------------------------------------------------------
# hub I/O
def test_save_pretrained_round_trips_exactly(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors"} <= {p.name for p in tmp_path.iterdir()}
    loaded = Pix2NeRF.from_pretrained(tmp_path)
    assert loaded.config == tiny_model.config and same_weights(loaded, tiny_model) and not loaded.training


def test_from_pretrained_by_repo_id_from_a_prefilled_cache_offline(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "cache" / "models--someone--pix2nerf-tiny"
    snapshot = repo / "snapshots" / COMMIT
    tiny_model.save_pretrained(snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    loaded = Pix2NeRF.from_pretrained("someone/pix2nerf-tiny", cache_dir=tmp_path / "cache")
    assert same_weights(loaded, tiny_model)
    assert same_weights(
        Pix2NeRF.from_pretrained("someone/pix2nerf-tiny", cache_dir=tmp_path / "cache", revision=COMMIT), tiny_model
    )
    with pytest.raises(FileNotFoundError, match="'someone/unknown'.*cache has no config.json"):
        Pix2NeRF.from_pretrained("someone/unknown", cache_dir=tmp_path / "cache")


def test_mismatched_and_broken_checkpoints_are_refused(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    wider = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny", hidden_dim=24))
    save_file(wider.state_dict(), str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"does not match this model's config \(mis-shaped: field\."):
        Pix2NeRF.from_pretrained(tmp_path)
    state = tiny_model.state_dict()
    state.pop("field.density_head.bias")
    state["extra.weight"] = torch.zeros(1)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"missing: field\.density_head\.bias; unexpected: extra\.weight"):
        Pix2NeRF.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        Pix2NeRF.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors is missing"):
        Pix2NeRF.from_pretrained(tmp_path)


# ----------------------------------------------------------------------------------------------------------------
# image -> latent
def test_encode_accepts_pil_arrays_and_tensors_alike(tiny_model):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    from_pil = tiny_model.encode(image)
    assert isinstance(from_pil, Latent) and from_pil.z.shape == (1, tiny_model.config.z_dim)
    assert from_pil.yaw.shape == from_pil.pitch.shape == (1,)
    torch.testing.assert_close(tiny_model.encode(pixels).z, from_pil.z)
    opaque = np.concatenate([pixels, np.full((40, 40, 1), 255, np.uint8)], -1)
    torch.testing.assert_close(tiny_model.encode(opaque).z, from_pil.z)
    assert tiny_model.encode([image, image.convert("L")]).z.shape == (2, tiny_model.config.z_dim)
    tensor = torch.rand(3, 3, 16, 16) * 2 - 1
    assert tiny_model.encode(tensor).z.shape == (3, tiny_model.config.z_dim)


def test_transparent_pixels_are_composited_over_the_background(tiny_model):
    clear = np.zeros((16, 16, 4), np.uint8)
    white = np.full((16, 16, 3), 255, np.uint8)
    torch.testing.assert_close(tiny_model.preprocess(clear), tiny_model.preprocess(white))


@pytest.mark.parametrize(
    "images, message",
    [
        (torch.full((1, 3, 16, 16), float("nan")), "NaN or infinite"),
        (torch.zeros(1, 4, 16, 16), r"\(B, 3, S, S\)"),
        (torch.full((1, 3, 16, 16), 255.0), r"in \[-1, 1\]"),
        (np.zeros((1, 1, 3), np.uint8), "1x1 pixels; at least"),
        (b"not an image", "not an image file of an accepted format"),
    ],
)
def test_bad_images_are_one_line_errors(tiny_model, images, message):
    with pytest.raises(ValueError, match=message):
        tiny_model.encode(images)


# ----------------------------------------------------------------------------------------------------------------
# latent -> image
def test_render_shapes_ranges_and_angle_forms(tiny_model):
    latent = tiny_model.encode(torch.zeros(2, 3, 16, 16))
    out = tiny_model.render(latent, resolution=8)
    assert isinstance(out, RenderOutput) and out.rgb.shape == (2, 3, 8, 8) and out.depth.shape == (2, 8, 8)
    assert 0 <= out.rgb.min() and out.rgb.max() <= 1
    per_batch = tiny_model.render(latent.z, torch.tensor([10.0, 200.0]), torch.tensor([5.0, 30.0]), resolution=8)
    first = tiny_model.render(latent.z[:1], 10.0, 5.0, resolution=8)
    torch.testing.assert_close(per_batch.rgb[:1], first.rgb, atol=1e-6, rtol=1e-5)
    assert tiny_model.render(latent.z, 0.0, 0.0, resolution=8, return_depth=False).depth is None
    views = tiny_model.novel_views(Image.new("RGB", (20, 20), "red"), [0, 90, 180], 15.0, resolution=8)
    assert len(views) == 3 and views[0].size == (8, 8)
    with pytest.raises(ValueError, match="novel_views takes one image or a Latent of one, got a batch of 2"):
        tiny_model.novel_views(latent, [0.0], 0.0, resolution=8)
    assert tiny_model.generate(3, 30.0, 10.0, resolution=8).rgb.shape == (1, 3, 8, 8)


def test_yaw_offset_moves_the_public_yaw_frame_of_render_and_encode(tiny_model, tmp_path):
    """config.yaw_offset is the generator's yaw of the data's yaw 0: render adds it, encode takes it off."""
    from pix2nerf import Pix2NeRF

    shifted = Pix2NeRF(dataclasses.replace(tiny_model.config, yaw_offset=150.0))
    shifted.load_state_dict(tiny_model.state_dict())
    shifted.eval().save_pretrained(tmp_path / "shifted")
    shifted = Pix2NeRF.from_pretrained(tmp_path / "shifted")
    assert shifted.config.yaw_offset == 150.0
    z = tiny_model.sample_latents(2, torch.Generator().manual_seed(0))
    expected = tiny_model.render(z, torch.tensor([150.0, -60.0]), 20.0, resolution=8).rgb
    torch.testing.assert_close(shifted.render(z, torch.tensor([0.0, 150.0]), 20.0, resolution=8).rgb, expected)
    image = torch.rand(1, 3, 16, 16) * 2 - 1
    plain, moved = tiny_model.encode(image), shifted.encode(image)
    torch.testing.assert_close(moved.yaw, wrap_degrees(plain.yaw - 150.0))
    torch.testing.assert_close(moved.z, plain.z)
    torch.testing.assert_close(shifted.render(moved, resolution=8).rgb, tiny_model.render(plain, resolution=8).rgb)


def test_chunked_renders_match_unchunked_and_bound_the_points_per_call(tiny_model, monkeypatch):
    from pix2nerf import model as model_module
    from pix2nerf.rendering.volume import RaySamplingSettings

    z = tiny_model.sample_latents(1, torch.Generator().manual_seed(0))
    yaw, pitch = torch.tensor([30.0]), torch.tensor([20.0])
    settings = RaySamplingSettings(
        near=0.7, far=1.3, num_steps=48, hierarchical=True, deterministic=True, background="white"
    )
    codes = tiny_model.field.latent_codes(z)
    calls = []
    forward = tiny_model.field.forward
    monkeypatch.setattr(
        tiny_model.field, "forward", lambda points, *a: calls.append(points.shape[1]) or forward(points, *a)
    )
    with torch.no_grad():
        whole = tiny_model.render_codes(codes, yaw, pitch, 32, settings)
        calls.clear()
        chunked = tiny_model.render_codes(codes, yaw, pitch, 32, settings, max_points_per_chunk=4096)
    assert max(calls) <= 4096 and len(calls) > 2
    torch.testing.assert_close(chunked.rgb, whole.rgb)
    # the public render on a CPU evaluates at most MAX_POINTS_PER_CHUNK["cpu"] points at once
    calls.clear()
    monkeypatch.setitem(model_module.MAX_POINTS_PER_CHUNK, "cpu", 2048)
    public = tiny_model.render(
        z, 30.0, 20.0, resolution=32, num_steps=48, lock_view_dependence=False, kernels="reference"
    )
    assert max(calls) <= 2048
    torch.testing.assert_close(public.rgb, whole.rgb.clamp(0, 1))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(yaw=float("nan"), pitch=0.0), "yaw must be a finite number"),
        (dict(yaw=0.0, pitch=float("inf")), "pitch must be a finite number"),
        (dict(yaw=torch.zeros(3), pitch=0.0), "3 values for a batch of 1"),
        (dict(yaw=0.0, pitch=0.0, resolution=1), r"resolution must be an integer in \[2, 1024\], got 1"),
        (dict(yaw=0.0, pitch=0.0, num_steps=2), r"num_steps must be an integer in \[3, 512\], got 2"),
        (dict(), "yaw and pitch"),
    ],
)
def test_bad_render_requests_are_one_line_errors(tiny_model, kwargs, message):
    z = tiny_model.sample_latents(1)
    with pytest.raises(ValueError, match=message):
        tiny_model.render(z, **kwargs)


def test_bad_latents_are_refused(tiny_model):
    with pytest.raises(ValueError, match=r"shape \(B, 16\)"):
        tiny_model.render(torch.zeros(1, 7), 0.0, 0.0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        tiny_model.render(torch.full((1, 16), float("nan")), 0.0, 0.0)


def test_a_model_without_encoder_says_so(tmp_path):
    model = Pix2NeRF(dataclasses.replace(Pix2NeRFConfig.from_preset("tiny"), has_encoder=False))
    assert model.generate(0, resolution=4).rgb.shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match="converted without an encoder"):
        model.encode(torch.zeros(1, 3, 16, 16))
