"""The tri-plane's Triton plane gather on the texel rows a training render reads (issue 27): forward and backward
with the table's gradient (float32 atomic adds per row; relaxed, and Triton's default acquire-release as
`triton_acq_rel`), against `F.embedding_bag`. (Its first run also timed a
variant that summed runs of equal texels before the adds: slower, removed; gpu_plane_gather_h100.json.)

The rows are recorded from a render of the shipped model as the trainer draws it (B latents and poses from the
prior, `--resolution`, `--steps` + as many fine samples, stratified jitter): the coarse pass's and the fine pass's
calls of the field, each timed alone. The Triton gather's table gradient is compared with embedding_bag's.

    python benchmarks/gpu_plane_gather.py --out benchmarks/results/gpu_plane_gather_h100.json
    TRITON_INTERPRET=1 python benchmarks/gpu_plane_gather.py --device cpu --model tiny --resolution 4 --batch 1 \\
        --repeats 1 --out /tmp/g.json
"""

from __future__ import annotations

import argparse
import functools

import torch
from common import payload, time_it, write_json

from pix2nerf import Pix2NeRF, Pix2NeRFConfig
from pix2nerf.fields.triplane import embedding_bag_gather
from pix2nerf.rendering.volume import RaySamplingSettings


def recorded_rows(model: Pix2NeRF, batch: int, resolution: int, steps: int) -> list[tuple[torch.Tensor, ...]]:
    """(index, weights, table) of each field call of one training-like render, without gradients."""
    calls = []

    def recorder(index, weights, table):
        calls.append((index.clone(), weights.clone(), table.detach().clone()))
        return embedding_bag_gather(index, weights, table)

    def field(points, directions, *codes):
        return model.field.forward_with(points, directions, *codes, gather=recorder)

    settings = RaySamplingSettings.from_config(model.config, num_steps=steps, deterministic=False)
    generator = torch.Generator(model.device).manual_seed(0)
    with torch.no_grad():
        z = model.sample_latents(batch, generator=generator)
        yaw, pitch = model.sample_poses(batch, generator=generator)
        codes = model.field.latent_codes(z)
        model.render_codes(codes, yaw, pitch, resolution, settings, field=field, generator=generator)
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="a pretrained model, or 'tiny' (the tiny_triplane preset)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--steps", type=int, default=24, help="coarse samples per ray (as many fine)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/gpu_plane_gather.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.model == "tiny":
        model = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny_triplane")).to(device)
    else:
        model = Pix2NeRF.from_pretrained(args.model, map_location=device)
    from pix2nerf.kernels.plane_gather import plane_gather  # Triton: CUDA, or its interpreter

    gathers = {
        "embedding_bag": embedding_bag_gather,
        "triton": plane_gather,
        "triton_acq_rel": functools.partial(plane_gather, atomic_semantics="acq_rel"),
    }
    results = {}
    report = payload("gpu_plane_gather", device, args, results)
    for name, (index, weights, table) in zip(
        ("coarse", "fine"), recorded_rows(model, args.batch, args.resolution, args.steps)
    ):
        table = table.requires_grad_()
        grad_out = torch.randn(index.shape[0], table.shape[1], device=device)
        row = {"rows": index.shape[0], "texels": table.shape[0], "channels": table.shape[1]}
        # how often a row's texel equals the previous row's, per plane's corner (runs a segmented add could merge)
        row["repeat_share"] = (index[1:] == index[:-1]).float().mean().item()
        grads = {}
        for kernel, gather in gathers.items():

            def step(gather=gather) -> None:
                table.grad = None
                gather(index, weights, table).backward(grad_out)

            row[kernel] = time_it(step, device, warmup=2, repeats=args.repeats)
            grads[kernel] = table.grad.clone()
        for kernel in ("triton", "triton_acq_rel"):
            error = (grads[kernel] - grads["embedding_bag"]).abs().max() / grads["embedding_bag"].abs().max()
            row[kernel]["relative_grad_error"] = error.item()
        results[name] = row
        print(name, {k: (v["median_ms"] if isinstance(v, dict) else v) for k, v in row.items()}, flush=True)
        write_json(args.out, report)


if __name__ == "__main__":
    main()
