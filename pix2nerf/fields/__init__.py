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
