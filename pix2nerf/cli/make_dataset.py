"""`pix2nerf make-dataset`: render a synthetic multi-view dataset (cars, chairs) and write it with its card."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pix2nerf.extras import require
from pix2nerf.limits import check_device

HELP = "render a synthetic multi-view dataset (cars, chairs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The make-dataset options."""
    parser.add_argument("--category", default="cars", help="object category: cars or chairs (default: cars)")
    parser.add_argument("--train-objects", type=int, default=20_000, help="objects in train, one view each")
    parser.add_argument("--test-objects", type=int, default=100, help="held-out objects in test")
    parser.add_argument("--test-views", type=int, default=24, help="views per test object (view 0 is the input)")
    parser.add_argument("--resolution", type=int, default=128, help="image side in pixels (at least 8)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    parser.add_argument("--out", required=True, help="output folder (created; must be empty unless --overwrite)")
    parser.add_argument(
        "--format",
        choices=("arrow", "parquet"),
        default="arrow",
        help="arrow: datasets.save_to_disk (load_from_disk); parquet: DIR/data/<split>-*.parquet",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--supersample", type=int, default=2, help="rays per pixel side on edges (1: no anti-aliasing)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="render processes (default: up to 2 on cpu, 1 on cuda); the output does not depend on it",
    )
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty --out folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    """Build, save and describe the dataset. Returns the exit status (2 for unusable arguments)."""
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not args.overwrite)):
        return _fail(f"--out {out} exists and is not an empty folder; pass --overwrite or choose another folder")
    datasets = require("datasets", "make-dataset")
    from pix2nerf.data.synthetic.builder import build_dataset, save_dataset
    from pix2nerf.data.synthetic.card import BUILD_SETTINGS, PREVIEW_FILE, dataset_card, preview_grid
    from pix2nerf.data.synthetic.categories import get_category

    if args.quiet:
        datasets.disable_progress_bars()
    settings = {key: getattr(args, key) for key in BUILD_SETTINGS}
    try:
        category = get_category(args.category)
        dataset = build_dataset(
            args.category,
            args.train_objects,
            args.test_objects,
            args.test_views,
            args.resolution,
            args.seed,
            check_device("--device", args.device),
            args.supersample,
            workers=args.workers,
            progress=not args.quiet,
        )
    except ValueError as error:
        return _fail(str(error))
    out.mkdir(parents=True, exist_ok=True)
    save_dataset(dataset, out, args.format)
    preview_grid(dataset["test"]).save(out / PREVIEW_FILE)
    (out / "README.md").write_text(dataset_card(dataset, category, settings, out))
    print(json.dumps({"out": str(out), "format": args.format, **{s: len(d) for s, d in dataset.items()}}))
    return 0


def _fail(message: str) -> int:
    print(f"pix2nerf make-dataset: error: {message}", file=sys.stderr)
    return 2
