"""The model a training run starts from: a preset's fresh networks, or a trained model to fine-tune."""

from __future__ import annotations

import json

from pix2nerf.config import Pix2NeRFConfig
from pix2nerf.model import Pix2NeRF


def parse_overrides(text: str | None) -> dict:
    """--config_overrides: a JSON object of Pix2NeRFConfig fields (None or empty: no overrides)."""
    if not text:
        return {}
    try:
        overrides = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"--config_overrides is not valid JSON ({error}); give a JSON object of config fields"
        ) from None
    if not isinstance(overrides, dict):
        raise ValueError(f"--config_overrides must be a JSON object of config fields, got {text[:60]!r}")
    return overrides


def initial_model(preset: str | None, overrides: dict, pretrained: str | None = None) -> Pix2NeRF:
    """A float32 model of `preset` with fresh weights (from torch's current seed) or, with `pretrained` (a folder,
    a hub id or "default"), that model's weights and config; `overrides` replace config fields either way (a field
    that changes a weight's shape is refused for a pretrained model)."""
    if pretrained is None:
        return Pix2NeRF(Pix2NeRFConfig.from_preset(preset or "synthetic_cars", **overrides))
    if preset is not None:
        raise ValueError(
            "give either --preset or --pretrained_model_name_or_path: a pretrained model brings its own config "
            "(change its fields with --config_overrides)"
        )
    source = Pix2NeRF.from_pretrained(pretrained)
    if not overrides:
        return source.float().train()
    model = Pix2NeRF(Pix2NeRFConfig.from_dict({**source.config.to_dict(), **overrides}))
    try:
        model.load_state_dict_strict(source.state_dict(), source=f"the pretrained model {pretrained[:200]!r}")
    except ValueError as error:
        raise ValueError(f"--config_overrides {sorted(overrides)} cannot apply: {error}") from None
    return model
