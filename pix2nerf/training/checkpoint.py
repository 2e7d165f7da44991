"""Training checkpoints without pickles: a nested state (dicts, lists, tuples, tensors, plain values) is written as
safetensors files of its tensors plus a JSON skeleton of everything else, and read back exactly. The tensors go into
one file, or into shards of at most `SHARD_BYTES` each when they are larger (so that a checkpoint travels where files
are limited in size); the JSON names the files.

Accelerate's `register_for_checkpointing` would store the trainer with torch.save and read it back with
`weights_only=False` (arbitrary code on load), so `train/train.py` keeps the trainer's state in these files inside
each `checkpoint-<step>` folder instead. The random generators of each process (Python, NumPy, torch CPU and CUDA)
go into the same kind of files (`rng_state_<process>`), replacing the pickle that `Accelerator.save_state` writes.
"""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

TRAINER_STEM = "trainer"  # trainer.safetensors or trainer-0000i-of-0000n.safetensors (tensors) + trainer.json
SHARD_BYTES = 15 * 2**20  # the largest tensor file a checkpoint writes (one tensor larger than this gets its own)
SKELETON_NAME = f"{TRAINER_STEM}.json"
RNG_STATE_STEM = "rng_state_{}"  # + .safetensors / .json, per process index
ACCELERATE_RNG_PICKLE = "random_states_{}.pkl"  # what Accelerator.save_state writes (and this module replaces)
_TENSOR, _TUPLE, _ITEMS, _FLOAT = "__tensor__", "__tuple__", "__items__", "__float__"


