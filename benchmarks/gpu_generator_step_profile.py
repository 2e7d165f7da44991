"""Where a generator step's GPU time goes: the reference table's two generator steps under the CUDA profiler, kernel
time grouped into matrix products (cuBLAS), compiled elementwise and reduction kernels (Triton, from torch.compile)
and the rest, with the largest kernels listed.

    python benchmarks/gpu_generator_step_profile.py --out benchmarks/results/gpu_generator_step_profile_h100.json
"""

from __future__ import annotations

import argparse
import collections
import sys

import torch
from common import environment, write_json
from gpu_render_train import generator_step, trainer_for
from torch.profiler import ProfilerActivity, profile

WORKLOADS = [("gstep32_b36", 32, 36, 48), ("gstep64_b12", 64, 12, 36)]  # name, resolution, batch, samples per pass
MATMUL_KERNELS = ("gemm", "nvjet", "cutlass", "xmma", "cublas")


def kernel_group(name: str) -> str:
    lowered = name.lower()
    if any(part in lowered for part in MATMUL_KERNELS):
        return "matmul"
    if lowered.startswith("_film_sine"):
        return "film_sine_kernels"
    return "compiled_elementwise_and_reductions" if lowered.startswith("triton") else "other"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument(
        "--field-kernels",
        choices=["compile", "triton"],
        default="triton",
        help="the trainer's field_kernels: the Triton FiLM-sine kernels (the default) or torch.compile",
    )
    parser.add_argument("--out", default="benchmarks/results/gpu_generator_step_profile.json")
    args = parser.parse_args()
    device = torch.device("cuda")
    results = {"environment": environment(device), "workloads": {}}
    results["field_kernels"] = args.field_kernels
    for name, resolution, batch, samples in WORKLOADS:
        results["workloads"][name] = profile_step(device, resolution, batch, samples, args.steps, args.field_kernels)
        print(name, {k: round(v, 2) for k, v in results["workloads"][name]["ms_per_step_by_group"].items()}, flush=True)
        torch.cuda.empty_cache()
    write_json(args.out, results)
    return 0


def profile_step(device, resolution, batch, samples, steps, field_kernels) -> dict:
    """GPU time of `steps` generator steps of a fresh fp16 trainer, by kernel group, and the largest kernels."""
    trainer = trainer_for(device, "fp16", field_kernels, training_kernels=field_kernels == "triton")
    for step in range(4):  # compile and warm up
        generator_step(trainer, step, batch, resolution, samples)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for step in range(steps):
            generator_step(trainer, 100 + step, batch, resolution, samples)
        torch.cuda.synchronize()
    kernels = [e for e in prof.key_averages() if e.device_time_total > 0 and not e.key.startswith("aten::")]
    groups = collections.Counter()
    for event in kernels:
        groups[kernel_group(event.key)] += event.device_time_total / steps / 1000
    kernels.sort(key=lambda e: -e.device_time_total)
    return {
        "gpu_ms_per_step": sum(groups.values()),
        "ms_per_step_by_group": dict(groups.most_common()),
        "largest_kernels": [
            {"name": e.key[:120], "ms_per_step": e.device_time_total / steps / 1000, "calls_per_step": e.count / steps}
            for e in kernels[:15]
        ],
    }


if __name__ == "__main__":
    sys.exit(main())
