"""The tri-plane field (pix2nerf.fields.triplane) behind the field contract, on the CPU with the tiny_triplane preset:
its maths, and every consumer of a field (render, encode, training and resume, hub folders, bake, mesh, serving,
kernel choice, the official converter) running it unchanged."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pix2nerf import Pix2NeRF, Pix2NeRFConfig
from pix2nerf.fields.triplane import TriplaneField, embedding_bag_gather

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def model() -> Pix2NeRF:
    torch.manual_seed(0)
    return Pix2NeRF(Pix2NeRFConfig.from_preset("tiny_triplane")).eval()


def photo(seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8))


def test_codes_are_channels_last_planes_and_psi_zero_is_the_mean_style(model):
    config = model.config
    (planes,) = model.field.latent_codes(model.sample_latents(2))
    assert isinstance(model.field, TriplaneField)
    assert planes.shape == (2, 3, config.triplane_channels, 16, 16) and planes.dtype == torch.float32
    assert planes.permute(0, 1, 3, 4, 2).is_contiguous()
    (truncated,) = model.field.latent_codes(model.sample_latents(2), psi=0.0)
    torch.testing.assert_close(truncated[0], truncated[1])


def test_fresh_planes_are_smooth_at_the_texel_scale(model):
    """No 2 x 2 texel checkerboard (a pixel shuffle to the planes' resolution gave one: a quarter of their variance,
    seen as stripes on every render of a trained field)."""
    (planes,) = model.field.latent_codes(model.sample_latents(2, torch.Generator().manual_seed(0)))
    p = planes.float()
    checkerboard = (p[..., ::2, ::2] + p[..., 1::2, 1::2] - p[..., ::2, 1::2] - p[..., 1::2, ::2]) / 4
    assert checkerboard.pow(2).mean() < 0.01 * p.var()


def test_planes_stay_bounded_when_the_synthesis_weights_add_up_coherently(model):
    """Demodulation alone lets weights that sum smooth inputs coherently grow the activations at every layer, until
    the decoder's colours saturate (train/runs/triplane-plane-defects/)."""
    z = model.sample_latents(2, torch.Generator().manual_seed(0))
    synthesis = model.field.synthesis
    with torch.no_grad():
        fresh = model.field.latent_codes(z)[0].float().pow(2).mean().sqrt()
        for conv in synthesis.convs:
            conv.weight.abs_()
        synthesis.constant.abs_()
        coherent = model.field.latent_codes(z)[0].float().pow(2).mean().sqrt()
    assert coherent < 3 * fresh


def test_plane_sampling_matches_grid_sample_in_values_and_plane_gradients(model):
    field = model.field
    (planes,) = field.latent_codes(model.sample_latents(2))
    planes = planes.detach().requires_grad_(True)
    points = (torch.rand(2, 300, 3) * 2 - 1) * field.half_size * 1.1  # some beyond the box
    q = points / field.half_size
    grid = torch.stack([q[..., [0, 1]], q[..., [0, 2]], q[..., [1, 2]]], 1).reshape(6, 1, 300, 2)
    flat = planes.reshape(6, *planes.shape[2:])
    expected = F.grid_sample(flat, grid, padding_mode="border", align_corners=False)
    expected = expected.view(2, 3, -1, 300).sum(1).transpose(1, 2)
    features = field._features(points, planes, embedding_bag_gather)
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(features)
    (grad,) = torch.autograd.grad((features * weights).sum(), planes)
    (expected_grad,) = torch.autograd.grad((expected * weights).sum(), planes)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-5)


def test_density_is_zero_outside_the_box_and_point_function_matches_forward(model):
    field = model.field
    codes = field.latent_codes(model.sample_latents(1))
    points = (torch.rand(1, 500, 3) * 2 - 1) * field.half_size * 1.5
    with torch.no_grad():
        rgb, sigma = field(points, torch.zeros_like(points), *codes)
    outside = (points.abs() > field.half_size).any(-1)
    assert outside.any() and (sigma[outside] == 0).all() and (sigma[~outside] != 0).any()
    assert ((rgb >= 0) & (rgb <= 1)).all()
    point_rgb, point_sigma = field.point_function(codes, (0.0, 0.0, -1.0))(points[0])
    torch.testing.assert_close(point_rgb, rgb[0])
    torch.testing.assert_close(point_sigma, sigma[0])


