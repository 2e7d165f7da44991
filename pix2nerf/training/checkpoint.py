"""Training checkpoints without pickles: a nested state (dicts, lists, tuples, tensors, plain values) is written as
one safetensors file of its tensors plus a JSON skeleton of everything else, and read back exactly.

Accelerate's `register_for_checkpointing` would store the trainer with torch.save and read it back with
`weights_only=False` (arbitrary code on load), so `train/train.py` keeps the trainer's state in these files inside
each `checkpoint-<step>` folder instead, next to Accelerate's own RNG states.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

TENSORS_NAME = "trainer.safetensors"
SKELETON_NAME = "trainer_state.json"
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


def save_training_state(folder: str | Path, state: dict, progress: dict[str, Any]) -> None:
    """Write `state` (e.g. Pix2NeRFTrainer.state_dict()) and `progress` (plain values: step, ...) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    skeleton, tensors = flatten_state(state)
    save_file(tensors, str(folder / TENSORS_NAME))
    (folder / SKELETON_NAME).write_text(json.dumps({"progress": progress, "state": skeleton}, indent=1) + "\n")


def load_training_state(folder: str | Path) -> tuple[dict, dict[str, Any]]:
    """(state, progress) written by `save_training_state`; tensors on the CPU, nothing unpickled."""
    folder = Path(folder)
    for name in (TENSORS_NAME, SKELETON_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} is not a pix2nerf training checkpoint: {name} is missing")
    try:
        tensors = load_file(str(folder / TENSORS_NAME))
        saved = json.loads((folder / SKELETON_NAME).read_text())
    except (SafetensorError, OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"the training checkpoint in {folder} is unreadable ({error})") from None
    return unflatten_state(saved["state"], tensors), saved["progress"]
