#!/usr/bin/env python
"""Train Pix2NeRF (G, D and E with the full objective and the preset's schedule) with Hugging Face Accelerate.

    accelerate launch train/train.py --train_data_dir data/synthetic-cars --preset synthetic_cars \\
        --output_dir runs/synthetic-cars --checkpointing_steps 500 --resume_from_checkpoint latest_or_new
    accelerate launch train/train.py --pretrained_model_name_or_path default --train_data_dir my_cars ...  # fine-tune
    accelerate launch --multi_gpu --num_processes 2 train/train.py ...     # the global batch is split across GPUs

Data: --dataset_name (a hub id) or --train_data_dir (a save_to_disk folder, parquet, or a folder of images); only the
train split is trained on. Checkpoints (`<output_dir>/checkpoint-<step>`) hold the trainer (networks, EMAs,
optimizers, grad scalers, data position) and each process's RNG states as safetensors + JSON, no pickles; the EMA
model is exported to `<output_dir>/model` (save_pretrained + model card) at every checkpoint and at the end. The
logic lives in pix2nerf.training; this script parses the arguments and runs the loop.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import logging
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
from accelerate.utils import LoggerType, ProjectConfiguration, set_seed
from tqdm.auto import tqdm

from pix2nerf import __version__
from pix2nerf.config import PRESETS
from pix2nerf.data.reading import PreprocessedImages, TrainingBatches, load_split
from pix2nerf.limits import Limits, check_float, check_int
from pix2nerf.limits import current as current_limits
from pix2nerf.networks import Discriminator
from pix2nerf.training import Pix2NeRFTrainer
from pix2nerf.training.checkpoint import load_trainer, save_rng_state, save_training_state
from pix2nerf.training.checkpoint_folders import (
    LATEST,
    LATEST_OR_NEW,
    prune,
    publish,
    recover,
    resolve_resume,
    resume_rng_state,
    staging_folder,
)
from pix2nerf.training.export import export_model
from pix2nerf.training.initial_model import initial_model, parse_overrides
from pix2nerf.training.interval_means import IntervalMeans
from pix2nerf.training.precision import PRECISIONS, choose_mixed_precision
from pix2nerf.training.validation import load_held_out, validation_grids, validation_metrics

logger = get_logger(__name__)
MODEL_DIR = "model"
METRICS_LOG_NAME = "metrics.jsonl"
REPORT_TO = [*LoggerType.list(), "none"]  # every tracker accelerate knows, "all" of the installed ones, or none
DEADLINE_CHECK_STEPS = 10  # --max_train_minutes is checked every this many steps
MIN_RESOLUTION = 4  # px, as a training stage's resolution
SEED_MODULUS = 2**32  # seeds given to set_seed (numpy's range)
MAX_SEED = 2**31 - 1  # --seed, leaving room for the per-process offsets


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
    model.add_argument(
        "--pretrained_model_name_or_path",
        default=None,
        help='fine-tune a trained model: a local folder, a hub id or "default" (the shipped model); its config '
        "replaces --preset, the discriminator starts fresh unless a checkpoint is resumed",
    )
    model.add_argument("--preset", default=None, choices=sorted(PRESETS), help="default: synthetic_cars")
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
        "--train_budget_minutes",
        type=float,
        default=None,
        help="stop cleanly with a checkpoint once the run's training steps, summed over every resume, have taken this "
        "long (equal-budget comparisons; validation and checkpoints do not count)",
    )
    model.add_argument(
        "--mixed_precision",
        choices=PRECISIONS,
        default=None,
        help="default: what `accelerate launch --mixed_precision` (or its config) set, else fp16 on CUDA (fp32 FiLM "
        "and sine) and no on the CPU; given here, it wins over the launcher's, with a warning when they differ",
    )
    model.add_argument(
        "--vgg_weights",
        default=None,
        help="enables the VGG16 perceptual term: a safetensors file, a folder or a hub id holding model.safetensors "
        "with torchvision's VGG16 names features.{0,2,5,7,10,12,14}.weight/.bias (up to relu3_3)",
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
        help="the field under fp16 on CUDA: its Triton kernels (the SIREN's layers with gradients: product, FiLM and "
        "sine; the tri-plane's weighted gather of plane texels), torch.compile, or auto: the Triton kernels, which "
        "have measured faster for both fields (docs/performance.md)",
    )
    model.add_argument(
        "--step_graphs",
        choices=["auto", "on", "off"],
        default="auto",
        help="replay each training iteration (renders, the three networks' steps with R1, the EMAs) from CUDA graphs "
        "once the fade-in and density noise are done (fewer kernel launches; see docs/performance.md); "
        "they need one CUDA process; auto: on for the tri-plane where they can run",
    )
    model.add_argument("--seed", type=int, default=0)
    run = parser.add_argument_group("checkpoints, logging, hub")
    run.add_argument("--output_dir", default="runs/pix2nerf")
    run.add_argument("--checkpointing_steps", type=int, default=500)
    run.add_argument("--checkpoints_total_limit", type=int, default=None, help="keep only the newest N checkpoints")
    run.add_argument(
        "--resume_from_checkpoint",
        default=None,
        help=f'"{LATEST}" (the newest usable checkpoint in --output_dir; an error when there is none), '
        f'"{LATEST_OR_NEW}" (the same, or a new run when --output_dir holds no checkpoint) or a checkpoint-<step> '
        "folder",
    )
    run.add_argument(
        "--report_to",
        default="tensorboard",
        choices=REPORT_TO,
        help='the tracker accelerate logs to, "all" for every installed one, or none; image grids go to tensorboard',
    )
    run.add_argument("--logging_dir", default="logs", help="relative to --output_dir")
    run.add_argument("--logging_steps", type=int, default=10)
    run.add_argument("--validation_steps", type=int, default=500, help="image grids and held-out metrics every N steps")
    run.add_argument("--validation_num_objects", type=int, default=16)
    run.add_argument("--validation_resolution", type=int, default=None, help="default: the largest stage resolution")
    run.add_argument(
        "--push_to_hub",
        action="store_true",
        help="create the hub repo when the run starts and upload <output_dir>/model to it at the end",
    )
    run.add_argument("--hub_model_id", default=None, help="default: the name of --output_dir, in your namespace")
    run.add_argument("--hub_token", default=None)
    args = parser.parse_args(argv)
    if (args.dataset_name is None) == (args.train_data_dir is None):
        parser.error("give exactly one of --dataset_name and --train_data_dir")
    try:
        check_arguments(args, current_limits())
    except ValueError as error:
        parser.error(str(error))
    if args.preset is not None and args.pretrained_model_name_or_path is not None:
        parser.error(
            "give either --preset or --pretrained_model_name_or_path: a pretrained model brings its own config "
            "(change its fields with --config_overrides)"
        )
    try:
        args.config_overrides = parse_overrides(args.config_overrides)
    except ValueError as error:
        parser.error(str(error))
    return args


def check_arguments(args: argparse.Namespace, limits: Limits) -> None:
    """Every numeric argument's type, finiteness and range (pix2nerf.limits; None: the default chosen later).
    Raises ValueError with one sentence naming the flag, the value and the allowed range."""
    integers = {  # flag -> (low, high)
        "resolution": (MIN_RESOLUTION, limits.resolution),
        "validation_resolution": (MIN_RESOLUTION, limits.resolution),
        "train_batch_size": (1, limits.train_batch_size),
        "max_train_steps": (1, limits.train_steps),
        "checkpointing_steps": (1, limits.train_steps),
        "checkpoints_total_limit": (1, limits.train_steps),
        "logging_steps": (1, limits.train_steps),
        "validation_steps": (1, limits.train_steps),
        "validation_num_objects": (1, limits.validation_objects),
        "dataloader_num_workers": (0, limits.workers),
        "seed": (0, MAX_SEED),
    }
    for name, (low, high) in integers.items():
        if getattr(args, name) is not None:
            check_int(f"--{name}", getattr(args, name), low, high)
    for name in ("max_train_minutes", "train_budget_minutes"):
        if getattr(args, name) is not None:
            check_float(f"--{name}", getattr(args, name), 0.0, open_low=True)


@contextlib.contextmanager
def untouched_rng(device: torch.device):
    """Side work (validation, export) inside leaves the training's random streams as they were, so a resumed run
    draws the same numbers as an uninterrupted one."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        yield


