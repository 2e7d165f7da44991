"""Refine an encoded latent against its photo: Adam on offsets to the field's codes, styles or z, the field's rays
rendered at the encoder's pose (view direction locked, as `Pix2NeRF.render` does), so that any field of the
contract (pix2nerf.fields.base) inverts.

    photo (1, 3, H, W) in [-1, 1] -> resized to settings.resolution -> target pixels (R*R, 3) in [0, 1]
    codes = the codes built from (settings.variable's start + offsets): the codes themselves, the styles, or z
    loss = MSE(rays(codes, pose), target) over `rays_per_step` random pixels a step (pose: the encoder's, refined
           too when settings.pose_learning_rate > 0)
         + symmetry * the same for the mirrored photo at the mirrored pose
         + the same for each further photo of the object at its known pose offset from the first (`other_views`)
         + code_weight * mean((codes - encoder's)^2)
         + regulariser(codes), where one is given (for example a critic's opinion of other views)

The field runs as a frozen copy (gradients reach only the offsets, and with settings.generator_learning_rate > 0 the
copy's code synthesis weights, field.code_synthesis()): the model's weights, and renders that other threads run with
them, are untouched.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from pix2nerf.inversion.settings import InversionSettings
from pix2nerf.limits import current as current_limits
from pix2nerf.model import LOCKED_VIEW_DIRECTION, Latent, Pix2NeRF
from pix2nerf.rendering.cameras import constant_vectors, prior_ranges, world_rays, wrap_degrees
from pix2nerf.rendering.volume import RaySamplingSettings, render_rays

Progress = Callable[[int, int], None]  # progress(done, total) after each step


def refine(
    model: Pix2NeRF,
    latent: Latent,
    photo: torch.Tensor,
    settings: InversionSettings,
    progress: Progress | None = None,
    regulariser: Callable[[tuple[torch.Tensor, ...]], torch.Tensor] | None = None,
    other_views: Sequence[tuple[torch.Tensor, float, float]] = (),
) -> Latent:
    """The Latent of one image (batch 1, from `model.encode(photo)`) with `codes` refined against `photo`
    (1, 3, H, W) in [-1, 1]; its z unchanged, its pose too unless settings.pose_learning_rate > 0 or
    settings.yaw_candidates > 1 (the start's yaw chosen first: `best_yaw`). Deterministic for a given settings.seed
    on a CPU. A step whose loss or codes are not finite ends the refinement with the best codes (and pose) seen so
    far. progress(done, settings.total_steps) after each step.
    regulariser(codes) -> a scalar loss added at every step (differentiable in the codes; None: none).
    other_views: further photos of the same object, (photo (1, 3, H', W') in [-1, 1], yaw offset, pitch offset) with
    the offsets of its pose from `photo`'s in degrees; each adds its loss at the refined pose plus its offsets."""
    if latent.z.shape[0] != 1 or photo.shape[0] != 1:
        raise ValueError(
            f"refine takes one latent and one photo, got batches of {latent.z.shape[0]} and {photo.shape[0]}"
        )
    for image, _, _ in other_views:
        if image.ndim != 4 or image.shape[:2] != (1, 3):
            raise ValueError(f"each of other_views takes a photo of shape (1, 3, H, W), got {tuple(image.shape)}")
    if settings.generator_learning_rate > 0 and model.field.code_synthesis() is None:
        raise ValueError(
            f"generator_learning_rate > 0 tunes the weights that build a field's codes from its styles; the "
            f"{model.field.field_type!r} field's codes are its styles (use 0)"
        )
    if settings.steps == 0:
        return latent
    total = settings.total_steps
    if settings.yaw_candidates > 1:
        latent = best_yaw(model, latent, photo, settings, progress, regulariser, other_views)
    return _fit(
        model, latent, photo, settings, _shifted(progress, total - settings.steps, total), regulariser, other_views
    )


def best_yaw(
    model: Pix2NeRF,
    latent: Latent,
    photo: torch.Tensor,
    settings: InversionSettings,
    progress: Progress | None = None,
    regulariser: Callable[[tuple[torch.Tensor, ...]], torch.Tensor] | None = None,
    other_views: Sequence[tuple[torch.Tensor, float, float]] = (),
) -> Latent:
    """`latent` turned to the best of settings.yaw_candidates yaws spaced evenly around the circle from its own
    (wrapped into [-180, 180) degrees): each candidate refined settings.probe_steps steps (0: none), then rendered at
    settings.resolution with the model's samples per ray; the best is the one whose render's mean squared error to
    `photo` is lowest (ties, or no finite error: the earliest, so the encoder's own yaw first). Its codes and pitch
    are `latent`'s.
    progress(done, total_steps) after each probe step."""
    target = photo_target(photo, settings.resolution)
    count = settings.yaw_candidates
    yaws = wrap_degrees(latent.yaw[:1] + 360.0 * torch.arange(count, device=latent.yaw.device) / count)
    probe = settings.replace(steps=settings.probe_steps, yaw_candidates=1)
    candidates = [Latent(z=latent.z, yaw=yaw[None], pitch=latent.pitch, codes=latent.codes) for yaw in yaws]
    if probe.steps:
        fitted = [
            _fit(
                model,
                candidate,
                photo,
                probe,
                _shifted(progress, index * probe.steps, settings.total_steps),
                regulariser,
                other_views,
            )
            for index, candidate in enumerate(candidates)
        ]
        with torch.no_grad():
            rgb = torch.cat([model.render(f, resolution=settings.resolution, return_depth=False).rgb for f in fitted])
    else:  # the candidates in batched renders, as many at once as a render takes
        group = current_limits().batch_size
        with torch.no_grad():
            rgb = torch.cat(
                [
                    model.render(
                        latent.first(len(some)),
                        some,
                        latent.pitch[:1].expand(len(some)),
                        resolution=settings.resolution,
                        return_depth=False,
                    ).rgb
                    for some in yaws.split(group)
                ]
            )
    errors = (rgb.float() - target.to(rgb.device)).square().mean((1, 2, 3)).nan_to_num(nan=math.inf)
    return candidates[int(errors.argmin())]  # the first of equal errors; a NaN error never wins


def photo_target(photo: torch.Tensor, resolution: int) -> torch.Tensor:
    """What the refinement's renders are compared with: photo (1, 3, H, W) in [-1, 1] resized to (1, 3, R, R) in
    [0, 1], R = resolution."""
    image = (photo.float() + 1) / 2
    return F.interpolate(image, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)


def _shifted(progress: Progress | None, offset: int, total: int) -> Progress | None:
    """progress(offset + done, total) for a part of the work that reports (done, its own total)."""
    return None if progress is None else lambda done, _: progress(offset + done, total)


def _fit(
    model: Pix2NeRF,
    latent: Latent,
    photo: torch.Tensor,
    settings: InversionSettings,
    progress: Progress | None,
    regulariser: Callable[[tuple[torch.Tensor, ...]], torch.Tensor] | None,
    other_views: Sequence[tuple[torch.Tensor, float, float]],
) -> Latent:
    """`refine` from the given latent's yaw (settings.steps > 0): progress(done, settings.steps)."""
    device, config = model.device, model.config

    def pixels_of(image: torch.Tensor) -> torch.Tensor:
        """(1, R*R, 3) in [0, 1]: an image in [-1, 1] resized to the loss's resolution."""
        return photo_target(image, settings.resolution).to(device).permute(0, 2, 3, 1).reshape(1, -1, 3)

    yaw = latent.yaw.to(device).float().reshape(1) + config.yaw_offset  # the generator's frame
    pitch = latent.pitch.to(device).float().reshape(1)
    views = [(1.0, 0.0, 0.0, pixels_of(photo), 1.0)]  # (yaw's sign, yaw and pitch offsets, target pixels, weight)
    if settings.symmetry > 0:  # the data's yaw y seen mirrored is -y: in the generator's frame 2 offset - yaw
        views.append((-1.0, 0.0, 0.0, pixels_of(photo.flip(-1)), settings.symmetry))
    for image, yaw_offset, pitch_offset in other_views:
        views.append((1.0, float(yaw_offset), float(pitch_offset), pixels_of(image), 1.0))
    pose_offset = torch.zeros(2, device=device, requires_grad=settings.pose_learning_rate > 0)  # degrees

    def rays_of(sign: float, yaw_offset: float, pitch_offset: float) -> tuple[torch.Tensor, ...]:
        view_yaw = yaw + pose_offset[:1] + yaw_offset
        view_yaw = view_yaw if sign > 0 else 2 * config.yaw_offset - view_yaw
        return _rays(view_yaw, pitch + pose_offset[1:] + pitch_offset, settings.resolution, config.fov)

    num_rays = views[0][3].shape[1]
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

    synthesis = field.code_synthesis() if settings.generator_learning_rate > 0 else None
    weights = list(synthesis.requires_grad_(True).parameters()) if synthesis is not None else []
    with torch.no_grad():
        z = latent.z.to(device, torch.float32)
        encoded = tuple(code.detach().float() for code in field.latent_codes(z))
        if settings.variable == "style":
            variables, build = tuple(s.detach().float() for s in field.styles(z)), field.codes_from_styles
        elif settings.variable == "z":
            variables, build = (z,), field.latent_codes
        elif weights:  # offsets on top of the tuned synthesis's planes
            styles = tuple(s.detach().float() for s in field.styles(z))
            variables = encoded

            def build(*codes: torch.Tensor) -> tuple[torch.Tensor, ...]:
                tuned = field.codes_from_styles(*styles)
                return tuple(c + (t - e) for t, c, e in zip(tuned, codes, encoded))
        else:
            variables, build = encoded, lambda *codes: codes
    offsets = [torch.zeros_like(v, requires_grad=True) for v in variables]

    def codes_of(values: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        return tuple(build(*(start + offset for start, offset in zip(variables, values))))

    variables_to_fit = [{"params": offsets, "base_lr": settings.learning_rate}]
    if settings.pose_learning_rate > 0:
        variables_to_fit.append({"params": [pose_offset], "base_lr": settings.pose_learning_rate})
    if weights:
        variables_to_fit.append({"params": weights, "base_lr": settings.generator_learning_rate})
    optimizer = torch.optim.Adam(variables_to_fit, lr=settings.learning_rate)
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    best_loss, best_codes, best_pose = math.inf, encoded, pose_offset.detach().clone()
    for step in range(settings.steps):
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * (1 - (1 - settings.final_lr_fraction) * step / settings.steps)
        with torch.enable_grad():
            codes = codes_of(offsets)
            if not all(torch.isfinite(code).all() for code in codes):  # a render would index planes with NaN
                break
            loss = 0.0
            for sign, yaw_offset, pitch_offset, rgb, weight in views:
                origins, directions, view = rays_of(sign, yaw_offset, pitch_offset)
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
                best_pose = pose_offset.detach().clone()
            fitted = [*offsets, *([pose_offset] if settings.pose_learning_rate > 0 else []), *weights]
            gradients = torch.autograd.grad(loss, fitted)
        for variable, gradient in zip(fitted, gradients):
            variable.grad = gradient
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
        if all(torch.isfinite(code).all() for code in final) and torch.isfinite(pose_offset).all():
            best_codes, best_pose = final, pose_offset.detach().clone()
    if progress is not None and step + 1 < settings.steps:
        progress(settings.steps, settings.steps)
    best_pose = best_pose.to(latent.yaw.device, latent.yaw.dtype)
    pitch_range = prior_ranges(config)[1]  # the refined pitch stays where the encoder's may lie
    refined_pitch = (latent.pitch + best_pose[1]).clamp(*pitch_range)
    return Latent(z=latent.z, yaw=latent.yaw + best_pose[0], pitch=refined_pitch, codes=best_codes)


def _rays(yaw: torch.Tensor, pitch: torch.Tensor, resolution: int, fov: float) -> tuple[torch.Tensor, ...]:
    """(origins (1, 3), directions (1, R*R, 3), locked view directions (1, R*R, 3)) of one camera, degrees."""
    origins, directions = world_rays(yaw, pitch, resolution, fov)
    return origins, directions, constant_vectors(LOCKED_VIEW_DIRECTION, directions)
