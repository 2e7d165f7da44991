"""Test-time refinement of an encoded latent against its input photo (hybrid inversion, Pix2NeRF's
hybrid_optimization.py): `Pix2NeRF.invert` = encode, then `refine`."""

from pix2nerf.inversion.refine import best_yaw, refine
from pix2nerf.inversion.settings import InversionSettings

__all__ = ["InversionSettings", "best_yaw", "refine"]
