"""What flows between the stages: the encoder's Latent, a render's RenderOutput, and the render constants."""

from __future__ import annotations

from dataclasses import dataclass

import torch

# field evaluations per chunk in inference renders: bounded memory on every device; on CPUs small chunks keep the
# activations in cache (see docs/performance.md)
MAX_POINTS_PER_CHUNK = {"cpu": 2**13, "cuda": 2**22}
LOCKED_VIEW_DIRECTION = (0.0, 0.0, -1.0)  # the view direction of renders with view dependence locked


@dataclass
class Latent:
    """What the encoder reads off an image: z (B, z_dim) and the camera pose, yaw and pitch (B,) in degrees.
    codes: the field's codes (batch B), which renders then take instead of `field.latent_codes(z)` (so a truncation
    psi no longer applies): refined against the image (`Pix2NeRF.invert`), or computed once for a latent that renders
    many views (`dataclasses.replace(latent, codes=model.codes_of(latent))` under `torch.no_grad()`, or the codes keep
    their autograd graph); None for an encoded latent."""

    z: torch.Tensor
    yaw: torch.Tensor
    pitch: torch.Tensor
    codes: tuple[torch.Tensor, ...] | None = None

    def first(self, count: int = 1) -> Latent:
        """The first latent repeated `count` times (z, pose and codes)."""
        codes = None if self.codes is None else tuple(c[:1].expand(count, *c.shape[1:]) for c in self.codes)
        return Latent(self.z[:1].expand(count, -1), self.yaw[:1].expand(count), self.pitch[:1].expand(count), codes)


@dataclass
class RenderOutput:
    """rgb (B, 3, H, W) in [0, 1]; depth (B, H, W), the expected ray termination distance sum(w * t) from the
    camera (background pixels tend to 0; None unless asked for); opacity (B, H, W), the rays' accumulated alpha."""

    rgb: torch.Tensor
    depth: torch.Tensor | None
    opacity: torch.Tensor

    @classmethod
    def from_rays(cls, rgb: torch.Tensor, depth: torch.Tensor, opacity: torch.Tensor, resolution: int) -> RenderOutput:
        """Per-ray results of square images in raster order, rgb (B, R * R, 3), depth and opacity (B, R * R)."""
        shape = (rgb.shape[0], resolution, resolution)
        return cls(
            rgb=rgb.reshape(*shape, 3).permute(0, 3, 1, 2).contiguous(),
            depth=depth.reshape(shape),
            opacity=opacity.reshape(shape),
        )


def check_latents(z: object, z_dim: int, batch: int | None = None) -> torch.Tensor:
    """z as a finite tensor (B, z_dim) (B = `batch` when given); ValueError naming what is wrong otherwise."""
    shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
    if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != z_dim:
        raise ValueError(f"z must be a tensor of shape (B, {z_dim}), got {shape}")
    if batch is not None and z.shape[0] != batch:
        wanted = "one latent" if batch == 1 else f"{batch} latents"
        raise ValueError(f"expected {wanted}: z of shape ({batch}, {z_dim}), got {shape}")
    if not torch.isfinite(z).all():
        raise ValueError("z contains NaN or infinite values")
    return z
