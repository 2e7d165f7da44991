"""The `pix2nerf` command (also `python -m pix2nerf`). Each subcommand lives in its own module, which provides
`add_arguments(parser)` and `main(args) -> int`; modules are imported only when their subcommand runs."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
SUBCOMMANDS = {
    "render": ("pix2nerf.commands", "render one novel view of an image"),
    "orbit": ("pix2nerf.commands", "render frames around the object into a GIF/WebP"),
    "info": ("pix2nerf.commands", "show a model's config, parameter counts and file sizes"),
    "convert-official": ("pix2nerf.convert_cli", "convert an official Pix2NeRF / pi-GAN checkpoint into a model folder"),
    "make-dataset": ("pix2nerf.data.make_dataset_cli", "render a synthetic multi-view dataset (cars, chairs)"),
    "eval": ("pix2nerf.evaluation", "novel-view PSNR / SSIM and pose errors on a multi-view test split"),
    "calibrate-yaw": ("pix2nerf.yaw_calibration", "set a trained model's yaw origin to the data's from posed views"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pix2nerf", description="One photo in, a 3D radiance field out (Pix2NeRF).")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        getattr(module, f"add_{name.replace('-', '_')}_arguments", getattr(module, "add_arguments", None))(sub)
        sub.set_defaults(_module=module_name, _name=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(args._module)
    entry = getattr(module, f"{args._name.replace('-', '_')}_main", None) or module.main
    try:
        return int(entry(args) or 0)
    except (ValueError, FileNotFoundError) as error:
        print(f"pix2nerf {args._name}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