def test_one_latents_planes_serve_a_batch_of_point_rows_as_copies_of_them_would(model):
    field = model.field
    (planes,) = field.latent_codes(model.sample_latents(1))
    planes = planes + 0.1  # a refined latent's codes: the standard layout, not the channels-last one
    points = (torch.rand(3, 200, 3) * 2 - 1) * field.half_size
    with torch.no_grad():
        copies = field(points, points, planes.repeat(3, 1, 1, 1, 1))
        for shared in (planes, planes.expand(3, -1, -1, -1, -1)):
            for got, want in zip(field(points, points, shared), copies):
                torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_views_of_one_latent_share_its_planes_and_render_as_separate_latents_would(model):
    latent = model.encode(photo())
    (shared,) = model.codes_of(latent.first(3))
    assert shared.shape[0] == 3 and shared.stride(0) == 0  # computed once, not per view
    torch.testing.assert_close(shared[0], model.codes_of(latent)[0][0])
    yaws, pitches = torch.tensor([0.0, 90.0, 180.0]), torch.full((3,), 20.0)
    views = model.render(latent.first(3), yaws, pitches, resolution=8, num_steps=6).rgb
    for index in range(3):
        alone = model.render(latent, yaws[index : index + 1], pitches[index : index + 1], resolution=8, num_steps=6)
        torch.testing.assert_close(views[index], alone.rgb[0])


def test_a_fresh_field_renders_a_soft_blob_at_the_centre(model):
    out = model.render(model.sample_latents(1), 30.0, 20.0, resolution=16, num_steps=12)
    opacity = out.opacity[0]
    assert opacity[7:9, 7:9].min() > 0.5  # the centre is covered
    assert opacity[[0, 0, -1, -1], [0, -1, 0, -1]].max() < 0.1  # the corners see through


@pytest.mark.parametrize("skip_empty", [False, True])
def test_renders_encodes_and_makes_novel_views(model, skip_empty):
    latent = model.encode(photo())
    out = model.render(latent, yaw=[10.0], pitch=[5.0], resolution=16, num_steps=6, skip_empty=skip_empty)
    assert out.rgb.shape == (1, 3, 16, 16) and torch.isfinite(out.rgb).all() and torch.isfinite(out.depth).all()
    views = model.novel_views(photo(), yaws=[0, 90], pitches=10.0, resolution=16, skip_empty=skip_empty)
    assert [view.size for view in views] == [(16, 16), (16, 16)]


def test_kernels_resolve_to_compile_on_cuda_and_reference_on_cpu(model, monkeypatch):
    from pix2nerf.kernels import runner

    assert runner.resolve_kernels("auto", model.field, torch.device("cpu")) == "reference"
    monkeypatch.setattr(runner, "triton_available", lambda device: True)
    monkeypatch.setattr(runner, "has_triton_kernels", lambda field: False)  # no Triton here to import the SIREN's
    assert runner.resolve_kernels("auto", model.field, torch.device("cuda")) == "compile"


@pytest.mark.parametrize("mapping_lr_scale", [1.0, 0.01])  # one optimizer group for G, then two
def test_trains_with_the_full_objective_and_resumes_exactly(mapping_lr_scale):
    from pix2nerf.networks import Discriminator
    from pix2nerf.training import Pix2NeRFTrainer

    torch.manual_seed(0)
    config = Pix2NeRFConfig.from_preset("tiny_triplane", triplane_mapping_lr_scale=mapping_lr_scale)
    model = Pix2NeRF(config)

    def trainer_for(network: Pix2NeRF) -> Pix2NeRFTrainer:
        return Pix2NeRFTrainer(network, Discriminator(config.discriminator_channels, config.discriminator_type))

    def steps(trainer: Pix2NeRFTrainer, first: int, last: int) -> None:
        for step in range(first, last):
            torch.manual_seed(100 + step)
            resolution = config.stage_at(step)["resolution"]
            logs = trainer.train_step(torch.rand(2, 3, resolution, resolution) * 2 - 1, step)
            assert all(torch.isfinite(v) for v in logs.values() if isinstance(v, torch.Tensor))

    before = [p.detach().clone() for p in model.field.parameters()]
    trainer = trainer_for(model)
    steps(trainer, 0, 4)
    state = copy.deepcopy(trainer.state_dict())
    steps(trainer, 4, 6)  # past the warm-up: the odd step trains the encoder too
    assert any(not torch.equal(a, b) for a, b in zip(before, model.field.parameters()))

    resumed = trainer_for(Pix2NeRF(config))
    resumed.load_state_dict(state)
    steps(resumed, 4, 6)
    for a, b in zip(resumed.state_dict()["model"].values(), trainer.state_dict()["model"].values()):
        assert torch.equal(a, b)


