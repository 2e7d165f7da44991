"""pix2nerf: one photo in, a 3D-consistent radiance field out (Pix2NeRF, CVPR 2022).

image -> encoder -> Latent -> radiance field -> renderer -> RenderOutput
"""

from .config import PRESETS, Pix2NeRFConfig
from .model import Latent, Pix2NeRF, RenderOutput

__version__ = "0.1.0"
__all__ = ["PRESETS", "Latent", "Pix2NeRF", "Pix2NeRFConfig", "RenderOutput", "__version__"]
