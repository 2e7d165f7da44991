"""The model-facing subcommands of `pix2nerf`: render, orbit and info."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

DEFAULT_MODEL = "hub/models/pix2nerf-synthetic-cars"


def _add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=os.environ.get("PIX2NERF_MODEL", DEFAULT_MODEL),
        help="local model folder or hub repo id (default: $PIX2NERF_MODEL or the embedded default model)",
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")


def _load(args: argparse.Namespace):
    from .model import Pix2NeRF

    return Pix2NeRF.from_pretrained(args.model, map_location=args.device)


def add_render_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="input image (PNG, JPEG, WebP, ...)")
    _add_model_argument(parser)
    parser.add_argument("--yaw", type=float, default=0.0, help="degrees; 0 is the front view")
    parser.add_argument("--pitch", type=float, default=0.0, help="degrees; positive looks from above")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--num-steps", type=int, default=None, help="samples per ray (default: the model's)")
    parser.add_argument("-o", "--output", default="view.png")


def render_main(args: argparse.Namespace) -> int:
    model = _load(args)
    (view,) = model.novel_views(args.image, [args.yaw], args.pitch, resolution=args.resolution, num_steps=args.num_steps)
    view.save(args.output)
    print(f"wrote {args.output} (yaw {args.yaw:g}, pitch {args.pitch:g} degrees)")
    return 0


def add_orbit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="input image")
    _add_model_argument(parser)
    parser.add_argument("--frames", type=int, default=36)
    parser.add_argument("--pitch", type=float, default=None, help="degrees (default: the encoder's estimate)")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--fps", type=float, default=12.0)
    parser.add_argument("-o", "--output", default="orbit.gif", help=".gif or .webp")


def orbit_main(args: argparse.Namespace) -> int:
    from .preview import render_orbit, save_animation

    model = _load(args)
    latent = model.encode(args.image)
    frames = render_orbit(model, latent, num_frames=args.frames, pitch=args.pitch, resolution=args.resolution)
    save_animation(frames, args.output, fps=args.fps)
    print(f"wrote {args.output} ({len(frames)} frames)")
    return 0


def add_info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", default=os.environ.get("PIX2NERF_MODEL", DEFAULT_MODEL), help="local folder or hub repo id")
    parser.add_argument("--json", action="store_true", help="print JSON")


def info_main(args: argparse.Namespace) -> int:
    from .model import Pix2NeRF

    model = Pix2NeRF.from_pretrained(args.model)
    folder = Path(args.model)
    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()} if folder.is_dir() else {}
    info = {"model": args.model, "config": model.config.to_dict(), "parameters": model.num_parameters(), "files": files}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"model: {args.model}")
    print(f"preset: {model.config.preset}  z_dim: {model.config.z_dim}  siren: {model.config.siren_variant}")
    for name, count in info["parameters"].items():
        print(f"parameters[{name}]: {count:,}")
    for name, size in files.items():
        print(f"file {name}: {size / 1e6:.2f} MB")
    return 0
