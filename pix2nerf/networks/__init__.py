"""Image networks: the CCS encoder and the discriminators, built from the blocks in `blocks`."""

from pix2nerf.networks.discriminators import Discriminator
from pix2nerf.networks.encoder import CCSEncoder

__all__ = ["CCSEncoder", "Discriminator"]
