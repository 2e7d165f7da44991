"""Synthetic multi-view datasets: schema, determinism, disjoint splits, the pose prior, the camera convention and
the make-dataset command (tiny images on the CPU)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from types import SimpleNamespace

import datasets
import numpy as np
import pytest
import torch

from pix2nerf.cli import make_dataset as make_dataset_cli
from pix2nerf.config import Pix2NeRFConfig
from pix2nerf.data.synthetic import (
    CATEGORIES,
    Material,
    ObjectBuilder,
    Shapes,
    get_category,
    make_object,
    make_objects,
    render_views,
)
from pix2nerf.data.synthetic.builder import build_dataset, features, save_dataset
from pix2nerf.data.synthetic.splits import derived_seed, plan_split
from pix2nerf.rendering.cameras import project_points, sample_poses

REPO_ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(train_objects=3, test_objects=2, test_views=3, resolution=16, seed=7, workers=1, progress=False)


@pytest.fixture(scope="module")
def chairs() -> datasets.DatasetDict:
    return build_dataset("chairs", **SMALL)


def test_schema(chairs):
    assert set(chairs) == {"train", "test"}
    assert len(chairs["train"]) == 3 and len(chairs["test"]) == 2 * 3
    config = Pix2NeRFConfig.from_preset("srn_chairs")
    for split in chairs.values():
        assert split.features == features()
        row = split[0]
        assert row["image"].mode == "RGBA" and row["image"].size == (16, 16)
        assert row["category"] == "chairs" and row["fov"] == pytest.approx(config.fov)
    assert chairs["train"]["view_id"] == [0, 0, 0]
    assert chairs["test"]["view_id"] == [0, 1, 2, 0, 1, 2]
    test_ids = chairs["test"]["object_id"]
    assert test_ids[0] == test_ids[1] == test_ids[2] != test_ids[3]


def test_same_seed_same_bytes_whatever_the_batching(chairs):
    again = build_dataset("chairs", batch_size=2, **SMALL)
    for split in chairs:
        assert chairs[split].data.table.equals(again[split].data.table)
    other_seed = build_dataset("chairs", **{**SMALL, "seed": 8})
    assert chairs["train"]["image"][0] != other_seed["train"]["image"][0]


def test_train_and_test_objects_never_overlap(chairs):
    assert not set(chairs["train"]["object_id"]) & set(chairs["test"]["object_id"])
    streams = {derived_seed(0, s, i, stream) for s in ("train", "test") for i in range(500) for stream in (0, 1)}
    assert len(streams) == 2 * 2 * 500


@pytest.mark.parametrize("name, preset", [("cars", "carla"), ("chairs", "srn_chairs")])
def test_poses_follow_the_models_pose_prior(name, preset):
    config = Pix2NeRFConfig.from_preset(preset)
    assert get_category(name).config() == config
    train = plan_split(config, "train", 2000, 1, seed=3)
    sin_pitch = torch.sin(torch.deg2rad(train.pitch))
    low = math.sin(math.radians(config.pitch_mean - config.pitch_spread))
    high = math.sin(math.radians(min(90.0, config.pitch_mean + config.pitch_spread)))
    assert sin_pitch.min() >= low - 1e-6 and sin_pitch.max() <= high + 1e-6
    assert abs(sin_pitch.mean().item() - (low + high) / 2) < 0.03  # area-uniform: sin(pitch) uniform
    assert train.yaw.min() >= -180 and train.yaw.max() < 180 and train.yaw.abs().mean() == pytest.approx(90, abs=6)
    # the rows' poses are exactly sample_poses' draws
    generator = torch.Generator().manual_seed(derived_seed(3, "train", 5, 1))
    yaw, pitch = sample_poses(
        1,
        config.pose_distribution,
        config.yaw_mean,
        config.yaw_spread,
        config.pitch_mean,
        config.pitch_spread,
        generator=generator,
    )
    assert train.yaw[5].item() == yaw.item() and train.pitch[5].item() == pitch.item()
    test = plan_split(config, "test", 2, 8, seed=3)
    steps = torch.remainder(test.yaw[1:8] - test.yaw[0], 360)
    assert torch.allclose(steps, torch.arange(1, 8) * 45.0, atol=1e-3)
    assert torch.all(test.pitch[2:8] > test.pitch[1:7])  # the orbit climbs through the band
    assert torch.sin(torch.deg2rad(test.pitch)).min() >= low - 1e-6


def test_objects_fit_inside_the_cameras():
    for category in CATEGORIES.values():
        radius = category.fit_radius()
        for object_id in range(25):
            obj = make_object(category, object_id)
            assert obj.corners().norm(dim=-1).max() <= radius + 1e-9


@pytest.mark.parametrize("yaw, pitch", [(0, 0), (30, 10), (-120, 45), (170, 80), (90, 20)])
def test_a_known_point_is_seen_where_project_points_puts_it(yaw, pitch):
    """A small sphere at an off-centre point: the centroid of its alpha is its projection."""
    centre = (0.0, 0.09, -0.13)
    sphere = ObjectBuilder()
    sphere.cylinder(
        (centre[0], centre[1] - 0.015, centre[2]),
        (centre[0], centre[1] + 0.015, centre[2]),
        0.015,
        Material((1.0, 1.0, 1.0)),
        rounding=0.015,
    )
    resolution, fov = 64, 30.0
    yaw_t, pitch_t = torch.tensor([float(yaw)]), torch.tensor([float(pitch)])
    image = render_views(Shapes.stack([sphere]), yaw_t, pitch_t, resolution, fov, near=0.7, far=1.3)
    alpha = image[0, 3]
    rows, cols = torch.meshgrid(torch.arange(resolution), torch.arange(resolution), indexing="ij")
    seen = torch.stack([(alpha * cols).sum(), (alpha * rows).sum()]) / alpha.sum()
    expected = project_points(torch.tensor([[centre]]), yaw_t, pitch_t, resolution, fov)[0, 0]
    assert alpha.sum() > 5
    assert torch.allclose(seen, expected, atol=0.25), (seen, expected)


def test_images_are_rgba_with_coverage_alpha_and_white_background():
    obj = ObjectBuilder()
    obj.box((0, 0, 0), (0.1, 0.1, 0.1), Material((0.2, 0.4, 0.8)), rounding=0.02)
    shapes, yaw, pitch = Shapes.stack([obj]), torch.tensor([30.0]), torch.tensor([20.0])
    smooth = render_views(shapes, yaw, pitch, 32, 30.0, 0.7, 1.3, supersample=2)[0]
    hard = render_views(shapes, yaw, pitch, 32, 30.0, 0.7, 1.3, supersample=1)[0]
    assert ((smooth[3] > 0) & (smooth[3] < 1)).any()
    assert set(hard[3].unique().tolist()) == {0.0, 1.0}
    assert torch.all(smooth[:3, smooth[3] == 0] == 1)  # transparent pixels are white
    assert smooth.min() >= 0 and smooth.max() <= 1


@pytest.mark.parametrize("layout", ["parquet", "arrow"])
def test_make_dataset_command_writes_a_folder_that_load_dataset_reads(tmp_path, capsys, monkeypatch, layout):
    from huggingface_hub import DatasetCard

    from pix2nerf.hub import push_dataset

    parser = argparse.ArgumentParser()
    make_dataset_cli.add_arguments(parser)
    out = tmp_path / "cars"
    options = ["--category", "cars", "--train-objects", "2", "--test-objects", "1", "--test-views", "4"]
    options += ["--resolution", "16", "--out", str(out), "--format", layout, "--workers", "1", "--quiet"]
    args = parser.parse_args(options)
    assert make_dataset_cli.main(args) == 0
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))  # as the card's `configs` say
    assert len(loaded["train"]) == 2 and len(loaded["test"]) == 4
    assert loaded["test"].features == features()
    card = DatasetCard.load(out / "README.md")
    assert card.data.license == "cc-by-4.0" and "pix2nerf make-dataset --category cars" in card.text
    info = card.data.dataset_info  # complete: features, rows and bytes per split, sizes
    assert [s["num_examples"] for s in info["splits"]] == [2, 4] and all(s["num_bytes"] > 0 for s in info["splits"])
    assert info["download_size"] > 0 and info["dataset_size"] == sum(s["num_bytes"] for s in info["splits"])
    assert [f["name"] for f in info["features"]] == list(features())
    assert (out / "preview.png").is_file()
    capsys.readouterr()
    assert make_dataset_cli.main(args) == 2  # the folder is no longer empty

    # pix2nerf.hub.push_dataset: the dry run lists what would go, offline; a push goes through DatasetDict.push_to_hub
    pushed = []
    monkeypatch.setattr(push_dataset, "upload", lambda folder, repo_id, files, **k: pushed.append(("card", files)))
    monkeypatch.setattr(
        datasets.DatasetDict,
        "push_to_hub",
        lambda self, repo_id, **k: (
            pushed.append(("data", repo_id, {s: len(d) for s, d in self.items()}))
            or SimpleNamespace(commit_url="https://huggingface.co/datasets/someone/cars/commit/0")
        ),
    )
    assert push_dataset.main([str(out), "--repo-id", "someone/cars", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "rows: train 2, test 4" in printed and "dry run: nothing uploaded" in printed and not pushed
    assert "README.md" in printed and "data/train-*.parquet" in printed
    assert push_dataset.main([str(out), "--repo-id", "someone/cars"]) == 0
    assert pushed == [("card", ["README.md", "preview.png"]), ("data", "someone/cars", {"train": 2, "test": 4})]
    assert push_dataset.main([str(tmp_path / "cache"), "--repo-id", "someone/cars", "--dry-run"]) == 2
    assert "has no README.md dataset card" in capsys.readouterr().err


def test_arrow_folder_loads_with_load_from_disk(chairs, tmp_path):
    save_dataset(chairs, tmp_path / "ds")
    loaded = datasets.load_from_disk(str(tmp_path / "ds"))
    assert loaded["test"].data.table.equals(chairs["test"].data.table)


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--category", "boats", "unknown category 'boats'"),
        ("--resolution", "4", "resolution must be at least 8"),
        ("--test-views", "0", "test_views must be at least 1"),
        ("--supersample", "0", "supersample must be in"),
    ],
)
def test_make_dataset_rejects_bad_arguments(tmp_path, capsys, flag, value, message):
    parser = argparse.ArgumentParser()
    make_dataset_cli.add_arguments(parser)
    assert make_dataset_cli.main(parser.parse_args([flag, value, "--out", str(tmp_path / "x"), "--quiet"])) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_rendered_objects_are_opaque_and_centred():
    """Every category's objects cover a good part of the view and stay off the border."""
    for category in CATEGORIES.values():
        config = category.config()
        shapes = make_objects(category, [1, 2, 3])
        images = render_views(
            shapes,
            torch.tensor([20.0, 100.0, -60.0]),
            torch.tensor([10.0, 30.0, 60.0]),
            24,
            config.fov,
            config.ray_start,
            config.ray_end,
        )
        alpha = images[:, 3]
        assert (alpha.mean(dim=(1, 2)) > 0.05).all()
        border = torch.cat([alpha[:, 0], alpha[:, -1], alpha[:, :, 0], alpha[:, :, -1]], dim=1)
        assert border.max() == 0
        assert np.isfinite(images.numpy()).all()
