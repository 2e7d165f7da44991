"""What the hub/ publishing scripts share: listing what a folder would upload, then uploading it in one commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def publish(
    folder: Path, files: list[str], header: str, *, dry_run: bool, repo_id: str | None, **upload_options: Any
) -> int:
    """Print `header` and each of `files` (POSIX paths relative to `folder`) with its size; unless `dry_run`, upload
    them (`upload_options` as `upload`) and print the commit URL. Returns the exit status, 0."""
    print(header)
    for name in files:
        print(f"  {name}  ({(folder / name).stat().st_size:,} bytes)")
    if dry_run:
        print("dry run: nothing uploaded")
        return 0
    print(f"pushed: {upload(folder, repo_id, files, **upload_options)}")
    return 0


def upload(
    folder: Path,
    repo_id: str,
    files: list[str],
    *,
    repo_type: str,
    private: bool,
    commit_message: str,
    **create_options: Any,
) -> str:
    """Create the repo if needed (`create_options` go to `create_repo`, e.g. space_sdk) and upload `files` from
    `folder` in one commit; returns the commit URL. Needs a login (`hf auth login` or HF_TOKEN)."""
    from huggingface_hub import HfApi

    api = HfApi()
    repo = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **create_options)
    info = api.upload_folder(
        repo_id=repo.repo_id,  # namespaced: a bare NAME becomes USER/NAME
        repo_type=repo_type,
        folder_path=folder,
        allow_patterns=files,
        commit_message=commit_message,
    )
    return info.commit_url