def test_the_mapping_network_trains_at_its_lr_scale_and_the_style_gain_sets_the_affines():
    from pix2nerf.networks import Discriminator
    from pix2nerf.training import Pix2NeRFTrainer

    torch.manual_seed(0)
    config = Pix2NeRFConfig.from_preset("tiny_triplane", triplane_mapping_lr_scale=0.01, triplane_style_gain=1.0)
    model = Pix2NeRF(config)
    # unit gain: the affine weights' spread is 1 / sqrt(fan_in), four times the default 0.25's
    affine = model.field.synthesis.convs[0].affine.weight
    assert affine.std().item() == pytest.approx(config.triplane_mapping_dim**-0.5, rel=0.2)
    trainer = Pix2NeRFTrainer(model, Discriminator(config.discriminator_channels, config.discriminator_type))
    trainer.train_step(torch.rand(2, 3, 8, 8) * 2 - 1, 0)
    groups = trainer.optimizers["g"].param_groups
    lr = config.stage_at(0)["lr_g"]
    assert [group["lr"] for group in groups] == pytest.approx([lr, lr * 0.01])
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.field.mapping.parameters()}
    assert sum(len(group["params"]) for group in groups) == len(list(model.field.parameters()))
    # a resumed run takes the config's scale, not the checkpoint's
    state = trainer.state_dict()
    changed = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny_triplane", triplane_mapping_lr_scale=0.5))
    resumed = Pix2NeRFTrainer(changed, Discriminator(config.discriminator_channels, config.discriminator_type))
    resumed.load_state_dict(state)
    resumed.train_step(torch.rand(2, 3, 8, 8) * 2 - 1, 1)
    assert resumed.optimizers["g"].param_groups[1]["lr"] == pytest.approx(lr * 0.5)
    assert len(Pix2NeRF(Pix2NeRFConfig.from_preset("tiny_triplane")).field.parameter_groups()) == 1  # scale 1


