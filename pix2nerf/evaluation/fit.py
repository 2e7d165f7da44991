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
NO_OBJECT = "no object found: what the encoder sees is nearly uniform"
BLANK_CONTRAST = 0.02  # standard deviation of the encoder input's pixels (0-1 units) below which nothing is seen


@dataclass
class FitScore:
    """psnr (B,) in dB of the render of each latent at its own pose against what the encoder saw; threshold in dB;
    blank (B,) bool: the inputs with no object to see (a blank or uniform photo, which any plain render matches)."""

    psnr: torch.Tensor
    threshold: float
    blank: torch.Tensor

    @property
    def good(self) -> torch.Tensor:
        """(B,) bool: the inputs that fit (never a blank one)."""
        return (self.psnr >= self.threshold) & ~self.blank

    def words(self) -> list[str]:
        """GOOD_FIT, POOR_FIT or NO_OBJECT for each input, with its score."""
        return [
            f"{NO_OBJECT if empty else GOOD_FIT if ok else POOR_FIT} ({value:.1f} dB)"
            for ok, empty, value in zip(self.good.tolist(), self.blank.tolist(), self.psnr.tolist())
        ]


def blank_inputs(encoder_input: torch.Tensor) -> torch.Tensor:
    """(B,) bool: encoder inputs (B, 3, R, R) in [-1, 1] whose pixels hardly vary (BLANK_CONTRAST)."""
    return ((encoder_input.float() + 1) / 2).flatten(1).std(1).cpu() < BLANK_CONTRAST


def input_view_psnr(rendered: torch.Tensor, encoder_input: torch.Tensor) -> torch.Tensor:
    """PSNR (B,) in dB of renders (B, 3, FIT_RESOLUTION, FIT_RESOLUTION) in [0, 1] against encoder inputs
    (B, 3, R, R) in [-1, 1], these area-downsampled to the render's size."""
    target = F.adaptive_avg_pool2d((encoder_input.float() + 1) / 2, rendered.shape[-2:])
    return psnr(rendered.float().cpu(), target.cpu())
