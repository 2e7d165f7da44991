"""Hybrid inversion on a tiny model (CPU, seconds): Pix2NeRF.invert, the refined Latent in renders and bakes, the
serving cache keyed by the refinement."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pix2nerf import Pix2NeRF, Pix2NeRFConfig
from pix2nerf.inversion import InversionSettings
from pix2nerf.preview.baked_field import bake

FAST = dict(resolution=16, num_steps=6, rays_per_step=64)


@pytest.fixture
def model() -> Pix2NeRF:
    torch.manual_seed(0)
    return Pix2NeRF(Pix2NeRFConfig.from_preset("tiny")).eval()


@pytest.fixture
def photo(model) -> torch.Tensor:
    """A render of a prior latent, as the encoder's input (1, 3, 16, 16) in [-1, 1]."""
    z = model.sample_latents(1, torch.Generator().manual_seed(3))
    return model.render(z, 30.0, 20.0, resolution=16).rgb * 2 - 1


def input_view_error(model: Pix2NeRF, latent, photo: torch.Tensor) -> float:
    rgb = model.render(latent, resolution=16).rgb
    return F.mse_loss(rgb, (photo + 1) / 2).item()


def test_refinement_lowers_the_input_view_loss(model, photo):
    encoded = model.encode(photo)
    options = dict(learning_rate=0.1, code_weight=0.0, pose_learning_rate=0.0, yaw_candidates=1, **FAST)
    options["rays_per_step"] = 0
    refined = model.invert(photo, 10, **options)
    assert refined.codes is not None and encoded.codes is None
    assert torch.equal(refined.z, encoded.z) and torch.equal(refined.yaw, encoded.yaw)
    assert input_view_error(model, refined, photo) < 0.95 * input_view_error(model, encoded, photo)


def test_pose_refinement_moves_the_pose_within_the_prior(model, photo):
    from pix2nerf.rendering.cameras import prior_ranges

    encoded = model.encode(photo)
    refined = model.invert(photo, 10, pose_learning_rate=2.0, **FAST)
    assert not torch.equal(refined.yaw, encoded.yaw) and torch.isfinite(refined.yaw).all()
    low, high = prior_ranges(model.config)[1]
    assert low <= refined.pitch.item() <= high
    assert model.render(refined, resolution=16).rgb.isfinite().all()
    kept = model.invert(photo, 10, pose_learning_rate=0.0, yaw_candidates=1, **FAST)
    assert torch.equal(kept.yaw, encoded.yaw) and torch.equal(kept.pitch, encoded.pitch)


def test_refinement_is_seeded_and_reports_progress(model, photo):
    calls = []
    first = model.invert(photo, 3, noise=0.05, seed=1, progress=lambda done, total: calls.append((done, total)), **FAST)
    again = model.invert(photo, 3, noise=0.05, seed=1, **FAST)
    other = model.invert(photo, 3, noise=0.05, seed=2, **FAST)
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert all(torch.equal(a, b) for a, b in zip(first.codes, again.codes))
    assert not all(torch.equal(a, b) for a, b in zip(first.codes, other.codes))


def test_z_refinement_and_zero_steps(model, photo):
    refined = model.invert(photo, 2, variable="z", **FAST)
    assert all(torch.isfinite(c).all() for c in refined.codes)
    assert model.invert(photo, 0).codes is None


@pytest.mark.parametrize("preset", ["tiny", "tiny_triplane"])
def test_style_refinement_lowers_the_input_view_loss(preset):
    torch.manual_seed(0)
    model = Pix2NeRF(Pix2NeRFConfig.from_preset(preset)).eval()
    z = model.sample_latents(1, torch.Generator().manual_seed(3))
    photo = model.render(z, 30.0, 20.0, resolution=16).rgb * 2 - 1
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.field.codes_from_styles(*model.field.styles(z)), model.field.latent_codes(z))
    )
    settings = {**FAST, "rays_per_step": 0, "learning_rate": 0.1, "code_weight": 0.0}
    refined = model.invert(photo, 10, variable="style", **settings)
    assert [c.shape for c in refined.codes] == [c.shape for c in model.field.latent_codes(refined.z)]
    encoded = model.encode(photo)
    assert input_view_error(model, refined, photo) < 0.95 * input_view_error(model, encoded, photo)


