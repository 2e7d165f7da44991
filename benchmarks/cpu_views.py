"""Views of uploaded images on a CPU, in-process on the serving layer, with quality: per image the bake time, the
first view, then slider views from the baked grid (timed, and scored in PSNR against the full-quality render of the
same pose with the model's own sampler), an orbit and a mesh; and the full-quality 64x64 render with 36 + 36 samples
(the default render, which skips empty space, timed and scored against the same render with every sample evaluated).

    python benchmarks/cpu_views.py [--model DIR_OR_ID] [--images 4] [--views 12] \\
        [--out benchmarks/results/cpu_views.json]

Also the refined first view: what the app shows of a new image next (its latent refined with the service's default
refinement, baked again, and viewed). The targets are TARGETS, written into the JSON.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from common import environment, time_it, write_json
from PIL import Image

from pix2nerf.evaluation.metrics import psnr
from pix2nerf.serving import service as serving

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "first_view_s": 3.0,
    "view_median_ms": 150.0,
    "view_psnr_db": 30.0,
    "orbit_s": 15.0,
    "mesh_s": 10.0,
    "full_render64_s": 1.5,
}
VIEW_RESOLUTION = 128


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the embedded model)")
    parser.add_argument("--images", type=int, default=4, help="example images to serve (examples/*.png)")
    parser.add_argument("--views", type=int, default=12, help="slider views per image")
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "cpu_views.json"))
    args = parser.parse_args()

    model = serving.load_model(args.model)
    service = serving.Service(model, view_resolution=VIEW_RESOLUTION)
    paths = sorted((REPO_ROOT / "examples").glob("*.png"))[: args.images]
    if not paths:
        parser.error("no example images in examples/")
    generator = torch.Generator().manual_seed(0)
    per_image, view_ms, view_psnr = [], [], []
    for path in paths:
        image = Image.open(path)
        image.load()
        start = time.perf_counter()
        first = service.novel_view(image, 0.0, 20.0)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        service.novel_view(image, 0.0, 20.0, refine_steps=service.refine_settings.steps)
        refined_s = time.perf_counter() - start
        prepared = service.prepare(image)
        yaws = (torch.rand(args.views, generator=generator) * 360 - 180).tolist()
        pitches = (torch.rand(args.views, generator=generator) * 60).tolist()
        scores, times = [], []
        for yaw, pitch in zip(yaws, pitches):
            start = time.perf_counter()
            fast = prepared.baked.render(yaw, pitch, resolution=VIEW_RESOLUTION)
            times.append((time.perf_counter() - start) * 1000)
            with torch.no_grad():
                full = model.render(
                    prepared.latent, yaw, pitch, resolution=VIEW_RESOLUTION, return_depth=False, skip_empty=False
                )
            scores.append(float(psnr(fast.rgb, full.rgb)))
        start = time.perf_counter()
        service.orbit(image)
        orbit_s = time.perf_counter() - start
        start = time.perf_counter()
        try:
            service.mesh(image)
            mesh = {"seconds": time.perf_counter() - start}
        except ValueError as error:
            mesh = {"error": str(error)}
        view_ms += times
        view_psnr += scores
        per_image.append(
            {
                "image": path.name,
                "first_view_s": first_s,
                "first_view_own_seconds": first.seconds,
                "refined_view_s": refined_s,
                "bricks": prepared.baked.num_bricks,
                "grid_mb": prepared.baked.nbytes / 2**20,
                "view_ms": summary(times),
                "view_psnr_db": summary(scores),
                "orbit_s": orbit_s,
                "mesh": mesh,
            }
        )
        print(
            f"{path.name}: first view {first_s:.2f} s, refined {refined_s:.2f} s, "
            f"views {statistics.median(times):.0f} ms median at "
            f"{min(scores):.1f}-{max(scores):.1f} dB, orbit {orbit_s:.1f} s, mesh {mesh}",
            flush=True,
        )

    full64 = {}
    for path in paths:  # the default render (empty space skipped) against every sample evaluated, same pose
        latent = service.prepare(Image.open(path)).latent
        renders, times = {}, {}
        for name, skip in (("default", True), ("every_sample", False)):

            def render(skip=skip):
                return model.render(latent, 30.0, 20.0, resolution=64, num_steps=36, skip_empty=skip)

            renders[name] = render().rgb
            times[name] = time_it(render, torch.device("cpu"), warmup=0, repeats=3)
        full64[path.name] = {
            "psnr_db_vs_every_sample": float(psnr(renders["default"], renders["every_sample"])),
            "default": times["default"],
            "every_sample": times["every_sample"],
        }
    full64_ms = [r["default"]["median_ms"] for r in full64.values()]
    every_ms = [r["every_sample"]["median_ms"] for r in full64.values()]
    full64_psnr = [r["psnr_db_vs_every_sample"] for r in full64.values()]
    print(
        f"full-quality 64x64 36+36: {statistics.median(full64_ms):.0f} ms median over {len(full64)} images at "
        f">= {min(full64_psnr):.1f} dB against every sample evaluated ({statistics.median(every_ms):.0f} ms)",
        flush=True,
    )
    write_json(
        args.out,
        {
            "environment": {
                **environment(torch.device("cpu")),
                "cpu_count": os.cpu_count(),
                "load_average": os.getloadavg(),
            },
            "model": args.model or str(serving.DEFAULT_MODEL_DIR.relative_to(REPO_ROOT)),
            "targets": TARGETS,
            "first_view_s": summary([p["first_view_s"] for p in per_image]),
            "refined_view_s": summary([p["refined_view_s"] for p in per_image]),
            "refine_settings": service.refine_settings.__dict__,
            "view_ms": summary(view_ms),
            "view_psnr_db": summary(view_psnr),
            "orbit_s": summary([p["orbit_s"] for p in per_image]),
            "mesh_s": summary(mesh_seconds)
            if (mesh_seconds := [p["mesh"]["seconds"] for p in per_image if "seconds" in p["mesh"]])
            else None,
            "full_render64_36_ms": summary(full64_ms),
            "full_render64_36_every_sample_ms": summary(every_ms),
            "full_render64_36_psnr_db_vs_every_sample": summary(full64_psnr),
            "full_render64_36_per_image": full64,
            "per_image": per_image,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
