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
from .evaluation import encoded_pose_errors, fit_yaw_offset, load_objects

RECORD_NAME = "yaw_calibration.json"


def calibrate_yaw(model, objects) -> dict[str, Any]:
    """Set model.config.yaw_offset from posed `objects` (ObjectViews); returns what was measured, in degrees."""
    yaw_differences, _ = encoded_pose_errors(model, objects, progress=False)
    differences = torch.cat(yaw_differences)
    correction = fit_yaw_offset(differences)
    offset = wrap_degrees(torch.tensor(model.config.yaw_offset + correction, dtype=torch.float64))
    model.config.yaw_offset = float(offset)
    return {"objects": len(objects), "pose_views": differences.numel(), "yaw_offset_deg": model.config.yaw_offset,
            "yaw_error_median_deg_before": differences.abs().median().item(),
            "yaw_error_median_deg_after": wrap_degrees(differences - correction).abs().median().item()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="local model folder (its config.json is updated in place)")
    parser.add_argument("--data", required=True, help="posed multi-view data whose objects are not evaluated on")
    parser.add_argument("--split", default="test")
    parser.add_argument("--num-objects", type=int, default=100)
    parser.add_argument("--image-column", default="image")


def main(args: argparse.Namespace) -> int:
    from .model import Pix2NeRF

    folder = Path(args.model)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a local model folder (no config.json)")
    if args.num_objects < 1:
        raise ValueError(f"--num-objects must be a positive integer, got {args.num_objects}")
    model = Pix2NeRF.from_pretrained(folder, map_location="cpu")
    objects = load_objects(args.data, args.split, num_objects=args.num_objects, image_column=args.image_column)
    record = {"data": str(args.data), "split": args.split, **calibrate_yaw(model, objects)}
    model.config.to_json_file(folder / "config.json")
    (folder / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    print(f"yaw offset {record['yaw_offset_deg']:.1f} deg from {record['pose_views']} views: median yaw error "
          f"{record['yaw_error_median_deg_before']:.1f} -> {record['yaw_error_median_deg_after']:.1f} deg; "
          f"wrote {folder / 'config.json'} and {folder / RECORD_NAME}")
    return 0
