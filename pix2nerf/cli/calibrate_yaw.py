"""`pix2nerf calibrate-yaw`: set a trained model's yaw origin to the data's, from posed views of other objects."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pix2nerf.evaluation.benchmark import load_objects
from pix2nerf.evaluation.yaw_calibration import RECORD_NAME, calibrate_yaw

HELP = "set a trained model's yaw origin to the data's from posed views"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="local model folder (its config.json is updated in place)")
    parser.add_argument("--data", required=True, help="posed multi-view data whose objects are not evaluated on")
    parser.add_argument("--split", default="test")
    parser.add_argument("--num-objects", type=int, default=100)
    parser.add_argument("--image-column", default="image")


def main(args: argparse.Namespace) -> int:
    from pix2nerf.model import Pix2NeRF

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
    print(
        f"yaw offset {record['yaw_offset_deg']:.1f} deg from {record['pose_views']} views: median yaw error "
        f"{record['yaw_error_median_deg_before']:.1f} -> {record['yaw_error_median_deg_after']:.1f} deg; "
        f"wrote {folder / 'config.json'} and {folder / RECORD_NAME}"
    )
    return 0