def test_a_regulariser_of_the_codes_joins_the_loss(model, photo):
    """refine's regulariser (what benchmarks/inversion.py's critic variants plug in) is called with the step's codes
    and its gradient moves them: a strong pull of the codes towards zero shrinks them."""
    from pix2nerf.inversion import refine

    settings = InversionSettings(steps=4, learning_rate=0.1, code_weight=0.0, **FAST)
    target = model.preprocess(photo)
    seen = []

    def towards_zero(codes):
        seen.append(len(codes))
        return 100.0 * sum(code.square().mean() for code in codes)

    plain = refine(model, model.encode_input(target), target, settings)
    pulled = refine(model, model.encode_input(target), target, settings, regulariser=towards_zero)
    assert seen == [len(pulled.codes)] * 4
    squared = [sum(code.square().sum().item() for code in latent.codes) for latent in (pulled, plain)]
    assert squared[0] < 0.9 * squared[1]


def test_a_diverging_step_returns_the_best_finite_codes(model, photo):
    calls = []

    def poison(module, inputs, outputs):  # the field turns NaN after the first step's evaluations
        calls.append(1)
        return (outputs[0] * torch.nan, outputs[1]) if len(calls) > 2 else outputs

    model.field.register_forward_hook(poison)
    refined = model.invert(photo, 5, **FAST)
    assert all(torch.isfinite(c).all() for c in refined.codes)


def test_refined_latents_render_and_bake_with_their_codes(model, photo):
    refined = model.invert(photo, 5, learning_rate=0.1, **FAST)
    plain = model.render(refined.z, refined.yaw, refined.pitch, resolution=8).rgb
    with_codes = model.render(refined, resolution=8).rgb
    assert torch.isfinite(with_codes).all() and not torch.allclose(plain, with_codes)
    views = model.novel_views(refined, [0.0, 90.0], 10.0, resolution=8)
    assert len(views) == 2 and views[0].size == (8, 8)
    baked = bake(model, refined, resolution=16, brick=2)
    assert torch.isfinite(baked.render(0.0, 10.0, resolution=8).rgb).all()


def test_bad_input_gets_the_errors_of_encode(model):
    for bad in ("no/such/file.png", torch.zeros(1, 3, 8)):
        with pytest.raises((ValueError, FileNotFoundError, TypeError)) as encoded:
            model.encode(bad)
        with pytest.raises(encoded.type) as inverted:
            model.invert(bad, 2)
        assert str(inverted.value) == str(encoded.value)
    with pytest.raises(ValueError, match="learning_rate must be a number in"):
        InversionSettings(learning_rate=float("nan"))
    with pytest.raises(ValueError, match="steps must be an integer in"):
        model.invert(torch.zeros(1, 3, 16, 16), -1)


def test_serving_caches_refined_latents_by_image_and_settings(model, photo):
    from pix2nerf.images import tensor_to_pil
    from pix2nerf.serving import service as serving

    service = serving.Service(
        model,
        view_resolution=8,
        bake_options=dict(resolution=16, brick=2),
        refine_settings=InversionSettings(**FAST),
    )
    image = tensor_to_pil((photo[0] + 1) / 2)
    encoded = service.prepare(image)
    refined = service.prepare(image, refine_steps=2)
    assert refined.key != encoded.key
    with torch.no_grad():  # the encoded image keeps its codes computed from z; the refined one its refined codes
        for prepared, same in ((encoded, True), (refined, False)):
            codes = model.field.latent_codes(prepared.latent.z)
            assert all(torch.equal(a, b) for a, b in zip(prepared.latent.codes, codes)) is same
    misses = service.cache.misses
    assert service.prepare(image, refine_steps=2.0) is refined and service.cache.misses == misses
    assert service.refine_seconds(20) > service.refine_seconds(10) > service.refine_seconds(0) == 0
    view = service.novel_view(image, 30.0, 10.0, refine_steps=2)
    assert view.image.size == (8, 8) and service.cache.misses == misses
    for steps in (2.5, True, "2"):
        with pytest.raises(ValueError, match="refine_steps must be an integer in"):
            service.prepare(image, refine_steps=steps)


