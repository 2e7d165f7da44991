"""Training: the Pix2NeRF objective (D, E, G steps), EMA, and the optional VGG perceptual term."""

from pix2nerf.training.objective import Pix2NeRFTrainer

__all__ = ["Pix2NeRFTrainer"]
