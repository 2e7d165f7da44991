"""Push a pix2nerf model folder (config.json, model.safetensors, README.md model card) to the Hugging Face hub.

    python hub/push_model.py DIR --repo-id USER/NAME [--private] [--dry-run] [--commit-message MSG]

The folder is loaded strictly as a pix2nerf model before anything is uploaded; then the repo is created if needed
and the folder's files (hidden ones excepted) are uploaded in one commit. Log in first (`hf auth login`, or set
HF_TOKEN). --dry-run checks the folder and lists the files without touching the network.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pix2nerf.hub.upload import publish


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub/push_model.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder", metavar="DIR", type=Path, help="a pix2nerf model folder, e.g. from `pix2nerf convert-official`"
    )
    parser.add_argument("--repo-id", required=True, help="hub model repo, USER/NAME or ORG/NAME (created if missing)")
    parser.add_argument(
        "--private", action="store_true", help="create the repo private (an existing repo keeps its visibility)"
    )
    parser.add_argument("--commit-message", default=None, help="default: 'Upload pix2nerf model (PRESET)'")
    parser.add_argument("--dry-run", action="store_true", help="check the folder and list the files; upload nothing")
    return parser


def files_to_upload(folder: Path) -> list[str]:
    """The folder's files as POSIX paths relative to it, hidden files and folders left out."""
    files = [p.relative_to(folder) for p in sorted(folder.rglob("*")) if p.is_file()]
    return [p.as_posix() for p in files if not any(part.startswith(".") for part in p.parts)]


def check_model_folder(folder: Path):
    """Load the folder strictly as a pix2nerf model; returns its config. Raises FileNotFoundError / ValueError."""
    if not folder.is_dir():
        raise FileNotFoundError(f"no model folder at {folder}")
    from pix2nerf import Pix2NeRF

    return Pix2NeRF.from_pretrained(folder).config


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(args.repo_id)
        config = check_model_folder(args.folder)
    except (ValueError, FileNotFoundError) as error:
        print(f"hub/push_model.py: error: {error}", file=sys.stderr)
        return 2
    files = files_to_upload(args.folder)
    if "README.md" not in files:
        print(f"warning: {args.folder} has no README.md model card; the hub page will be bare", file=sys.stderr)
    return publish(
        args.folder,
        files,
        f"{args.folder} -> {args.repo_id} ({'private' if args.private else 'public'}), preset {config.preset}:",
        dry_run=args.dry_run,
        repo_id=args.repo_id,
        repo_type="model",
        private=args.private,
        commit_message=args.commit_message or f"Upload pix2nerf model ({config.preset})",
    )


if __name__ == "__main__":
    sys.exit(main())
