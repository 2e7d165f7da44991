"""`pix2nerf orbit`: frames around the object, written as an animation."""

from __future__ import annotations

import argparse

from pix2nerf.cli.common import add_model_argument, add_refine_argument, image_latent, load_model

HELP = "render frames around the object into a GIF/WebP"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="input image")
    add_model_argument(parser)
    parser.add_argument("--frames", type=int, default=36)
    parser.add_argument("--pitch", type=float, default=None, help="degrees (default: the encoder's estimate)")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--fps", type=float, default=12.0)
    add_refine_argument(parser)
    parser.add_argument("-o", "--output", default="orbit.gif", help=".gif or .webp")


def main(args: argparse.Namespace) -> int:
    from pix2nerf.preview.animation import render_orbit, save_animation

    model = load_model(args)
    latent = image_latent(model, args.image, args.refine_steps)
    frames = render_orbit(model, latent, num_frames=args.frames, pitch=args.pitch, resolution=args.resolution)
    save_animation(frames, args.output, fps=args.fps)
    print(f"wrote {args.output} ({len(frames)} frames)")
    return 0
