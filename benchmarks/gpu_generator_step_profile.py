"""Where a generator step's GPU time goes: the reference table's two generator steps under the CUDA profiler, kernel
time grouped into matrix products (cuBLAS), compiled elementwise and reduction kernels (Triton, from torch.compile)
and the rest, with the largest kernels listed.

    python benchmarks/gpu_generator_step_profile.py --out benchmarks/results/gpu_generator_step_profile_h100.json
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import environment, write_json  # noqa: E402
from gpu_render_train import generator_step, trainer_for  # noqa: E402

WORKLOADS = [("gstep32_b36", 32, 36, 48), ("gstep64_b12", 64, 12, 36)]  # name, resolution, batch, samples per pass
MATMUL_KERNELS = ("gemm", "nvjet", "cutlass", "xmma", "cublas")


def kernel_group(name: str) -> str:
    lowered = name.lower()
    if any(part in lowered for part in MATMUL_KERNELS):
        return "matmul"
    return "compiled_elementwise_and_reductions" if lowered.startswith("triton") else "other"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/gpu_generator_step_profile.json")
    args = parser.parse_args()
    device = torch.device("cuda")
    results = {"environment": environment(device), "workloads": {}}
    for name, resolution, batch, samples in WORKLOADS:
        trainer = trainer_for(device, "fp16", compile_field=True)
        for step in range(4):  # compile and warm up
            generator_step(trainer, step, batch, resolution, samples)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for step in range(args.steps):
                generator_step(trainer, 100 + step, batch, resolution, samples)
            torch.cuda.synchronize()
        kernels = [e for e in prof.key_averages() if e.device_time_total > 0 and not e.key.startswith("aten::")]
        groups = collections.Counter()
        for event in kernels:
            groups[kernel_group(event.key)] += event.device_time_total / args.steps / 1000
        kernels.sort(key=lambda e: -e.device_time_total)
        results["workloads"][name] = {
            "gpu_ms_per_step": sum(groups.values()),
            "ms_per_step_by_group": dict(groups.most_common()),
            "largest_kernels": [
                {"name": e.key[:120], "ms_per_step": e.device_time_total / args.steps / 1000, "calls_per_step": e.count / args.steps}
                for e in kernels[:12]
            ],
        }
        print(name, {k: round(v, 2) for k, v in groups.items()}, flush=True)
        del trainer
        torch.cuda.empty_cache()
    write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
