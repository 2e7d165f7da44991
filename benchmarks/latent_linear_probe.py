"""How much of z can be read linearly from the generator's images: ridge regression from the pixels of renders of
prior latents (one pose) to z, fitted on most of them and scored on the rest (R^2, the fraction of z's variance
explained). It bounds what the trainer's `train/e_latent_explained` can show: where even this probe explains nothing,
the encoder's MSE on z stays at z's variance although the images do depend on z (sample diversity), and identity has
to be judged in image space (the latent cycle).

    python benchmarks/latent_linear_probe.py [--model DIR_OR_ID] [--num-latents N] [-o FILE.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from common import environment, write_json

from pix2nerf import Pix2NeRF
from pix2nerf.evaluation.benchmark import sample_diversity

REPO_ROOT = Path(__file__).resolve().parents[1]
PENALTIES = (1.0, 10.0, 100.0, 1000.0)


def ridge_r2(features: torch.Tensor, targets: torch.Tensor, train: int, penalty: float) -> tuple[float, list[float]]:
    """R^2 on the held-out rows (after the first `train`) over all target columns, and the five best columns'."""
    x_mean, y_mean = features[:train].mean(0), targets[:train].mean(0)
    x = features[:train] - x_mean
    weights = torch.linalg.solve(
        x.T @ x + penalty * torch.eye(x.shape[1], dtype=x.dtype), x.T @ (targets[:train] - y_mean)
    )
    error = ((features[train:] - x_mean) @ weights + y_mean - targets[train:]).pow(2)
    spread = (targets[train:] - y_mean).pow(2)
    per_column = 1 - error.mean(0) / spread.mean(0)
    return (1 - error.mean() / spread.mean()).item(), per_column.topk(5).values.tolist()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--num-latents", type=int, default=1920)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--num-steps", type=int, default=12, help="samples per ray, coarse and fine each")
    parser.add_argument("--yaw", type=float, default=30.0, help="degrees")
    parser.add_argument(
        "-o", "--out", default=str(REPO_ROOT / "benchmarks" / "results" / "latent_linear_probe_cpu.json")
    )
    args = parser.parse_args()

    model = Pix2NeRF.from_pretrained(args.model).eval()
    generator = torch.Generator().manual_seed(0)
    latents, pixels = [], []
    with torch.no_grad():
        for start in range(0, args.num_latents, 32):
            z = model.sample_latents(min(32, args.num_latents - start), generator)
            rgb = model.render(
                z, args.yaw, model.config.pitch_mean, resolution=args.resolution, num_steps=args.num_steps
            ).rgb
            latents.append(z)
            pixels.append(rgb.flatten(1))
    z, x = torch.cat(latents).double(), torch.cat(pixels).double()
    train = int(0.8 * len(z))
    results = {}
    for penalty in PENALTIES:
        r2, best = ridge_r2(x, z, train, penalty)
        results[f"ridge_{penalty:g}"] = {"r2_all_dims": r2, "r2_best_five_dims": best}
        print(f"ridge penalty {penalty:g}: R^2 over all z dims {r2:.4f}; best five dims {[round(b, 3) for b in best]}")
    payload = {
        "benchmark": "latent_linear_probe",
        "model": args.model,
        "latents": {"train": train, "held_out": len(z) - train, "z_dim": z.shape[1]},
        "render": {
            "resolution": args.resolution,
            "samples_per_ray": f"{args.num_steps} + {args.num_steps}",
            "yaw_deg": args.yaw,
            "pitch_deg": model.config.pitch_mean,
        },
        "sample_diversity": sample_diversity(model),
        "environment": environment(torch.device("cpu")),
        "results": results,
    }
    write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
