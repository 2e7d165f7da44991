"""Random draws for procedural objects, from an explicit torch.Generator so that every object is reproducible."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch

T = TypeVar("T")


class Draws:
    """Scalar random draws from one `torch.Generator` (CPU), in a fixed order."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def uniform(self, low: float, high: float) -> float:
        """A float uniform in [low, high)."""
        return low + (high - low) * torch.rand((), generator=self.generator, dtype=torch.float64).item()

    def chance(self, probability: float) -> bool:
        """True with `probability`."""
        return self.uniform(0.0, 1.0) < probability

    def choice(self, options: Sequence[T], weights: Sequence[float] | None = None) -> T:
        """One of `options`, uniformly or in proportion to `weights`."""
        weights = [1.0] * len(options) if weights is None else list(weights)
        target = self.uniform(0.0, sum(weights))
        for option, weight in zip(options, weights):
            target -= weight
            if target < 0:
                return option
        return options[-1]

    def jitter(self, rgb: Sequence[float], amount: float) -> tuple[float, float, float]:
        """`rgb` with each channel moved by up to +-amount, kept in [0, 1]."""
        return tuple(min(1.0, max(0.0, c + self.uniform(-amount, amount))) for c in rgb)
