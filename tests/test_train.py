"""train/train.py and its package parts (data loading, sharding, checkpoints) on the CPU with the tiny preset.

Training runs are subprocesses (`accelerate launch` or plain `python`), each a few 8-16 px steps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_datasets import CORRUPT_PNG, disc_png, multiview_split, write_multiview_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAIN_SCRIPT = REPO_ROOT / "train" / "train.py"
ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch"]
TWO_CPU_PROCESSES = (
    ACCELERATE
    + ["--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    + ["--mixed_precision", "no", "--dynamo_backend", "no"]
)
COMMON = ["--checkpointing_steps", "3", "--logging_steps", "1", "--dataloader_num_workers", "0"]
RUN_TIMEOUT_S = 240


def run_training(
    args: list[str],
    launcher: list[str] | None = None,
    env: dict | None = None,
    returncode: int = 0,
    preset: list[str] = ("--preset", "tiny"),
) -> subprocess.CompletedProcess:
    command = (launcher or [sys.executable]) + [str(TRAIN_SCRIPT)] + COMMON + list(preset) + args
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        **(env or {}),
    }
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    assert result.returncode == returncode, (
        f"{' '.join(command)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    )
    return result


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_multiview_dataset(tmp_path_factory.mktemp("data") / "tiny")


@pytest.fixture(scope="module")
def uninterrupted_run(data_dir, tmp_path_factory) -> Path:
    """6 steps (a stage change at step 4) through `accelerate launch`, validation and checkpoints every 3 steps,
    keeping only the newest checkpoint."""
    output = tmp_path_factory.mktemp("runs") / "uninterrupted"
    run_training(
        [
            "--train_data_dir",
            str(data_dir),
            "--output_dir",
            str(output),
            "--max_train_steps",
            "6",
            "--validation_steps",
            "3",
            "--checkpoints_total_limit",
            "1",
            "--report_to",
            "tensorboard",
        ],
        launcher=ACCELERATE
        + ["--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"],
    )
    return output


def test_a_resumed_run_whose_training_budget_is_spent_trains_no_further(uninterrupted_run, data_dir, tmp_path):
    output = tmp_path / "run"
    shutil.copytree(uninterrupted_run, output)
    progress = json.loads((output / "checkpoint-6" / "trainer.json").read_text())["progress"]
    assert progress["train_seconds"] > 0
    budget = str(progress["train_seconds"] / 60 / 2)
    args = ["--train_data_dir", str(data_dir), "--output_dir", str(output), "--max_train_steps", "12"]
    result = run_training(args + ["--resume_from_checkpoint", "latest", "--train_budget_minutes", budget])
    assert "of training steps spent, nothing to train" in result.stdout + result.stderr
    assert [p.name for p in output.glob("checkpoint-*")] == ["checkpoint-6"]


def test_accelerate_launch_writes_checkpoint_and_loadable_model(uninterrupted_run):
    from pix2nerf import Pix2NeRF

    assert sorted(p.name for p in uninterrupted_run.glob("checkpoint-*")) == ["checkpoint-6"]  # checkpoint-3 pruned
    checkpoint = uninterrupted_run / "checkpoint-6"
    names = {p.name for p in checkpoint.iterdir()}
    assert {"trainer.safetensors", "trainer.json", "rng_state_0.safetensors", "rng_state_0.json"} <= names
    assert not [name for name in names if name.endswith((".pkl", ".bin", ".pt"))]  # nothing pickled
    assert json.loads((checkpoint / "trainer.json").read_text())["progress"]["step"] == 6

    model_dir = uninterrupted_run / "model"
    model = Pix2NeRF.from_pretrained(model_dir)
    out = model.render(model.sample_latents(1), 30.0, 20.0, resolution=8, num_steps=4)
    assert out.rgb.shape == (1, 3, 8, 8) and torch.isfinite(out.rgb).all()
    card = (model_dir / "README.md").read_text()
    assert "library_name: pix2nerf" in card and "pipeline_tag: image-to-3d" in card
    assert "relative pose" in card and "baseline: a blank background image" in card  # the latest validation
    assert (model_dir / "images" / "samples.png").is_file() and (model_dir / "images" / "novel_views.png").is_file()
    info = json.loads((model_dir / "training.json").read_text())
    assert info["steps"] == 6 and info["preset"] == "tiny" and info["images_seen"] == 4 * 4 + 2 * 2
    assert list((uninterrupted_run / "logs").rglob("events.out.tfevents.*"))
    records = [json.loads(line) for line in (uninterrupted_run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "train/d_loss" in r] == [1, 2, 3, 4, 5, 6]
    logged = set().union(*records)
    assert {"train/r1", "train/e_yaw_error_deg", "train/recon_ssim", "lr/g", "perf/images_per_second"} <= logged
    assert {"eval/relative_pose_psnr", "eval/blank_background_ssim", "eval/pose_error_yaw_median_deg"} <= logged
    assert all(r["perf/validation_seconds"] > 0 for r in records if "eval/relative_pose_psnr" in r)


def test_resume_reaches_the_same_weights_as_an_uninterrupted_run(uninterrupted_run, data_dir, tmp_path):
    """Stopped after the step-3 checkpoint, resumed with `latest`: the same step and, on the CPU, bit-identical
    networks, EMAs and optimizer states (tolerance 0). The interrupted run validates on other steps and logs
    nothing, which must not change its random streams."""
    output = tmp_path / "resumed"
    common = [
        "--train_data_dir",
        str(data_dir),
        "--output_dir",
        str(output),
        "--validation_steps",
        "100",
        "--report_to",
        "none",
    ]
    refused = run_training(common + ["--resume_from_checkpoint", "latest", "--max_train_steps", "3"], returncode=1)
    assert "holds no checkpoint-<step> folder; give 'latest_or_new'" in refused.stderr and not output.exists()
    common += ["--resume_from_checkpoint", "latest_or_new"]
    first = run_training(common + ["--max_train_steps", "3"])
    assert "starting a new run" in first.stderr
    assert (output / "checkpoint-3").is_dir()
    second = run_training(common + ["--max_train_steps", "6"])
    assert "resumed from" in second.stderr and "checkpoint-3 at step 3" in second.stderr

    expected = load_file(str(uninterrupted_run / "checkpoint-6" / "trainer.safetensors"))
    resumed = load_file(str(output / "checkpoint-6" / "trainer.safetensors"))
    assert expected.keys() == resumed.keys()
    for key in expected:
        torch.testing.assert_close(resumed[key], expected[key], rtol=0, atol=0, msg=key)
    progress = json.loads((output / "checkpoint-6" / "trainer.json").read_text())["progress"]
    assert progress["step"] == 6 and progress["images_seen"] == 20


def test_two_processes_train_with_gloo_skip_corrupt_images_and_resume_across_process_counts(tmp_path):
    data = write_multiview_dataset(tmp_path / "data", train_objects=6, corrupt_train_rows=(2,))
    output = tmp_path / "two"
    result = run_training(
        [
            "--train_data_dir",
            str(data),
            "--output_dir",
            str(output),
            "--max_train_steps",
            "4",
            "--checkpointing_steps",
            "4",
            "--validation_steps",
            "4",
            "--report_to",
            "none",
            "--dataloader_num_workers",
            "1",
        ],
        launcher=TWO_CPU_PROCESSES,
        env={"ACCELERATE_USE_CPU": "True"},  # CPU processes with gloo
    )
    assert "2 process(es)" in result.stderr
    checkpoint = output / "checkpoint-4"
    assert (checkpoint / "rng_state_0.json").is_file() and (checkpoint / "rng_state_1.json").is_file()
    assert not list(checkpoint.glob("*.pkl"))
    info = json.loads((output / "model" / "training.json").read_text())
    assert info["num_processes"] == 2 and info["steps"] == 4
    assert info["corrupt_images_skipped"] > 0 and "skipping unreadable training image 2" in result.stderr

    # the two-process checkpoint resumes on one process, and that one's checkpoint on two processes again
    resume = [
        "--train_data_dir",
        str(data),
        "--output_dir",
        str(output),
        "--checkpointing_steps",
        "2",
        "--validation_steps",
        "100",
        "--report_to",
        "none",
        "--resume_from_checkpoint",
        "latest",
    ]
    one = run_training(resume + ["--max_train_steps", "6"])
    assert "1 process(es)" in one.stderr and "checkpoint-4 at step 4" in one.stderr
    assert not (output / "checkpoint-6" / "rng_state_1.json").exists()
    two = run_training(
        resume + ["--max_train_steps", "8", "--dataloader_num_workers", "1"],
        launcher=TWO_CPU_PROCESSES,
        env={"ACCELERATE_USE_CPU": "True"},
    )
    assert "2 process(es)" in two.stderr and "checkpoint-6 at step 6" in two.stderr
    progress = json.loads((output / "checkpoint-8" / "trainer.json").read_text())["progress"]
    info = json.loads((output / "model" / "training.json").read_text())
    assert progress["step"] == 8 and info["num_processes"] == 2 and info["steps"] == 8
    state = load_file(str(output / "checkpoint-8" / "trainer.safetensors"))
    assert all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())


def test_lazy_r1_trains_and_resumes_exactly(data_dir, tmp_path):
    """r1_interval 4: R1 on the D steps 0 and 4 only; stopped at step 3 and resumed, bit-identical to a run of 6."""
    common = ["--train_data_dir", str(data_dir), "--validation_steps", "100", "--report_to", "none"]
    common += ["--config_overrides", '{"r1_interval": 4}', "--resume_from_checkpoint", "latest_or_new"]
    run_training(common + ["--output_dir", str(tmp_path / "whole"), "--max_train_steps", "6"])
    run_training(common + ["--output_dir", str(tmp_path / "resumed"), "--max_train_steps", "3"])
    second = run_training(common + ["--output_dir", str(tmp_path / "resumed"), "--max_train_steps", "6"])
    assert "checkpoint-3 at step 3" in second.stderr
    expected = load_file(str(tmp_path / "whole" / "checkpoint-6" / "trainer.safetensors"))
    resumed = load_file(str(tmp_path / "resumed" / "checkpoint-6" / "trainer.safetensors"))
    assert expected.keys() == resumed.keys()
    for key in expected:
        torch.testing.assert_close(resumed[key], expected[key], rtol=0, atol=0, msg=key)
    records = [json.loads(line) for line in (tmp_path / "whole" / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "train/r1" in r] == [1, 5]  # logged after the steps 0 and 4


def test_a_checkpoint_left_in_tmp_by_a_crash_is_completed_and_resumed_without_saving_again(
    uninterrupted_run, data_dir, tmp_path
):
    output = tmp_path / "crashed"
    output.mkdir()
    shutil.copytree(uninterrupted_run / "checkpoint-6", output / "checkpoint-6.tmp")  # killed before the rename
    (output / "checkpoint-7.tmp").mkdir()  # and a later save that never finished
    args = ["--train_data_dir", str(data_dir), "--output_dir", str(output), "--max_train_steps", "6"]
    result = run_training(args + ["--report_to", "none", "--resume_from_checkpoint", "latest"])
    assert "completed checkpoint-6 from the checkpoint-6.tmp" in result.stderr
    assert "removed checkpoint-7.tmp, an incomplete save" in result.stderr
    assert "checkpoint-6 at step 6" in result.stderr and "Saving current state" not in result.stderr
    assert sorted(p.name for p in output.glob("checkpoint-*")) == ["checkpoint-6"]
    saved = (uninterrupted_run / "checkpoint-6" / "trainer.safetensors").read_bytes()
    assert (output / "checkpoint-6" / "trainer.safetensors").read_bytes() == saved


def test_fine_tuning_a_pretrained_model_with_the_vgg_term(data_dir, tmp_path, tiny_model):
    from test_training_parts import vgg_file

    tiny_model.save_pretrained(tmp_path / "pretrained")
    output = tmp_path / "tuned"
    args = ["--train_data_dir", str(data_dir), "--output_dir", str(output), "--max_train_steps", "2"]
    args += ["--pretrained_model_name_or_path", str(tmp_path / "pretrained"), "--validation_steps", "100"]
    vgg = str(vgg_file(tmp_path / "vgg.safetensors"))
    result = run_training(args + ["--report_to", "none", "--vgg_weights", vgg], preset=())
    assert f"fine-tuning {tmp_path / 'pretrained'}" in result.stderr
    records = [json.loads(line) for line in (output / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert records[1]["step"] == 2 and records[1]["train/recon_vgg"] > 0  # the odd step 1 reconstructs
    info = json.loads((output / "model" / "training.json").read_text())
    assert info["vgg_term"] and info["steps"] == 2
    refused = run_training(args, returncode=2)
    assert "give either --preset or --pretrained_model_name_or_path" in refused.stderr


# ----------------------------------------------------------------------------------------------------------------
# data
def test_interval_means_average_each_key_over_its_own_steps_and_count_nonfinite_steps():
    from pix2nerf.training.interval_means import IntervalMeans

    means = IntervalMeans()
    means.add({"d_loss": 2.0, "g_loss": 4.0})  # an even step
    means.add({"d_loss": float("nan"), "g_loss": 6.0, "recon_mse": 0.5})  # an odd step whose D step overflowed
    means.add({"d_loss": 4.0, "g_loss": float("inf")})
    values, nonfinite = means.pop()
    assert list(values) == ["d_loss", "g_loss", "recon_mse"]
    assert values["d_loss"] == 3.0 and values["g_loss"] == 5.0 and values["recon_mse"] == 0.5 and nonfinite == 2
    means.add({"r1": float("nan")})
    values, nonfinite = means.pop()
    assert list(values) == ["r1"] and values["r1"] != values["r1"] and nonfinite == 1  # NaN: no finite value


def test_interval_means_sum_tensors_where_they_are_and_match_floats():
    from pix2nerf.training.interval_means import IntervalMeans

    steps = [
        {"d_loss": 2.0, "alpha": 0.5},
        {"d_loss": float("nan"), "recon_mse": 0.25, "alpha": 1.0},
        {"d_loss": 4.0, "alpha": 1.0},
    ]
    as_floats, as_tensors = IntervalMeans(), IntervalMeans()
    for logs in steps:
        as_floats.add(logs)
        as_tensors.add({k: v if k == "alpha" else torch.tensor(v, dtype=torch.float16) for k, v in logs.items()})
    assert all(isinstance(stacked, torch.Tensor) for *_, stacked in as_tensors._steps)  # not read back until pop
    assert as_tensors.pop() == as_floats.pop() == ({"alpha": 2.5 / 3, "d_loss": 3.0, "recon_mse": 0.25}, 1)


def test_training_batches_skip_and_count_unreadable_images():
    from pix2nerf.data.reading import PreprocessedImages, TrainingBatches

    dataset = multiview_split(5, 1, corrupt_rows=(1, 3))
    images = PreprocessedImages(dataset, "image", 16, (255, 255, 255))
    assert isinstance(images[1][1], str) and isinstance(images[0][1], torch.Tensor)
    batches = TrainingBatches(images, 4, num_workers=1, seed=0)
    drawn = [next(batches) for _ in range(3)]
    batches.close()
    assert all(b.shape == (4, 3, 16, 16) and b.min() >= -1 and b.max() <= 1 for b in drawn)
    assert batches.num_failed >= 2  # 12 images from 5 rows: both bad rows came up at least once


def test_unreadable_data_fails_with_a_clear_error():
    from pix2nerf.data.reading import PreprocessedImages, TrainingBatches

    images = PreprocessedImages(multiview_split(3, 1, corrupt_rows=(0, 1, 2)), "image", 16, (0, 0, 0))
    with pytest.raises(ValueError, match="could be read"):
        next(TrainingBatches(images, 2))
    with pytest.raises(ValueError, match="no image column 'picture'"):
        PreprocessedImages(multiview_split(1, 1), "picture", 16, (0, 0, 0))


def test_sharded_batch_sampler_splits_epochs_and_resumes():
    from pix2nerf.data.reading import ShardedBatchSampler

    shards = [ShardedBatchSampler(10, 2, num_processes=2, process_index=p, seed=3) for p in range(2)]
    first_epoch = [i for batch in range(2) for s in shards for i in s.batch_indices(batch)] + shards[0].batch_indices(
        2
    )[:2]
    assert sorted(first_epoch) == list(range(10))  # global batches of 4 walk through a permutation
    stream = iter(shards[1])
    expected = [next(stream) for _ in range(6)]
    resumed = iter(ShardedBatchSampler(10, 2, num_processes=2, process_index=1, seed=3, start=4))
    assert [next(resumed) for _ in range(2)] == expected[4:]


def test_load_split_reads_saved_parquet_and_image_folders(tmp_path, data_dir):
    from pix2nerf.data.reading import PreprocessedImages, load_split

    assert len(load_split(str(data_dir), "train")) == 24 and len(load_split(str(data_dir), "test")) == 9
    with pytest.raises(ValueError, match="no 'validation' split"):
        load_split(str(data_dir), "validation")

    parquet = tmp_path / "parquet"
    parquet.mkdir()
    multiview_split(4, 1).to_parquet(str(parquet / "train-00000-of-00001.parquet"))
    multiview_split(2, 2).to_parquet(str(parquet / "test-00000-of-00001.parquet"))
    cache = str(tmp_path / "cache")  # datasets' arrow cache of the parquet and image folders, kept out of $HOME
    assert len(load_split(str(parquet), "train", cache_dir=cache)) == 4
    assert len(load_split(str(parquet / "train-00000-of-00001.parquet"), "train", cache_dir=cache)) == 4
    with pytest.raises(ValueError, match="read as the train split; it has no 'test' split"):
        load_split(str(parquet / "test-00000-of-00001.parquet"), "test", cache_dir=cache)

    folder = tmp_path / "images"
    for split, count in (("train", 3), ("test", 2)):
        (folder / split).mkdir(parents=True)
        for i in range(count):
            (folder / split / f"{i}.png").write_bytes(disc_png(__import__("numpy").random.default_rng(i), 16))
    (folder / "train" / "broken.png").write_bytes(CORRUPT_PNG)
    train = load_split(str(folder), "train", cache_dir=cache)
    assert len(train) == 4  # the test folder is never part of training
    loaded = [PreprocessedImages(train, "image", 8, (255, 255, 255))[i][1] for i in range(len(train))]
    assert sum(isinstance(x, str) for x in loaded) == 1 and sum(isinstance(x, torch.Tensor) for x in loaded) == 3

    with pytest.raises(FileNotFoundError, match="neither a local folder"):
        load_split(str(tmp_path / "missing" / "dir"), "train")


# ----------------------------------------------------------------------------------------------------------------
# checkpoints
def test_training_state_round_trips_without_pickle(tmp_path, tiny_model):
    from pix2nerf import Pix2NeRF
    from pix2nerf.networks import Discriminator
    from pix2nerf.training import Pix2NeRFTrainer
    from pix2nerf.training.checkpoint import load_training_state, save_training_state

    config = tiny_model.config
    trainer = Pix2NeRFTrainer(tiny_model, Discriminator(config.discriminator_channels, config.discriminator_type))
    trainer.train_step(torch.rand(2, 3, 8, 8) * 2 - 1, 0)
    state = trainer.state_dict()
    state["extra"] = {"inf": float("inf"), "tuple": (1, 2.5), 7: None}
    save_training_state(tmp_path, state, {"step": 1})
    loaded, progress = load_training_state(tmp_path)
    assert progress == {"step": 1} and loaded["extra"] == state["extra"]
    assert loaded["optimizers"]["g"]["param_groups"][0]["betas"] == (0.0, 0.9)
    assert all(set(m) == {"step", "exp_avg_sq"} for m in loaded["optimizers"]["d"]["state"].values())  # beta1 = 0

    fresh = Pix2NeRFTrainer(Pix2NeRF(config), Discriminator(config.discriminator_channels, config.discriminator_type))
    fresh.load_state_dict(loaded)
    for a, b in zip(fresh.model.parameters(), trainer.model.parameters()):
        assert torch.equal(a, b)
    assert fresh.ema_field.num_updates == trainer.ema_field.num_updates
    expected, restored = trainer.optimizers["d"].state_dict()["state"], fresh.optimizers["d"].state_dict()["state"]
    assert expected.keys() == restored.keys() and expected
    assert all(torch.equal(restored[k]["exp_avg_sq"], expected[k]["exp_avg_sq"]) for k in expected)


def test_rng_state_round_trips_without_pickle_and_replaces_accelerates(tmp_path):
    import random

    import numpy as np

    from pix2nerf.training.checkpoint import load_rng_state, save_rng_state

    (tmp_path / "random_states_0.pkl").write_bytes(b"pickle")  # what Accelerator.save_state leaves
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    save_rng_state(tmp_path, 0)
    expected = (random.random(), float(np.random.rand()), np.random.randn(), float(torch.rand(())))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    assert load_rng_state(tmp_path, 0)
    assert (random.random(), float(np.random.rand()), np.random.randn(), float(torch.rand(()))) == expected
    assert not (tmp_path / "random_states_0.pkl").exists()
    assert not load_rng_state(tmp_path, 1)  # written by fewer processes


def test_triton_field_kernels_are_refused_where_they_cannot_run(tiny_model):
    from pix2nerf.networks import Discriminator
    from pix2nerf.training import Pix2NeRFTrainer

    config = tiny_model.config
    discriminator = Discriminator(config.discriminator_channels, config.discriminator_type)
    with pytest.raises(ValueError, match="needs CUDA"):  # a CPU, no fp16
        Pix2NeRFTrainer(tiny_model, discriminator, field_kernels="triton")
    with pytest.raises(ValueError, match="'compile' or 'triton'"):
        Pix2NeRFTrainer(tiny_model, discriminator, field_kernels="cuda")
    assert Pix2NeRFTrainer(tiny_model, discriminator).field_kernels == "reference"  # "auto" on a CPU


def load_train_script():
    """train/train.py as a module, for its argument parsing without a subprocess."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pix2nerf_train_script", TRAIN_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--train_batch_size", "0", r"--train_batch_size must be an integer in \[1, 1024\], got 0"),
        ("--train_batch_size", "9" * 30, r"--train_batch_size must be an integer in \[1, 1024\], got 99999"),
        ("--resolution", "2", r"--resolution must be an integer in \[4, 1024\], got 2"),
        ("--validation_resolution", "4096", r"--validation_resolution must be an integer in \[4, 1024\], got 4096"),
        ("--max_train_steps", "0", r"--max_train_steps must be an integer in \[1, 1e\+08\], got 0"),
        ("--max_train_minutes", "nan", r"--max_train_minutes must be a finite number > 0, got nan"),
        ("--max_train_minutes", "inf", r"--max_train_minutes must be a finite number > 0, got inf"),
        ("--max_train_minutes", "-5", r"--max_train_minutes must be a finite number > 0, got -5"),
        ("--train_budget_minutes", "0", r"--train_budget_minutes must be a finite number > 0, got 0"),
        ("--checkpointing_steps", "0", r"--checkpointing_steps must be an integer in \[1, 1e\+08\], got 0"),
        ("--checkpoints_total_limit", "-1", r"--checkpoints_total_limit must be an integer in \[1, 1e\+08\], got -1"),
        ("--validation_num_objects", "0", r"--validation_num_objects must be an integer in \[1, 100000\], got 0"),
        ("--dataloader_num_workers", "-1", r"--dataloader_num_workers must be an integer in \[0, 256\], got -1"),
        ("--seed", str(2**40), r"--seed must be an integer in \[0, 2\.14748e\+09\], got 1099511627776"),
        ("--logging_steps", "1.5", r"invalid int value: '1\.5'"),
    ],
)
def test_the_trainers_numbers_are_checked_with_one_sentence(flag, value, message, capsys):
    script = load_train_script()
    with pytest.raises(SystemExit) as exit_info:
        script.parse_args(["--train_data_dir", "data", flag, value])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_info.value.code == 2 and re.search(message, error) and len(error) < 160, error


def test_the_trainers_limits_follow_the_environment(monkeypatch):
    script = load_train_script()
    monkeypatch.setenv("PIX2NERF_LIMIT_TRAIN_BATCH_SIZE", "4096")
    args = script.parse_args(["--train_data_dir", "data", "--train_batch_size", "2048", "--max_train_minutes", "0.5"])
    assert (args.train_batch_size, args.max_train_minutes, args.seed) == (2048, 0.5, 0)
