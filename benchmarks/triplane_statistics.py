"""Scale statistics of a tri-plane model's generator: the RMS of each synthesis conv's output (before its activation)
and of the planes, how much of the planes varies with the latent, and the fraction of saturated colours at all points
of the inner scene box (empty space included, unlike `pix2nerf.evaluation.benchmark.colour_saturation`, which counts
occupied points only; kept so, so that the script runs unchanged on older commits and its records stay comparable).

    python benchmarks/triplane_statistics.py --model DIR [--model DIR ...] [-o FILE.json]

Healthy: layer and plane RMS of order 1 and a colour saturation well below 1. A trained field whose planes reach RMS
in the hundreds saturates the decoder's colour sigmoid, and its renders turn black and white.
"""

from __future__ import annotations

import argparse
import subprocess

import torch
from common import environment, write_json

from pix2nerf import Pix2NeRF
from pix2nerf.rendering.cameras import scene_half_size


@torch.no_grad()
def statistics(model: Pix2NeRF, num_latents: int = 8, num_points: int = 4096, seed: int = 0) -> dict:
    """The statistics of one model over `num_latents` prior latents (fixed seed), float32 on the model's device."""
    if model.config.field_type != "triplane":
        raise ValueError(f"the model has a {model.config.field_type} field; these statistics are the tri-plane's")
    generator = torch.Generator(device=model.device).manual_seed(seed)
    z = model.sample_latents(num_latents, generator)
    layer_rms: list[float] = []
    hooks = [
        conv.register_forward_hook(lambda _m, _i, out: layer_rms.append(out.float().pow(2).mean().sqrt().item()))
        for conv in model.field.synthesis.convs
    ]
    try:
        (planes,) = model.field.latent_codes(z)
    finally:
        for hook in hooks:
            hook.remove()
    planes = planes.float()
    config = model.config
    half = 0.5 * scene_half_size(config.fov, config.ray_start, config.ray_end)
    points = (torch.rand(num_latents, num_points, 3, generator=generator, device=model.device) * 2 - 1) * half
    rgb, _ = model.field(points, torch.nn.functional.normalize(-points, dim=-1), planes)
    rgb = rgb.float()
    return {
        "synthesis_conv_output_rms": layer_rms,
        "plane_rms": planes.pow(2).mean().sqrt().item(),
        "plane_std_across_latents": planes.std(0).mean().item(),
        "plane_spatial_std_of_the_mean": planes.mean(0).std().item(),
        "colour_saturation": (torch.minimum(rgb, 1 - rgb) < 0.01).float().mean().item(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="a tri-plane model folder or hub id")
    parser.add_argument("-o", "--out", default=None, help="write the results here (JSON)")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    results = {name: statistics(Pix2NeRF.from_pretrained(name).eval()) for name in args.model}
    for name, values in results.items():
        print(name, values)
    if args.out:
        payload = {
            "benchmark": "triplane_statistics",
            "code_commit": commit,
            "environment": environment(torch.device("cpu")),
        }
        write_json(args.out, {**payload, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
