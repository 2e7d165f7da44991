"""pix2nerf: one photo in, a 3D-consistent radiance field out (Pix2NeRF, CVPR 2022).

image -> encoder -> Latent -> radiance field -> renderer -> RenderOutput
"""

from pix2nerf.config import PRESETS, Pix2NeRFConfig
from pix2nerf.foreground import remove_background
from pix2nerf.model import Pix2NeRF
from pix2nerf.outputs import Latent, RenderOutput

__version__ = "0.1.0"
__all__ = ["PRESETS", "Latent", "Pix2NeRF", "Pix2NeRFConfig", "RenderOutput", "__version__", "remove_background"]