# -------------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    started = psutil.Process().create_time()  # --max_train_minutes counts from the process start, imports included
    args = parse_args(argv)
    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        mixed_precision="no",  # the trainer runs its own autocast and grad scalers, at choose_mixed_precision's choice
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
    mixed_precision, warning = choose_mixed_precision(args.mixed_precision, device.type)
    if warning:
        logger.warning(warning, main_process_only=True)
    if args.push_to_hub and is_main:  # created first, so that a missing login fails before training
        from pix2nerf.training.hub_repo import create_model_repo, push_model

        repo_id = create_model_repo(args.hub_model_id, output_dir, token=args.hub_token)
        logger.info(f"uploads go to the hub repo {repo_id}")
    model_id = repo_id if args.push_to_hub and is_main else args.hub_model_id or str(output_dir / MODEL_DIR)

    # the same initial weights in every process, then per-process random streams (each draws its own fakes)
    set_seed(args.seed)
    model = initial_model(args.preset, args.config_overrides, args.pretrained_model_name_or_path).to(device)
    config = model.config
    discriminator = Discriminator(config.discriminator_channels, config.discriminator_type).to(device)
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

    vgg = None
    if args.vgg_weights:
        from pix2nerf.training.vgg import load_vgg16_features

        vgg = load_vgg16_features(args.vgg_weights).to(device)
    trainer = Pix2NeRFTrainer(
        model,
        discriminator,
        mixed_precision=mixed_precision,
        vgg=vgg,
        compile_field=False if args.disable_compile else None,
        field_kernels=args.field_kernels,
        step_graphs={"on": True, "off": False, "auto": "auto"}[args.step_graphs],
    )
    set_seed(args.seed + accelerator.process_index)

    source = args.train_data_dir or args.dataset_name
    with accelerator.main_process_first():
        train_dataset = load_split(source, "train", config_name=args.dataset_config_name, cache_dir=args.cache_dir)
        images = PreprocessedImages(train_dataset, args.image_column, data_resolution, model.background_color)
    held_out_objects, held_out_inputs, held_out_what = [], [], ""
    if is_main:
        held_out_objects, held_out_inputs, held_out_what = load_held_out(
            source,
            train_dataset,
            validation_data_dir=args.validation_data_dir,
            split_name=args.validation_split,
            config_name=args.dataset_config_name,
            cache_dir=args.cache_dir,
            num_objects=args.validation_num_objects,
            image_column=args.image_column,
        )
    logger.info(
        f"{len(images)} training images from {source} at {data_resolution} px; validation on {held_out_what or '-'}; "
        f"{accelerator.num_processes} process(es) on {device}, {mixed_precision} precision; field kernels "
        f"{trainer.field_kernels}, iterations from CUDA graphs {'on' if trainer.step_graphs is not None else 'off'}; "
        f"parameters {model.num_parameters()} + discriminator {sum(p.numel() for p in discriminator.parameters())}",
        main_process_only=True,
    )
    if args.pretrained_model_name_or_path:
        logger.info(f"fine-tuning {args.pretrained_model_name_or_path}", main_process_only=True)

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
        progress.update(load_trainer(trainer, folder))

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)
    if is_main:  # finish or undo the checkpoint save a crash interrupted, before choosing one
        for message in recover(output_dir):
            logger.warning(message)
    accelerator.wait_for_everyone()
    state = {"evaluation": None, "grids": {}, "last_checkpoint": None}
    resume = resolve_resume(
        args.resume_from_checkpoint, output_dir, warn=functools.partial(logger.warning, main_process_only=True)
    )
    if resume is not None:
        accelerator.load_state(str(resume))
        if not resume_rng_state(resume, accelerator.process_index):  # saved by fewer processes
            set_seed((args.seed + accelerator.process_index + 1_000_003 * progress["step"]) % SEED_MODULUS)
        state["last_checkpoint"] = progress["step"]
        logger.info(f"resumed from {resume} at step {progress['step']}", main_process_only=True)
    elif args.resume_from_checkpoint == LATEST_OR_NEW:
        logger.info(f"no checkpoint in {output_dir}: starting a new run", main_process_only=True)

    metrics_log = output_dir / args.logging_dir / METRICS_LOG_NAME  # the logged scalars, one JSON line each
    if is_main:
        metrics_log.parent.mkdir(parents=True, exist_ok=True)
    if args.report_to != "none":
        hparams = {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))}
        accelerator.init_trackers("pix2nerf", config=hparams)
        if is_main and args.report_to != "all" and not accelerator.trackers:
            logger.warning(f"--report_to {args.report_to}: its package is not installed, nothing is logged to it")
    tensorboard = next((t.tracker for t in accelerator.trackers if t.name == "tensorboard"), None) if is_main else None
    command = "accelerate launch train/train.py " + shlex.join(argv if argv is not None else sys.argv[1:])

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
            validation_start = time.time()
            with untouched_rng(device):
                ema = trainer.ema_model()
                state["grids"] = validation_grids(ema, held_out_inputs, validation_resolution)
                metrics, results = validation_metrics(ema, held_out_objects, validation_resolution)
                metrics["perf/validation_seconds"] = time.time() - validation_start  # not in the steps' time
                if results is not None:
                    data = args.validation_data_dir or source
                    state["evaluation"] = {"step": step, "data": data, "split": args.validation_split, **results}
                log_scalars(metrics, step)
                logger.info(f"step {step}: validation " + ", ".join(f"{k[5:]} {v:.3f}" for k, v in metrics.items()))
            if tensorboard is not None:
                for name, grid in state["grids"].items():
                    grid = torch.from_numpy(np.asarray(grid))
                    tensorboard.add_image(f"validation/{name}", grid, step, dataformats="HWC")
        accelerator.wait_for_everyone()

    def checkpoint(step: int) -> None:
        staging = staging_folder(output_dir, step)
        if is_main:
            shutil.rmtree(staging, ignore_errors=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(staging))
        save_rng_state(staging, accelerator.process_index)
        accelerator.wait_for_everyone()
        if is_main:
            final = publish(staging, {"step": step, "num_processes": accelerator.num_processes})
            if args.checkpoints_total_limit:
                prune(output_dir, args.checkpoints_total_limit)
            with untouched_rng(device):
                export_model(
                    trainer.ema_model(),
                    output_dir / MODEL_DIR,
                    grids=state["grids"],
                    training=training_info(),
                    evaluation=state["evaluation"],
                    model_id=model_id,
                    title=model_id.split("/")[-1] if args.push_to_hub or args.hub_model_id else output_dir.name,
                    datasets=[args.dataset_name] if args.dataset_name and not Path(args.dataset_name).exists() else [],
                )
            logger.info(f"saved {final} and exported the EMA model to {output_dir / MODEL_DIR}")
        state["last_checkpoint"] = step
        accelerator.wait_for_everyone()

    # ------------------------------------------------------------------------------------------------------------
    step = progress["step"]
    deadline = None if args.max_train_minutes is None else started + 60 * args.max_train_minutes
    budget = None if args.train_budget_minutes is None else 60 * args.train_budget_minutes

    def out_of_time() -> str | None:
        """Why the run stops now (agreed by every process), or None."""
        reasons = [
            deadline is not None and time.time() > deadline,
            budget is not None and progress["train_seconds"] >= budget,
        ]
        stop = accelerator.reduce(torch.tensor(reasons, dtype=torch.float32, device=device), "sum")
        if stop[0] > 0:
            return f"--max_train_minutes {args.max_train_minutes} reached"
        if stop[1] > 0:
            return f"--train_budget_minutes {args.train_budget_minutes} of training steps spent"
        return None

    bar = tqdm(total=max_steps, initial=step, desc="training", unit="step", disable=not is_main, dynamic_ncols=True)
    batches, stage = None, None
    means = IntervalMeans()
    speeds: list[float] = []
    interval_seconds, interval_images, interval_steps = 0.0, 0, 0  # time in steps (data wait and GPU backlog included)
    spent = out_of_time() if budget is not None else None  # a resumed run may have spent its budget already
    if spent:
        logger.info(f"step {step}: {spent}, nothing to train", main_process_only=True)
    while step < max_steps and not spent:
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
        checks_deadline = (deadline is not None or budget is not None) and step % DEADLINE_CHECK_STEPS == 0
        if device.type == "cuda" and (
            checks_deadline or step % args.validation_steps == 0 or step % args.checkpointing_steps == 0
        ):  # what follows reads the device: its backlog of steps (graph replays queue many) is training time
            torch.cuda.synchronize(device)
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
        if checks_deadline:
            reason = out_of_time()  # agreeing on it syncs the processes
            if reason:
                logger.info(f"step {step}: {reason}, stopping", main_process_only=True)
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
        url = push_model(repo_id, output_dir / MODEL_DIR, step, token=args.hub_token)
        logger.info(f"pushed {output_dir / MODEL_DIR} to {repo_id}: {url}")
    speed = f"; median {statistics.median(speeds[1:] or speeds):.1f} images/s after the first log" if speeds else ""
    logger.info(f"done at step {step}: {output_dir / MODEL_DIR}{speed}", main_process_only=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