def test_train_script_trains_the_tiny_triplane_preset_compare_variants_reads_it_and_its_checkpoint_packs(tmp_path):
    from tiny_datasets import write_multiview_dataset

    data = write_multiview_dataset(tmp_path / "data")
    run = tmp_path / "variants" / "slow-mapping"
    command = [sys.executable, str(REPO_ROOT / "train" / "train.py"), "--preset", "tiny_triplane"]
    command += ["--train_data_dir", str(data), "--output_dir", str(run), "--max_train_steps", "2"]
    command += ["--config_overrides", '{"triplane_mapping_lr_scale": 0.01}', "--logging_steps", "1"]
    command += ["--checkpointing_steps", "2", "--validation_steps", "1", "--validation_num_objects", "2"]
    command += ["--dataloader_num_workers", "0"]
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    trained = Pix2NeRF.from_pretrained(run / "model")
    assert trained.config.field_type == "triplane"
    assert "tri-plane" in (run / "model" / "README.md").read_text()

    output = tmp_path / "comparison.json"
    command = [sys.executable, str(REPO_ROOT / "train" / "compare_variants.py"), str(tmp_path / "variants")]
    result = subprocess.run(
        command + ["-o", str(output)], cwd=REPO_ROOT, env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (variant,) = json.loads(output.read_text())["variants"]
    assert variant["name"] == "slow-mapping" and variant["steps"] == 2
    assert variant["overrides"]["triplane_mapping_lr_scale"] == 0.01
    assert math.isfinite(variant["final"]["identity_gain_db"]) and len(variant["validations"]) >= 2

    packed, restored = tmp_path / "packed", tmp_path / "restored"
    pack = ["bash", str(REPO_ROOT / "train" / "pack_checkpoint.sh"), str(run)]
    result = subprocess.run(pack + [str(packed)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip().endswith("parts 1-1 of 1"), result.stdout
    assert (packed / "metrics.jsonl").read_bytes() == (run / "logs" / "metrics.jsonl").read_bytes()
    # a range of parts (as for a checkpoint larger than a command returns): the same tar, packed once
    for first in (1, 2):
        result = subprocess.run(
            pack + [str(tmp_path / f"range-{first}"), str(first), "1"], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "range-1").glob("ckpt.tar.*")] == ["ckpt.tar.aa"]
    assert not list((tmp_path / "range-2").glob("ckpt.tar.*"))  # this tiny checkpoint has one part
    assert (tmp_path / "range-1" / "ckpt.tar.aa").read_bytes() == (packed / "ckpt.tar.aa").read_bytes()
    restored.mkdir()
    parts = sorted(packed.glob("ckpt.tar.*"))
    subprocess.run(["tar", "xf", "-", "-C", str(restored)], input=b"".join(p.read_bytes() for p in parts), check=True)
    for file in (run / "checkpoint-2").iterdir():
        assert (restored / "checkpoint-2" / file.name).read_bytes() == file.read_bytes()
    from pix2nerf.training.export import checkpoint_ema_model

    exported, progress = checkpoint_ema_model(
        restored / "checkpoint-2", "tiny_triplane", {"triplane_mapping_lr_scale": 0.01}
    )
    assert progress["step"] == 2  # the restored checkpoint's EMA model is the one the run exported at its last step
    for name, tensor in trained.state_dict().items():
        torch.testing.assert_close(exported.state_dict()[name], tensor, rtol=0, atol=0)


def test_round_trips_through_a_hub_folder_and_serves_views(model, tmp_path, monkeypatch):
    from pix2nerf.serving.service import Service, load_model

    model.save_pretrained(tmp_path / "tiny-triplane")
    loaded = Pix2NeRF.from_pretrained(tmp_path / "tiny-triplane")
    z = model.sample_latents(1)
    expected = model.render(z, 0.0, 0.0, resolution=8).rgb
    torch.testing.assert_close(loaded.render(z, 0.0, 0.0, resolution=8).rgb, expected)

    service = Service(load_model(str(tmp_path / "tiny-triplane")), view_resolution=16, bake_options={"resolution": 24})
    for quality in ("interactive", "full"):
        view = service.novel_view(photo(), 30.0, 10.0, quality=quality)
        assert view.image.size == (16, 16)
    # the cached image keeps its planes, computed once: full views render as from z, without the synthesis
    prepared = service.prepare(photo())
    (planes,) = prepared.latent.codes
    without_codes = replace(prepared, latent=replace(prepared.latent, codes=None))
    assert prepared.nbytes - without_codes.nbytes == planes.numel() * planes.element_size()
    encoded = loaded.encode(photo())
    expected = loaded.render(encoded, 30.0, 10.0, resolution=16).rgb
    torch.testing.assert_close(loaded.render(prepared.latent, 30.0, 10.0, resolution=16).rgb, expected)
    # a new image's planes are synthesised once for its fit score, bake and full-quality views
    synthesised = []
    latent_codes = service.model.field.latent_codes
    monkeypatch.setattr(
        service.model.field, "latent_codes", lambda *a, **k: synthesised.append(1) or latent_codes(*a, **k)
    )
    for yaw in (0.0, 40.0):
        service.novel_view(photo(seed=1), yaw, 0.0, quality="full")
    assert len(synthesised) == 1


def test_bakes_and_meshes_with_finite_output(model):
    from pix2nerf.preview.baked_field import bake
    from pix2nerf.preview.mesh import mesh_from_baked

    baked = bake(model, model.sample_latents(1), resolution=24)
    out = baked.render(30.0, 10.0, resolution=16)
    assert torch.isfinite(out.rgb).all() and out.opacity.max() > 0.5
    mesh = mesh_from_baked(baked)
    assert len(mesh.faces) > 0 and np.isfinite(mesh.vertices).all()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"triplane_resolution": 32}, "triplane_resolution must be 8 \\* 2\\^\\(n - 1\\) = 16 for the n = 2"),
        ({"triplane_decoder_layers": 1}, r"triplane_decoder_layers must be an integer in \[2, "),
        ({"triplane_channels": 0}, r"triplane_channels must be an integer in \[1, "),
        ({"field_type": "grid"}, "field_type must be one of 'siren', 'triplane'; got 'grid'"),
        ({"triplane_mapping_lr_scale": 2.0}, r"triplane_mapping_lr_scale must be a finite number in \[0, 1\]"),
    ],
)
def test_bad_triplane_configs_name_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        Pix2NeRFConfig.from_preset("tiny_triplane", **overrides)


