"""One FiLM-SIREN layer of a 32 px generator step (36 latents x 1024 rays x 96 samples, 256 -> 256, fp16) forward
and backward: the training Triton kernels (pix2nerf.kernels.siren_layers) over a sweep of tile shapes, against the
compiled layer; each checked on fresh random inputs against float32. The cuBLAS products of the backward pass
(dL/dx, dL/dW) are timed alone too.

    python benchmarks/gpu_film_sine_kernels.py --out benchmarks/results/gpu_film_sine_kernels_h100.json
"""

from __future__ import annotations

import argparse
import sys

import torch
from common import environment, time_it, write_json

from pix2nerf.fields.siren import recomputed_film_sine
from pix2nerf.kernels import siren_layers as film_sine_kernels
from pix2nerf.kernels.siren_layers import Tile

TILES = [  # (points, output channels, input channels per step, warps, stages)
    Tile(128, 128, 64, 8, 3),
    Tile(128, 128, 64, 4, 3),
    Tile(64, 128, 64, 4, 4),
    Tile(64, 128, 64, 4, 3),
    Tile(64, 256, 64, 4, 3),
    Tile(128, 256, 64, 8, 3),
    Tile(128, 128, 32, 4, 4),
    Tile(64, 64, 64, 4, 4),
    Tile(32, 128, 64, 4, 4),
    Tile(256, 128, 64, 8, 3),
]
HIDDEN = 256


def layer_inputs(batch, points, width, device, seed):
    """x (B, N, K) fp16 as a sine layer's output, weight (H, K) fp16 at SIREN scale, bias, gamma, beta, dL/dh."""
    generator = torch.Generator(device=device).manual_seed(seed)
    rand = lambda *shape: torch.rand(*shape, device=device, generator=generator)  # noqa: E731
    x = (rand(batch, points, width) * 2 - 1).half()
    weight = ((rand(HIDDEN, width) * 2 - 1) * (6 / width) ** 0.5 / 25).half()
    bias = (rand(HIDDEN) * 2 - 1) * 0.05
    gamma, beta = rand(batch, HIDDEN) * 30 + 15, rand(batch, HIDDEN) * 2 - 1
    grad_out = ((rand(batch, points, HIDDEN) * 2 - 1) * 1e-2).half()  # the weight's gradient stays within fp16
    return x, weight, bias, gamma, beta, grad_out


def forward_backward(function, inputs, out_dtype, grad_outs):
    """The layer's output and gradients; dL/dh from `grad_outs` (by dtype: no cast inside the timings)."""
    leaves = [t.detach().requires_grad_() for t in inputs[:5]]
    out = function(*leaves, out_dtype)
    return (out, *torch.autograd.grad(out, leaves, grad_outs[out.dtype]))


def relative_errors(results, reference):
    names = ("out", "x", "weight", "bias", "gamma", "beta")
    return {
        name: ((a.double() - b.double()).norm() / b.double().norm()).item()
        for name, a, b in zip(names, results, reference)
    }


def bench_layer(width, args, compiled, device) -> tuple[dict, bool]:
    """Timings and errors of one layer `width` channels wide; True where a tile's errors fail the check."""
    failed = False
    inputs = layer_inputs(args.batch, args.points, width, device, seed=width)
    x, weight, bias, gamma, beta, grad_out = inputs
    grad_outs = {torch.float16: grad_out, torch.float32: grad_out.float()}
    reference = forward_backward(recomputed_film_sine, [t.float() for t in inputs], torch.float32, grad_outs)
    baseline = relative_errors(forward_backward(compiled, inputs, torch.float16, grad_outs), reference)
    grad_y = torch.randn_like(grad_out).half()
    rows = {
        "compiled": {
            "forward": time_it(lambda: compiled(*inputs[:5], torch.float16), device, repeats=args.repeats),
            "forward_backward": time_it(
                lambda: forward_backward(compiled, inputs, torch.float16, grad_outs), device, repeats=args.repeats
            ),
            "errors_vs_fp32": baseline,
        },
        "cublas_grad_x": time_it(lambda: grad_y @ weight, device, repeats=args.repeats),
        "cublas_grad_weight": time_it(
            lambda: grad_y.reshape(-1, HIDDEN).t() @ x.reshape(-1, width), device, repeats=args.repeats
        ),
    }
    chosen = film_sine_kernels.FORWARD_TILE, film_sine_kernels.BACKWARD_TILE
    function = film_sine_kernels.TritonFiLMSine.apply
    for tile in TILES:  # each kernel alone with this tile, and the layer's gradients with it
        film_sine_kernels.FORWARD_TILE = film_sine_kernels.BACKWARD_TILE = tile
        errors = relative_errors(forward_backward(function, inputs, torch.float16, grad_outs), reference)
        ok = all(errors[name] <= 1.25 * baseline[name] + 1e-4 for name in errors)
        failed |= not ok
        rows["tile/" + "x".join(map(str, tile))] = {
            "forward": time_it(lambda: function(*inputs[:5], torch.float16), device, repeats=args.repeats),
            "backward_kernel": time_it(
                lambda: film_sine_kernels.film_sine_backward(*inputs), device, repeats=args.repeats
            ),
            "errors_vs_fp32": errors,
            "correctness": "ok" if ok else "FAIL",
        }
    film_sine_kernels.FORWARD_TILE, film_sine_kernels.BACKWARD_TILE = chosen
    rows["kernels"] = {
        "forward": time_it(lambda: function(*inputs[:5], torch.float16), device, repeats=args.repeats),
        "forward_backward": time_it(
            lambda: forward_backward(function, inputs, torch.float16, grad_outs), device, repeats=args.repeats
        ),
        "tiles": {"forward": list(chosen[0]), "backward": list(chosen[1])},
    }
    for name, row in rows.items():
        print(
            f"K={width} {name:26s}",
            {
                key: round(value["median_ms"], 3)
                for key, value in row.items()
                if isinstance(value, dict) and "median_ms" in value
            }
            or round(row["median_ms"], 3),
            row.get("correctness", ""),
            flush=True,
        )
    return rows, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=36)
    parser.add_argument("--points", type=int, default=1024 * 96, help="per latent")
    parser.add_argument("--device", default="cuda", help="cpu: a smoke test under TRITON_INTERPRET=1")
    parser.add_argument("--out", default="benchmarks/results/gpu_film_sine_kernels.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    results = {"environment": environment(device), "shape": [args.batch, args.points, HIDDEN], "workloads": {}}
    compiled = torch.compile(recomputed_film_sine)
    failed = False
    for width in (HIDDEN, HIDDEN + 8):  # a hidden layer, and the colour layer's input as the field builds it
        rows, layer_failed = bench_layer(width, args, compiled, device)
        results["workloads"][f"layer_k{width}"] = rows
        failed |= layer_failed
    write_json(args.out, results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
