"""Does the tri-plane generator's scale drift in training? Trains `synthetic_cars_triplane` (with the campaign's
overrides) at 32 px, batch 8, 12 + 12 samples per ray, on the CPU, and prints as JSON lines, every 25 steps, the planes'
RMS and the colour saturation (see `benchmarks/triplane_statistics.py`) for 4 prior latents.

    python -m pix2nerf make-dataset --category cars --train-objects 256 --test-objects 1 --test-views 2 \
        --resolution 32 --seed 3 --device cpu --out outputs/data/cars32
    python benchmarks/triplane_training_drift.py --data outputs/data/cars32 --steps 200 > drift.jsonl

Written to run unchanged on older commits, so that a fix can be compared with the code before it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch
from datasets import load_from_disk

from pix2nerf import Pix2NeRF, Pix2NeRFConfig
from pix2nerf.networks.discriminators import Discriminator
from pix2nerf.rendering.cameras import scene_half_size
from pix2nerf.training.objective import Pix2NeRFTrainer

CAMPAIGN_OVERRIDES = {
    "r1_gamma": 1.0,
    "inversion_cycle_weight": 1.0,
    "triplane_mapping_lr_scale": 0.01,
    "triplane_style_gain": 1.0,
}
LOG_EVERY = 25


@torch.no_grad()
def scale(model: Pix2NeRF) -> tuple[float, float]:
    """(plane RMS, colour saturation) over 4 prior latents and 2,048 points each in the inner half of the scene box."""
    config = model.config
    (planes,) = model.field.latent_codes(model.sample_latents(4, torch.Generator().manual_seed(1)))
    half = 0.5 * scene_half_size(config.fov, config.ray_start, config.ray_end)
    points = (torch.rand(4, 2048, 3, generator=torch.Generator().manual_seed(2)) * 2 - 1) * half
    rgb, _ = model.field(points, points, planes)
    return planes.float().pow(2).mean().sqrt().item(), (torch.minimum(rgb, 1 - rgb) < 0.01).float().mean().item()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a dataset folder written by `pix2nerf make-dataset`")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--config_overrides", default="{}", help="JSON config fields over the campaign's overrides")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    preset = Pix2NeRFConfig.from_preset("synthetic_cars_triplane")
    stage = dict(preset.training_stages[0], resolution=32, batch_size=8, num_steps=12)
    config = dataclasses.replace(
        preset, **CAMPAIGN_OVERRIDES, **json.loads(args.config_overrides), training_stages=[stage]
    )
    model = Pix2NeRF(config)
    trainer = Pix2NeRFTrainer(model, Discriminator(config.discriminator_channels, config.discriminator_type))
    images = load_from_disk(args.data)["train"]["image"]
    real = torch.stack(
        [torch.from_numpy(np.asarray(i.convert("RGB").resize((32, 32)), dtype=np.float32)) for i in images]
    )
    real = (real / 127.5 - 1).permute(0, 3, 1, 2)  # (N, 3, 32, 32) in [-1, 1]
    generator = torch.Generator().manual_seed(0)
    started = time.time()
    for step in range(args.steps + 1):
        if step % LOG_EVERY == 0 or step == args.steps:
            rms, saturation = scale(model)
            row = {"step": step, "plane_rms": rms, "colour_saturation": saturation}
            print(json.dumps({**row, "seconds": round(time.time() - started, 1)}), flush=True)
        if step < args.steps:
            trainer.train_step(real[torch.randint(0, len(real), (8,), generator=generator)], step)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
