"""Convert official Pix2NeRF / pi-GAN checkpoints into pix2nerf models, without executing their pickles.

Official state-dict names -> pix2nerf names:
  siren.network.{i}.layer.*            -> field.film_layers.{i}.linear.*
  siren.final_layer.*                  -> field.density_head.*
  siren.color_layer_sine.layer.*       -> field.color_film.linear.*   (input columns 0..2: view direction)
  siren.color_layer_linear.0.*         -> field.color_head.*
  siren.mapping_network.network.{j}.*  -> field.mapping.layers.{j}.*
  layers.{i}.network.{0,2}.conv.*      -> encoder.pyramid.blocks.{i}.conv{1,2}.conv.*
  layers.{i}.proj.*                    -> encoder.pyramid.blocks.{i}.skip.*
  fromRGB.{i}.model.0.*                -> encoder.pyramid.from_rgb.{i}.conv.*
  final_layer.*                        -> encoder.pyramid.head.*
"""

from __future__ import annotations

import re

import torch

from .safe_pickle import InertModule

OFFICIAL_MODULE_PREFIXES = ("torch.nn.modules", "generators", "siren", "discriminators")

_GENERATOR_RULES = [
    (r"^siren\.network\.(\d+)\.layer\.", r"field.film_layers.\1.linear."),
    (r"^siren\.final_layer\.", "field.density_head."),
    (r"^siren\.color_layer_sine\.layer\.", "field.color_film.linear."),
    (r"^siren\.color_layer_linear\.0\.", "field.color_head."),
    (r"^siren\.mapping_network\.network\.(\d+)\.", r"field.mapping.layers.\1."),
]
_ENCODER_RULES = [
    (r"^layers\.(\d+)\.network\.0\.conv\.", r"encoder.pyramid.blocks.\1.conv1.conv."),
    (r"^layers\.(\d+)\.network\.2\.conv\.", r"encoder.pyramid.blocks.\1.conv2.conv."),
    (r"^layers\.(\d+)\.proj\.", r"encoder.pyramid.blocks.\1.skip."),
    (r"^fromRGB\.(\d+)\.model\.0\.", r"encoder.pyramid.from_rgb.\1.conv."),
    (r"^final_layer\.", "encoder.pyramid.head."),
]


def _rename(state: dict[str, torch.Tensor], rules: list[tuple[str, str]], what: str) -> dict[str, torch.Tensor]:
    renamed = {}
    for key, value in state.items():
        for pattern, replacement in rules:
            if re.match(pattern, key):
                renamed[re.sub(pattern, replacement, key)] = value.float()
                break
        else:
            raise ValueError(f"the official {what} has a weight {key!r} that pix2nerf does not know")
    return renamed


def with_ema_weights(module: InertModule, ema_state: dict | None) -> dict[str, torch.Tensor]:
    """The module's state dict with torch_ema shadow parameters applied (zipped in parameters() order)."""
    state = module.state_dict()
    if ema_state is None:
        return state
    names = [name for name, _ in module.named_parameters()]
    shadows = ema_state.get("shadow_params") if isinstance(ema_state, dict) else None
    if not isinstance(shadows, list) or len(shadows) != len(names):
        raise ValueError(
            f"the EMA state holds {len(shadows) if isinstance(shadows, list) else 'no'} shadow parameters "
            f"for a module with {len(names)} parameters"
        )
    for name, shadow in zip(names, shadows):
        if tuple(shadow.shape) != tuple(state[name].shape):
            raise ValueError(f"EMA shadow for {name} has shape {tuple(shadow.shape)}, expected {tuple(state[name].shape)}")
        state[name] = shadow.detach()
    return state


def generator_state_dict(generator: InertModule, ema_state: dict | None) -> dict[str, torch.Tensor]:
    """pix2nerf `field.*` weights from an official ImplicitGenerator3d (EMA applied when given)."""
    return _rename(with_ema_weights(generator, ema_state), _GENERATOR_RULES, "generator")


def encoder_state_dict(encoder: InertModule, ema_state: dict | None) -> dict[str, torch.Tensor]:
    """pix2nerf `encoder.*` weights from an official CCSEncoder (EMA applied when given)."""
    return _rename(with_ema_weights(encoder, ema_state), _ENCODER_RULES, "encoder")
