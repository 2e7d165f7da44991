"""Exponential moving average of a module's parameters, as torch_ema (with its num_updates warm-up)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """A frozen copy of `module` whose parameters follow decay * shadow + (1 - decay) * live after each update.

    The effective decay is min(decay, (1 + n) / (10 + n)) after n updates, as torch_ema's default. The update count
    lives on the module's device, so an update reads nothing back to the host and can be captured in a CUDA graph.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = copy.deepcopy(module).eval().requires_grad_(False)
        self._shadows = list(self.shadow.parameters())
        device = self._shadows[0].device if self._shadows else torch.device("cpu")
        self._updates = torch.zeros((), dtype=torch.float64, device=device)

    @property
    def num_updates(self) -> int:
        return int(self._updates)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        self._updates += 1
        weight = 1 - ((1 + self._updates) / (10 + self._updates)).clamp(max=self.decay)
        steps = torch._foreach_sub([p.detach() for p in module.parameters()], self._shadows)
        torch._foreach_mul_(steps, weight.float())
        torch._foreach_add_(self._shadows, steps)
        for shadow, live in zip(self.shadow.buffers(), module.buffers()):
            shadow.copy_(live)

    def state_dict(self) -> dict:
        return {"num_updates": self.num_updates, "shadow": self.shadow.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self._updates.fill_(int(state["num_updates"]))  # in place: a captured update keeps reading this tensor
        self.shadow.load_state_dict(state["shadow"])
