"""Push a synthetic dataset folder from `pix2nerf make-dataset` (either --format) with its card to the hub.

    python hub/push_dataset.py DIR --repo-id USER/NAME [--private] [--dry-run] [--commit-message MSG]

The folder is loaded with `datasets.load_dataset(DIR)` and checked for the synthetic columns before anything is
uploaded. The card (README.md) and preview.png go first, to a dataset repo created if needed; then
`DatasetDict.push_to_hub` uploads the splits as parquet shards (data/<split>-*.parquet) and completes the card's
`configs` and `dataset_info` on the hub. Log in first (`hf auth login`, or set HF_TOKEN). --dry-run checks the
folder and lists what would go without touching the network.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from pix2nerf.hub.upload import upload

CARD_FILES = ("README.md", "preview.png")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub/push_dataset.py", description=__doc__.splitlines()[0])
    parser.add_argument("folder", metavar="DIR", type=Path, help="a folder written by `pix2nerf make-dataset`")
    parser.add_argument("--repo-id", required=True, help="hub dataset repo, USER/NAME or ORG/NAME (created if missing)")
    parser.add_argument(
        "--private", action="store_true", help="create the repo private (an existing repo keeps its visibility)"
    )
    parser.add_argument("--commit-message", default="Upload pix2nerf synthetic dataset")
    parser.add_argument("--dry-run", action="store_true", help="check the folder and list the files; upload nothing")
    return parser


def load_folder(folder: Path, cache_dir: str | Path):
    """The folder's DatasetDict (arrow or parquet layout, read as its card's `configs` say), checked against the
    synthetic schema. Raises FileNotFoundError / ValueError naming what is missing."""
    import datasets

    from pix2nerf.data.synthetic.builder import features

    if not (folder / "README.md").is_file():
        raise FileNotFoundError(f"{folder} has no README.md dataset card; make it with `pix2nerf make-dataset`")
    try:
        dataset = datasets.load_dataset(str(folder), cache_dir=str(cache_dir))
    except (datasets.exceptions.DataFilesNotFoundError, FileNotFoundError) as error:
        raise FileNotFoundError(f"{folder} holds no dataset that its card names ({error})") from None
    for split, ds in dataset.items():
        if ds.features != features():
            raise ValueError(f"split {split!r} has columns {ds.features}, not the synthetic dataset's {features()}")
    return dataset


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from huggingface_hub.utils import validate_repo_id

    with tempfile.TemporaryDirectory() as cache:
        try:
            validate_repo_id(args.repo_id)
            dataset = load_folder(args.folder, cache)
        except (ValueError, FileNotFoundError) as error:
            print(f"hub/push_dataset.py: error: {error}", file=sys.stderr)
            return 2
        card_files = [name for name in CARD_FILES if (args.folder / name).is_file()]
        counts = ", ".join(f"{split} {len(ds)}" for split, ds in dataset.items())
        print(f"{args.folder} -> {args.repo_id} ({'private' if args.private else 'public'}), rows: {counts}:")
        for name in card_files:
            print(f"  {name}  ({(args.folder / name).stat().st_size:,} bytes)")
        for split, ds in dataset.items():
            print(f"  data/{split}-*.parquet  ({len(ds)} rows, by DatasetDict.push_to_hub)")
        if args.dry_run:
            print("dry run: nothing uploaded")
            return 0
        upload(
            args.folder,
            args.repo_id,
            card_files,
            repo_type="dataset",
            private=args.private,
            commit_message=f"{args.commit_message}: card",
        )
        info = dataset.push_to_hub(args.repo_id, private=args.private, commit_message=args.commit_message)
        print(f"pushed: {info.commit_url}")
    return 0
