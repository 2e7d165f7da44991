#!/usr/bin/env python
"""Train the background-removal network on the CPU and write the weights that the package ships.

    python train/segmentation.py [--steps 1200] [--batch-size 24] [--threads 2] \\
        [-o pix2nerf/foreground/weights/segmentation.safetensors] [--log train/runs/segmentation/training.json]

Composites of training-split synthetic cars and chairs over scikit-image's photographs that the benchmarks do not use
and procedural textures, made on the fly (pix2nerf.foreground.training_data); deterministic for given settings and
thread count. The logic lives in pix2nerf.foreground.training; this script parses the arguments and saves.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import time
from pathlib import Path

import torch

from pix2nerf.foreground.network import WEIGHTS_PATH, SegmentationConfig, save_network
from pix2nerf.foreground.training import TrainingSettings, train_segmentation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = TrainingSettings()
    for field in dataclasses.fields(TrainingSettings):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=type(getattr(defaults, field.name)), default=getattr(defaults, field.name))
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("-o", "--output", default=str(WEIGHTS_PATH))
    parser.add_argument("--log", default="train/runs/segmentation/training.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = TrainingSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainingSettings)})
    config = SegmentationConfig()

    start = time.perf_counter()
    net, history = train_segmentation(settings, config)
    save_network(net, args.output)
    record = {
        "settings": dataclasses.asdict(settings),
        "config": dataclasses.asdict(config),
        "parameters": sum(p.numel() for p in net.parameters()),
        "seconds": time.perf_counter() - start,
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "weights": os.path.relpath(args.output),
        "weights_bytes": Path(args.output).stat().st_size,
        "history": history,
    }
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    Path(args.log).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.output} and {args.log}")


if __name__ == "__main__":
    main()
