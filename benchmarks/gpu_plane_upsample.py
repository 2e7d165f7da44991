"""The tri-plane synthesis's last stage (issue 27): doubling the 1x1 convolution's output (B, 3 * C, R / 2, R / 2) to
the planes (B, 3, C, R, R), float32, texels channels last, forward and backward, as the field does it
(`upsample_planes`: fixed 0.75 / 0.25 blends of neighbouring texels along each axis on the texel-last layout),
eagerly and compiled, against `F.interpolate`'s bilinear doubling followed by the copy to the texel-last layout (the
field's way before): in float32 NCHW, on a channels-last input (PyTorch's NHWC kernel), and in the reduced precision
the convolution gave. Each row gives its time and its largest difference from `upsample_planes`.

The defaults are the tri-plane preset's sizes in a 64 px training pair (16 latents, 3 x 32 channels, 64 -> 128 px);
docs/performance.md says what the upsampling costs in the iteration.

    python benchmarks/gpu_plane_upsample.py --out benchmarks/results/gpu_plane_upsample.json
    python benchmarks/gpu_plane_upsample.py --device cpu --batch 1 --channels 4 --resolution 8 --repeats 1 \\
        --variants blend interpolate --out /tmp/u.json
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from common import payload, time_it, write_json

from pix2nerf.fields.plane_synthesis import upsample_planes


def texel_last(planes: torch.Tensor, plane_channels: int) -> torch.Tensor:
    """(B, 3 * C, R, R) in any layout -> (B, 3, C, R, R), a permuted view of a contiguous (B, 3, R, R, C) tensor."""
    batch, _, resolution, _ = planes.shape
    planes = planes.view(batch, 3, plane_channels, resolution, resolution)
    return planes.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)


def interpolate(x: torch.Tensor, plane_channels: int) -> torch.Tensor:
    upsampled = F.interpolate(x.float(), scale_factor=2, mode="bilinear", align_corners=False)
    return texel_last(upsampled, plane_channels)


def interpolate_channels_last(x: torch.Tensor, plane_channels: int) -> torch.Tensor:
    x = x.float().contiguous(memory_format=torch.channels_last)
    return texel_last(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), plane_channels)


def interpolate_reduced_precision(x: torch.Tensor, plane_channels: int) -> torch.Tensor:
    upsampled = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False).float()
    return texel_last(upsampled, plane_channels)


VARIANTS = {
    "blend": upsample_planes,
    "blend_compiled": torch.compile(upsample_planes, dynamic=False),
    "interpolate": interpolate,
    "interpolate_channels_last": interpolate_channels_last,
    "interpolate_reduced_precision": interpolate_reduced_precision,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=16, help="latents (a 64 px training pair's synthesis batch)")
    parser.add_argument("--channels", type=int, default=32, help="channels per plane (the preset's C)")
    parser.add_argument("--resolution", type=int, default=128, help="the planes' side R")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/gpu_plane_upsample.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    dtype = torch.float16 if device.type == "cuda" else torch.float32  # the convolution's output under autocast
    half = args.resolution // 2
    x = torch.randn(args.batch, 3 * args.channels, half, half, device=device, dtype=dtype, requires_grad=True)
    reference = upsample_planes(x, args.channels)
    grad_out = torch.randn_like(reference)
    (reference_grad,) = torch.autograd.grad(reference, x, grad_out)
    results = {}
    report = payload("gpu_plane_upsample", device, args, results)
    for name in args.variants:
        variant = VARIANTS[name]
        planes = variant(x, args.channels)
        (grad,) = torch.autograd.grad(planes, x, grad_out)
        if planes.shape != reference.shape or planes.stride() != reference.stride():
            raise AssertionError(f"{name}: planes {tuple(planes.shape)} {planes.stride()} differ in shape or layout")

        def step(variant=variant) -> None:
            torch.autograd.grad(variant(x, args.channels), x, grad_out)

        row = time_it(step, device, warmup=3, repeats=args.repeats)
        row["max_abs_error"] = (planes - reference).abs().max().item()
        row["max_abs_grad_error"] = (grad.float() - reference_grad.float()).abs().max().item()
        results[name] = row
        error = row["max_abs_error"]
        print(f"{name}: {row['median_ms']:.3f} ms forward and backward, max error {error:.2e}", flush=True)
        write_json(args.out, report)


if __name__ == "__main__":
    main()
