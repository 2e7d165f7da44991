"""Which objects and camera poses the rows of each split get.

- `train`: object i has one view at a pose drawn from the category's pose prior
  (`pix2nerf.rendering.cameras.sample_poses` with the preset's fields), the distribution that the model's generator
  samples poses from.
- `test`: held-out objects with `views` views each. View 0 is drawn from the prior, as a training image would be
  (it is the input); views 1.. orbit the object: yaws evenly spaced over 360 degrees from view 0's yaw, and pitches
  rising through the prior's pitch band (area-uniform strata, sin(pitch) evenly spaced), a spiral.

Every object's id is a 63-bit seed derived from (seed, split, index), so train and test objects come from
different random streams and `make_objects(category, [object_id])` rebuilds any object on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pix2nerf.config import Pix2NeRFConfig
from pix2nerf.rendering.cameras import sample_poses, wrap_degrees

SPLITS = ("train", "test")
_SHAPE_STREAM, _POSE_STREAM = 0, 1


def derived_seed(seed: int, split: str, index: int, stream: int) -> int:
    """A 63-bit seed for object `index` of `split`: stream 0 draws its shape (it is the object id), 1 its pose."""
    words = [seed, SPLITS.index(split), index, stream]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class SplitPlan:
    """The rows of one split, in order: object_ids, view_ids (lists of V ints), yaw and pitch (V,) float32 degrees."""

    object_ids: list[int]
    view_ids: list[int]
    yaw: torch.Tensor
    pitch: torch.Tensor

    def __len__(self) -> int:
        return len(self.object_ids)


def plan_split(config: Pix2NeRFConfig, split: str, objects: int, views: int, seed: int) -> SplitPlan:
    """Object ids and poses of `objects` objects with `views` views each (train: views must be 1)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    if split == "train" and views != 1:
        raise ValueError("the train split has one view per object")
    object_ids, yaws, pitches = [], [], []
    for index in range(objects):
        generator = torch.Generator().manual_seed(derived_seed(seed, split, index, _POSE_STREAM))
        yaw, pitch = prior_poses(config, 1, generator)
        if views > 1:
            yaw, pitch = orbit(config, yaw, pitch, views)
        object_ids += [derived_seed(seed, split, index, _SHAPE_STREAM)] * views
        yaws.append(yaw)
        pitches.append(pitch)
    return SplitPlan(object_ids, list(range(views)) * objects, torch.cat(yaws), torch.cat(pitches))


def prior_poses(config: Pix2NeRFConfig, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n poses (yaw, pitch), each (n,) float32 degrees, from the config's pose prior."""
    return sample_poses(
        n,
        config.pose_distribution,
        config.yaw_mean,
        config.yaw_spread,
        config.pitch_mean,
        config.pitch_spread,
        generator=generator,
    )


def orbit(
    config: Pix2NeRFConfig, yaw: torch.Tensor, pitch: torch.Tensor, views: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """`views` poses (each (views,) float32 degrees) around an object, starting at the pose (yaw, pitch) (1,):
    yaws evenly spaced over 360 degrees, then pitches with sin(pitch) evenly spaced over the prior's pitch band."""
    low = math.sin(math.radians(max(config.pitch_mean - config.pitch_spread, -90.0)))
    high = math.sin(math.radians(min(config.pitch_mean + config.pitch_spread, 90.0)))
    steps = torch.arange(1, views, dtype=torch.float64)
    yaws = wrap_degrees(yaw.double() + 360.0 * steps / views)
    pitches = torch.rad2deg(torch.asin(low + (high - low) * (steps - 0.5) / (views - 1)))
    return torch.cat([yaw, yaws.float()]), torch.cat([pitch, pitches.float()])
