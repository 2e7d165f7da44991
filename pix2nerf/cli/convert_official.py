"""`pix2nerf convert-official`: an official Pix2NeRF or pi-GAN checkpoint -> a hub-ready pix2nerf model folder."""

from __future__ import annotations

import argparse

from pix2nerf.official.convert import (
    CONVERTIBLE_PRESETS,
    SIREN_CLASSES,
    check_output_folder,
    convert_official_checkpoint,
    save_converted,
)

HELP = "convert an official Pix2NeRF / pi-GAN checkpoint into a model folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        help="official Pix2NeRF checkpoint_train.pth, pi-GAN generator.pth, or a folder holding one (read without "
        "executing anything in it)",
    )
    parser.add_argument(
        "--preset",
        required=True,
        choices=CONVERTIBLE_PRESETS,
        help="the dataset the weights were trained on: cameras, pose prior and background come from it",
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="output folder: config.json, model.safetensors, README.md"
    )
    parser.add_argument(
        "--ema", default=None, help="pi-GAN only: the ema.pth to apply (default: the one beside generator.pth)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a model already in the output folder")


def main(args: argparse.Namespace) -> int:
    check_output_folder(args.output, args.overwrite)
    print(f"reading {args.checkpoint} (allow-listed unpickling: nothing in the file is executed) ...", flush=True)
    model = convert_official_checkpoint(args.checkpoint, args.preset, ema_path=args.ema)
    out = save_converted(model, args.output, args.checkpoint, args.preset, ema_path=args.ema, overwrite=args.overwrite)
    config = model.config
    millions = sum(model.num_parameters().values()) / 1e6
    print(
        f"wrote {out}: {SIREN_CLASSES[config.siren_variant]} z {config.z_dim}, "
        f"{'with an encoder' if config.has_encoder else 'no encoder (generate only)'}, {millions:.1f} M parameters, "
        f"preset {args.preset}. Publish it: python hub/push_model.py {out} --repo-id USER/NAME"
    )
    return 0
