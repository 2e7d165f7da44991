"""`pix2nerf orbit`: frames around the object, written as an animation."""

from __future__ import annotations

import argparse

from pix2nerf.cli.common import (
    add_model_argument,
    add_refine_argument,
    add_view_arguments,
    check_output,
    image_latent,
    load_model,
    progress_bar,
)

HELP = "render frames around the object into an animated GIF or WebP, or an MP4 video"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="input image")
    add_model_argument(parser)
    parser.add_argument("--frames", type=int, default=36)
    parser.add_argument("--pitch", type=float, default=None, help="degrees (default: the encoder's estimate)")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--fps", type=float, default=12.0)
    parser.add_argument(
        "--full-quality", action="store_true", help="the model's own sampler (slow on CPUs) instead of a baked grid"
    )
    add_view_arguments(parser)
    add_refine_argument(parser)
    parser.add_argument("-o", "--output", default="orbit.gif", help=".gif, .webp or .mp4 (H.264)")


def main(args: argparse.Namespace) -> int:
    from pix2nerf.limits import check_float, check_int
    from pix2nerf.limits import current as current_limits
    from pix2nerf.preview.animation import animation_format, render_orbit, save_animation

    check_output(args.output, animation_format)  # before any work, as the frames' and rate's checks
    check_int("--frames", args.frames, 1, current_limits().frames)
    check_float("--fps", args.fps, 0.0, current_limits().fps, open_low=True)
    model = load_model(args)
    latent = image_latent(model, args.image, args.refine_steps, args.preprocess)
    with progress_bar("orbit", unit="frame", total=args.frames) as progress:
        frames = render_orbit(
            model,
            latent,
            num_frames=args.frames,
            pitch=args.pitch,
            resolution=args.resolution,
            full_quality=args.full_quality,
            zoom=args.zoom,
            progress=lambda done, total: progress(done / total),
        )
    save_animation(frames, args.output, fps=args.fps)
    print(f"wrote {args.output} ({len(frames)} frames)")
    return 0
