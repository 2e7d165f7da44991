"""`pix2nerf eval` and the evaluation behind it, and model cards, on a tiny model and a tiny multi-view split."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import torch
from tiny_datasets import multiview_split, write_multiview_dataset


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_multiview_dataset(tmp_path_factory.mktemp("eval") / "tiny", train_objects=2, test_objects=3, views=3)


def test_load_objects_groups_views_in_order(data_dir):
    from pix2nerf.evaluation.benchmark import load_objects

    objects = load_objects(str(data_dir), "test")
    assert [o.object_id for o in objects] == ["100000", "100001", "100002"]
    assert all(len(o.images) == 3 and len(o.yaw) == 3 and o.category == "disc" for o in objects)
    assert len(load_objects(str(data_dir), "test", num_objects=2)) == 2
    with pytest.raises(ValueError, match="no object with two or more views"):
        load_objects(str(data_dir), "train")  # one view per object


def test_evaluate_reports_both_protocols_baselines_and_pose_errors(data_dir, tiny_model):
    from pix2nerf.evaluation.benchmark import evaluate, evaluation_grid, load_objects
    from pix2nerf.evaluation.metrics import psnr

    objects = load_objects(str(data_dir), "test")
    results, samples = evaluate(tiny_model, objects, resolution=16, num_steps=4, batch_size=3, progress=False)
    assert set(results["protocols"]) == {"relative_pose", "predicted_pose"}
    assert set(results["baselines"]) == {"input_image", "blank_background"}
    assert results["counts"] == {"objects": 3, "target_views": 6, "pose_views": 9}
    for group in ("protocols", "baselines"):
        for values in results[group].values():
            assert math.isfinite(values["psnr"]["mean"]) and 0 < values["ssim"]["mean"] <= 1
            assert -1 <= values["ssim_skimage"]["mean"] <= 1
    assert 0 <= results["pose_error_deg"]["yaw"]["median"] <= 180  # wrap-aware

    # the blank baseline by hand: a white image against every target composited over white
    from pix2nerf import images

    targets = (
        torch.stack([images.preprocess(im, 16, (255, 255, 255)) for o in objects for im in o.images[1:]]).add(1).div(2)
    )
    expected = psnr(torch.ones_like(targets), targets).mean().item()
    from skimage.metrics import structural_similarity

    by_hand = [
        structural_similarity(np.ones((16, 16, 3)), t.permute(1, 2, 0).double().numpy(), data_range=1, channel_axis=-1)
        for t in targets
    ]
    assert results["baselines"]["blank_background"]["ssim_skimage"]["mean"] == pytest.approx(np.mean(by_hand), abs=1e-5)
    assert results["baselines"]["blank_background"]["psnr"]["mean"] == pytest.approx(expected, abs=1e-4)

    grid = evaluation_grid(samples)
    assert grid.size == (3 * 16 + 4 * 2, 6 * 16 + 7 * 2)  # 3 columns (input + 2 views), 2 rows per object


def test_eval_command_writes_json_and_grid(data_dir, tiny_model, tmp_path):
    from pix2nerf.cli import evaluate as evaluation

    model_dir = tmp_path / "model"
    tiny_model.save_pretrained(model_dir)
    parser = argparse.ArgumentParser()
    evaluation.add_arguments(parser)
    output, grid = tmp_path / "results.json", tmp_path / "grid.png"
    args = parser.parse_args(
        [
            str(model_dir),
            "--data",
            str(data_dir),
            "--split",
            "test",
            "-o",
            str(output),
            "--resolution",
            "16",
            "--num-steps",
            "4",
            "--device",
            "cpu",
            "--grid",
            str(grid),
            "--no-progress",
        ]
    )
    assert evaluation.main(args) == 0
    results = json.loads(output.read_text())
    assert results["model"] == str(model_dir) and results["split"] == "test" and results["date"]
    assert {"relative_pose", "predicted_pose"} == set(results["protocols"])
    assert {"input_image", "blank_background"} == set(results["baselines"])
    assert results["settings"]["resolution"] == 16 and results["settings"]["num_steps"] == 4
    assert len(results["per_object"]) == 3 and "--num-steps 4" in results["command"]
    assert 0 <= results["generator"]["colour_saturation"] <= 1
    assert results["generator"]["sample_diversity"] > 0 and set(results["generator"]["latent_cycle"]) == {
        "cycle_psnr",
        "mean_latent_psnr",
    }
    assert grid.is_file()

    pose_output = tmp_path / "poses.json"
    args = parser.parse_args(
        [
            str(model_dir),
            "--data",
            str(data_dir),
            "-o",
            str(pose_output),
            "--device",
            "cpu",
            "--pose-only",
            "--no-progress",
        ]
    )
    assert evaluation.main(args) == 0
    poses = json.loads(pose_output.read_text())
    assert "protocols" not in poses and poses["command"].endswith("--split test --pose-only")
    assert poses["counts"] == {"objects": 3, "pose_views": 9}
    assert poses["pose_error_deg"]["yaw"] == pytest.approx(results["pose_error_deg"]["yaw"], abs=1e-3)


def test_yaw_error_is_also_reported_after_removing_the_generators_yaw_origin():
    """An encoder right up to a global yaw offset (the GAN's arbitrary yaw origin) has a large raw error and a
    small aligned one; the offset of each half comes from the other half; front/back flips still count."""
    from pix2nerf.evaluation.benchmark import fit_yaw_offset, pose_errors
    from pix2nerf.rendering.cameras import wrap_degrees

    generator = torch.Generator().manual_seed(0)
    true = torch.rand(40, 6, generator=generator) * 360 - 180
    noise = torch.randn(40, 6, generator=generator) * 2.0
    flips = torch.zeros(40, 6)
    flips[:4, 0] = 180.0  # 4 of 240 views seen from the wrong end
    predicted = wrap_degrees(true + 150.0 + noise + flips)
    assert fit_yaw_offset(wrap_degrees(predicted - true)) == pytest.approx(150.0, abs=0.5)
    assert fit_yaw_offset(torch.tensor([179.0, -179.0, 179.5])) == pytest.approx(179.4, abs=0.6)  # across +-180

    differences = [wrap_degrees(p - t) for p, t in zip(predicted, true)]
    results = pose_errors(differences, [torch.zeros(6)] * 40)
    errors = results["pose_error_deg"]
    assert errors["yaw"]["median"] == pytest.approx(150.0, abs=3.0)
    assert errors["yaw_aligned"]["median"] < 3.0 and errors["pitch"]["median"] == 0.0
    assert results["yaw_alignment"]["offset_deg"] == pytest.approx(150.0, abs=0.5)
    assert results["yaw_alignment"]["front_back_flips"] == pytest.approx(4 / 240)


def test_colour_saturation_is_near_one_when_the_colour_logits_are_huge_and_counts_occupied_points_only():
    from pix2nerf import Pix2NeRF, Pix2NeRFConfig
    from pix2nerf.evaluation.benchmark import colour_saturation

    torch.manual_seed(0)
    model = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny_triplane")).eval()
    assert colour_saturation(model, num_points=256) < 0.1
    with torch.no_grad():
        model.field.decoder[-1].weight.mul_(1000)  # the colour sigmoid's inputs become huge
    assert colour_saturation(model, num_points=256) > 0.9
    with torch.no_grad():  # the same colours, but every point empty: empty space's colour is not counted
        model.field.decoder[-1].weight[0].zero_()
        model.field.decoder[-1].bias[0] = -1e3
    assert colour_saturation(model, num_points=256) == 0.0


def test_sample_diversity_is_zero_when_the_generator_ignores_the_latent(tiny_model):
    from pix2nerf import Pix2NeRF
    from pix2nerf.evaluation.benchmark import sample_diversity

    assert sample_diversity(tiny_model, resolution=8) > 1e-3
    blind = Pix2NeRF(tiny_model.config).eval()
    blind.load_state_dict(tiny_model.state_dict())
    with torch.no_grad():
        blind.field.mapping.layers[0].weight.zero_()  # the codes no longer depend on z
    assert sample_diversity(blind, resolution=8) < 1e-6
    with pytest.raises(ValueError, match="at least 2"):
        sample_diversity(tiny_model, num_latents=1)


def test_the_latent_cycle_scores_an_encoder_that_reads_z_above_one_that_reads_nothing(tiny_model, monkeypatch):
    from pix2nerf.evaluation.benchmark import latent_cycle
    from pix2nerf.outputs import Latent

    reads_nothing = latent_cycle(tiny_model, num_latents=3)
    assert all(math.isfinite(v) for v in reads_nothing.values())

    def perfect_encoder(encoder_input, alpha=1.0):  # returns the very latents latent_cycle drew (same seed)
        z = tiny_model.sample_latents(3, torch.Generator().manual_seed(0))
        return Latent(z=z, yaw=torch.zeros(3), pitch=torch.zeros(3))

    monkeypatch.setattr(tiny_model, "encode_input", perfect_encoder)
    perfect = latent_cycle(tiny_model, num_latents=3)
    assert perfect["cycle_psnr"] > 60 and perfect["mean_latent_psnr"] == reads_nothing["mean_latent_psnr"] < 60
    with pytest.raises(ValueError, match="at least 1"):
        latent_cycle(tiny_model, num_latents=0)


def test_evaluation_needs_multiview_columns(tmp_path):
    from pix2nerf.evaluation.benchmark import load_objects

    multiview_split(2, 2).remove_columns(["object_id"]).save_to_disk(str(tmp_path / "flat"))
    with pytest.raises(ValueError, match="lacks the columns \\['object_id'\\]"):
        load_objects(str(tmp_path / "flat"), "train")


def test_model_card_holds_metadata_training_and_evaluation(data_dir, tiny_model, tmp_path):
    from huggingface_hub import ModelCard

    from pix2nerf.evaluation.benchmark import evaluate, load_objects
    from pix2nerf.hub.model_card import write_model_card

    results, _ = evaluate(
        tiny_model, load_objects(str(data_dir), "test", num_objects=1), resolution=8, num_steps=4, progress=False
    )
    tiny_model.save_pretrained(tmp_path)
    path = write_model_card(
        tmp_path,
        model_id="user/pix2nerf-tiny",
        datasets=["user/synthetic-cars"],
        evaluation=results,
        training={
            "steps": 10,
            "dataset": "user/synthetic-cars",
            "command": "accelerate launch train/train.py --preset tiny",
        },
        images=[("Samples", "images/samples.png")],
        commands={"Data": "pix2nerf make-dataset ..."},
    )
    card = ModelCard.load(path)
    assert card.data.library_name == "pix2nerf" and card.data.pipeline_tag == "image-to-3d"
    assert card.data.datasets == ["user/synthetic-cars"] and card.data.metrics == ["psnr", "ssim"]
    assert "pix2nerf" in card.data.tags and "tiny" in card.data.tags
    assert card.data.model_name == "pix2nerf-tiny"  # model-index: PSNR and SSIM of both protocols, as evaluated
    scores = {(r.metric_type, r.metric_name): r.metric_value for r in card.data.eval_results}
    for protocol in ("relative_pose", "predicted_pose"):
        for metric in ("psnr", "ssim"):
            expected = results["protocols"][protocol][metric]["mean"]
            assert scores[(metric, f"{metric.upper()} ({protocol.replace('_', ' ')})")] == pytest.approx(expected, 1e-3)
    assert {r.dataset_type for r in card.data.eval_results} == {"user/synthetic-cars"}
    assert {r.task_type for r in card.data.eval_results} == {"image-to-3d"}
    text = card.text
    assert "# pix2nerf-tiny" in text and 'from_pretrained("user/pix2nerf-tiny")' in text
    assert "baseline: the input image itself" in text and "accelerate launch train/train.py --preset tiny" in text
    assert "![Samples](images/samples.png)" in text


# ----------------------------------------------------------------------------------------------------------------
# pix2nerf.hub.package_model (hub/package_model.py): a trained model folder + its evaluation and metrics -> a hub
# folder with a card
def test_package_model_writes_a_hub_folder(data_dir, tiny_model, tmp_path, capsys):
    from types import SimpleNamespace

    from huggingface_hub import ModelCard
    from PIL import Image
    from safetensors import safe_open

    from pix2nerf import Pix2NeRF
    from pix2nerf.cli import evaluate as evaluation
    from pix2nerf.hub import package_model

    model_dir = tmp_path / "model"
    tiny_model.save_pretrained(model_dir)
    (model_dir / "training.json").write_text(json.dumps({"steps": 8, "dataset": str(data_dir)}))
    parser = argparse.ArgumentParser()
    evaluation.add_arguments(parser)
    assert (
        evaluation.main(
            parser.parse_args(
                [
                    str(model_dir),
                    "--data",
                    str(data_dir),
                    "--split",
                    "test",
                    "-o",
                    str(model_dir / "eval_results.json"),
                    "--resolution",
                    "16",
                    "--num-steps",
                    "4",
                    "--device",
                    "cpu",
                    "--grid",
                    str(model_dir / "eval_grid.png"),
                    "--no-progress",
                ]
            )
        )
        == 0
    )
    metrics = tmp_path / "metrics.jsonl"
    rows = [
        {"step": s, "train/d_loss": 1.0 / s, "train/g_loss": float(s), "train/recon_mse": float("nan")}
        for s in (1, 2, 3)
    ]
    metrics.write_text(
        "\n".join(json.dumps(row) for row in rows)
        + "\n\n"
        + json.dumps({"step": 3, "eval/relative_pose_psnr": 9.5})
        + "\n"
    )
    description = tmp_path / "card.md"
    description.write_text("A tiny test model.")

    def package(*options):
        capsys.readouterr()
        returncode = package_model.main([str(model_dir), *options])
        printed = capsys.readouterr()
        return SimpleNamespace(returncode=returncode, stdout=printed.out, stderr=printed.err)

    out = tmp_path / "hub-folder"
    done = package(
        "-o",
        str(out),
        "--metrics",
        str(metrics),
        "--description",
        str(description),
        "--commands",
        str(metrics),
        "--model-id",
        "someone/tiny",
        "--datasets",
        "someone/cars",
        "--check-resolution",
        "16",
        "--min-psnr",
        "15",
    )
    assert done.returncode == 0, done.stderr
    assert "float16 weights: check renders" in done.stdout
    with safe_open(str(out / "model.safetensors"), "pt") as stored:
        assert {stored.get_slice(name).get_dtype() for name in stored.keys()} == {"F16"}
    check = json.loads((out / "storage_check.json").read_text())
    assert check["dtype"] == "float16" and 15 <= check["psnr_db_min"] <= check["psnr_db_max"] < math.inf
    reloaded = Pix2NeRF.from_pretrained(out)
    for name, tensor in tiny_model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[name], tensor.half().float())
    assert json.loads((out / "eval_results.json").read_text()) == json.loads(
        (model_dir / "eval_results.json").read_text()
    )
    assert (
        Image.open(out / "images" / "training_curves.png").size[0] > 0 and (out / "images" / "eval_grid.png").is_file()
    )
    card = ModelCard.load(out / "README.md")
    assert card.data.datasets == ["someone/cars"] and card.data.library_name == "pix2nerf"
    assert {r.metric_type for r in card.data.eval_results} == {"psnr", "ssim"} and len(card.data.eval_results) == 4
    assert card.text.lstrip().startswith("# hub-folder") and "A tiny test model." in card.text
    assert 'from_pretrained("someone/tiny")' in card.text and "images/training_curves.png" in card.text
    assert "relative" in card.text and "storage_check.json" in card.text

    out32 = tmp_path / "hub-folder-32"
    assert package("-o", str(out32), "--dtype", "float32").returncode == 0
    assert not (out32 / "storage_check.json").exists() and not (out32 / "images" / "training_curves.png").exists()
    assert torch.equal(
        Pix2NeRF.from_pretrained(out32).state_dict()["field.color_head.weight"],
        tiny_model.state_dict()["field.color_head.weight"],
    )

    existing = package("-o", str(out), "--dtype", "float32")
    assert existing.returncode == 2 and "--overwrite" in existing.stderr and (out / "storage_check.json").is_file()
    assert (
        package("-o", str(out), "--dtype", "float32", "--overwrite").returncode == 0
        and not (out / "storage_check.json").exists()
    )
    in_place = package("-o", str(model_dir), "--overwrite")
    assert (
        in_place.returncode == 2
        and "is the model folder" in in_place.stderr
        and (model_dir / "model.safetensors").is_file()
    )
    refused = package("-o", str(tmp_path / "lossy"), "--check-resolution", "16", "--min-psnr", "200")
    assert refused.returncode == 1 and "float16 storage is below 200 dB; use --dtype float32" in refused.stderr
    assert not (tmp_path / "lossy").exists()
    metrics.write_text('{"step": 1}\nnot json\n')
    failed = package("-o", str(tmp_path / "bad"), "--metrics", str(metrics))
    assert failed.returncode == 2 and f"{metrics}:2 is not JSON" in failed.stderr


def test_calibrate_yaw_command_sets_the_yaw_origin_in_place(data_dir, tiny_model, tmp_path):
    from pix2nerf import Pix2NeRF
    from pix2nerf.cli import main as cli

    model_dir = tmp_path / "model"
    tiny_model.save_pretrained(model_dir)
    assert cli.main(["calibrate-yaw", str(model_dir), "--data", str(data_dir), "--num-objects", "3"]) == 0
    record = json.loads((model_dir / "yaw_calibration.json").read_text())
    calibrated = Pix2NeRF.from_pretrained(model_dir)
    assert calibrated.config.yaw_offset == pytest.approx(record["yaw_offset_deg"]) and record["pose_views"] == 9
    assert record["yaw_error_median_deg_after"] <= record["yaw_error_median_deg_before"] + 1e-6
    torch.testing.assert_close(calibrated.field.density_head.weight, tiny_model.field.density_head.weight)
    assert cli.main(["calibrate-yaw", str(tmp_path / "missing"), "--data", str(data_dir)]) == 2
