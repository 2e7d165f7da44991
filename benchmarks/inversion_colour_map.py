"""Would a per-object colour map fix the colour of inverted cars (issue 20)? After `Pix2NeRF.invert` (the default
refinement), an affine map of the field's colour (rgb -> clamp(A rgb + b), 12 numbers, applied before compositing, so
every view sees the same map) is fitted to the input view by Adam on full renders; held-out novel views (relative-pose
protocol) are scored with and without it: PSNR and object colour error, and the fit's seconds per image.

    pix2nerf make-dataset --category cars --train-objects 16 --test-objects 100 --test-views 24 --resolution 64 \\
        --seed 0 --out outputs/data/synthetic-cars-test
    python benchmarks/inversion_colour_map.py --data outputs/data/synthetic-cars-test --objects 12 \\
        --out benchmarks/results/inversion_colour_map_cpu.json
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from common import environment, write_json

from pix2nerf import images as image_utils
from pix2nerf.evaluation.benchmark import load_objects, object_masks, relative_poses
from pix2nerf.evaluation.metrics import colour_error, psnr
from pix2nerf.model import Pix2NeRF
from pix2nerf.rendering.cameras import prior_ranges
from pix2nerf.rendering.volume import RaySamplingSettings


def mapped_field(field, colour_map: tuple[torch.Tensor, torch.Tensor] | None):
    """The field with its colour (N, 3) in [0, 1] mapped by (A (3, 3), b (3,)), or as it is for None."""

    def evaluate(points, dirs, *codes):
        rgb, sigma = field(points, dirs, *codes)
        if colour_map is None:
            return rgb, sigma
        matrix, offset = colour_map
        return (rgb @ matrix.T + offset).clamp(0, 1), sigma

    return evaluate


def render(model, codes, yaw, pitch, resolution, colour_map=None) -> torch.Tensor:
    """Views (V, 3, R, R) in [0, 1] of one object's codes from (V,) yaws and pitches in the data's frame."""
    config = model.config
    settings = RaySamplingSettings(
        near=config.ray_start, far=config.ray_end, num_steps=config.num_steps, background=config.background
    )
    field = mapped_field(model.field, colour_map)
    views = [
        model.render_codes(
            codes, (y + config.yaw_offset).reshape(1), p.reshape(1), resolution, settings, True, field=field
        )
        for y, p in zip(yaw, pitch)
    ]
    return torch.cat([view.rgb for view in views])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--data", required=True, help="a multi-view test split (pix2nerf make-dataset)")
    parser.add_argument("--objects", type=int, default=12)
    parser.add_argument("--steps", type=int, default=60, help="Adam steps of the colour map's fit")
    parser.add_argument("--learning-rate", type=float, default=0.02)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/inversion_colour_map_cpu.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Pix2NeRF.from_pretrained(args.model).eval().requires_grad_(False)
    objects = load_objects(args.data, "test", num_objects=args.objects)
    background, pitch_limits = model.background_color, prior_ranges(model.config)[1]
    rows = []
    for obj in objects:
        truth = image_utils.to_unit_range(
            torch.stack([image_utils.preprocess(image, args.resolution, background) for image in obj.images])
        )
        masks = object_masks(obj, args.resolution)[1:]
        latent = model.invert(obj.images[0])
        codes = model.codes_of(latent)
        yaw, pitch = relative_poses(obj, latent.yaw[0], latent.pitch[0], pitch_limits)
        input_yaw, input_pitch = latent.yaw.reshape(1).float(), latent.pitch.reshape(1).float()
        matrix, offset = torch.eye(3, requires_grad=True), torch.zeros(3, requires_grad=True)
        optimizer = torch.optim.Adam([matrix, offset], lr=args.learning_rate)
        start = time.perf_counter()
        for _ in range(args.steps):
            reconstruction = render(model, codes, input_yaw, input_pitch, args.resolution, (matrix, offset))
            loss = F.mse_loss(reconstruction, truth[:1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        row = {"object_id": obj.object_id, "fit_seconds": seconds}
        with torch.no_grad():
            for name, colour_map in (("refined", None), ("refined_colour_map", (matrix, offset))):
                views = render(model, codes, yaw, pitch, args.resolution, colour_map).float()
                row[f"{name}_psnr"] = psnr(views, truth[1:], data_range=1.0).mean().item()
                row[f"{name}_colour_error"] = colour_error(views, truth[1:], masks).mean().item()
        rows.append(row)
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    summary = {key: statistics.fmean(row[key] for row in rows) for key in rows[0] if key != "object_id"}
    print(summary)
    payload = {
        "benchmark": "inversion_colour_map",
        "environment": environment(torch.device("cpu")),
        "settings": {**vars(args), "objects": len(objects), "refinement": "Pix2NeRF.invert defaults"},
        "summary": summary,
        "per_object": rows,
    }
    write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
