"""The tri-plane's fused inference kernel alone on a GPU (issue 27): one field pass of a 128x128 render (48 or 96
samples per ray, one latent's planes) on the shipped model, through the unfused path it replaces (a FieldRunner's
compiled forward around the Triton plane gather) and the fused kernel with its tile shapes swept; every variant's
largest and median differences from the unfused fp16 path and from the float32 field, on fresh random points.

    python benchmarks/gpu_fused_triplane.py --out benchmarks/results/gpu_fused_triplane_h100.json
"""

from __future__ import annotations

import argparse
import sys

import torch
from common import environment, time_it, write_json

from pix2nerf import Pix2NeRF, __version__
from pix2nerf.fields.base import sample_latents
from pix2nerf.kernels.fused_triplane import FusedTriplaneField
from pix2nerf.kernels.precision import autocast
from pix2nerf.kernels.runner import FieldRunner

TILES = [(128, 4), (64, 4), (128, 8), (256, 8), (32, 4)]  # (points per program, warps)


def field_inputs(model: Pix2NeRF, num_points: int, device: torch.device, seed: int):
    """Points (1, N, 3) uniform in the scene box, directions, and one prior latent's planes."""
    generator = torch.Generator(device=device).manual_seed(seed)
    config = model.config
    z = sample_latents(1, config.z_dim, config.latent_distribution, torch.Generator().manual_seed(seed)).to(device)
    half = model.field.half_size
    points = (torch.rand(1, num_points, 3, device=device, generator=generator) * 2 - 1) * half
    return points, points, *model.field.latent_codes(z)


def errors(output, reference) -> dict:
    """Largest and median absolute differences of rgb and sigma."""
    return {
        f"{name}_{stat}": float(getattr((a - b).abs(), stat)())
        for name, a, b in zip(("rgb", "sigma"), output, reference)
        for stat in ("max", "median")
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/gpu_fused_triplane.json")
    args = parser.parse_args()
    device = torch.device("cuda")
    model = Pix2NeRF.from_pretrained(args.model).to(device).eval()
    runner = FieldRunner(model.field, "triton", graphs=False)
    workloads: dict[str, dict] = {}
    payload = {
        "benchmark": "gpu_fused_triplane",
        "environment": {**environment(device), "pix2nerf": __version__},
        "settings": {"model": args.model, "repeats": args.repeats, "tiles": TILES},
        "workloads": workloads,
    }
    for samples in (48, 96):
        num_points = 128 * 128 * samples
        inputs = field_inputs(model, num_points, device, seed=samples)
        paths = {"unfused (compiled, Triton gather)": runner.compiled}
        paths.update({f"fused {m}x{w}": FusedTriplaneField(model.field, m, w) for m, w in TILES})
        with torch.no_grad(), autocast("fp16", device):
            for name, path in paths.items():
                fresh = field_inputs(model, num_points, device, seed=1000 + samples)
                out = path(*fresh)
                fp16 = runner.compiled(*fresh)
                with torch.autocast("cuda", enabled=False):
                    fp32 = model.field(*fresh)
                row = time_it(lambda path=path: path(*inputs), device, repeats=args.repeats)
                row.update({f"vs_fp16_{k}": v for k, v in errors(out, fp16).items()})
                row.update({f"vs_fp32_{k}": v for k, v in errors(out, fp32).items()})
                row["finite"] = bool(torch.isfinite(out[0]).all() and torch.isfinite(out[1]).all())
                key = f"field_{samples}/{name}"
                workloads[key] = row
                print(key, {k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
                write_json(args.out, payload)
    return 0 if all(row["finite"] for row in workloads.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
