"""The tri-plane field on a GPU: (1) a no-grad 128x128 render with 48 + 48 samples through the model's `render`
(kernels "auto": torch.compile for this field; fp16), with and without empty-space skipping; (2) the planes'
sampling with gradients, forward + backward at a training stage's size, as the field does it (one 12-texel
`embedding_bag` per point) against `grid_sample` (border padding, the same values), both on float32 planes; (3) the
field's part of a generator step: planes from z, a render at the stage's resolution through a compiled FieldRunner
under fp16 autocast, backward of the mean pixel.

    python benchmarks/gpu_triplane.py --out benchmarks/results/gpu_triplane_h200.json
    python benchmarks/gpu_triplane.py --device cpu --preset tiny_triplane --repeats 1 --out /tmp/smoke.json
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from common import environment, time_it, write_json

from pix2nerf import Pix2NeRF, Pix2NeRFConfig, __version__
from pix2nerf.kernels.precision import autocast
from pix2nerf.kernels.runner import FieldRunner
from pix2nerf.rendering.volume import RaySamplingSettings


def grid_sample_features(field, points: torch.Tensor, planes: torch.Tensor) -> torch.Tensor:
    """The field's plane features (B, N, C) computed by grid_sample instead (the alternative measured here)."""
    batch, count = points.shape[:2]
    q = points / field.half_size
    grid = torch.stack([q[..., [0, 1]], q[..., [0, 2]], q[..., [1, 2]]], 1).reshape(batch * 3, 1, count, 2)
    flat = planes.reshape(batch * 3, *planes.shape[2:])
    sampled = F.grid_sample(flat, grid, padding_mode="border", align_corners=False)
    return sampled.view(batch, 3, -1, count).sum(1).transpose(1, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="synthetic_cars_triplane")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--stage", type=int, default=0, help="index of the preset's training stage for (2) and (3)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/gpu_triplane.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    precision = "fp16" if device.type == "cuda" else "fp32"
    config = Pix2NeRFConfig.from_preset(args.preset)
    stage = config.training_stages[args.stage]
    torch.manual_seed(0)
    model = Pix2NeRF(config).to(device).eval()
    field = model.field
    results = {}

    z = model.sample_latents(1)
    for skip in (False, True):
        results[f"render128_48x2_skip_empty_{str(skip).lower()}"] = time_it(
            lambda skip=skip: model.render(z, 30.0, 20.0, resolution=128, num_steps=48, skip_empty=skip),
            device,
            warmup=3,
            repeats=args.repeats,
        )

    batch, resolution, steps = stage["batch_size"], stage["resolution"], stage["num_steps"]
    (planes,) = field.latent_codes(model.sample_latents(batch))
    planes = planes.detach().requires_grad_(True)
    points = (torch.rand(batch, resolution * resolution * steps, 3, device=device) * 2 - 1) * field.half_size
    for name, sample in (
        ("embedding_bag", field._features),
        ("grid_sample", lambda p, x: grid_sample_features(field, p, x)),
    ):

        def forward_backward(sample=sample) -> None:
            sample(points, planes).sum().backward()

        results[f"sampling_{name}_forward_backward"] = time_it(forward_backward, device, 3, args.repeats)

    runner = FieldRunner(field, "auto")
    settings = RaySamplingSettings(
        config.ray_start, config.ray_end, steps, deterministic=False, background=config.background
    )
    yaw, pitch = model.sample_poses(batch)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def generator_field_step() -> None:
        with autocast(precision, device):
            codes = field.latent_codes(model.sample_latents(batch))
            out = model.render_codes(codes, yaw, pitch, resolution, settings, field=runner)
        scaler.scale(out.rgb.float().mean()).backward()
        field.zero_grad(set_to_none=True)

    model.train()
    results["generator_field_step"] = time_it(generator_field_step, device, 3, args.repeats)
    payload = {
        "benchmark": "gpu_triplane",
        "environment": {**environment(device), "pix2nerf": __version__},
        "settings": {"preset": args.preset, "stage": stage, "precision": precision, "kernels": runner.kernels},
        "results": results,
    }
    write_json(args.out, payload)
    for name, values in results.items():
        print(f"{name}: median {values['median_ms']:.2f} ms", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
