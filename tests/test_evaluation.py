"""`pix2nerf eval` and the evaluation behind it, and model cards, on a tiny model and a tiny multi-view split."""

from __future__ import annotations

import argparse
import json
import math

import pytest
import torch

from tiny_datasets import multiview_split, write_multiview_dataset


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_multiview_dataset(tmp_path_factory.mktemp("eval") / "tiny", train_objects=2, test_objects=3, views=3)


def test_load_objects_groups_views_in_order(data_dir):
    from pix2nerf.evaluation import load_objects

    objects = load_objects(str(data_dir), "test")
    assert [o.object_id for o in objects] == ["100000", "100001", "100002"]
    assert all(len(o.images) == 3 and len(o.yaw) == 3 and o.category == "disc" for o in objects)
    assert len(load_objects(str(data_dir), "test", num_objects=2)) == 2
    with pytest.raises(ValueError, match="no object with two or more views"):
        load_objects(str(data_dir), "train")  # one view per object


def test_evaluate_reports_both_protocols_baselines_and_pose_errors(data_dir, tiny_model):
    from pix2nerf.evaluation import evaluate, evaluation_grid, load_objects
    from pix2nerf.metrics import psnr

    objects = load_objects(str(data_dir), "test")
    results, samples = evaluate(tiny_model, objects, resolution=16, num_steps=4, batch_size=3, progress=False)
    assert set(results["protocols"]) == {"relative_pose", "predicted_pose"}
    assert set(results["baselines"]) == {"input_image", "blank_background"}
    assert results["counts"] == {"objects": 3, "target_views": 6, "pose_views": 9}
    for group in ("protocols", "baselines"):
        for values in results[group].values():
            assert math.isfinite(values["psnr"]["mean"]) and 0 < values["ssim"]["mean"] <= 1
    assert 0 <= results["pose_error_deg"]["yaw"]["median"] <= 180  # wrap-aware

    # the blank baseline by hand: a white image against every target composited over white
    from pix2nerf import images

    targets = torch.stack([images.preprocess(im, 16, (255, 255, 255)) for o in objects for im in o.images[1:]]).add(1).div(2)
    expected = psnr(torch.ones_like(targets), targets).mean().item()
    assert results["baselines"]["blank_background"]["psnr"]["mean"] == pytest.approx(expected, abs=1e-4)

    grid = evaluation_grid(samples)
    assert grid.size == (3 * 16 + 4 * 2, 6 * 16 + 7 * 2)  # 3 columns (input + 2 views), 2 rows per object


def test_eval_command_writes_json_and_grid(data_dir, tiny_model, tmp_path):
    from pix2nerf import evaluation

    model_dir = tmp_path / "model"
    tiny_model.save_pretrained(model_dir)
    parser = argparse.ArgumentParser()
    evaluation.add_arguments(parser)
    output, grid = tmp_path / "results.json", tmp_path / "grid.png"
    args = parser.parse_args([str(model_dir), "--data", str(data_dir), "--split", "test", "-o", str(output),
                              "--resolution", "16", "--num-steps", "4", "--device", "cpu", "--grid", str(grid), "--no-progress"])
    assert evaluation.main(args) == 0
    results = json.loads(output.read_text())
    assert results["model"] == str(model_dir) and results["split"] == "test" and results["date"]
    assert {"relative_pose", "predicted_pose"} == set(results["protocols"])
    assert {"input_image", "blank_background"} == set(results["baselines"])
    assert results["settings"]["resolution"] == 16 and results["settings"]["num_steps"] == 4
    assert len(results["per_object"]) == 3 and "--num-steps 4" in results["command"]
    assert grid.is_file()


def test_evaluation_needs_multiview_columns(tmp_path):
    from pix2nerf.evaluation import load_objects

    multiview_split(2, 2).remove_columns(["object_id"]).save_to_disk(str(tmp_path / "flat"))
    with pytest.raises(ValueError, match="lacks the columns \\['object_id'\\]"):
        load_objects(str(tmp_path / "flat"), "train")


def test_model_card_holds_metadata_training_and_evaluation(data_dir, tiny_model, tmp_path):
    from huggingface_hub import ModelCard

    from pix2nerf.evaluation import evaluate, load_objects
    from pix2nerf.model_card import write_model_card

    results, _ = evaluate(tiny_model, load_objects(str(data_dir), "test", num_objects=1), resolution=8, num_steps=4, progress=False)
    tiny_model.save_pretrained(tmp_path)
    path = write_model_card(
        tmp_path, model_id="user/pix2nerf-tiny", datasets=["user/synthetic-cars"], evaluation=results,
        training={"steps": 10, "dataset": "user/synthetic-cars", "command": "accelerate launch train/train.py --preset tiny"},
        images=[("Samples", "images/samples.png")], commands={"Data": "pix2nerf make-dataset ..."},
    )
    card = ModelCard.load(path)
    assert card.data.library_name == "pix2nerf" and card.data.pipeline_tag == "image-to-3d"
    assert card.data.datasets == ["user/synthetic-cars"] and card.data.metrics == ["psnr", "ssim"]
    assert "pix2nerf" in card.data.tags and "tiny" in card.data.tags
    text = card.text
    assert "# pix2nerf-tiny" in text and 'from_pretrained("user/pix2nerf-tiny")' in text
    assert "baseline: the input image itself" in text and "accelerate launch train/train.py --preset tiny" in text
    assert "![Samples](images/samples.png)" in text