def test_eval_command_reports_encoder_and_refined_rows(tmp_path, model):
    import argparse
    import json

    from tiny_datasets import write_multiview_dataset

    from pix2nerf.cli import evaluate as evaluation

    data = write_multiview_dataset(tmp_path / "tiny", train_objects=1, test_objects=2, views=2)
    model.save_pretrained(tmp_path / "model")
    parser = argparse.ArgumentParser()
    evaluation.add_arguments(parser)
    output = tmp_path / "results.json"
    words = [str(tmp_path / "model"), "--data", str(data), "-o", str(output), "--resolution", "16", "--num-steps", "4"]
    assert evaluation.main(parser.parse_args([*words, "--device", "cpu", "--no-progress", "--refine-steps", "2"])) == 0
    results = json.loads(output.read_text())
    refined = results["refined"]
    assert set(refined["protocols"]) == set(results["protocols"]) == {"relative_pose", "predicted_pose"}
    for row in (results["protocols"]["relative_pose"], refined["protocols"]["relative_pose"]):
        assert row["colour_error"]["mean"] >= 0 and 0 < row["ssim"]["mean"] <= 1
    assert refined["settings"]["steps"] == 2 and refined["seconds_per_image"]["mean"] > 0
    assert results["command"].endswith("--refine-steps 2")
    for pose in (refined["input_pose_error_deg"], refined["encoder_input_pose_error_deg"]):  # view 0 of 2 objects
        assert 0 <= pose["yaw"]["median"] <= 180 and 0 <= pose["pitch"]["mean"] and 0 <= pose["front_back_flips"] <= 1
    from pix2nerf.evaluation.benchmark import load_objects
    from pix2nerf.rendering.cameras import wrap_degrees

    errors = [wrap_degrees(model.encode(o.images[0]).yaw[0] - o.yaw[0]).abs() for o in load_objects(data, "test")]
    assert refined["encoder_input_pose_error_deg"]["yaw"]["mean"] == pytest.approx(torch.stack(errors).mean().item())


@pytest.mark.parametrize("preset", ["tiny", "tiny_triplane"])
def test_other_views_of_the_object_join_the_fit(preset):
    """refine's other_views (photos at known pose offsets from the first): with a red photo 60 degrees to the side,
    the refined codes render that side redder than codes refined to the first photo alone; a malformed photo is
    refused."""
    from pix2nerf.inversion import refine

    torch.manual_seed(0)
    model = Pix2NeRF(Pix2NeRFConfig.from_preset(preset)).eval()
    z = model.sample_latents(1, torch.Generator().manual_seed(3))
    target = model.preprocess(model.render(z, 30.0, 20.0, resolution=16).rgb * 2 - 1)
    red = torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1).expand(1, 3, 16, 16)
    settings = InversionSettings(steps=10, learning_rate=0.1, code_weight=0.0, pose_learning_rate=0.0, **FAST)
    alone = refine(model, model.encode_input(target), target, settings)
    both = refine(model, model.encode_input(target), target, settings, other_views=[(red, 60.0, 0.0)])

    def side_error(latent) -> float:
        rgb = model.render(latent, latent.yaw + 60.0, latent.pitch, resolution=16).rgb
        return F.mse_loss(rgb, (red + 1) / 2).item()

    assert side_error(both) < 0.97 * side_error(alone)
    with pytest.raises(ValueError, match="other_views"):
        refine(model, model.encode_input(target), target, settings, other_views=[(red[0], 60.0, 0.0)])


