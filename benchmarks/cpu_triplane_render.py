"""A full-quality 128x128 render with 48 + 48 samples of the tri-plane field on a CPU, through the model's own `render`
(the planes of the latent included), with and without empty-space skipping (the CPU default skips), and with the
planes computed before (`codes_once`: the app's further full-quality views of one photo, whose planes it caches).

    python benchmarks/cpu_triplane_render.py [--model DIR_OR_ID] [--threads N] [--out FILE.json]

Without --model the field is a fresh `synthetic_cars_triplane` one (seed 0): a soft blob, which covers less of the
image than a trained car, so the render with every sample evaluated (skip_empty False) is the bound to read.
A shared CPU slows it: the JSON records the load average and the time of a 1024 x 1024 float32 matmul in the same
process as a yardstick of the CPU's state.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from common import environment, time_it, write_json

from pix2nerf import Latent, Pix2NeRF, Pix2NeRFConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 300.0
RESOLUTION, NUM_STEPS = 128, 48


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a tri-plane model folder or hub id (default: a fresh field)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "cpu_triplane_render.json"))
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.model:
        model = Pix2NeRF.from_pretrained(args.model)
    else:
        model = Pix2NeRF(Pix2NeRFConfig.from_preset("synthetic_cars_triplane")).eval()
    if model.config.field_type != "triplane":
        parser.error(f"--model has a {model.config.field_type} field; this benchmark measures the tri-plane field")
    device = torch.device("cpu")
    z = model.sample_latents(1, torch.Generator().manual_seed(0))
    results = {}
    with torch.no_grad():
        square = torch.randn(1024, 1024)
        results["yardstick_matmul_1024"] = time_it(lambda: square @ square, device, 1, args.repeats)
        results["latent_codes"] = time_it(lambda: model.field.latent_codes(z), device, 1, args.repeats)
        for skip_empty in (True, False):
            out = model.render(z, 30.0, 20.0, resolution=RESOLUTION, num_steps=NUM_STEPS, skip_empty=skip_empty)
            results[f"render_skip_empty_{str(skip_empty).lower()}"] = {
                **time_it(
                    lambda skip=skip_empty: model.render(
                        z, 30.0, 20.0, resolution=RESOLUTION, num_steps=NUM_STEPS, skip_empty=skip
                    ),
                    device,
                    1,
                    args.repeats,
                ),
                "mean_opacity": float(out.opacity.mean()),
            }
        cached = Latent(z, torch.zeros(1), torch.zeros(1), tuple(model.field.latent_codes(z)))
        results["render_skip_empty_true_codes_once"] = time_it(
            lambda: model.render(cached, 30.0, 20.0, resolution=RESOLUTION, num_steps=NUM_STEPS),
            device,
            1,
            args.repeats,
        )
    payload = {
        "benchmark": "cpu_triplane_render",
        "model": args.model or "fresh synthetic_cars_triplane (seed 0)",
        "resolution": RESOLUTION,
        "samples_per_ray": f"{NUM_STEPS} + {NUM_STEPS}",
        "target_ms": TARGET_MS,
        "load_average_1_5_15": os.getloadavg(),
        "environment": environment(device),
        "results": results,
    }
    write_json(args.out, payload)
    for name, values in results.items():
        print(f"{name}: median {values['median_ms']:.1f} ms (min {values['min_ms']:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
