"""Means of the scalars that training steps log, over the steps between two log lines."""

from __future__ import annotations

import math


class IntervalMeans:
    """Per-key means of the scalars logged since the last `pop`.

    Each key is averaged over the steps that logged it (odd steps log the reconstruction terms, even steps do not).
    Non-finite values are left out of the means and counted: with fp16 the grad scaler skips a step whose gradients
    overflowed, and that step's losses are inf or NaN.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.nonfinite_steps = 0

    def add(self, logs: dict[str, float]) -> None:
        finite = True
        for key, value in logs.items():
            self.sums.setdefault(key, 0.0)
            self.counts.setdefault(key, 0)
            if math.isfinite(value):
                self.sums[key] += value
                self.counts[key] += 1
            else:
                finite = False
        self.nonfinite_steps += not finite

    def pop(self) -> tuple[dict[str, float], int]:
        """(mean per key, NaN for a key with no finite value; steps with a non-finite value), then start afresh."""
        means = {key: self.sums[key] / self.counts[key] if self.counts[key] else math.nan for key in sorted(self.sums)}
        nonfinite = self.nonfinite_steps
        self._reset()
        return means, nonfinite
