"""A training run's hub repo: created when the run starts, so that every upload goes to the id the hub returns."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import create_repo, upload_folder


def create_model_repo(hub_model_id: str | None, output_dir: str | Path, token: str | None = None) -> str:
    """Create (or find) the model repo and return its namespaced id ("user/name"); the repo is named after
    `output_dir` when `hub_model_id` is None."""
    name = hub_model_id or Path(output_dir).resolve().name
    return create_repo(name, repo_type="model", exist_ok=True, token=token).repo_id


def push_model(repo_id: str, folder: str | Path, step: int, token: str | None = None) -> str:
    """Upload `folder` (the exported model) to `repo_id` in one commit; returns the commit URL."""
    info = upload_folder(
        repo_id=repo_id,
        repo_type="model",
        folder_path=str(folder),
        token=token,
        commit_message=f"pix2nerf training, step {step}",
    )
    return info.commit_url
