"""Fit score: how well the model reproduces what its encoder saw. The latent is rendered from its own pose and
compared with the encoder's input; a photo unlike the training data (not a car on white) gets a low score.

Data flow: encoder input (B, 3, R, R) in [-1, 1] + Latent -> render at the latent's pose, FIT_RESOLUTION px ->
PSNR against the input, area-downsampled -> `FitScore` (dB, and words against the model's calibrated threshold,
`config.fit_threshold_db`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pix2nerf.evaluation.metrics import psnr

FIT_RESOLUTION = 32  # px of the comparison: the score needs the shape and colours, not detail
GOOD_FIT = "good fit"
POOR_FIT = "poor fit: this photo looks unlike the model's training data (cars on white)"


@dataclass
class FitScore:
    """psnr (B,) in dB of the render of each latent at its own pose against what the encoder saw; threshold in dB."""

    psnr: torch.Tensor
    threshold: float

    @property
    def good(self) -> torch.Tensor:
        """(B,) bool: the inputs that fit."""
        return self.psnr >= self.threshold

    def words(self) -> list[str]:
        """GOOD_FIT or POOR_FIT for each input, with its score."""
        return [f"{GOOD_FIT if ok else POOR_FIT} ({value:.1f} dB)" for ok, value in zip(self.good, self.psnr.tolist())]


def input_view_psnr(rendered: torch.Tensor, encoder_input: torch.Tensor) -> torch.Tensor:
    """PSNR (B,) in dB of renders (B, 3, FIT_RESOLUTION, FIT_RESOLUTION) in [0, 1] against encoder inputs
    (B, 3, R, R) in [-1, 1], these area-downsampled to the render's size."""
    target = F.adaptive_avg_pool2d((encoder_input.float() + 1) / 2, rendered.shape[-2:])
    return psnr(rendered.float().cpu(), target.cpu())
