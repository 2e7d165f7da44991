"""`pix2nerf info`: a model's config, parameter counts and file sizes."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from pix2nerf.model import DEFAULT_MODEL

HELP = "show a model's config, parameter counts and file sizes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", nargs="?", default=os.environ.get("PIX2NERF_MODEL", DEFAULT_MODEL), help="local folder or hub repo id"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def main(args: argparse.Namespace) -> int:
    from pix2nerf.model import Pix2NeRF

    model = Pix2NeRF.from_pretrained(args.model)
    folder = Path(args.model)
    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()} if folder.is_dir() else {}
    info = {"model": args.model, "config": model.config.to_dict(), "parameters": model.num_parameters(), "files": files}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"model: {args.model}")
    print(f"preset: {model.config.preset}  z_dim: {model.config.z_dim}  field: {model.config.field_type}")
    for name, count in info["parameters"].items():
        print(f"parameters[{name}]: {count:,}")
    for name, size in files.items():
        print(f"file {name}: {size / 1e6:.2f} MB")
    return 0
