"""Whether a graphed fused-kernel render is faster with the compiled ray stages or the reference ones: the 128 px,
48 + 48 render of benchmarks/gpu_render_train.py's structured model, kernels "triton" with graphs, timed with each
stage set in one process (interleaved rounds), and the two images compared.

    python benchmarks/gpu_ray_stages_in_graphs.py --out benchmarks/results/gpu_ray_stages_in_graphs_h200.json
"""

from __future__ import annotations

import argparse
import statistics

import torch
from common import environment, time_it, write_json
from gpu_render_train import structured_model

from pix2nerf.rendering.ray_stages import REFERENCE_RAY_STAGES, compiled_ray_stages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/gpu_ray_stages_in_graphs.json")
    args = parser.parse_args()
    device = torch.device("cuda")
    model = structured_model(device, seed=0)
    stage_sets = {"compiled": compiled_ray_stages(), "reference": REFERENCE_RAY_STAGES}
    z = model.sample_latents(1)
    times: dict[str, list[float]] = {name: [] for name in stage_sets}
    images = {}
    for _ in range(args.rounds):
        for name, stages in stage_sets.items():
            model.use_kernels("triton", graphs=True)  # a fresh runner: its own graphs, captured with these stages
            model.field_runner().ray_stages = stages

            def render():
                return model.render(z, 30.0, 20.0, resolution=128, num_steps=48, skip_empty=False)

            for _ in range(3):
                render()  # first call launched, second captured
            times[name] += time_it(render, device, repeats=args.repeats)["times_ms"]
            images[name] = render().rgb
    results = {
        name: {"median_ms": statistics.median(t), "min_ms": min(t), "max_ms": max(t)} for name, t in times.items()
    }
    results["max_abs_difference"] = float((images["compiled"] - images["reference"]).abs().max())
    write_json(args.out, {"environment": environment(device), "results": results})
    print(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
