"""Means of the scalars that training steps log, over the steps between two log lines."""

from __future__ import annotations

import math

import torch


class IntervalMeans:
    """Per-key means of the scalars logged since the last `pop`.

    Each key is averaged over the steps that logged it (odd steps log the reconstruction terms, even steps do not).
    Non-finite values are left out of the means and counted: with fp16 the grad scaler skips a step whose gradients
    overflowed, and that step's losses are inf or NaN. Values may be floats or 0-d tensors; tensors are summed
    where they live, so `add` never waits for the GPU, and `pop` reads everything back at once.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.sums: dict[str, float | torch.Tensor] = {}
        self.counts: dict[str, int | torch.Tensor] = {}
        self.nonfinite_steps: int | torch.Tensor = 0

    def add(self, logs: dict[str, float | torch.Tensor]) -> None:
        nonfinite: bool | torch.Tensor = False
        for key, value in logs.items():
            if isinstance(value, torch.Tensor):
                value = value.detach().reshape(()).double()
                finite = torch.isfinite(value)
                value = torch.where(finite, value, 0.0)
            else:
                finite = math.isfinite(value)
                value = value if finite else 0.0
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + finite
            nonfinite = nonfinite | ~finite if isinstance(finite, torch.Tensor) else nonfinite or not finite
        self.nonfinite_steps = self.nonfinite_steps + nonfinite

    def pop(self) -> tuple[dict[str, float], int]:
        """(mean per key, NaN for a key with no finite value; steps with a non-finite value), then start afresh."""
        keys = sorted(self.sums)
        numbers = _floats([self.sums[k] for k in keys] + [self.counts[k] for k in keys] + [self.nonfinite_steps])
        sums, counts = numbers[: len(keys)], numbers[len(keys) : 2 * len(keys)]
        means = {key: s / c if c else math.nan for key, s, c in zip(keys, sums, counts)}
        nonfinite = int(numbers[-1])
        self._reset()
        return means, nonfinite


def _floats(values: list[float | torch.Tensor]) -> list[float]:
    """Numbers and 0-d tensors as floats, with one read-back per device."""
    out = [value if not isinstance(value, torch.Tensor) else math.nan for value in values]
    by_device: dict[torch.device, list[int]] = {}
    for index, value in enumerate(values):
        if isinstance(value, torch.Tensor):
            by_device.setdefault(value.device, []).append(index)
    for indices in by_device.values():
        for index, number in zip(indices, torch.stack([values[i].double() for i in indices]).tolist()):
            out[index] = number
    return [float(v) for v in out]
