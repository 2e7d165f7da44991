"""Whole training iterations replayed from CUDA graphs against the same iterations run as launched (issue 26).

Three trainers built alike (same seed, weights and real images) take the same iterations, each from the same seed
of CUDA's generator: launched, launched again, and with `step_graphs` (a replay draws its latents, poses and ray
jitter from the generator as launched kernels do). Weights should agree to rounding (a replay runs the same kernels;
fused Adam computes the same with `capturable`), or as far as a second launched run drifts from the first (cuDNN's
and `grid_sample`'s backward passes are not deterministic): a larger difference points to a defect. Per network the
JSON gives the distance between each run's weights and the first's relative to how far training moved them, the
largest difference of each logged loss over the steps where both runs' values are finite, and the steps whose
losses were not finite; a case that fails records its error. Each preset is one case, with its own objective (the
inversion cycle included).

    python benchmarks/gpu_step_graphs.py --out benchmarks/results/gpu_step_graphs_h200.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time

import torch
from common import environment, write_json

from pix2nerf import Pix2NeRF, Pix2NeRFConfig, __version__
from pix2nerf.networks import Discriminator
from pix2nerf.training import Pix2NeRFTrainer


def build(config: Pix2NeRFConfig, step_graphs: bool, device: torch.device) -> Pix2NeRFTrainer:
    torch.manual_seed(0)
    model = Pix2NeRF(config).to(device)
    discriminator = Discriminator(config.discriminator_channels, config.discriminator_type).to(device)
    return Pix2NeRFTrainer(model, discriminator, mixed_precision="fp16", step_graphs=step_graphs)


def weights(trainer: Pix2NeRFTrainer) -> dict[str, torch.Tensor]:
    networks = {
        "g": trainer.model.field,
        "e": trainer.model.encoder,
        "d": trainer.discriminator,
        "g_ema": trainer.ema_field.shadow,
        "e_ema": trainer.ema_encoder.shadow,
    }
    return {name: torch.cat([p.detach().float().flatten() for p in net.parameters()]) for name, net in networks.items()}


def compare(config: Pix2NeRFConfig, steps: int, resolution: int, batch: int, device: torch.device) -> dict:
    """`steps` iterations from step 2 (fade-in and density noise done) of two eager trainers and a graphed one on the
    same images: the second eager run measures how far launched training drifts from itself (non-deterministic
    kernels). The graphed trainer captures each kind of iteration (pi-GAN's, Pix2NeRF's) at its third."""
    trainers = {name: build(config, name == "graphs", device) for name in ("eager", "eager_again", "graphs")}
    start = weights(trainers["eager"])
    real = torch.rand(batch, 3, resolution, resolution, device=device) * 2 - 1
    losses = {name: [] for name in trainers}
    began = time.perf_counter()  # the first iterations compile the fields and capture the graphs: progress shows it
    for step in range(2, 2 + steps):
        for name, trainer in trainers.items():
            torch.manual_seed(1000 + step)
            logs = trainer.train_step(real, step)
            losses[name].append({k: float(v) for k, v in logs.items()})
            torch.cuda.empty_cache()  # the launched trainers' cached memory, beside the graphs' pool
        print(f"iteration {step - 1} of {steps} done ({time.perf_counter() - began:.0f} s)", flush=True)
    final = {name: weights(trainer) for name, trainer in trainers.items()}
    moved = {k: float((final["eager"][k] - start[k]).norm()) for k in start}

    def against_eager(name: str) -> dict:
        return {
            "relative_weight_difference": {
                k: float((final["eager"][k] - final[name][k]).norm()) / max(moved[k], 1e-30) for k in start
            },
            "loss_max_abs_difference": {
                key: max(
                    (
                        abs(a[key] - b[key])
                        for a, b in zip(losses["eager"], losses[name])
                        if math.isfinite(a[key] - b[key])
                    ),
                    default=math.nan,
                )
                for key in losses["eager"][0]
            },
        }

    return {
        "steps": steps,
        "graphs_captured": len(trainers["graphs"].step_graphs),
        "weights_moved": moved,
        "eager_again": against_eager("eager_again"),
        "graphs": against_eager("graphs"),
        "non_finite_steps": {
            name: [2 + i for i, row in enumerate(rows) if not all(math.isfinite(v) for v in row.values())]
            for name, rows in losses.items()
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--preset", nargs="+", default=["synthetic_cars_triplane", "synthetic_cars"], help="one case each, in order"
    )
    parser.add_argument("--steps", type=int, default=10, help="iterations (each kind captured at its third)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--out", default="benchmarks/results/gpu_step_graphs.json")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("CUDA graphs need a CUDA device", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    results = {}
    payload = {
        "benchmark": "gpu_step_graphs",
        "environment": {**environment(device), "pix2nerf": __version__},
        "settings": vars(args),
        "results": results,
    }
    for preset in args.preset:
        base = Pix2NeRFConfig.from_preset(preset)
        stage = {**base.training_stages[-1], "start_step": 0, "resolution": args.resolution, "batch_size": args.batch}
        base = dataclasses.replace(base, training_stages=[stage], warmup_steps=0, fade_steps=1, density_noise_steps=1)
        try:
            row = compare(base, args.steps, args.resolution, args.batch, device)
        except Exception as error:  # noqa: BLE001 (recorded: the other presets still run)
            row = {"error": f"{type(error).__name__}: {str(error)[:400]}"}
        results[preset] = row
        print(preset, json.dumps(row)[:600], flush=True)
        write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
