"""Refine an encoded latent against its photo: Adam on offsets to the field's codes, styles or z, the field's rays
rendered at the encoder's pose (view direction locked, as `Pix2NeRF.render` does), so that any field of the
contract (pix2nerf.fields.base) inverts.

    photo (1, 3, H, W) in [-1, 1] -> resized to settings.resolution -> target pixels (R*R, 3) in [0, 1]
    codes = the codes built from (settings.variable's start + offsets): the codes themselves, the styles, or z
    loss = MSE(rays(codes, encoder's pose), target) over `rays_per_step` random pixels a step
         + symmetry * the same for the mirrored photo at the mirrored pose + code_weight * mean((codes - encoder's)^2)
         + regulariser(codes), where one is given (for example a critic's opinion of other views)

The field runs as a frozen copy (gradients reach only the offsets): the model's weights, and renders that other
threads run with them, are untouched.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from pix2nerf.inversion.settings import InversionSettings
from pix2nerf.model import LOCKED_VIEW_DIRECTION, Latent, Pix2NeRF
from pix2nerf.rendering.cameras import constant_vectors, world_rays
from pix2nerf.rendering.volume import RaySamplingSettings, render_rays

Progress = Callable[[int, int], None]  # progress(done, total) after each step


def refine(
    model: Pix2NeRF,
    latent: Latent,
    photo: torch.Tensor,
    settings: InversionSettings,
    progress: Progress | None = None,
    regulariser: Callable[[tuple[torch.Tensor, ...]], torch.Tensor] | None = None,
) -> Latent:
    """The Latent of one image (batch 1, from `model.encode(photo)`) with `codes` refined against `photo`
    (1, 3, H, W) in [-1, 1]; its z and pose unchanged. Deterministic for a given settings.seed on a CPU.
    A step whose loss or codes are not finite ends the refinement with the best codes seen so far.
    regulariser(codes) -> a scalar loss added at every step (differentiable in the codes; None: none)."""
    if latent.z.shape[0] != 1 or photo.shape[0] != 1:
        raise ValueError(
            f"refine takes one latent and one photo, got batches of {latent.z.shape[0]} and {photo.shape[0]}"
        )
    if settings.steps == 0:
        return latent
    device, config = model.device, model.config
    size = (settings.resolution, settings.resolution)
    target = F.interpolate((photo.float() + 1) / 2, size=size, mode="bilinear", antialias=True, align_corners=False)
    yaw = latent.yaw.to(device).float().reshape(1) + config.yaw_offset  # the generator's frame
    pitch = latent.pitch.to(device).float().reshape(1)
    pixels = target.to(device).permute(0, 2, 3, 1).reshape(1, -1, 3)
    views = [_rays(yaw, pitch, settings.resolution, config.fov) + (pixels, 1.0)]
    if settings.symmetry > 0:  # the data's yaw y seen mirrored is -y: in the generator's frame 2 offset - yaw
        mirrored = target.flip(-1).to(device).permute(0, 2, 3, 1).reshape(1, -1, 3)
        views.append(
            _rays(2 * config.yaw_offset - yaw, pitch, settings.resolution, config.fov) + (mirrored, settings.symmetry)
        )
    num_rays = pixels.shape[1]
    rays_per_step = min(settings.rays_per_step or num_rays, num_rays)
    field = copy.deepcopy(model.field).requires_grad_(False)
    sampling = RaySamplingSettings(
        near=config.ray_start,
        far=config.ray_end,
        num_steps=settings.num_steps,
        hierarchical=settings.hierarchical,
        deterministic=True,
        background=config.background,
    )

    with torch.no_grad():
        z = latent.z.to(device, torch.float32)
        encoded = tuple(code.detach().float() for code in model.field.latent_codes(z))
        if settings.variable == "style":
            variables, build = tuple(s.detach().float() for s in model.field.styles(z)), model.field.codes_from_styles
        elif settings.variable == "z":
            variables, build = (z,), model.field.latent_codes
        else:
            variables, build = encoded, lambda *codes: codes
    offsets = [torch.zeros_like(v, requires_grad=True) for v in variables]

    def codes_of(values: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        return tuple(build(*(start + offset for start, offset in zip(variables, values))))

    optimizer = torch.optim.Adam(offsets, lr=settings.learning_rate)
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    best_loss, best_codes = math.inf, encoded
    for step in range(settings.steps):
        for group in optimizer.param_groups:
            group["lr"] = settings.learning_rate * (1 - (1 - settings.final_lr_fraction) * step / settings.steps)
        with torch.enable_grad():
            codes = codes_of(offsets)
            loss = 0.0
            for origins, directions, view, rgb, weight in views:
                chosen = torch.randperm(num_rays, generator=generator, device=device)[:rays_per_step]

                def field_fn(points: torch.Tensor, dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                    return field(points, dirs, *codes)

                rendered, _, _ = render_rays(field_fn, origins, directions[:, chosen], sampling, view[:, chosen])
                loss = loss + weight * F.mse_loss(rendered, rgb[:, chosen])
            if settings.code_weight > 0:
                loss = loss + settings.code_weight * sum(
                    (code - start).square().mean() for code, start in zip(codes, encoded)
                ) / len(codes)
            if regulariser is not None:
                loss = loss + regulariser(codes)
            if not torch.isfinite(loss):
                break
            if loss.item() < best_loss:
                best_loss, best_codes = loss.item(), tuple(code.detach() for code in codes)
            gradients = torch.autograd.grad(loss, offsets)
        for offset, gradient in zip(offsets, gradients):
            offset.grad = gradient
        optimizer.step()
        if settings.noise > 0:
            with torch.no_grad():
                scale = settings.noise * (1 - step / settings.steps)
                for offset in offsets:
                    offset.add_(torch.randn(offset.shape, generator=generator, device=device) * scale)
        if progress is not None:
            progress(step + 1, settings.steps)
    else:
        with torch.no_grad():
            final = tuple(code.detach() for code in codes_of(offsets))
        if all(torch.isfinite(code).all() for code in final):
            best_codes = final
    if progress is not None and step + 1 < settings.steps:
        progress(settings.steps, settings.steps)
    return Latent(z=latent.z, yaw=latent.yaw, pitch=latent.pitch, codes=best_codes)


def _rays(yaw: torch.Tensor, pitch: torch.Tensor, resolution: int, fov: float) -> tuple[torch.Tensor, ...]:
    """(origins (1, 3), directions (1, R*R, 3), locked view directions (1, R*R, 3)) of one camera, degrees."""
    origins, directions = world_rays(yaw, pitch, resolution, fov)
    return origins, directions, constant_vectors(LOCKED_VIEW_DIRECTION, directions)
