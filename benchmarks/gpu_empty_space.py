"""Empty-space skipping on a GPU with a trained model: 128x128 renders of the example cars with 48 + 48 samples,
on each kernel choice (the fused kernel "triton", "compile", "reference"), with every sample or with empty space
skipped, each scored in PSNR against the float32 render with every sample.

    python benchmarks/gpu_empty_space.py --out benchmarks/results/gpu_empty_space_h100.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from common import environment, time_it, write_json
from PIL import Image

from pix2nerf import Pix2NeRF
from pix2nerf.evaluation.metrics import psnr

REPO_ROOT = Path(__file__).resolve().parents[1]
PATHS = {  # name -> render options; render's defaults on CUDA: kernels "auto" (the fused kernel, graphs where shapes
    # are fixed), fp16, skip_empty=None
    "fp32_every_sample": dict(precision="fp32", kernels="reference", skip_empty=False),
    "default": dict(),
    "fast_every_sample": dict(kernels="triton", skip_empty=False),
    "fast_skip_empty": dict(kernels="triton", skip_empty=True),
    "fp16_torch_compile_every_sample": dict(kernels="compile", skip_empty=False),
    "fp16_torch_compile_skip_empty": dict(kernels="compile", skip_empty=True),
    "fp16_uncompiled_every_sample": dict(kernels="reference", skip_empty=False),
    "fp16_uncompiled_skip_empty": dict(kernels="reference", skip_empty=True),
    "fp32_skip_empty": dict(precision="fp32", kernels="reference", skip_empty=True),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="a model folder, hub id or default (the shipped model)")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--num-steps", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "gpu_empty_space.json"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU")
    device = torch.device("cuda")
    model = Pix2NeRF.from_pretrained(args.model).to(device).eval()
    images = sorted((REPO_ROOT / "examples").glob("*.png"))
    results = {name: {"ms": [], "psnr_db": []} for name in PATHS}
    for path in images:
        latent = model.encode(Image.open(path))
        renders = {}
        for name, options in PATHS.items():

            def render(options=options):
                return model.render(
                    latent,
                    30.0,
                    20.0,
                    resolution=args.resolution,
                    num_steps=args.num_steps,
                    return_depth=False,
                    **options,
                )

            renders[name] = render().rgb.float()
            results[name]["ms"].append(time_it(render, device, warmup=3, repeats=args.repeats)["median_ms"])
            results[name]["psnr_db"].append(float(psnr(renders[name], renders["fp32_every_sample"])))
        print(
            path.name,
            {name: f"{r['ms'][-1]:.1f} ms, {r['psnr_db'][-1]:.1f} dB" for name, r in results.items()},
            flush=True,
        )
    summary = {
        name: {
            "median_ms": statistics.median(r["ms"]),
            "min_psnr_db": min(r["psnr_db"]),
            "per_image_ms": r["ms"],
            "per_image_psnr_db": r["psnr_db"],
        }
        for name, r in results.items()
    }
    write_json(
        args.out,
        {
            "benchmark": "128 px renders of the example cars by the shipped model, with and without empty-space "
            "skipping",
            "environment": environment(device),
            "settings": {
                "model": args.model,
                "resolution": args.resolution,
                "num_steps": args.num_steps,
                "pose_deg": [30.0, 20.0],
                "images": [p.name for p in images],
                "repeats": args.repeats,
            },
            "paths": PATHS,
            "results": summary,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
