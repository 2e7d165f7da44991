"""Image networks: the CCS encoder and the discriminators, built from the blocks in `blocks`."""

from .discriminators import Discriminator
from .encoder import CCSEncoder

__all__ = ["CCSEncoder", "Discriminator"]
