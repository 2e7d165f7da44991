"""Means of the scalars that training steps log, over the steps between two log lines."""

from __future__ import annotations

import math

import torch


class IntervalMeans:
    """Per-key means of the scalars logged since the last `pop`.

    Each key is averaged over the steps that logged it (odd steps log the reconstruction terms, even steps do not).
    Non-finite values are left out of the means and counted: with fp16 the grad scaler skips a step whose gradients
    overflowed, and that step's losses are inf or NaN. Values may be floats or 0-d tensors: a step's tensors are
    stacked where they live, so `add` never waits for the GPU, and `pop` reads them back.
    """

    def __init__(self) -> None:
        self._steps: list[tuple[dict[str, float], list[str], torch.Tensor | None]] = []

    def add(self, logs: dict[str, float | torch.Tensor]) -> None:
        tensors = {key: value for key, value in logs.items() if isinstance(value, torch.Tensor)}
        stacked = torch.stack([value.detach().reshape(()).float() for value in tensors.values()]) if tensors else None
        floats = {key: float(value) for key, value in logs.items() if key not in tensors}
        self._steps.append((floats, list(tensors), stacked))

    def pop(self) -> tuple[dict[str, float], int]:
        """(mean per key, NaN for a key with no finite value; steps with a non-finite value), then start afresh."""
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        nonfinite_steps = 0
        for floats, keys, stacked in self._steps:
            values = {**floats, **dict(zip(keys, stacked.tolist() if stacked is not None else []))}
            for key, value in values.items():
                finite = math.isfinite(value)
                sums[key] = sums.get(key, 0.0) + (value if finite else 0.0)
                counts[key] = counts.get(key, 0) + finite
            nonfinite_steps += not all(math.isfinite(value) for value in values.values())
        self._steps = []
        return {key: sums[key] / counts[key] if counts[key] else math.nan for key in sorted(sums)}, nonfinite_steps
