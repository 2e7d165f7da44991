"""What several subcommands share: the model argument and loading."""

from __future__ import annotations

import argparse
import os

from pix2nerf.model import DEFAULT_MODEL


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=os.environ.get("PIX2NERF_MODEL", DEFAULT_MODEL),
        help="local model folder or hub repo id (default: $PIX2NERF_MODEL, else 'default': the shipped model)",
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")


def load_model(args: argparse.Namespace):
    from pix2nerf.model import Pix2NeRF

    return Pix2NeRF.from_pretrained(args.model, map_location=args.device)
