"""Assemble the Hugging Face Space (the Gradio app, the package, the default model) and upload it.

    python hub/push_space.py --space-id USER/NAME [--model-dir DIR] [--model-repo USER/MODEL] [--private]
    python hub/push_space.py --dry-run [--output DIR]

The bundle, from a pix2nerf checkout (--root): app.py, the pix2nerf package (sources only), examples/, the model folder
as pix2nerf/models/pix2nerf-synthetic-cars (where the package finds its default model), a requirements.txt that
installs the CPU build of torch from PyTorch's CPU wheel index, and space/README.md as README.md, the Space's front
matter (sdk, sdk_version = the gradio pin of requirements.txt, app_file, python_version, models). The model folder is
loaded strictly first. Log in first (`hf auth login`, or set HF_TOKEN). --dry-run assembles the bundle and lists its
files without touching the network (into --output, else a temporary folder it deletes).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

from pix2nerf.hub.push_model import check_model_folder, files_to_upload
from pix2nerf.hub.upload import publish
from pix2nerf.model import DEFAULT_MODEL_DIR

PACKAGE_ROOT = DEFAULT_MODEL_DIR.parents[2]  # the folder that holds the pix2nerf package: a checkout's root
DEFAULT_MODEL = DEFAULT_MODEL_DIR.relative_to(PACKAGE_ROOT)  # where the bundled package finds its default model
BUNDLED_FILES = ("app.py",)
BUNDLED_FOLDERS = {"pix2nerf": "*.py", "examples": "*.png"}  # folder -> the files of it that the Space needs
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub/push_space.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--space-id", help="hub Space, USER/NAME or ORG/NAME (created if missing); needed unless --dry-run"
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=DEFAULT_MODEL_DIR,
        help=f"the model to embed (default: the package's {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=PACKAGE_ROOT,
        help="the pix2nerf checkout to bundle (default: the one this package is imported from)",
    )
    parser.add_argument(
        "--model-repo",
        default=None,
        help="hub id of that model, for the front matter's `models` (default: as in space/README.md)",
    )
    parser.add_argument(
        "--private", action="store_true", help="create the Space private (an existing one keeps its visibility)"
    )
    parser.add_argument("--dry-run", action="store_true", help="assemble and list the bundle; upload nothing")
    parser.add_argument(
        "--output", type=Path, default=None, help="assemble into this (new or empty) folder and keep it"
    )
    return parser


def space_readme(root: Path, model_repo: str | None) -> str:
    """space/README.md, its sdk_version checked against requirements.txt, `models` replaced by `model_repo`."""
    text = (root / "space" / "README.md").read_text()
    pins = re.findall(r"^gradio==(\S+)$", (root / "requirements.txt").read_text(), flags=re.M)
    declared = re.findall(r"^sdk_version: (\S+)$", text, flags=re.M)
    if not pins or declared != pins[:1]:
        raise ValueError(
            f"space/README.md declares sdk_version {declared} but requirements.txt pins gradio {pins}: make them equal"
        )
    if model_repo is not None:
        from huggingface_hub.utils import validate_repo_id

        validate_repo_id(model_repo)
        text = re.sub(r"^models:\n(  - .*\n)+", f"models:\n  - {model_repo}\n", text, count=1, flags=re.M)
    return text


def space_requirements(requirements: str) -> str:
    """The Space's requirements.txt from the root one: torch==X becomes the CPU build, torch==X+cpu, from PyTorch's
    CPU wheel index (an extra index: everything else still comes from PyPI)."""
    pins = re.findall(r"^torch==([^\s+#]+)\s*$", requirements, flags=re.M)
    if len(pins) != 1:
        raise ValueError(f"requirements.txt must pin torch once as torch==VERSION, found {len(pins)} pins")
    lines = [f"--extra-index-url {TORCH_CPU_INDEX}"]
    for line in requirements.splitlines():
        lines.append(f"torch=={pins[0]}+cpu" if re.match(r"^torch==", line) else line)
    return "\n".join(lines) + "\n"


def assemble(bundle: Path, model_dir: Path, model_repo: str | None, root: Path = PACKAGE_ROOT) -> list[str]:
    """Copy the Space's files from the checkout `root` into `bundle`; returns them as POSIX paths relative to it."""
    if not (root / "app.py").is_file() or not (root / "space" / "README.md").is_file():
        raise FileNotFoundError(f"{root} is not a pix2nerf checkout (no app.py and space/README.md); give --root")
    check_model_folder(model_dir)
    if bundle.exists() and any(bundle.iterdir()):
        raise ValueError(f"{bundle} is not empty; give a new or empty folder")
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "README.md").write_text(space_readme(root, model_repo))
    (bundle / "requirements.txt").write_text(space_requirements((root / "requirements.txt").read_text()))
    for name in BUNDLED_FILES:
        shutil.copy2(root / name, bundle / name)
    for folder, pattern in BUNDLED_FOLDERS.items():
        for source in sorted((root / folder).rglob(pattern)):
            if "__pycache__" not in source.parts:
                target = bundle / source.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    for name in files_to_upload(model_dir):
        target = bundle / DEFAULT_MODEL / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(model_dir / name, target)
    return files_to_upload(bundle)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.dry_run and not args.space_id:
        print("hub/push_space.py: error: --space-id is needed (or --dry-run)", file=sys.stderr)
        return 2
    workspace = None if args.output else Path(tempfile.mkdtemp(prefix="pix2nerf-space-"))
    bundle = args.output or workspace / "space"
    try:
        if args.space_id:
            from huggingface_hub.utils import validate_repo_id

            validate_repo_id(args.space_id)
        files = assemble(bundle, args.model_dir, args.model_repo, args.root)
        return publish(
            bundle,
            files,
            f"Space bundle in {bundle}{f' -> {args.space_id}' if args.space_id else ''}:",
            dry_run=args.dry_run,
            repo_id=args.space_id,
            repo_type="space",
            private=args.private,
            commit_message="Upload the pix2nerf app",
            space_sdk="gradio",
        )
    except (ValueError, FileNotFoundError) as error:
        print(f"hub/push_space.py: error: {error}", file=sys.stderr)
        return 2
    finally:
        if workspace is not None:
            shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
