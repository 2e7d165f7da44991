"""What a refinement optimises and how: one frozen, validated set of options."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

# offsets to every tensor of field.latent_codes(z), to field.styles(z) (the mapping network's output, which
# field.codes_from_styles builds the codes from), or to z itself
VARIABLES = ("codes", "style", "z")
MAX_STEPS = 10_000
MAX_RESOLUTION = 512
MAX_YAW_CANDIDATES = 36


@dataclass(frozen=True)
class InversionSettings:
    """Options of `pix2nerf.inversion.refine`.

    steps: Adam steps (0: the encoder's latent unchanged). learning_rate: Adam's, decayed linearly to
    `final_lr_fraction` of it over the steps. resolution: px of the render the loss compares with the photo,
    num_steps: its coarse samples per ray (as many fine ones when hierarchical). rays_per_step: pixels of it drawn
    at random each step (0: all). variable: "codes", "style" or "z" (VARIABLES).
    code_weight: L2 penalty pulling the codes towards the encoder's (mean squared difference, times this).
    symmetry: weight of the loss of the mirrored photo at the mirrored pose (yaw -> -yaw, the object's left-right
    symmetry; 0: off). seed: the generator of the annealed noise added to the offsets (`noise`, times 1 - i / steps).
    pose_learning_rate: > 0 also refines the encoder's yaw and pitch (offsets in degrees, Adam at this rate, decayed
    as `learning_rate` is); 0 keeps the encoder's pose.
    yaw_candidates: > 1 first tries that many yaws evenly around the circle, the encoder's first, each refined
    `probe_steps` steps (0: as encoded) and scored by the fit of its render to the photo; the refinement starts from
    the best (1: from the encoder's yaw).
    generator_learning_rate: > 0 also tunes the weights that build the codes from the styles (the tri-plane's
    synthesis network; "pivotal tuning"), a copy of them, at this Adam rate, decayed as `learning_rate` is; the codes
    are then those weights' output (plus the offsets, for variable "codes"). 0: the model's weights as they are.
    Defaults: the best measured (docs/inversion.md).
    """

    steps: int = 40
    learning_rate: float = 2e-2
    final_lr_fraction: float = 1.0
    resolution: int = 64
    num_steps: int = 12
    rays_per_step: int = 256
    hierarchical: bool = True
    variable: str = "codes"
    code_weight: float = 1.0
    symmetry: float = 0.0
    noise: float = 0.0
    seed: int = 0
    pose_learning_rate: float = 0.25
    yaw_candidates: int = 16
    probe_steps: int = 0
    generator_learning_rate: float = 0.0

    def __post_init__(self) -> None:
        _check_int("steps", self.steps, 0, MAX_STEPS)
        _check_int("resolution", self.resolution, 4, MAX_RESOLUTION)
        _check_int("num_steps", self.num_steps, 3, 512)
        _check_int("rays_per_step", self.rays_per_step, 0, MAX_RESOLUTION**2)
        _check_int("yaw_candidates", self.yaw_candidates, 1, MAX_YAW_CANDIDATES)
        _check_int("probe_steps", self.probe_steps, 0, MAX_STEPS)
        _check_float("learning_rate", self.learning_rate, 0.0, 10.0, open_low=True)
        _check_float("final_lr_fraction", self.final_lr_fraction, 0.0, 1.0)
        for name in ("code_weight", "symmetry", "noise", "pose_learning_rate", "generator_learning_rate"):
            _check_float(name, getattr(self, name), 0.0, 1e6)
        if self.variable not in VARIABLES:
            raise ValueError(f"variable must be one of {VARIABLES}, got {str(self.variable)[:40]!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an integer, got {str(self.seed)[:40]!r}")

    def replace(self, **changes: Any) -> InversionSettings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def total_steps(self) -> int:
        """Optimiser steps of a refinement: the yaw candidates' probes, then `steps` (none when steps is 0)."""
        probes = self.yaw_candidates * self.probe_steps if self.yaw_candidates > 1 else 0
        return self.steps + probes if self.steps else 0

    @property
    def key(self) -> str:
        """A short text that identifies these settings (cache keys)."""
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self))


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {str(value)[:40]!r}")


def _check_float(name: str, value: Any, low: float, high: float, open_low: bool = False) -> None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number > high or number < low or (open_low and number == low):
        bracket = "(" if open_low else "["
        raise ValueError(f"{name} must be a number in {bracket}{low:g}, {high:g}], got {str(value)[:40]!r}")
