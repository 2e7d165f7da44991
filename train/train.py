#!/usr/bin/env python
"""Train Pix2NeRF (G, D and E with the full objective and the preset's schedule) with Hugging Face Accelerate.

    accelerate launch train/train.py --train_data_dir data/synthetic-cars --preset synthetic_cars \\
        --output_dir runs/synthetic-cars --checkpointing_steps 500 --resume_from_checkpoint latest
    accelerate launch --multi_gpu --num_processes 2 train/train.py ...     # the global batch is split across GPUs

Data: --dataset_name (a hub id) or --train_data_dir (a save_to_disk folder, parquet, or a folder of images); only the
train split is trained on. Checkpoints (`<output_dir>/checkpoint-<step>`) hold the trainer (networks, EMAs,
optimizers, grad scalers, data position) and each process's RNG states as safetensors + JSON, no pickles; the EMA model is
exported to `<output_dir>/model` (save_pretrained + model card) at every checkpoint and at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import os
import re
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from PIL import Image
from tqdm.auto import tqdm

from pix2nerf import Pix2NeRF, Pix2NeRFConfig, __version__
from pix2nerf import images as image_utils
from pix2nerf.config import PRESETS
from pix2nerf.data.reading import PreprocessedImages, TrainingBatches, load_split, pil_from_cell, undecoded_column
from pix2nerf.evaluation.benchmark import evaluate, load_objects, sample_diversity
from pix2nerf.hub.model_card import write_model_card
from pix2nerf.networks import Discriminator
from pix2nerf.training import Pix2NeRFTrainer
from pix2nerf.training.checkpoint import (
    SKELETON_NAME,
    load_rng_state,
    load_training_state,
    save_rng_state,
    save_training_state,
)
from pix2nerf.training.interval_means import IntervalMeans

logger = get_logger(__name__)
CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
MODEL_DIR = "model"
TRAINING_INFO_NAME = "training.json"
METRICS_LOG_NAME = "metrics.jsonl"
CARD_IMAGES = (
    ("Generated samples (fixed seeds, EMA model)", "images/samples.png"),
    ("Held-out inputs (left) and novel views around them", "images/novel_views.png"),
)
NUM_HELD_OUT_IMAGES = 8
NOVEL_VIEW_YAWS = (0.0, 60.0, 120.0, 180.0, 240.0, 300.0)  # degrees added to the encoder's yaw of the input
DEADLINE_CHECK_STEPS = 10  # --max_train_minutes is checked every this many steps


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    data = parser.add_argument_group("data")
    data.add_argument("--dataset_name", default=None, help="hub dataset id (or a local dataset folder)")
    data.add_argument("--dataset_config_name", default=None)
    data.add_argument(
        "--train_data_dir", default=None, help="local save_to_disk folder, parquet file/folder, or image folder"
    )
    data.add_argument("--image_column", default="image")
    data.add_argument("--cache_dir", default=None, help="datasets cache folder")
    data.add_argument(
        "--resolution",
        type=int,
        default=None,
        help="load images at this size (default: the largest stage resolution); stages resize on the device",
    )
    data.add_argument("--dataloader_num_workers", type=int, default=4)
    data.add_argument(
        "--validation_data_dir",
        default=None,
        help="held-out multi-view split for the validation metrics (default: the dataset's test split)",
    )
    data.add_argument("--validation_split", default="test")
    model = parser.add_argument_group("model and schedule")
    model.add_argument("--preset", default="synthetic_cars", choices=sorted(PRESETS))
    model.add_argument(
        "--config_overrides", default=None, help="JSON object of Pix2NeRFConfig fields, e.g. '{\"hidden_dim\": 128}'"
    )
    model.add_argument(
        "--train_batch_size",
        type=int,
        default=None,
        help="global batch size for every stage (default: each stage's); split evenly across processes",
    )
    model.add_argument("--max_train_steps", type=int, default=None, help="default: the preset's max_train_steps")
    model.add_argument(
        "--max_train_minutes",
        type=float,
        default=None,
        help="stop cleanly with a checkpoint once this much wall time has passed since the start",
    )
    model.add_argument(
        "--mixed_precision",
        choices=["no", "fp16", "bf16"],
        default=None,
        help="default: fp16 on CUDA (fp32 FiLM and sine), no on the CPU",
    )
    model.add_argument(
        "--vgg_weights", default=None, help="VGG16 safetensors (local or hub) to enable the perceptual term"
    )
    model.add_argument(
        "--disable_compile",
        action="store_true",
        help="on CUDA, neither torch.compile the field nor use the fused inference kernel",
    )
    model.add_argument(
        "--field_kernels",
        choices=["auto", "compile", "triton"],
        default="auto",
        help="the field with gradients under fp16 on CUDA: Triton kernels for each layer's product, FiLM and sine "
        "(a generator step 21%% faster than torch.compile, in a third less memory), torch.compile, or auto: triton where "
        "it can run",
    )
    model.add_argument("--seed", type=int, default=0)
    run = parser.add_argument_group("checkpoints, logging, hub")
    run.add_argument("--output_dir", default="runs/pix2nerf")
    run.add_argument("--checkpointing_steps", type=int, default=500)
    run.add_argument("--checkpoints_total_limit", type=int, default=None, help="keep only the newest N checkpoints")
    run.add_argument(
        "--resume_from_checkpoint",
        default=None,
        help='"latest" (a fresh start when there is none) or a checkpoint folder',
    )
    run.add_argument("--report_to", default="tensorboard", choices=["tensorboard", "none"])
    run.add_argument("--logging_dir", default="logs", help="relative to --output_dir")
    run.add_argument("--logging_steps", type=int, default=10)
    run.add_argument("--validation_steps", type=int, default=500, help="image grids and held-out metrics every N steps")
    run.add_argument("--validation_num_objects", type=int, default=16)
    run.add_argument("--validation_resolution", type=int, default=None, help="default: the largest stage resolution")
    run.add_argument("--push_to_hub", action="store_true", help="upload <output_dir>/model at the end")
    run.add_argument("--hub_model_id", default=None)
    run.add_argument("--hub_token", default=None)
    args = parser.parse_args(argv)
    if (args.dataset_name is None) == (args.train_data_dir is None):
        parser.error("give exactly one of --dataset_name and --train_data_dir")
    for name in ("checkpointing_steps", "logging_steps", "validation_steps", "validation_num_objects"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer")
    for name in (
        "train_batch_size",
        "max_train_steps",
        "resolution",
        "validation_resolution",
        "checkpoints_total_limit",
    ):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer")
    if args.dataloader_num_workers < 0:
        parser.error("--dataloader_num_workers must be >= 0")
    return args


def build_config(args: argparse.Namespace) -> Pix2NeRFConfig:
    overrides = {}
    if args.config_overrides:
        try:
            overrides = json.loads(args.config_overrides)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"--config_overrides is not valid JSON ({error}); give a JSON object of config fields"
            ) from None
        if not isinstance(overrides, dict):
            raise ValueError("--config_overrides must be a JSON object of config fields")
    return Pix2NeRFConfig.from_preset(args.preset, **overrides)


# -------------------------------------------------------------------------------------------------------------------
# checkpoints
def list_checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoint-<step> folders in `output_dir`, oldest first."""
    if not output_dir.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in output_dir.iterdir()
        if (m := CHECKPOINT_PATTERN.match(p.name)) and (p / SKELETON_NAME).is_file()
    ]
    return [p for _, p in sorted(found)]


