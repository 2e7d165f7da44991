"""Give a trained model the data's yaw origin, and the `pix2nerf calibrate-yaw` subcommand.

A GAN trained on unposed images under a full-circle yaw prior picks its own yaw origin (see pix2nerf.evaluation).
Calibration encodes posed views of objects that the evaluation does not use, fits the one global offset between the
encoder's yaws and theirs, and stores it as config.yaw_offset: `render` and `encode` then speak the data's yaws
(yaw 0 = the front view). Renders and the relative-pose metrics do not change; only the meaning of yaw does.

    pix2nerf calibrate-yaw runs/synthetic-cars/model --data data/reference-cars --split test --num-objects 100
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from .cameras import wrap_degrees
from .evaluation import evaluate_poses, load_objects

RECORD_NAME = "yaw_calibration.json"


def calibrate_yaw(model, objects) -> dict[str, Any]:
    """Set model.config.yaw_offset from posed `objects` (ObjectViews); returns what was measured, in degrees."""
    before = evaluate_poses(model, objects, progress=False)
    offset = model.config.yaw_offset + before["yaw_alignment"]["offset_deg"]
    model.config.yaw_offset = float(wrap_degrees(torch.tensor(offset, dtype=torch.float64)))
    after = evaluate_poses(model, objects, progress=False)
    return {**before["counts"], "yaw_offset_deg": model.config.yaw_offset,
            "yaw_error_median_deg_before": before["pose_error_deg"]["yaw"]["median"],
            "yaw_error_median_deg_after": after["pose_error_deg"]["yaw"]["median"]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="local model folder (its config.json is updated in place)")
    parser.add_argument("--data", required=True, help="posed multi-view data whose objects are not evaluated on")
    parser.add_argument("--split", default="test")
    parser.add_argument("--num-objects", type=int, default=100)
    parser.add_argument("--image-column", default="image")


def main(args: argparse.Namespace) -> int:
    from .config import Pix2NeRFConfig
    from .model import Pix2NeRF

    folder = Path(args.model)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a local model folder (no config.json)")
    if args.num_objects < 1:
        raise ValueError(f"--num-objects must be a positive integer, got {args.num_objects}")
    model = Pix2NeRF.from_pretrained(folder, map_location="cpu")
    objects = load_objects(args.data, args.split, num_objects=args.num_objects, image_column=args.image_column)
    record = {"data": str(args.data), "split": args.split, **calibrate_yaw(model, objects)}
    config = Pix2NeRFConfig.from_json_file(folder / "config.json")
    config.yaw_offset = model.config.yaw_offset
    config.to_json_file(folder / "config.json")
    (folder / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    print(f"yaw offset {record['yaw_offset_deg']:.1f} deg from {record['pose_views']} views: median yaw error "
          f"{record['yaw_error_median_deg_before']:.1f} -> {record['yaw_error_median_deg_after']:.1f} deg; "
          f"wrote {folder / 'config.json'} and {folder / RECORD_NAME}")
    return 0
