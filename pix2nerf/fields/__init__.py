"""Radiance fields behind one contract (pix2nerf.fields.base): codes from a latent, then density and colour at
points. `make_field(config)` builds the one `config.field_type` names."""

from __future__ import annotations

from pix2nerf.config import Pix2NeRFConfig
from pix2nerf.fields.base import RadianceField
from pix2nerf.fields.siren import SirenField
from pix2nerf.fields.triplane import TriplaneField

FIELD_CLASSES: dict[str, type[RadianceField]] = {cls.field_type: cls for cls in (SirenField, TriplaneField)}


def make_field(config: Pix2NeRFConfig) -> RadianceField:
    """The radiance field of `config.field_type`, freshly initialised."""
    return FIELD_CLASSES[config.field_type](config)


def describe_field(config: Pix2NeRFConfig) -> str:
    """The field of `config` and its sizes in a few words (model cards)."""
    if config.field_type == "triplane":
        return (
            f"tri-plane, z {config.z_dim}, 3 planes of {config.triplane_channels} x {config.triplane_resolution}^2, "
            f"decoder of {config.triplane_decoder_layers} layers {config.triplane_decoder_dim} wide"
        )
    return (
        f"SIREN `{config.siren_variant}`, z {config.z_dim}, {config.num_siren_layers} FiLM-SIREN layers of "
        f"{config.hidden_dim}"
    )
