"""Training throughput: images per second of whole training iterations (D + R1, E, G; even and odd steps) through
`Pix2NeRFTrainer.train_step`, at each stage of a preset (32 px and 64 px for carla and synthetic_cars), on random
real images already on the device (data loading runs in parallel workers during training and is not timed).

One timed unit is a pair of iterations (an even pi-GAN step and an odd Pix2NeRF step, after the encoder warm-up),
so the figure averages both kinds; images/s = 2 x batch / pair time.

    python benchmarks/train_throughput.py --out benchmarks/results/train_throughput_h100.json
    python benchmarks/train_throughput.py --device cpu --preset tiny --repeats 2 --warmup 1 --out /tmp/smoke.json
"""

from __future__ import annotations

import argparse
import math
import sys

import torch
from common import environment, time_it, write_json

from pix2nerf import Pix2NeRF, Pix2NeRFConfig, __version__
from pix2nerf.networks import Discriminator
from pix2nerf.training import Pix2NeRFTrainer

# the official code on one H100, whole iteration with the VGG term (reference doc): (resolution, batch) -> img/s
OFFICIAL_IMAGES_PER_SECOND = {(32, 36): 70.0, (64, 12): 21.0, (32, 9): 42.0, (64, 3): 12.5}


def benchmark_stage(config: Pix2NeRFConfig, stage: dict, args, device: torch.device) -> dict:
    """Time pairs of iterations at `stage` (its resolution, batch and samples per ray) on a fresh model."""
    torch.manual_seed(args.seed)
    model = Pix2NeRF(config).to(device)
    discriminator = Discriminator(config.discriminator_channels, config.discriminator_type).to(device)
    vgg = None
    if args.vgg_weights:
        from pix2nerf.training.vgg import load_vgg16_features

        vgg = load_vgg16_features(args.vgg_weights).to(device).eval().requires_grad_(False)
    trainer = Pix2NeRFTrainer(
        model,
        discriminator,
        mixed_precision=args.mixed_precision,
        vgg=vgg,
        compile_field=False if args.disable_compile else None,
    )
    batch, resolution = args.batch_size or stage["batch_size"], stage["resolution"]
    real = torch.rand(batch, 3, resolution, resolution, device=device) * 2 - 1
    first = max(stage["start_step"], config.warmup_steps)
    first += first % 2  # start on an even step: pairs are (even, odd)
    steps = iter(range(first, 10**9, 2))

    def pair() -> dict:
        step = next(steps)
        trainer.train_step(real, step)
        return trainer.train_step(real, step + 1)

    losses = {}

    def timed_pair() -> None:
        losses.update(pair())

    timing = time_it(timed_pair, device, warmup=args.warmup, repeats=args.repeats)
    result = {
        "resolution": resolution,
        "batch_size": batch,
        "samples_per_ray": f"{stage['num_steps']} + {stage['num_steps']}",
        "pair_ms": timing,
        "images_per_second": {
            "median": 2 * batch / timing["median_ms"] * 1000,
            "min": 2 * batch / timing["max_ms"] * 1000,
            "max": 2 * batch / timing["min_ms"] * 1000,
        },
        "iteration_ms_median": timing["median_ms"] / 2,
        "compiled_field": trainer.field_fn is not model.field,
        "losses_finite": all(math.isfinite(float(v)) for v in losses.values()),
    }
    official = OFFICIAL_IMAGES_PER_SECOND.get((resolution, batch))
    if official is not None:
        result["official_images_per_second_h100"] = official
        result["speedup_vs_official"] = result["images_per_second"]["median"] / official
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--preset", nargs="+", default=["carla", "synthetic_cars"], help="presets to measure (each stage)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--mixed_precision",
        "--mixed-precision",
        choices=["no", "fp16", "bf16"],
        default=None,
        help="default: fp16 on CUDA, no on the CPU",
    )
    parser.add_argument(
        "--batch_size", "--batch-size", type=int, default=None, help="default: each stage's global batch"
    )
    parser.add_argument("--vgg_weights", "--vgg-weights", default=None, help="include the VGG perceptual term")
    parser.add_argument("--disable_compile", "--disable-compile", action="store_true")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iteration pairs (compilation happens here)")
    parser.add_argument("--repeats", type=int, default=10, help="timed iteration pairs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/train_throughput.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    args.mixed_precision = args.mixed_precision or ("fp16" if device.type == "cuda" else "no")
    results = {}
    for preset in args.preset:
        config = Pix2NeRFConfig.from_preset(preset)
        for stage in config.training_stages:
            name = f"{preset}_{stage['resolution']}px"
            try:
                results[name] = benchmark_stage(config, stage, args, device)
            except torch.OutOfMemoryError as error:
                torch.cuda.empty_cache()
                results[name] = {"error": f"out of memory: {str(error).splitlines()[0]}"}
            summary = results[name].get("images_per_second", {}).get("median")
            print(f"{name}: " + (f"{summary:.1f} images/s" if summary else results[name]["error"]), flush=True)
    payload = {
        "benchmark": "train_throughput",
        "environment": {**environment(device), "pix2nerf": __version__},
        "settings": {
            "mixed_precision": args.mixed_precision,
            "vgg_term": bool(args.vgg_weights),
            "warmup_pairs": args.warmup,
            "timed_pairs": args.repeats,
        },
        "results": results,
    }
    write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
