"""The `pix2nerf` command (also `python -m pix2nerf`). Each subcommand is a module of pix2nerf.cli holding `HELP`,
`add_arguments(parser)` and `main(args) -> int`; a module is imported only to build the parser and to run."""

from __future__ import annotations

import argparse
import importlib
import sys

from pix2nerf.extras import MissingExtraError

SUBCOMMANDS = {  # name -> module in pix2nerf.cli
    "render": "render",
    "orbit": "orbit",
    "mesh": "mesh",
    "info": "info",
    "convert-official": "convert_official",
    "make-dataset": "make_dataset",
    "eval": "evaluate",
    "calibrate-yaw": "calibrate_yaw",
}


def _module(name: str):
    return importlib.import_module(f"pix2nerf.cli.{SUBCOMMANDS[name]}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pix2nerf", description="One photo in, a 3D radiance field out (Pix2NeRF).")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = _module(name)
        module.add_arguments(subparsers.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(_module(args.command).main(args) or 0)
    except (ValueError, FileNotFoundError, MissingExtraError) as error:
        print(f"pix2nerf {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
