"""What the hub/ publishing scripts share: listing a folder's files and uploading them in one commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def list_files(folder: Path, files: list[str], header: str) -> None:
    """Print `header`, then each file (relative to `folder`) with its size."""
    print(header)
    for name in files:
        print(f"  {name}  ({(folder / name).stat().st_size:,} bytes)")


def upload(folder: Path, repo_id: str, files: list[str] | None, *, repo_type: str, private: bool, commit_message: str,
           **create_options: Any) -> str:
    """Create the repo if needed (`create_options` go to `create_repo`, e.g. space_sdk) and upload `files` from
    `folder` (None: all of it) in one commit; returns the commit URL. Needs a login (`hf auth login` or HF_TOKEN)."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **create_options)
    info = api.upload_folder(
        repo_id=repo_id, repo_type=repo_type, folder_path=folder, allow_patterns=files, commit_message=commit_message,
    )
    return info.commit_url
