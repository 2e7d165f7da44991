"""`pix2nerf mesh`: the object's surface as a coloured mesh file (GLB, OBJ or PLY)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pix2nerf.cli.common import (
    add_model_argument,
    add_preprocess_argument,
    add_refine_argument,
    check_output,
    image_latent,
    load_model,
    progress_bar,
)

HELP = "extract the object's surface as a mesh with vertex colours (.glb, .obj or .ply)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pix2nerf.preview.baked_field import DEFAULT_BAKE_RESOLUTION, DEFAULT_BRICK, LEVEL0_STEP

    parser.add_argument("image", help="input image")
    add_model_argument(parser)
    parser.add_argument(
        "--resolution",
        type=int,
        default=DEFAULT_BAKE_RESOLUTION,
        help=f"grid cells per axis where there is matter, a multiple of {DEFAULT_BRICK * LEVEL0_STEP} (default "
        f"{DEFAULT_BAKE_RESOLUTION})",
    )
    parser.add_argument(
        "--threshold", type=float, default=None, help="density at the surface (default: chosen from the field's peak)"
    )
    add_preprocess_argument(parser)
    add_refine_argument(parser)
    parser.add_argument("-o", "--output", default="mesh.glb", help=".glb (glTF), .obj or .ply")


def main(args: argparse.Namespace) -> int:
    from pix2nerf.limits import check_float, check_int
    from pix2nerf.limits import current as current_limits
    from pix2nerf.preview.baked_field import check_bake_resolution
    from pix2nerf.preview.mesh import mesh_from_latent
    from pix2nerf.preview.mesh_formats import mesh_writer

    check_output(args.output, lambda path: mesh_writer(Path(path).suffix))  # before any work
    check_int("--resolution", args.resolution, 1, current_limits().resolution)
    check_bake_resolution(args.resolution)
    if args.threshold is not None:
        check_float("--threshold", args.threshold, 0.0, open_low=True)
    model = load_model(args)
    latent = image_latent(model, args.image, args.refine_steps, args.preprocess)
    with progress_bar("baking") as progress:
        mesh = mesh_from_latent(model, latent, resolution=args.resolution, threshold=args.threshold, progress=progress)
    mesh.save(args.output)
    print(f"wrote {args.output} ({len(mesh.vertices)} vertices, {len(mesh.faces)} faces)")
    return 0