def flatten_state(state: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """(JSON-able skeleton, tensors by key) of a nested state; `unflatten_state` inverts it."""
    tensors: dict[str, torch.Tensor] = {}

    def visit(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            key = path if path not in tensors else f"{path}#{len(tensors)}"  # keys like "a.b" may repeat a path
            tensors[key] = value.detach().cpu().contiguous().clone()
            return {_TENSOR: key}
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in value):
                return {k: visit(v, f"{path}.{k}") for k, v in value.items()}
            return {_ITEMS: [[k, visit(v, f"{path}.{k}")] for k, v in value.items()]}
        if isinstance(value, tuple):
            return {_TUPLE: [visit(v, f"{path}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [visit(v, f"{path}.{i}") for i, v in enumerate(value)]
        if isinstance(value, float) and not math.isfinite(value):
            return {_FLOAT: repr(value)}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"cannot store a {type(value).__name__} at {path or 'the top'} of a training state")

    return visit(state, ""), tensors


def unflatten_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The nested state that `flatten_state` took apart."""
    if isinstance(skeleton, list):
        return [unflatten_state(v, tensors) for v in skeleton]
    if isinstance(skeleton, dict):
        if _TENSOR in skeleton:
            return tensors[skeleton[_TENSOR]]
        if _TUPLE in skeleton:
            return tuple(unflatten_state(v, tensors) for v in skeleton[_TUPLE])
        if _ITEMS in skeleton:
            return {k: unflatten_state(v, tensors) for k, v in skeleton[_ITEMS]}
        if _FLOAT in skeleton:
            return float(skeleton[_FLOAT])
        return {k: unflatten_state(v, tensors) for k, v in skeleton.items()}
    return skeleton


def _shards(tensors: dict[str, torch.Tensor], limit: int) -> list[dict[str, torch.Tensor]]:
    """`tensors` split in order into groups of at most `limit` bytes (a larger tensor alone in its group)."""
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > limit:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    return shards


def _write(folder: Path, stem: str, document: dict, state: Any) -> None:
    """`state` as safetensors files (its tensors: stem.safetensors, or shards stem-0000i-of-0000n.safetensors) +
    stem.json (`document` with the state's skeleton under "state" and the files' names under "files")."""
    folder.mkdir(parents=True, exist_ok=True)
    skeleton, tensors = flatten_state(state)
    shards = _shards(tensors, SHARD_BYTES)
    if len(shards) == 1:
        names = [f"{stem}.safetensors"]
    else:
        names = [f"{stem}-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    for name, shard in zip(names, shards):
        save_file(shard, str(folder / name))
    (folder / f"{stem}.json").write_text(json.dumps({**document, "files": names, "state": skeleton}, indent=1) + "\n")


def _read(folder: Path, stem: str) -> tuple[Any, dict]:
    """(state, document) written by `_write`; tensors on the CPU, nothing unpickled."""
    document = _read_document(folder, stem)
    names = document.pop("files")
    tensors: dict[str, torch.Tensor] = {}
    try:
        for name in names:
            tensors.update(load_file(str(folder / name)))
    except (SafetensorError, OSError) as error:
        raise ValueError(f"the training checkpoint in {folder} is unreadable ({error})") from None
    try:
        state = unflatten_state(document.pop("state"), tensors)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"{folder / f'{stem}.json'} does not match {', '.join(names)[:120]} "
            f"({type(error).__name__}: {str(error)[:80]})"
        ) from None
    return state, document


def _read_document(folder: Path, stem: str) -> dict:
    """The JSON document of `stem` in `folder`, checked to be an object with a "state" entry and "files" (the tensor
    files, all present; documents written before sharding name none and mean stem.safetensors)."""
    path = folder / f"{stem}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a pix2nerf training checkpoint: {path.name} is missing")
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is unreadable ({str(error)[:80]})") from None
    if not isinstance(document, dict) or "state" not in document:
        raise ValueError(f"{path} is malformed: expected a JSON object with a 'state' entry")
    names = document.setdefault("files", [f"{stem}.safetensors"])
    pattern = re.compile(rf"^{re.escape(stem)}(-[0-9]{{5}}-of-[0-9]{{5}})?\.safetensors$")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and pattern.match(n) for n in names):
        raise ValueError(f"{path} is malformed: 'files' must list {stem}[-0000i-of-0000n].safetensors names")
    for name in names:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} is not a pix2nerf training checkpoint: {name} is missing")
    return document


def save_training_state(folder: str | Path, state: dict, progress: dict[str, Any]) -> None:
    """Write `state` (e.g. Pix2NeRFTrainer.state_dict()) and `progress` (plain values: step, ...) into `folder`."""
    _write(Path(folder), TRAINER_STEM, {"progress": progress}, state)


def load_training_state(folder: str | Path) -> tuple[dict, dict[str, Any]]:
    """(state, progress) written by `save_training_state`; tensors on the CPU, nothing unpickled."""
    folder = Path(folder)
    progress = read_progress(folder)
    state, _ = _read(folder, TRAINER_STEM)
    return state, progress


def load_trainer(trainer: Any, folder: str | Path) -> dict[str, Any]:
    """Load the state `save_training_state` wrote into `trainer` (anything with `load_state_dict`); returns the
    progress. ValueError when the state does not fit the trainer (another config, a damaged file)."""
    state, progress = load_training_state(folder)
    try:
        trainer.load_state_dict(state)
    except (KeyError, TypeError, IndexError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"{Path(folder) / SKELETON_NAME} does not fit this trainer ({type(error).__name__}: {str(error)[:120]}); "
            "was it written with another preset or config?"
        ) from None
    return progress


def read_progress(folder: str | Path) -> dict[str, Any]:
    """The progress in `folder`'s trainer.json (without reading the tensors); ValueError naming a malformed entry."""
    folder = Path(folder)
    path = folder / SKELETON_NAME
    progress = _read_document(folder, TRAINER_STEM).get("progress")
    if not isinstance(progress, dict):
        raise ValueError(f"{path} is malformed: 'progress' must be a JSON object, got {str(progress)[:40]!r}")
    for key, value in progress.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{path} is malformed: progress.{key} must be a number >= 0, got {str(value)[:40]!r}")
    step = progress.get("step")
    if not isinstance(step, int):
        raise ValueError(f"{path} is malformed: progress.step must be an integer >= 0, got {str(step)[:40]!r}")
    return progress


def save_rng_state(folder: str | Path, process_index: int) -> None:
    """Write this process's Python, NumPy and torch (CPU, every CUDA device) generator states into `folder`, and
    delete the pickle of the same states that `Accelerator.save_state` left there."""
    folder = Path(folder)
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    _write(folder, RNG_STATE_STEM.format(process_index), {}, state)
    (folder / ACCELERATE_RNG_PICKLE.format(process_index)).unlink(missing_ok=True)


def load_rng_state(folder: str | Path, process_index: int) -> bool:
    """Restore the generator states `save_rng_state` wrote for this process; False when the checkpoint has none
    for it (it was written by fewer processes)."""
    folder = Path(folder)
    stem = RNG_STATE_STEM.format(process_index)
    if not (folder / f"{stem}.json").is_file():
        return False
    state, _ = _read(folder, stem)
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][: torch.cuda.device_count()])
    return True
