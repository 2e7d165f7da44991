"""Background removal and re-framing on composites: held-out synthetic cars over scikit-image's photographs.

    python benchmarks/foreground.py [--composites 24] [--psnr-objects 10] [-o benchmarks/results/foreground_cpu.json]

Measures (CPU, --threads torch threads): the synthetic cars' foreground fraction (the config default), the mask IoU
of `remove_background` (the shipped segmentation network, refined) and of the network alone on composites, the
seconds for a 512 px photo (the first call, which loads the weights, apart), and the shipped model's novel-view PSNR
(relative pose, 64 px) from the cleaned composite (preprocess="auto") against from the clean input (the render on
white, preprocess="none"), and from the clean input re-framed by its alpha (preprocess="auto").
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from common import environment, write_json
from PIL import Image

from pix2nerf import Pix2NeRF, remove_background
from pix2nerf.data.synthetic import render_objects
from pix2nerf.data.synthetic.categories import get_category
from pix2nerf.data.synthetic.splits import plan_split
from pix2nerf.evaluation.composites import (
    BENCHMARK_BACKGROUNDS,
    SHIFT,
    SPAN,
    benchmark_backgrounds,
    make_composites,
    mask_iou,
)
from pix2nerf.evaluation.metrics import psnr
from pix2nerf.foreground import box_fraction
from pix2nerf.foreground.framing import object_box
from pix2nerf.foreground.network import WEIGHTS_PATH
from pix2nerf.foreground.segmentation import network_probability, shipped_network

VIEW_OFFSETS = (90.0, 180.0)  # yaw offsets of the novel views from the input's, degrees
VIEW_RESOLUTION = 64


def training_fraction(objects: int) -> dict:
    """The object's box extent in training-like renders (train split, seed 0, prior poses)."""
    plan = plan_split(get_category("cars").config(), "train", objects, 1, 0)
    alpha = (render_objects("cars", plan.object_ids, plan.yaw, plan.pitch, 64, 1)[:, 3] * 255).round()
    alpha = alpha.to(torch.uint8).numpy()
    fractions = np.array([box_fraction(a) for a in alpha])
    offsets = [
        max(abs((box[0] + box[2]) / 2 - a.shape[1] / 2), abs((box[1] + box[3]) / 2 - a.shape[0] / 2)) / a.shape[0]
        for a, box in zip(alpha, map(object_box, alpha))
    ]
    return {
        "objects": objects,
        "extent_percentiles": {p: float(np.percentile(fractions, p)) for p in (2, 10, 50, 90, 98)},
        "centre_offset_percentiles": {p: float(np.percentile(offsets, p)) for p in (50, 90, 98)},
    }


def iou_summary(ious: list[float]) -> dict:
    return {"median": statistics.median(ious), "mean": float(np.mean(ious)), "p25": float(np.percentile(ious, 25))}


def view_psnr(model: Pix2NeRF, image: Image.Image, mode: str, composite, truth: torch.Tensor) -> float:
    latent = model.encode(image, preprocess=mode)
    yaws = latent.yaw + torch.tensor(VIEW_OFFSETS)
    pitches = torch.full_like(yaws, composite.pitch)
    out = model.render(latent.z.expand(len(VIEW_OFFSETS), -1), yaws, pitches, resolution=VIEW_RESOLUTION)
    return float(psnr(out.rgb, truth).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--composites", type=int, default=24)
    parser.add_argument("--psnr-objects", type=int, default=10)
    parser.add_argument("--fraction-objects", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("-o", "--output", default="benchmarks/results/foreground_cpu.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    fraction = training_fraction(args.fraction_objects)
    print("training foreground fraction", fraction)
    photo = make_composites(benchmark_backgrounds(), 1, size=512, seed=1)[0].photo
    start = time.perf_counter()
    remove_background(photo)
    first_call = time.perf_counter() - start
    times = []
    for _ in range(5):
        start = time.perf_counter()
        remove_background(photo)
        times.append(time.perf_counter() - start)
    print(f"512 px photo: {statistics.median(times):.3f} s (first call {first_call:.3f} s)")

    composites = make_composites(benchmark_backgrounds(), args.composites, size=256)
    ious = [mask_iou(np.asarray(remove_background(c.photo))[..., 3] >= 128, c.mask) for c in composites]
    network_ious = [mask_iou(network_probability(c.photo, shipped_network()) >= 0.5, c.mask) for c in composites]
    print(f"IoU median {statistics.median(ious):.3f} (the network alone {statistics.median(network_ious):.3f})")

    model = Pix2NeRF.from_pretrained("default")
    rows = []
    for composite in composites[: args.psnr_objects]:
        yaws = torch.tensor([composite.yaw + offset for offset in VIEW_OFFSETS])
        truth = render_objects(
            "cars", [composite.object_id] * len(yaws), yaws, torch.full_like(yaws, composite.pitch), VIEW_RESOLUTION
        )
        truth = truth[:, :3] * truth[:, 3:] + (1 - truth[:, 3:])  # over white
        row = {
            "object_id": composite.object_id,
            "clean_none": view_psnr(model, composite.clean, "none", composite, truth),
            "composite_auto": view_psnr(model, composite.photo, "auto", composite, truth),
            "composite_none": view_psnr(model, composite.photo, "none", composite, truth),
        }
        rgba = render_objects(
            "cars", [composite.object_id], torch.tensor([composite.yaw]), torch.tensor([composite.pitch]), 128
        )[0]
        rgba_image = Image.fromarray((rgba * 255).round().to(torch.uint8).permute(1, 2, 0).numpy(), "RGBA")
        row["clean_rgba_auto"] = view_psnr(model, rgba_image, "auto", composite, truth)
        rows.append(row)
        print(row)

    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in rows]))

    write_json(
        args.output,
        {
            "benchmark": "foreground",
            "environment": environment(torch.device("cpu")),
            "training_foreground_fraction": fraction,
            "composites": {
                "count": len(composites),
                "size": 256,
                "span": SPAN,
                "shift": SHIFT,
                "backgrounds": list(BENCHMARK_BACKGROUNDS),
            },
            "segmentation_network": {
                "weights": WEIGHTS_PATH.relative_to(WEIGHTS_PATH.parents[3]).as_posix(),
                "bytes": WEIGHTS_PATH.stat().st_size,
                "parameters": sum(p.numel() for p in shipped_network().parameters()),
                "input_size": shipped_network().config.input_size,
            },
            "mask_iou": {**iou_summary(ious), "all": [round(i, 4) for i in ious]},
            "mask_iou_network_only": {
                "what": "the network's upsampled probability >= 0.5, without the guided filter and component",
                **iou_summary(network_ious),
                "all": [round(i, 4) for i in network_ious],
            },
            "seconds_512px": {"median": statistics.median(times), "min": min(times), "first_call": first_call},
            "novel_view_psnr_db": {
                "views": f"yaw offsets {list(VIEW_OFFSETS)} at the input's pitch, relative pose, {VIEW_RESOLUTION} px",
                "clean_input_none": mean("clean_none"),
                "clean_rgba_auto": mean("clean_rgba_auto"),
                "composite_auto": mean("composite_auto"),
                "composite_none": mean("composite_none"),
                "per_object": rows,
            },
        },
    )


if __name__ == "__main__":
    main()
