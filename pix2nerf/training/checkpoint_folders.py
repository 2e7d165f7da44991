"""The `checkpoint-<step>` folders of a run: naming, atomic publishing, crash recovery and choosing one to resume.

A checkpoint is written into `checkpoint-<step>.tmp`; once every process has written its part, the main process adds
`checkpoint_complete.json` (the marker) and renames the folder into place. Replacing an existing `checkpoint-<step>`
first renames that one to `checkpoint-<step>.old`, so at every instant a complete copy of each published step exists
under one of the three names; `recover` (run before choosing a checkpoint) restores the invariant after a crash.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from pix2nerf.training.checkpoint import RNG_STATE_STEM, SKELETON_NAME, load_rng_state, read_progress

PREFIX = "checkpoint-"
STAGING_SUFFIX, REPLACED_SUFFIX = ".tmp", ".old"
COMPLETE_NAME = "checkpoint_complete.json"  # written last, after every process's files
STEP_PATTERN = re.compile(r"^checkpoint-(0|[1-9][0-9]*)$")
LATEST, LATEST_OR_NEW = "latest", "latest_or_new"


def checkpoint_step(path: str | Path) -> int:
    """The step in a folder name `checkpoint-<step>`; ValueError for any other name."""
    name = Path(path).name
    match = STEP_PATTERN.match(name)
    if match is None:
        raise ValueError(f"{name[:80]!r} is not a checkpoint name: expected checkpoint-<step>, step an integer >= 0")
    return int(match.group(1))


def staging_folder(output_dir: Path, step: int) -> Path:
    return output_dir / f"{PREFIX}{step}{STAGING_SUFFIX}"


def _is_complete(folder: Path) -> bool:
    return (folder / COMPLETE_NAME).is_file()


def recover(output_dir: str | Path) -> list[str]:
    """Finish or undo what a crash left in `output_dir`; returns one message per action.

    A complete `.tmp` (marker present) replaces its step's folder; an incomplete one is removed. A `.old` is the
    previous copy of a step being replaced: removed when the step's folder exists, else moved back.
    """
    output_dir, messages = Path(output_dir), []
    if not output_dir.is_dir():
        return messages
    for staging in sorted(output_dir.glob(f"{PREFIX}*{STAGING_SUFFIX}")):
        final = staging.with_name(staging.name[: -len(STAGING_SUFFIX)])
        if _is_complete(staging):
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
            messages.append(f"completed {final.name} from the {staging.name} a stopped save left")
        else:
            shutil.rmtree(staging)
            messages.append(f"removed {staging.name}, an incomplete save")
    for replaced in sorted(output_dir.glob(f"{PREFIX}*{REPLACED_SUFFIX}")):
        final = replaced.with_name(replaced.name[: -len(REPLACED_SUFFIX)])
        if final.exists():
            shutil.rmtree(replaced)
        else:
            os.replace(replaced, final)
            messages.append(f"restored {final.name} from {replaced.name}")
    return messages


def publish(staging: Path, complete: dict) -> Path:
    """Mark `staging` (`checkpoint-<step>.tmp`, every process's files written) complete and rename it into place;
    returns the published folder. `complete` (plain values, e.g. step and process count) goes into the marker."""
    final = staging.with_name(staging.name[: -len(STAGING_SUFFIX)])
    marker = staging / COMPLETE_NAME
    marker.with_suffix(".json.part").write_text(json.dumps(complete) + "\n")
    os.replace(marker.with_suffix(".json.part"), marker)
    if final.exists():
        replaced = final.with_name(final.name + REPLACED_SUFFIX)
        shutil.rmtree(replaced, ignore_errors=True)
        os.replace(final, replaced)
        os.replace(staging, final)
        shutil.rmtree(replaced)
    else:
        os.replace(staging, final)
    return final


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Every `checkpoint-<step>` folder in `output_dir`, oldest first; ValueError for a malformed name."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = []
    for path in output_dir.iterdir():
        if path.name.startswith(PREFIX) and not path.name.endswith((STAGING_SUFFIX, REPLACED_SUFFIX)):
            try:
                found.append((checkpoint_step(path), path))
            except ValueError as error:
                raise ValueError(f"{output_dir} holds {error}; rename or remove that folder") from None
    return [path for _, path in sorted(found)]


def prune(output_dir: str | Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` checkpoints; returns the removed folders."""
    removed = list_checkpoints(output_dir)[:-keep]
    for path in removed:
        shutil.rmtree(path)
    return removed


def check_checkpoint(folder: str | Path) -> int:
    """The step of a usable checkpoint folder (its name and trainer.json agree); ValueError saying what is wrong."""
    folder = Path(folder)
    step = checkpoint_step(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a folder; give a checkpoint-<step> folder, '{LATEST}' or '{LATEST_OR_NEW}'"
        )
    if not (folder / SKELETON_NAME).is_file():
        raise ValueError(f"{folder} is not a complete training checkpoint: {SKELETON_NAME} is missing")
    saved = read_progress(folder)["step"]
    if saved != step:
        raise ValueError(f"{folder / SKELETON_NAME} says step {saved}, but the folder is named for step {step}")
    return step


def resolve_resume(
    spec: str | None, output_dir: str | Path, warn: Callable[[str], None] = lambda message: None
) -> Path | None:
    """The checkpoint to resume from, or None to start a new run.

    spec: None (a new run), "latest" (the newest usable checkpoint; an error when there is none), "latest_or_new"
    (the same, but a new run when `output_dir` holds no checkpoint at all) or a checkpoint folder. A newer checkpoint
    that is not usable is skipped with `warn` naming it and the one taken.
    """
    if spec is None:
        return None
    if spec not in (LATEST, LATEST_OR_NEW):
        path = Path(spec)
        check_checkpoint(path)
        return path
    candidates = list_checkpoints(output_dir)
    if not candidates:
        if spec == LATEST_OR_NEW:
            return None
        raise FileNotFoundError(
            f"--resume_from_checkpoint {LATEST}: {output_dir} holds no checkpoint-<step> folder; give "
            f"'{LATEST_OR_NEW}' to start a new run when there is none"
        )
    skipped = []
    for path in reversed(candidates):
        try:
            check_checkpoint(path)
        except ValueError as error:
            skipped.append((path, error))
            continue
        for bad, error in skipped:
            warn(f"not resuming from {bad.name} ({error}): falling back to the older {path.name}")
        return path
    reasons = "; ".join(f"{path.name}: {error}" for path, error in skipped)
    raise ValueError(f"no usable checkpoint in {output_dir} ({reasons}); remove or repair them to start again")


def resume_rng_state(folder: str | Path, process_index: int) -> bool:
    """Restore this process's generators from `folder`; False when the checkpoint was written by fewer processes
    (the caller reseeds). ValueError when a process that wrote the checkpoint has no state in it."""
    folder = Path(folder)
    if load_rng_state(folder, process_index):
        return True
    marker, saved = folder / COMPLETE_NAME, 1
    if marker.is_file():
        try:
            saved = int(json.loads(marker.read_text())["num_processes"])
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{marker} is malformed ({type(error).__name__}); expected num_processes") from None
    if process_index < saved:
        raise ValueError(
            f"{folder} has no {RNG_STATE_STEM.format(process_index)}.json although {saved} process(es) wrote it: "
            "the checkpoint is incomplete"
        )
    return False
