"""Push a synthetic dataset folder from `pix2nerf make-dataset` (either --format) with its card to the hub.

    python hub/push_dataset.py DIR --repo-id USER/NAME [--private] [--dry-run] [--commit-message MSG]

The folder is loaded as a dataset and checked for the synthetic columns before anything is uploaded. The hub copy
is always parquet, data/<split>-*.parquet as the card's `configs` metadata names it: a parquet folder is uploaded
as it is, an arrow (save_to_disk) folder is converted first. README.md (the card) and preview.png go with it, in
one commit to a dataset repo created if needed. Log in first (`hf auth login`, or set HF_TOKEN). --dry-run checks
the folder and lists the files without touching the network.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from pix2nerf.hub.upload import publish

REPO_ROOT = Path(__file__).resolve().parents[1]
CARD_FILES = ("README.md", "preview.png")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="push_dataset.py", description=__doc__.splitlines()[0])
    parser.add_argument("folder", metavar="DIR", type=Path, help="a folder written by `pix2nerf make-dataset`")
    parser.add_argument("--repo-id", required=True, help="hub dataset repo, USER/NAME or ORG/NAME (created if missing)")
    parser.add_argument(
        "--private", action="store_true", help="create the repo private (an existing repo keeps its visibility)"
    )
    parser.add_argument("--commit-message", default="Upload pix2nerf synthetic dataset")
    parser.add_argument("--dry-run", action="store_true", help="check the folder and list the files; upload nothing")
    return parser


def check_folder(folder: Path) -> dict[str, int]:
    """Rows per split of the folder's dataset (arrow or parquet layout), checked against the synthetic schema.

    Raises FileNotFoundError / ValueError naming what is missing."""
    import datasets

    features = _package().builder.features()
    if not (folder / "README.md").is_file():
        raise FileNotFoundError(f"{folder} has no README.md dataset card; make it with `pix2nerf make-dataset`")
    with tempfile.TemporaryDirectory() as cache:
        if (folder / "dataset_dict.json").is_file():
            dataset = datasets.load_from_disk(str(folder))
        elif sorted((folder / "data").glob("*.parquet")):
            dataset = datasets.load_dataset("parquet", data_dir=str(folder / "data"), cache_dir=cache)
        else:
            raise FileNotFoundError(f"{folder} holds neither dataset_dict.json (arrow) nor data/*.parquet")
        for split, ds in dataset.items():
            if ds.features != features:
                raise ValueError(f"split {split!r} has columns {ds.features}, not the synthetic dataset's {features}")
        return {split: len(ds) for split, ds in dataset.items()}


def hub_layout(folder: Path, staging: Path) -> Path:
    """A folder holding what goes to the hub: `folder` itself if it is parquet, else a parquet copy in `staging`."""
    if not (folder / "dataset_dict.json").is_file():
        return folder
    import datasets

    _package().builder.save_dataset(datasets.load_from_disk(str(folder)), staging, "parquet")
    for name in CARD_FILES:
        if (folder / name).is_file():
            shutil.copy2(folder / name, staging / name)
    return staging


def _package():
    """pix2nerf.data.synthetic, from the installed package or this checkout."""
    try:
        import pix2nerf.data.synthetic.builder
    except ImportError:  # a checkout run without installing the package
        sys.path.insert(0, str(REPO_ROOT))
        import pix2nerf.data.synthetic.builder
    return pix2nerf.data.synthetic


def files_to_upload(folder: Path) -> list[str]:
    """The card files and parquet shards of a hub-layout folder, as POSIX paths relative to it."""
    shards = [p.relative_to(folder).as_posix() for p in sorted((folder / "data").glob("*.parquet"))]
    return [name for name in CARD_FILES if (folder / name).is_file()] + shards


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(args.repo_id)
        rows = check_folder(args.folder)
    except (ValueError, FileNotFoundError) as error:
        print(f"push_dataset.py: error: {error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as staging:
        folder = hub_layout(args.folder, Path(staging))
        files = files_to_upload(folder)
        counts = ", ".join(f"{split} {n}" for split, n in rows.items())
        return publish(
            folder,
            files,
            f"{args.folder} -> {args.repo_id} ({'private' if args.private else 'public'}), rows: {counts}:",
            dry_run=args.dry_run,
            repo_id=args.repo_id,
            repo_type="dataset",
            private=args.private,
            commit_message=args.commit_message,
        )


if __name__ == "__main__":
    sys.exit(main())
