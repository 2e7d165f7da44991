"""Where the time of D's step with R1 goes, and which numeric formats and layouts avoid cuDNN's slow convolution
kernels in R1's double backward (issue 26).

D's step as the trainer takes it (`Pix2NeRFTrainer._discriminator_step`: D on B reals and B fakes, the gradient of
the reals' logits with respect to the reals with its graph, the penalty, one backward pass; without the fake poses'
loss, the grad scaler and the optimiser, which cost little beside them), timed in
several variants: fp16 autocast as trained, with D's CoordConvs through `transposed_grad_conv2d`, D's input images
channels_last (as the trainer's `channels_last` gives them), bf16 autocast, float32 with TF32, cuDNN's
autotuning, and without R1 (the floor). For each, one step under the profiler: kernel count and time, the largest
kernels, and for each kernel whose name matches --watch (cuDNN's non-tensor-core fallbacks by default) the operators
that launched it with their input shapes.

    python benchmarks/gpu_r1_kernels.py --out benchmarks/results/gpu_r1_kernels.json
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import sys

import torch
import torch.nn.functional as F
from common import payload, time_it, write_json
from torch.profiler import ProfilerActivity, profile

from pix2nerf import Pix2NeRFConfig
from pix2nerf.networks import Discriminator
from pix2nerf.networks.blocks import use_transposed_input_grad

VARIANTS = {  # name -> (autocast dtype or None, channels_last, cuDNN autotuning, R1, transposed_input_grad)
    "fp16": (torch.float16, False, False, True, False),
    "fp16_transposed_input_grad": (torch.float16, False, False, True, True),
    "fp16_transposed_channels_last": (torch.float16, True, False, True, True),
    "fp16_channels_last": (torch.float16, True, False, True, False),
    "bf16": (torch.bfloat16, False, False, True, False),
    "fp32_tf32": (None, False, False, True, False),
    "fp16_autotune": (torch.float16, False, True, True, False),
    "fp16_no_r1": (torch.float16, False, False, False, False),
}
TOP_KERNELS = 10


def d_step(discriminator: Discriminator, real: torch.Tensor, fake: torch.Tensor, dtype, r1: bool, gamma: float):
    """One D step's forward and backward passes (the trainer's losses; gradients accumulate into D's weights)."""
    real = real.detach().requires_grad_(r1)
    autocast = torch.autocast(real.device.type, dtype=dtype) if dtype else contextlib.nullcontext()
    with autocast:
        real_logits, _ = discriminator(real, 1.0)
        fake_logits, _ = discriminator(fake, 1.0)
    loss = F.softplus(fake_logits.float()).mean() + F.softplus(-real_logits.float()).mean()
    if r1:
        (grad_real,) = torch.autograd.grad(real_logits.float().sum(), real, create_graph=True)
        loss = loss + 0.5 * gamma * grad_real.float().pow(2).flatten(1).sum(1).mean()
    loss.backward()


def kernel_profile(step, device: torch.device, watch: list[str]) -> dict:
    """One step under the profiler: kernels (CUDA) or operators (CPU) by total time, and the watched kernels'
    launching operators with their input shapes."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, record_shapes=True) as prof:
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    kind = "CUDA" if device.type == "cuda" else "CPU"
    totals, counts = collections.Counter(), collections.Counter()
    for event in prof.events():
        if event.device_type.name == kind:
            duration = event.time_range.elapsed_us() if kind == "CUDA" else event.self_cpu_time_total
            totals[event.name] += duration / 1000
            counts[event.name] += 1
    launches = collections.Counter()  # (kernel, operator chain, input shapes) -> calls
    for event in prof.events():
        for kernel in getattr(event, "kernels", []) or []:
            if any(pattern in kernel.name for pattern in watch):
                chain, parent = [event.name], event.cpu_parent
                while parent is not None and len(chain) < 4:
                    chain.append(parent.name)
                    parent = parent.cpu_parent
                launches[(kernel.name[:100], " < ".join(chain), str(event.input_shapes)[:300])] += 1
    return {
        "count": sum(counts.values()),
        "ms": sum(totals.values()),
        "top": [{"name": n[:120], "ms": ms, "calls": counts[n]} for n, ms in totals.most_common(TOP_KERNELS)],
        "watched_launches": [
            {"kernel": kernel, "operators": chain, "input_shapes": shapes, "calls": calls}
            for (kernel, chain, shapes), calls in launches.most_common()
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="synthetic_cars_triplane")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--watch", nargs="+", default=["convolve_sgemm"], help="kernel name parts to attribute")
    parser.add_argument("--out", default="benchmarks/results/gpu_r1_kernels.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    config = Pix2NeRFConfig.from_preset(args.preset)
    generator = torch.Generator(device=device).manual_seed(0)
    shape = (args.batch, 3, args.resolution, args.resolution)
    real = torch.rand(shape, device=device, generator=generator) * 2 - 1
    fake = torch.rand(shape, device=device, generator=generator) * 2 - 1
    results = {}
    report = payload("gpu_r1_kernels", device, args, results)
    for name in args.variants:
        dtype, channels_last, autotune, r1, transposed = VARIANTS[name]
        if device.type == "cpu" and dtype is torch.float16:
            dtype = torch.bfloat16  # CPU autocast: bf16 stands in (a smoke run of the script, not a measurement)
        torch.manual_seed(0)
        discriminator = Discriminator(config.discriminator_channels, config.discriminator_type).to(device)
        layout = torch.channels_last if channels_last else torch.contiguous_format
        use_transposed_input_grad(discriminator, transposed)
        inputs = [x.contiguous(memory_format=layout) for x in (real, fake)]

        def step(discriminator=discriminator, inputs=inputs, dtype=dtype, r1=r1) -> None:
            discriminator.zero_grad(set_to_none=True)
            d_step(discriminator, *inputs, dtype, r1, config.r1_gamma)

        flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark
        torch.backends.cuda.matmul.allow_tf32 = flags[0] or dtype is None  # TF32 products for the float32 variant
        torch.backends.cudnn.benchmark = autotune
        try:
            results[name] = {
                "time": time_it(step, device, warmup=3, repeats=args.repeats),
                "profile": kernel_profile(step, device, args.watch),
            }
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark = flags
        row = results[name]
        print(f"{name}: {row['time']['median_ms']:.2f} ms, {row['profile']['count']} kernels", flush=True)
        write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