def test_yaw_candidates_start_the_refinement_at_the_photos_side(monkeypatch):
    """best_yaw turns a latent to the candidate yaw whose render fits the photo: the object's own render from half a
    turn away picks the candidate half a turn away, also where a render takes fewer latents than there are
    candidates; refine reports the probes' steps and its own."""
    from pix2nerf.inversion import best_yaw, refine
    from pix2nerf.model import Latent

    torch.manual_seed(0)
    model = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny_triplane")).eval()
    z = model.sample_latents(1, torch.Generator().manual_seed(3))
    photo = model.render(z, 210.0, 20.0, resolution=16).rgb * 2 - 1
    latent = Latent(z=z, yaw=torch.tensor([30.0]), pitch=torch.tensor([20.0]))
    settings = InversionSettings(steps=2, yaw_candidates=4, **FAST)
    turned = best_yaw(model, latent, photo, settings)
    assert turned.yaw.item() == -150.0 and torch.equal(turned.pitch, latent.pitch) and torch.equal(turned.z, z)
    assert best_yaw(model, turned, photo, settings).yaw.item() == -150.0  # ties and the own yaw: kept
    monkeypatch.setenv("PIX2NERF_LIMIT_BATCH_SIZE", "3")  # the candidates rendered 3 at a time
    assert best_yaw(model, latent, photo, settings).yaw.item() == -150.0
    monkeypatch.delenv("PIX2NERF_LIMIT_BATCH_SIZE")

    calls = []
    probed = settings.replace(probe_steps=2)
    refined = refine(model, latent, photo, probed, progress=lambda done, total: calls.append((done, total)))
    assert probed.total_steps == 10 and calls == [(done, 10) for done in range(1, 11)]
    assert abs(refined.yaw.item() + 150.0) < 5.0
    assert InversionSettings(steps=0, yaw_candidates=4, probe_steps=2).total_steps == 0
    for bad in (0, 37, True, 2.0):
        with pytest.raises(ValueError, match="yaw_candidates must be an integer in"):
            InversionSettings(yaw_candidates=bad)


def test_generator_tuning_fits_the_photo_and_leaves_the_model_alone():
    """generator_learning_rate > 0 tunes a copy of the tri-plane's synthesis network (pivotal tuning): the photo's
    fit improves beyond what the same steps give without it, the model's own weights stay as they were, and a field
    whose codes are its styles (the SIREN) refuses it."""
    torch.manual_seed(0)
    model = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny_triplane")).eval()
    z = model.sample_latents(1, torch.Generator().manual_seed(3))
    photo = model.render(z, 30.0, 20.0, resolution=16).rgb * 2 - 1
    before = {name: value.clone() for name, value in model.state_dict().items()}
    options = {**FAST, "rays_per_step": 0, "code_weight": 0.0, "yaw_candidates": 1, "pose_learning_rate": 0.0}
    frozen = model.invert(photo, 10, learning_rate=1e-9, **options)
    tuned = model.invert(photo, 10, learning_rate=1e-9, generator_learning_rate=1e-2, **options)
    assert all(torch.equal(value, model.state_dict()[name]) for name, value in before.items())
    assert input_view_error(model, tuned, photo) < 0.95 * input_view_error(model, frozen, photo)
    again = model.invert(photo, 10, learning_rate=1e-9, generator_learning_rate=1e-2, **options)
    assert all(torch.equal(a, b) for a, b in zip(tuned.codes, again.codes))
    with pytest.raises(ValueError, match="codes are its styles"):
        Pix2NeRF(Pix2NeRFConfig.from_preset("tiny")).invert(photo, 2, generator_learning_rate=1e-3, **FAST)
    with pytest.raises(ValueError, match="generator_learning_rate"):
        InversionSettings(generator_learning_rate=-1.0)


def test_codes_that_turn_nan_end_generator_tuning_with_the_best_finite_ones():
    """Tuned synthesis weights that turn NaN make every plane NaN: the refinement stops before rendering them (an
    index from NaN coordinates would fail) and returns the best finite codes."""
    torch.manual_seed(0)
    model = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny_triplane")).eval()
    photo = model.render(model.sample_latents(1, torch.Generator().manual_seed(3)), 30.0, 20.0, resolution=16).rgb
    calls = []

    def poison(module, inputs, output):  # the synthesis turns NaN from its third call on
        calls.append(1)
        return output * torch.nan if len(calls) > 2 else output

    model.field.synthesis.register_forward_hook(poison)
    refined = model.invert(photo * 2 - 1, 5, generator_learning_rate=1e-3, yaw_candidates=1, **FAST)
    assert len(calls) == 3 and all(torch.isfinite(c).all() for c in refined.codes)