def resolve_resume(args: argparse.Namespace, output_dir: Path) -> Path | None:
    if args.resume_from_checkpoint is None:
        return None
    if args.resume_from_checkpoint == "latest":
        checkpoints = list_checkpoints(output_dir)
        return checkpoints[-1] if checkpoints else None
    path = Path(args.resume_from_checkpoint)
    if not (path / SKELETON_NAME).is_file():
        raise FileNotFoundError(
            f"{path} is not a training checkpoint folder (no {SKELETON_NAME}); give one or 'latest'"
        )
    return path


@contextlib.contextmanager
def untouched_rng(device: torch.device):
    """Side work (validation, export) inside leaves the training's random streams as they were, so a resumed run
    draws the same numbers as an uninterrupted one."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        yield


# -------------------------------------------------------------------------------------------------------------------
# held-out images, validation and export
def load_held_out(args: argparse.Namespace, source: str, train_dataset) -> tuple[list, list, str]:
    """(multi-view objects for the metrics, fixed input images for the grids, what they are)."""
    held_source = args.validation_data_dir or source
    if args.validation_data_dir:  # one unnamed split (a parquet file, a saved Dataset) is the held-out split
        split = load_split(
            held_source, args.validation_split, cache_dir=args.cache_dir, unnamed_as=args.validation_split
        )
    else:
        try:
            split = load_split(
                source, args.validation_split, config_name=args.dataset_config_name, cache_dir=args.cache_dir
            )
        except (ValueError, FileNotFoundError):
            split = None
    if split is not None and {"object_id", "view_id", "yaw", "pitch"} <= set(split.column_names):
        with contextlib.suppress(ValueError):  # e.g. no object with two views: grids only
            objects = load_objects(
                held_source,
                args.validation_split,
                num_objects=args.validation_num_objects,
                image_column=args.image_column,
            )
            return (
                objects,
                [o.images[0] for o in objects[:NUM_HELD_OUT_IMAGES]],
                f"held-out {args.validation_split} split",
            )
    rows, what = (
        (split, f"held-out {args.validation_split} split")
        if split is not None
        else (train_dataset, "training images (no held-out split)")
    )
    column = undecoded_column(rows, args.image_column)
    inputs = []
    for index in range(len(column)):
        if len(inputs) == NUM_HELD_OUT_IMAGES:
            break
        with contextlib.suppress(ValueError, TypeError, OSError):
            inputs.append(pil_from_cell(column[index][args.image_column]))
    return [], inputs, what


@torch.no_grad()
def validation_grids(model: Pix2NeRF, inputs: list, resolution: int) -> dict[str, Image.Image]:
    """Image grids: fixed-seed samples, reconstructions of the held-out inputs, novel views around them."""
    options = dict(resolution=resolution, lock_view_dependence=False, return_depth=False, kernels="reference")
    generator = torch.Generator(device=model.device).manual_seed(0)
    z = model.sample_latents(8, generator)
    yaw, pitch = model.sample_poses(8, generator)
    grids = {
        "samples": image_utils.image_grid(
            [image_utils.tensor_to_pil(t) for t in model.render(z, yaw, pitch, **options).rgb], 8
        )
    }
    if inputs:
        latent = model.encode(inputs)
        truth = [
            image_utils.tensor_to_pil(
                image_utils.to_unit_range(image_utils.preprocess(i, resolution, model.background_color))
            )
            for i in inputs
        ]
        recon = model.render(latent, **options).rgb
        grids["reconstructions"] = image_utils.image_grid(
            truth + [image_utils.tensor_to_pil(t) for t in recon], len(inputs)
        )
        tiles = []
        for i in range(min(4, len(inputs))):
            yaws = latent.yaw[i] + torch.tensor(NOVEL_VIEW_YAWS, device=model.device)
            views = model.render(latent.z[i : i + 1].expand(len(yaws), -1), yaws, latent.pitch[i], **options).rgb
            tiles += [truth[i]] + [image_utils.tensor_to_pil(t) for t in views]
        grids["novel_views"] = image_utils.image_grid(tiles, 1 + len(NOVEL_VIEW_YAWS))
    return grids


def export_model(
    trainer: Pix2NeRFTrainer, model_dir: Path, grids: dict, training: dict, evaluation: dict | None, args
) -> None:
    """save_pretrained the EMA model into `model_dir` (written aside, then moved in), with its card and images."""
    staging = model_dir.with_name(model_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    trainer.ema_model().save_pretrained(staging)
    (staging / "images").mkdir()
    images = []
    for caption, path in CARD_IMAGES:
        name = Path(path).stem
        if name in grids:
            grids[name].save(staging / path)
            images.append((caption, path))
    (staging / TRAINING_INFO_NAME).write_text(json.dumps(training, indent=2) + "\n")
    note = None
    if evaluation is not None:
        note = (
            f"Validation during training at step {evaluation['step']} on the first {evaluation['counts']['objects']} "
            f"objects of the held-out split; `pix2nerf eval` on the whole split gives the reference figures."
        )
    write_model_card(
        staging,
        model_id=args.hub_model_id or str(model_dir),
        title=(args.hub_model_id or model_dir.parent.name).split("/")[-1],
        training=training,
        evaluation=evaluation,
        evaluation_note=note,
        images=images,
        datasets=[args.dataset_name] if args.dataset_name and not Path(args.dataset_name).exists() else [],
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    for old in model_dir.iterdir():
        if old.is_file():
            old.unlink()
    shutil.rmtree(model_dir / "images", ignore_errors=True)
    for item in staging.iterdir():
        os.replace(item, model_dir / item.name)
    staging.rmdir()


# -------------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    started = psutil.Process().create_time()  # --max_train_minutes counts from the process start, imports included
    args = parse_args(argv)
    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        mixed_precision="no",  # the trainer runs its own autocast and grad scalers
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(
            project_dir=str(output_dir), logging_dir=str(output_dir / args.logging_dir)
        ),
    )
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", level=logging.INFO
    )
    if not accelerator.is_main_process:
        logging.getLogger().setLevel(logging.WARNING)
    device, is_main = accelerator.device, accelerator.is_main_process
    mixed_precision = args.mixed_precision or ("fp16" if device.type == "cuda" else "no")
    config = build_config(args)
    max_steps = args.max_train_steps or config.max_train_steps
    stage_resolutions = [s["resolution"] for s in config.training_stages]
    data_resolution = args.resolution or max(stage_resolutions)
    validation_resolution = args.validation_resolution or max(stage_resolutions)
    for stage in config.training_stages:
        global_batch = args.train_batch_size or stage["batch_size"]
        if global_batch % accelerator.num_processes:
            raise ValueError(
                f"the global batch size {global_batch} (stage from step {stage['start_step']}) does not split evenly "
                f"across {accelerator.num_processes} processes; set --train_batch_size to a multiple of it"
            )

    # the same initial weights in every process, then per-process random streams (each draws its own fakes)
    set_seed(args.seed)
    model = Pix2NeRF(config).to(device)
    discriminator = Discriminator(config.discriminator_channels, config.discriminator_type).to(device)
    vgg = None
    if args.vgg_weights:
        from pix2nerf.training.vgg import load_vgg16_features

        vgg = load_vgg16_features(args.vgg_weights).to(device).eval().requires_grad_(False)
    trainer = Pix2NeRFTrainer(
        model,
        discriminator,
        mixed_precision=mixed_precision,
        vgg=vgg,
        compile_field=False if args.disable_compile else None,
        field_kernels=args.field_kernels,
    )
    set_seed(args.seed + accelerator.process_index)

    source = args.train_data_dir or args.dataset_name
    with accelerator.main_process_first():
        train_dataset = load_split(source, "train", config_name=args.dataset_config_name, cache_dir=args.cache_dir)
        images = PreprocessedImages(train_dataset, args.image_column, data_resolution, model.background_color)
    held_out_objects, held_out_inputs, held_out_what = [], [], ""
    if is_main:
        held_out_objects, held_out_inputs, held_out_what = load_held_out(args, source, train_dataset)
    logger.info(
        f"{len(images)} training images from {source} at {data_resolution} px; validation on {held_out_what or '-'}; "
        f"{accelerator.num_processes} process(es) on {device}, {mixed_precision} precision; "
        f"parameters {model.num_parameters()} + discriminator {sum(p.numel() for p in discriminator.parameters())}",
        main_process_only=True,
    )

    # trainer and RNG states in safetensors + JSON inside Accelerate's checkpoint folders (no pickles)
    progress = {
        "step": 0,
        "stage_start": 0,
        "batches_read": 0,
        "images_seen": 0,
        "unreadable_images": 0,
        "train_seconds": 0.0,
    }

    def save_hook(models, weights, folder):
        if accelerator.is_main_process:
            save_training_state(folder, trainer.state_dict(), progress)

    def load_hook(models, folder):
        state, saved = load_training_state(folder)
        trainer.load_state_dict(state)
        progress.update(saved)

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)
    resume = resolve_resume(args, output_dir)
    if resume is not None:
        accelerator.load_state(str(resume))
        if not load_rng_state(resume, accelerator.process_index):  # saved by fewer processes
            set_seed(args.seed + accelerator.process_index + 1_000_003 * progress["step"])
        logger.info(f"resumed from {resume} at step {progress['step']}", main_process_only=True)
    elif args.resume_from_checkpoint == "latest":
        logger.info(f"no checkpoint in {output_dir}: starting a new run", main_process_only=True)

    metrics_log = output_dir / args.logging_dir / METRICS_LOG_NAME  # the logged scalars, one JSON line each
    if is_main:
        metrics_log.parent.mkdir(parents=True, exist_ok=True)
    if args.report_to != "none":
        hparams = {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))}
        accelerator.init_trackers("pix2nerf", config=hparams)
    command = "accelerate launch train/train.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    state = {"evaluation": None, "grids": {}, "last_checkpoint": None}

    def training_info() -> dict:
        return {
            "command": command,
            "preset": config.preset,
            "dataset": source,
            "steps": progress["step"],
            "max_train_steps": max_steps,
            "images_seen": progress["images_seen"],
            "training_minutes": progress["train_seconds"] / 60,
            "num_processes": accelerator.num_processes,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "mixed_precision": mixed_precision,
            "train_batch_size": args.train_batch_size,
            "resolution": data_resolution,
            "seed": args.seed,
            "corrupt_images_skipped": progress["unreadable_images"],
            "vgg_term": bool(args.vgg_weights),
            "pix2nerf_version": __version__,
            "torch": torch.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }

    def log_scalars(scalars: dict, step: int) -> None:
        accelerator.log(scalars, step=step)
        if is_main:
            with metrics_log.open("a") as file:
                file.write(json.dumps({"step": step, **scalars}) + "\n")

    def validate(step: int) -> None:
        if is_main:
            with untouched_rng(device):
                ema = trainer.ema_model()
                state["grids"] = validation_grids(ema, held_out_inputs, validation_resolution)
                metrics = {"eval/sample_diversity": sample_diversity(ema)}
                if held_out_objects:
                    results, _ = evaluate(ema, held_out_objects, resolution=validation_resolution, progress=False)
                    results.pop("per_object")
                    state["evaluation"] = {
                        "step": step,
                        "data": args.validation_data_dir or source,
                        "split": args.validation_split,
                        **results,
                    }
                    metrics.update(
                        {
                            f"eval/{p}_{m}": v[m]["mean"]
                            for group in ("protocols", "baselines")
                            for p, v in results[group].items()
                            for m in ("psnr", "ssim")
                        }
                    )
                    metrics.update(
                        {f"eval/pose_error_{k}_median_deg": v["median"] for k, v in results["pose_error_deg"].items()}
                    )
                log_scalars(metrics, step)
                logger.info(f"step {step}: validation " + ", ".join(f"{k[5:]} {v:.3f}" for k, v in metrics.items()))
            writer = accelerator.get_tracker("tensorboard", unwrap=True) if args.report_to == "tensorboard" else None
            if writer is not None:
                for name, grid in state["grids"].items():
                    writer.add_image(f"validation/{name}", torch.from_numpy(np.asarray(grid)), step, dataformats="HWC")
        accelerator.wait_for_everyone()

    def checkpoint(step: int) -> None:
        final = output_dir / f"checkpoint-{step}"
        staging = output_dir / f"checkpoint-{step}.tmp"
        if is_main:
            shutil.rmtree(staging, ignore_errors=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(staging))
        save_rng_state(staging, accelerator.process_index)
        accelerator.wait_for_everyone()
        if is_main:
            shutil.rmtree(final, ignore_errors=True)
            os.replace(staging, final)
            if args.checkpoints_total_limit:
                for old in list_checkpoints(output_dir)[: -args.checkpoints_total_limit]:
                    shutil.rmtree(old)
            with untouched_rng(device):
                export_model(
                    trainer, output_dir / MODEL_DIR, state["grids"], training_info(), state["evaluation"], args
                )
            logger.info(f"saved {final} and exported the EMA model to {output_dir / MODEL_DIR}")
        state["last_checkpoint"] = step
        accelerator.wait_for_everyone()

    # ------------------------------------------------------------------------------------------------------------
    step = progress["step"]
    deadline = None if args.max_train_minutes is None else started + 60 * args.max_train_minutes
    bar = tqdm(total=max_steps, initial=step, desc="training", unit="step", disable=not is_main, dynamic_ncols=True)
    batches, stage = None, None
    means = IntervalMeans()
    speeds: list[float] = []
    interval_seconds, interval_images, interval_steps = 0.0, 0, 0  # time in steps (data wait and GPU backlog included)
    while step < max_steps:
        if stage is not config.stage_at(step):
            stage = config.stage_at(step)
            if batches is not None:
                batches.close()
            global_batch = args.train_batch_size or stage["batch_size"]
            start = progress["batches_read"] if progress["stage_start"] == stage["start_step"] else 0
            batches = TrainingBatches(
                images,
                global_batch // accelerator.num_processes,
                num_processes=accelerator.num_processes,
                process_index=accelerator.process_index,
                seed=args.seed + stage["start_step"],
                start=start,
                num_workers=args.dataloader_num_workers,
                pin_memory=device.type == "cuda",
            )
            progress["stage_start"] = stage["start_step"]
            unreadable_before = progress["unreadable_images"]  # counted by earlier loaders and runs
            logger.info(
                f"step {step}: stage {stage['resolution']} px, global batch {global_batch}, "
                f"{stage['num_steps']} samples per ray",
                main_process_only=True,
            )
        step_start = time.time()
        real = next(batches).to(device, non_blocking=True)
        if real.shape[-1] != stage["resolution"]:
            real = F.interpolate(
                real, size=(stage["resolution"],) * 2, mode="bilinear", antialias=True, align_corners=False
            )
        means.add(trainer.train_step(real, step))
        step += 1
        log_now = step % args.logging_steps == 0 or step == max_steps
        if log_now:  # reading the losses back waits for the GPU: inside the step's time, so the speeds are true
            interval, nonfinite = means.pop()
        progress.update(
            step=step, batches_read=batches.batches_read, images_seen=progress["images_seen"] + global_batch
        )
        step_seconds = time.time() - step_start
        progress["train_seconds"] += step_seconds
        interval_seconds += step_seconds
        interval_images += global_batch
        interval_steps += 1
        bar.update(1)

        if log_now:
            values = torch.tensor([*interval.values(), float(nonfinite), float(batches.num_failed)], device=device)
            values = accelerator.reduce(values, "sum") / accelerator.num_processes
            unreadable = unreadable_before + int(round(values[-1].item() * accelerator.num_processes))
            progress["unreadable_images"] = unreadable
            scalars = {f"train/{k}": v for k, v in zip(interval, values[:-2].tolist())}
            scalars["train/nonfinite_steps"] = values[-2].item() * accelerator.num_processes
            scalars.update({f"lr/{n}": stage[f"lr_{n}"] for n in ("g", "d", "e")})
            scalars.update(
                {
                    "perf/images_per_second": interval_images / interval_seconds,
                    "perf/seconds_per_step": interval_seconds / interval_steps,
                    "train/resolution": stage["resolution"],
                    "data/unreadable_images": unreadable,
                }
            )
            log_scalars(scalars, step)
            speeds.append(scalars["perf/images_per_second"])
            bar.set_postfix(
                {k: f"{scalars[f'train/{k}']:.3g}" for k in ("d_loss", "g_loss") if f"train/{k}" in scalars}
                | {"img/s": f"{scalars['perf/images_per_second']:.1f}"},
                refresh=False,
            )
            interval_seconds, interval_images, interval_steps = 0.0, 0, 0

        if step % args.validation_steps == 0:
            validate(step)
        if step % args.checkpointing_steps == 0:
            checkpoint(step)
        if deadline is not None and step % DEADLINE_CHECK_STEPS == 0:  # agreeing on it syncs the processes
            stop = torch.tensor([float(time.time() > deadline)], device=device)
            if accelerator.reduce(stop, "sum").item() > 0:
                logger.info(
                    f"step {step}: --max_train_minutes {args.max_train_minutes} reached, stopping",
                    main_process_only=True,
                )
                break
    bar.close()
    if batches is not None:
        batches.close()
    if state["last_checkpoint"] != step:
        if step % args.validation_steps != 0 or not state["grids"]:
            validate(step)
        checkpoint(step)
    if progress["unreadable_images"]:
        logger.warning(
            f"{progress['unreadable_images']} unreadable training images were skipped", main_process_only=True
        )
    accelerator.end_training()
    if args.push_to_hub and is_main:
        from huggingface_hub import create_repo, upload_folder

        repo_id = args.hub_model_id or output_dir.name
        create_repo(repo_id, exist_ok=True, token=args.hub_token)
        upload_folder(
            repo_id=repo_id,
            folder_path=str(output_dir / MODEL_DIR),
            token=args.hub_token,
            commit_message=f"pix2nerf training, step {step}",
        )
        logger.info(f"pushed {output_dir / MODEL_DIR} to {repo_id}")
    speed = f"; median {statistics.median(speeds[1:] or speeds):.1f} images/s after the first log" if speeds else ""
    logger.info(f"done at step {step}: {output_dir / MODEL_DIR}{speed}", main_process_only=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
