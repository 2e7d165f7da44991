"""`pix2nerf render`: one novel view of an image."""

from __future__ import annotations

import argparse

from pix2nerf.cli.common import (
    add_model_argument,
    add_refine_argument,
    add_view_arguments,
    check_image_suffix,
    check_output,
    image_latent,
    load_model,
    progress_bar,
)
from pix2nerf.images import tensor_to_pil

HELP = "render one novel view of an image"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="input image (PNG, JPEG, WebP, ...)")
    add_model_argument(parser)
    parser.add_argument("--yaw", type=float, default=0.0, help="degrees; 0 is the front view")
    parser.add_argument("--pitch", type=float, default=0.0, help="degrees; positive looks from above")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--num-steps", type=int, default=None, help="samples per ray (default: the model's)")
    add_view_arguments(parser)
    add_refine_argument(parser)
    parser.add_argument("-o", "--output", default="view.png")


def main(args: argparse.Namespace) -> int:
    check_output(args.output, check_image_suffix)  # before any work
    model = load_model(args)
    latent = image_latent(model, args.image, args.refine_steps, args.preprocess)
    fit = model.fit_score(args.image, latent, preprocess=args.preprocess).words()[0]
    with progress_bar("rendering") as progress:
        out = model.render(
            latent,
            args.yaw,
            args.pitch,
            resolution=args.resolution,
            num_steps=args.num_steps,
            zoom=args.zoom,
            return_depth=False,
            progress=progress,
        )
    tensor_to_pil(out.rgb[0]).save(args.output)
    print(f"wrote {args.output} (yaw {args.yaw:g}, pitch {args.pitch:g} degrees); {fit}")
    return 0
