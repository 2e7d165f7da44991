"""The fused field kernel alone on a GPU: one field pass of a 128x128 render (48 or 96 samples per ray) through
each path (the field eager, a FieldRunner with kernels "compile", the fused kernel), the kernel's tile shapes swept,
every variant checked on fresh random inputs against the fp16 path (same numerics, unfused) and the float32 field.

    python benchmarks/gpu_fused_field.py --out benchmarks/results/gpu_fused_field_h100.json
"""

from __future__ import annotations

import argparse
import sys

import torch
from common import environment, time_it, write_json
from gpu_render_train import structured_model

from pix2nerf.kernels.fused_siren import FusedSirenField
from pix2nerf.kernels.precision import autocast
from pix2nerf.kernels.runner import FieldRunner

TILES = [  # (points per program, warps, pipeline stages, hardware sine)
    (128, 8, 1, False),
    (128, 8, 1, True),
    (64, 4, 1, True),
    (64, 8, 1, True),
    (32, 4, 1, True),
    (256, 8, 1, True),
]
FLOP_PER_POINT = 1.05e6


def field_inputs(model, num_points, device, seed):
    generator = torch.Generator(device=device).manual_seed(seed)
    z = torch.rand(1, model.config.z_dim, device=device, generator=generator) * 2 - 1
    codes = model.field.latent_codes(z)
    points = torch.rand(1, num_points, 3, device=device, generator=generator) * 0.3 - 0.15
    directions = torch.nn.functional.normalize(
        torch.randn(1, num_points, 3, device=device, generator=generator), dim=-1
    )
    return points, directions, *codes


def errors(output, reference):
    """Largest and median absolute differences of rgb and sigma."""
    return {
        f"{name}_{stat}": float(getattr((a - b).abs(), stat)())
        for name, a, b in zip(("rgb", "sigma"), output, reference)
        for stat in ("max", "median")
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/gpu_fused_field.json")
    args = parser.parse_args()
    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    model = structured_model(device, seed=0)
    results = {"environment": environment(device), "workloads": {}}
    failed = False
    for samples in (48, 96):
        num_points = 128 * 128 * samples
        inputs = field_inputs(model, num_points, device, seed=samples)
        with torch.no_grad():
            with autocast("fp16", device):
                compiled = FieldRunner(model.field, "compile", graphs=False)
                paths = {"fp16 eager": model.field, "fp16 compiled": compiled}
                paths.update(
                    {
                        f"fused {m}x{w}x{stages}{'' if fast else ' tl.sin'}": FusedSirenField(
                            model.field, m, w, stages, fast
                        )
                        for m, w, stages, fast in TILES
                    }
                )
                for name, path in paths.items():
                    fresh = field_inputs(model, num_points, device, seed=1000 + samples)
                    try:
                        out = path(*fresh)
                    except Exception as error:  # a tile shape the chip cannot hold: recorded, not fatal
                        results["workloads"][f"field_{samples}/{name}"] = {"error": str(error).splitlines()[0]}
                        print(name, "error", str(error).splitlines()[0], flush=True)
                        continue
                    fp16 = model.field(*fresh)
                    with torch.autocast("cuda", enabled=False):
                        fp32 = model.field(*fresh)
                    timing = time_it(lambda: path(*inputs), device, repeats=args.repeats)
                    check, check_fp16, baseline = errors(out, fp32), errors(out, fp16), errors(fp16, fp32)
                    timing.update({f"vs_fp16_{k}": v for k, v in check_fp16.items()})
                    timing.update({f"vs_fp32_{k}": v for k, v in check.items()})
                    timing["tflops"] = num_points * FLOP_PER_POINT / timing["median_ms"] / 1e9
                    kernel = getattr(path, "compiled_kernel", None)
                    if kernel is not None:
                        timing.update(
                            registers=kernel.n_regs, spills=kernel.n_spills, shared_bytes=kernel.metadata.shared
                        )
                    # as close to float32 as the unfused fp16 path it stands in for (same numerics; the sine
                    # and the order of sums differ in float32 rounding only)
                    ok = all(check[k] <= 1.25 * baseline[k] + 1e-6 for k in check) and torch.isfinite(out[0]).all()
                    timing["correctness"] = "ok" if ok else "FAIL"
                    failed |= timing["correctness"] == "FAIL"
                    key = f"field_{samples}/{name}"
                    results["workloads"][key] = timing
                    print(key, {k: round(v, 5) if isinstance(v, float) else v for k, v in timing.items()}, flush=True)
    write_json(args.out, results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
