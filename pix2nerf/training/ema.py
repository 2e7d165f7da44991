"""Exponential moving average of a module's parameters, as torch_ema (with its num_updates warm-up)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """A frozen copy of `module` whose parameters follow decay * shadow + (1 - decay) * live after each update.

    The effective decay is min(decay, (1 + n) / (10 + n)) after n updates, as torch_ema's default.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.num_updates = 0
        self.shadow = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        self.num_updates += 1
        decay = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        shadows, lives = list(self.shadow.parameters()), [p.detach() for p in module.parameters()]
        torch._foreach_lerp_(shadows, lives, 1 - decay)
        for shadow, live in zip(self.shadow.buffers(), module.buffers()):
            shadow.copy_(live)

    def state_dict(self) -> dict:
        return {"num_updates": self.num_updates, "shadow": self.shadow.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.num_updates = int(state["num_updates"])
        self.shadow.load_state_dict(state["shadow"])
