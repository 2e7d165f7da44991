"""The inversion's yaw candidates (`pix2nerf.inversion.best_yaw`) rendered in batches against one render per
candidate: seconds per photo and whether both pick the same yaw, interleaved on the same photos in one process.

    python benchmarks/yaw_candidates.py --data /tmp/invert_cars --objects 12 \\
        --out benchmarks/results/yaw_candidates_cpu.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F
from common import environment, write_json

from pix2nerf.evaluation.benchmark import load_objects
from pix2nerf.inversion import InversionSettings
from pix2nerf.inversion.refine import best_yaw, photo_target
from pix2nerf.model import Latent, Pix2NeRF
from pix2nerf.rendering.cameras import wrap_degrees


def one_by_one(model: Pix2NeRF, latent: Latent, photo: torch.Tensor, settings: InversionSettings) -> float:
    """The yaw (degrees) best_yaw would pick, from one render per candidate."""
    target = photo_target(photo, settings.resolution)
    errors = []
    for index in range(settings.yaw_candidates):
        yaw = wrap_degrees(latent.yaw + 360.0 * index / settings.yaw_candidates)
        with torch.no_grad():
            rgb = model.render(
                Latent(z=latent.z, yaw=yaw, pitch=latent.pitch), resolution=settings.resolution, return_depth=False
            )
        errors.append((F.mse_loss(rgb.rgb.float(), target), yaw.item()))
    return min(errors, key=lambda pair: pair[0].item())[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--data", required=True, help="a multi-view test split (pix2nerf make-dataset)")
    parser.add_argument("--objects", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/yaw_candidates_cpu.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = Pix2NeRF.from_pretrained(args.model)
    settings = InversionSettings()
    photos = [model.preprocess(obj.images[0]) for obj in load_objects(args.data, "test", num_objects=args.objects)]
    seconds = {"one_by_one": [], "batched": []}
    agree = 0
    for _ in range(args.rounds):
        for photo in photos:
            latent = model.encode_input(photo)
            start = time.perf_counter()
            reference = one_by_one(model, latent, photo, settings)
            seconds["one_by_one"].append(time.perf_counter() - start)
            start = time.perf_counter()
            chosen = best_yaw(model, latent, photo, settings).yaw.item()
            seconds["batched"].append(time.perf_counter() - start)
            agree += abs(reference - chosen) < 1e-3
    results = {
        "environment": {**environment(torch.device("cpu")), "load_average_1min": os.getloadavg()[0]},
        "model": args.model,
        "data": args.data,
        "candidates": settings.yaw_candidates,
        "resolution": settings.resolution,
        "photos": len(photos) * args.rounds,
        "same_choice": agree,
        "seconds_per_photo": {
            name: {"median": statistics.median(values), "min": min(values), "max": max(values)}
            for name, values in seconds.items()
        },
    }
    print({name: round(row["median"], 3) for name, row in results["seconds_per_photo"].items()}, f"same {agree}")
    write_json(args.out, results)


if __name__ == "__main__":
    main()