def test_presets_build_and_the_official_converter_refuses_a_triplane_config(tmp_path):
    from pix2nerf.official.convert import convert_official_checkpoint

    config = Pix2NeRFConfig.from_preset("synthetic_cars_triplane")
    cars = Pix2NeRFConfig.from_preset("synthetic_cars")
    assert config.field_type == "triplane" and Pix2NeRFConfig.from_preset("tiny").field_type == "siren"
    for name in ("fov", "ray_start", "ray_end", "pitch_mean", "warmup_steps"):
        assert getattr(config, name) == getattr(cars, name)
    assert (config.r1_gamma, config.inversion_cycle_weight, config.triplane_colour_margin) == (1.0, 1.0, 0.001)
    for name in ("encoder_channels", "discriminator_channels"):  # the SIREN preset's, capped at 128
        assert getattr(config, name) == [min(width, 128) for width in getattr(cars, name)]
    assert isinstance(Pix2NeRF(config).field, TriplaneField)
    with pytest.raises(ValueError, match="'synthetic_cars_triplane' has a triplane field .* SIREN field; choose one"):
        convert_official_checkpoint(tmp_path / "checkpoint_train.pth", "synthetic_cars_triplane")


def test_the_triplane_presets_training_checkpoint_travels_in_files_under_16_mb():
    from pix2nerf.networks.discriminators import Discriminator
    from pix2nerf.training import checkpoint

    config = Pix2NeRFConfig.from_preset("synthetic_cars_triplane")
    model = Pix2NeRF(config)
    discriminator = Discriminator(config.discriminator_channels, config.discriminator_type)
    floats = [sum(p.numel() for p in module.parameters()) for module in (model.field, model.encoder, discriminator)]
    # weights of G, E and D, EMAs of G and E, Adam's second moments of all three (the first moments are not stored)
    state_bytes = 4 * (2 * sum(floats) + floats[0] + floats[1])
    assert state_bytes < 49 * 2**20 and checkpoint.SHARD_BYTES < 16 * 2**20  # 64 MiB travel to and from a GPU


def test_the_colour_margin_widens_the_colour_range_so_black_and_white_are_reached_at_finite_logits():
    config = Pix2NeRFConfig.from_preset("tiny_triplane", triplane_colour_margin=0.001)
    field = Pix2NeRF(config).field
    head = field.decoder[-1]
    with torch.no_grad():
        head.weight.zero_()
        features = torch.zeros(1, 3, config.triplane_channels)
        points = torch.zeros(1, 3, 3)
        for logit, expected in ((-1e4, -0.001), (0.0, 0.5), (1e4, 1.001)):
            head.bias[1:] = logit
            rgb, _ = field._decode(points, features)
            assert rgb.flatten().tolist() == pytest.approx([expected] * 9, abs=1e-6)
        head.bias[1:] = -math.log(1 / (0.001 / 1.002) - 1)  # the finite logit whose colour is exactly black
        rgb, _ = field._decode(points, features)
        assert rgb.abs().max().item() < 1e-6
    logits = torch.zeros(1, 3, config.triplane_channels, requires_grad=True)
    rgb, _ = field._decode(torch.zeros(1, 3, 3), logits)
    rgb.sum().backward()  # the margin keeps the sigmoid's output intact for its backward
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
