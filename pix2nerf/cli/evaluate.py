"""`pix2nerf eval`: novel-view PSNR / SSIM and pose errors of a model on a multi-view test split."""

from __future__ import annotations

import argparse
import datetime
import json
import platform
from pathlib import Path

import torch

from pix2nerf import __version__
from pix2nerf.evaluation.benchmark import (
    EvaluationSamples,
    colour_saturation,
    evaluate,
    evaluate_poses,
    evaluation_grid,
    latent_cycle,
    load_objects,
    sample_diversity,
    summary_lines,
)
from pix2nerf.limits import check_device

HELP = "novel-view PSNR / SSIM and pose errors on a multi-view test split"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="local model folder or hub repo id")
    parser.add_argument(
        "--data", required=True, help="multi-view dataset: a save_to_disk folder, parquet, or hub dataset id"
    )
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("-o", "--output", default="results.json", help="JSON file to write")
    parser.add_argument("--num-objects", type=int, default=None, help="evaluate the first N objects (default: all)")
    parser.add_argument("--resolution", type=int, default=64, help="render and compare at this many pixels")
    parser.add_argument("--num-steps", type=int, default=None, help="coarse samples per ray (default: the model's)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=32, help="views rendered at once")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16", "auto"])
    parser.add_argument("--lock-view-dependence", action="store_true", help="render with the fixed view direction")
    parser.add_argument("--image-column", default="image")
    parser.add_argument("--grid", default=None, help="also write a grid PNG (input, prediction, truth rows)")
    parser.add_argument("--grid-objects", type=int, default=4)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--refine-steps",
        type=int,
        default=0,
        help="also report the rows of Pix2NeRF.invert with this many refinement steps (default settings otherwise)",
    )
    parser.add_argument(
        "--pose-only", action="store_true", help="only the encoder's pose errors (no rendering: seconds on a CPU)"
    )


def main(args: argparse.Namespace) -> int:
    from pix2nerf.inversion import InversionSettings
    from pix2nerf.model import Pix2NeRF

    refine = InversionSettings(steps=args.refine_steps) if args.refine_steps else None
    for name in ("num_objects", "resolution", "batch_size", "num_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    model = Pix2NeRF.from_pretrained(args.model, map_location=check_device("--device", args.device))
    objects = load_objects(args.data, args.split, num_objects=args.num_objects, image_column=args.image_column)
    if args.pose_only:
        results, samples = evaluate_poses(model, objects, progress=not args.no_progress), EvaluationSamples()
    else:
        results, samples = evaluate(
            model,
            objects,
            resolution=args.resolution,
            num_steps=args.num_steps,
            batch_size=args.batch_size,
            precision=args.precision,
            lock_view_dependence=args.lock_view_dependence,
            grid_objects=args.grid_objects if args.grid else 0,
            progress=not args.no_progress,
            refine=refine,
        )
        results["generator"] = {
            "sample_diversity": sample_diversity(model),
            "latent_cycle": latent_cycle(model),
            "colour_saturation": colour_saturation(model),
        }
    device = torch.device(args.device)
    results = {
        "model": str(args.model),
        "data": str(args.data),
        "split": args.split,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "versions": {"pix2nerf": __version__, "torch": torch.__version__},
        "command": "pix2nerf eval " + " ".join(_command_arguments(args)),
        **results,
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    if args.grid and samples.inputs:
        evaluation_grid(samples, model.background_color).save(args.grid)
    print("\n".join(summary_lines(results)))
    print(f"wrote {output}" + (f" and {args.grid}" if args.grid and samples.inputs else ""))
    return 0


def _command_arguments(args: argparse.Namespace) -> list[str]:
    """The options that change results, as a command line that reproduces them."""
    words = [str(args.model), "--data", str(args.data), "--split", args.split]
    if args.num_objects is not None:
        words += ["--num-objects", str(args.num_objects)]
    if args.pose_only:
        return words + ["--pose-only"]
    words += ["--resolution", str(args.resolution)] + (
        ["--num-steps", str(args.num_steps)] if args.num_steps is not None else []
    )
    words += ["--precision", args.precision] + (["--lock-view-dependence"] if args.lock_view_dependence else [])
    words += ["--refine-steps", str(args.refine_steps)] if args.refine_steps else []
    return words
