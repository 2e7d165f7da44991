"""Hybrid inversion on a CPU: held-out novel-view PSNR / SSIM (relative-pose protocol of pix2nerf.evaluation.benchmark)
and object colour error of the encoder alone and of each refinement variant, with its time per image and per step.

    pix2nerf make-dataset --category cars --train-objects 1 --test-objects 12 --test-views 6 --resolution 64 \\
        --seed 777 --out /tmp/invert_cars
    python benchmarks/inversion.py --data /tmp/invert_cars [--objects 12] [--variants default,z,...] \\
        [--out benchmarks/results/inversion_cpu.json]

The `critic_*` variants add the training discriminator's opinion of other views to the refinement's loss: each step
one view from the pose prior, rendered at 32 px with 12 + 12 samples and upsampled to D's resolution, scored by D's
realness (non-saturating, as G's loss) and by its pose head against the view's pose (G's pose loss). They need D from
a training checkpoint of the same model: `--critic RUN/checkpoint-<step>`. The `ceiling_*` variants are not
inversions: they fit the codes to every view of the object, the scored ones included, at the views' true pose offsets
from the input view (what this generator can show of the object at all, from the encoder's start and pose).

Two variants probe what limits identity rather than tune the refinement. `turned_round*` refine a second time from
the refined yaw plus 180 degrees and keep one of the two latents: the one whose render fits the photo better
(`turned_round`, an inversion), or the one nearer the true yaw (`turned_round_true_yaw`, a ceiling: what undoing
every front-to-back flip would gain). `photo_colours*` keep the default refinement and replace, in each novel view,
the colour of the surface points that the input view saw (their distance from the input camera within 0.01 of the
input view's depth there) by the photo's colour at their projection; `_mirrored` also projects the points mirrored
across the cars' plane of symmetry (the y axis and the data's yaw 0) where the direct projection is hidden.

On a GPU, `--device cuda --out benchmarks/results/inversion_gpu.json`. Renders are the model's default inference
renders (64 px, the config's samples per ray, view direction locked).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from common import environment, write_json

from pix2nerf import images as image_utils
from pix2nerf.evaluation.benchmark import load_objects, object_masks, relative_poses
from pix2nerf.evaluation.metrics import colour_error, psnr, ssim
from pix2nerf.inversion import InversionSettings, refine
from pix2nerf.inversion.refine import photo_target
from pix2nerf.model import Pix2NeRF
from pix2nerf.networks import Discriminator
from pix2nerf.rendering.cameras import prior_ranges, project_points, world_rays, wrap_degrees
from pix2nerf.rendering.volume import RaySamplingSettings
from pix2nerf.training.checkpoint import load_training_state
from pix2nerf.training.objective import official_pose

DEFAULT = InversionSettings()
FREE_CODES_64PX_36 = {
    "steps": 100,
    "learning_rate": 5e-2,
    "code_weight": 0.0,
    "resolution": 64,
    "num_steps": 36,
    "rays_per_step": 1024,
}
VARIANTS = {  # name -> changes to the default settings
    "default": {},
    "steps_10": {"steps": 10},
    "steps_40": {"steps": 40},
    "steps_100": {"steps": 100},
    "steps_200": {"steps": 200},
    "steps_200_all_rays": {"steps": 200, "rays_per_step": 0},
    "lr_1e-2": {"learning_rate": 1e-2},
    "lr_5e-2": {"learning_rate": 5e-2},
    "z": {"variable": "z"},
    # z free of the pull (the planes stay ones the generator makes: colour and body change everywhere at once)
    "z_lr_5e-2": {"variable": "z", "learning_rate": 5e-2, "code_weight": 0.0},
    "z_lr_1e-1": {"variable": "z", "learning_rate": 1e-1, "code_weight": 0.0},
    "z_80_lr_1e-1": {"variable": "z", "steps": 80, "learning_rate": 1e-1, "code_weight": 0.0},
    "code_weight_1": {"code_weight": 1.0},
    "symmetry_1": {"symmetry": 1.0},
    "symmetry_0.5": {"symmetry": 0.5},
    "all_rays": {"rays_per_step": 0},
    "resolution_64": {"resolution": 64},
    "noise_0.03": {"noise": 0.03},
    # the recipe (Pix2NeRF's hybrid_optimization.py at 50 steps): every pixel of a 64 px loss image, Adam 1e-2,
    # annealed noise 0.03, no pull towards the encoder's codes
    "official_50": {
        "steps": 50,
        "learning_rate": 1e-2,
        "resolution": 64,
        "rays_per_step": 0,
        "noise": 0.03,
        "code_weight": 0.0,
    },
    "official_50_32px": {
        "steps": 50,
        "learning_rate": 1e-2,
        "resolution": 32,
        "rays_per_step": 0,
        "noise": 0.03,
        "code_weight": 0.0,
    },
    "lr_1e-2_noise": {"learning_rate": 1e-2, "noise": 0.03},
    # offsets to the mapping network's output (the tri-plane's w, from which the planes are synthesised; for the SIREN
    # the codes themselves), free of the pull towards the encoder's codes
    "style_40_lr_5e-2": {"variable": "style", "learning_rate": 5e-2, "code_weight": 0.0},
    "style_40_lr_1e-1": {"variable": "style", "learning_rate": 1e-1, "code_weight": 0.0},
    "style_80_lr_5e-2": {"variable": "style", "steps": 80, "learning_rate": 5e-2, "code_weight": 0.0},
    "style_80_lr_1e-1": {"variable": "style", "steps": 80, "learning_rate": 1e-1, "code_weight": 0.0},
    # does the input view fit with more samples per ray, or with the planes (the tri-plane's codes) free of the pull?
    "samples_36": {"num_steps": 36},
    "free_codes_lr_1e-1": {"learning_rate": 1e-1, "code_weight": 0.0},
    "free_codes_100_64px_36": FREE_CODES_64PX_36,
    # the encoder's yaw and pitch refined with the codes (Adam in degrees); codes_only: the default before
    "codes_only": {"pose_learning_rate": 0.0},
    "pose_lr_0.1": {"pose_learning_rate": 0.1},
    "pose_lr_0.25": {"pose_learning_rate": 0.25},
    "pose_lr_0.5": {"pose_learning_rate": 0.5},
    "pose_lr_1": {"pose_learning_rate": 1.0},
    "pose_lr_4": {"pose_learning_rate": 4.0},
    # the discriminator's opinion of other views (realness weight, pose weight), beside the default's loss
    # the start's yaw chosen first among evenly spaced candidates by the fit of their renders (refined a few steps
    # each with probe_steps), against the encoder's large yaw errors and front-to-back flips
    "yaw_8": {"yaw_candidates": 8},
    "yaw_12": {"yaw_candidates": 12},
    "yaw_16": {"yaw_candidates": 16},
    "yaw_24": {"yaw_candidates": 24},
    "yaw_8_probe_10": {"yaw_candidates": 8, "probe_steps": 10},
    "yaw_12_probe_5": {"yaw_candidates": 12, "probe_steps": 5},
    # ceilings, not inversions: the codes fitted to every view of the object (the scored ones included) at their true
    # pose offsets from the input view, so what the generator can show of this object from the encoder's start and yaw
    "ceiling_all_views": {"all_views": True, "yaw_candidates": 1},
    "ceiling_all_views_free_200": {"all_views": True, "steps": 200, "code_weight": 0.0, "yaw_candidates": 1},
    "ceiling_all_views_free_100_64px_36": {"all_views": True, "yaw_candidates": 1, **FREE_CODES_64PX_36},
    "turned_round": {"turned_round": "fit"},
    "turned_round_true_yaw": {"turned_round": "truth"},
    "photo_colours": {"photo_colours": "direct"},
    "photo_colours_mirrored": {"photo_colours": "mirrored"},
    "critic_0.01": {"critic": (0.01, 0.0)},
    "critic_0.1": {"critic": (0.1, 0.0)},
    "critic_pose_0.1": {"critic": (0.0, 0.1)},
    "critic_0.01_pose_0.1": {"critic": (0.01, 0.1)},
    # pivotal tuning: the synthesis network's weights (a copy) tuned too, so that the planes stay ones its
    # convolutions make and a change the photo asks for on one side reaches the features shared with the other
    "generator_lr_1e-4": {"generator_learning_rate": 1e-4},
    "generator_lr_3e-4": {"generator_learning_rate": 3e-4},
    "generator_lr_3e-3": {"generator_learning_rate": 3e-3},
    "generator_lr_3e-4_free": {"generator_learning_rate": 3e-4, "code_weight": 0.0},
    "generator_only_lr_3e-4": {"generator_learning_rate": 3e-4, "learning_rate": 1e-9, "code_weight": 0.0},
    "style_80_lr_1e-1_decay": {
        "variable": "style",
        "steps": 80,
        "learning_rate": 1e-1,
        "final_lr_fraction": 0.1,
        "code_weight": 0.0,
    },
}


def load_discriminator(model: Pix2NeRF, checkpoint: str) -> Discriminator:
    """The discriminator of a training checkpoint (`checkpoint-<step>` folder) of `model`'s config, frozen."""
    state, _ = load_training_state(checkpoint)
    discriminator = Discriminator(model.config.discriminator_channels, model.config.discriminator_type)
    discriminator.load_state_dict(state["discriminator"])
    return discriminator.to(model.device).eval().requires_grad_(False)


def critic_loss(
    model: Pix2NeRF, discriminator: Discriminator, realness: float, pose: float, seed: int = 0
) -> Callable[[tuple[torch.Tensor, ...]], torch.Tensor]:
    """codes -> realness * softplus(-D(view)) + pose * MSE(D's pose, the view's) for one view a call from the pose
    prior (32 px, 12 + 12 samples, upsampled to D's training resolution)."""
    config = model.config
    generator = torch.Generator(device=model.device).manual_seed(seed)
    sampling = RaySamplingSettings(
        near=config.ray_start, far=config.ray_end, num_steps=12, deterministic=True, background=config.background
    )
    size = config.training_stages[-1]["resolution"]

    def loss(codes: tuple[torch.Tensor, ...]) -> torch.Tensor:
        yaw, pitch = model.sample_poses(1, generator)
        rgb = model.render_codes(codes, yaw, pitch, 32, sampling, True).rgb
        image = F.interpolate(rgb * 2 - 1, size=(size, size), mode="bilinear", align_corners=False)
        logit, predicted_pose = discriminator(image, 1.0)
        return realness * F.softplus(-logit).mean() + pose * F.mse_loss(predicted_pose, official_pose(yaw, pitch))

    return loss


PHOTO_DEPTH_TOLERANCE = 0.01  # scene units: a surface point counts as seen by the input view within this of its depth


def turned_round(model: Pix2NeRF, photo: torch.Tensor, latent, settings: InversionSettings, keep: str, true_yaw):
    """`latent` (refined from `photo` (1, 3, H, W) in [-1, 1]) or the same refinement from the encoder's codes at
    its yaw + 180 degrees: the one whose render fits the photo better (keep="fit") or whose yaw is nearer
    `true_yaw` (degrees, keep="truth")."""
    encoded = model.encode_input(photo)
    start = dataclasses.replace(encoded, yaw=wrap_degrees(latent.yaw + 180.0), pitch=latent.pitch)
    other = refine(model, start, photo, settings.replace(yaw_candidates=1))
    if keep == "truth":
        errors = [abs(float(wrap_degrees(c.yaw[0].cpu() - true_yaw))) for c in (latent, other)]
    else:
        target = photo_target(photo, settings.resolution)
        renders = [model.render(c, resolution=settings.resolution, return_depth=False).rgb for c in (latent, other)]
        errors = [(r.float() - target.to(r.device)).square().mean().item() for r in renders]
    return other if errors[1] < errors[0] else latent


def photo_colours(model: Pix2NeRF, latent, photo: torch.Tensor, views, yaw, pitch, mirrored: bool) -> torch.Tensor:
    """The rgb (V, 3, R, R) in [0, 1] of `views` (a RenderOutput of `latent` at (yaw, pitch) (V,) with depth, the
    first at the latent's own pose: the input view) with the colour of each pixel's surface point (its expected
    depth) replaced by the photo's (1, 3, R, R) in [0, 1] where the input view sees that point; with `mirrored`,
    points mirrored across the cars' plane of symmetry fill in where it does not."""
    count, resolution = views.rgb.shape[0], views.rgb.shape[-1]
    fov, offset = model.config.fov, model.config.yaw_offset
    opacity = views.opacity.cpu()[:, None]
    origins, directions = world_rays(yaw + offset, pitch, resolution, fov)
    depth = (views.depth.cpu() / opacity[:, 0].clamp_min(1e-4)).reshape(count, -1, 1)
    points = origins[:, None] + directions * depth
    input_yaw, input_pitch = latent.yaw.cpu().float() + offset, latent.pitch.cpu().float()
    input_origin = world_rays(input_yaw, input_pitch, 1, fov)[0]
    input_depth = views.depth[:1].cpu() / views.opacity[:1].cpu().clamp_min(1e-4)
    maps = torch.cat([photo[0], input_depth, views.opacity[:1].cpu()])  # (5, R, R): colour, depth, opacity
    out, filled = views.rgb.cpu(), torch.zeros_like(opacity)
    # the cars' mirror plane holds the y axis and the data's front (yaw 0 of the data: the generator's yaw_offset)
    normal = torch.tensor([math.cos(math.radians(offset)), 0.0, math.sin(math.radians(offset))])
    for mirror in (False, True) if mirrored else (False,):
        where = points - 2 * (points * normal).sum(-1, keepdim=True) * normal if mirror else points
        pixels = project_points(where.reshape(1, -1, 3), input_yaw, input_pitch, resolution, fov)[0]
        grid = (pixels / (resolution - 1) * 2 - 1).view(1, 1, -1, 2)
        sampled = F.grid_sample(maps[None], grid, align_corners=True, padding_mode="border")[0, :, 0]
        inside = ((pixels >= 0) & (pixels <= resolution - 1)).all(-1)
        distance = (where.reshape(-1, 3) - input_origin).norm(dim=-1)
        visible = inside & ((distance - sampled[3]).abs() < PHOTO_DEPTH_TOLERANCE) & (sampled[4] > 0.5)
        visible = visible.float().view(count, 1, resolution, resolution) * (1 - filled)
        colour = sampled[:3].reshape(3, count, resolution, resolution).transpose(0, 1)
        out = (1 - visible) * out + visible * (opacity * colour + (1 - opacity))
        filled = filled + visible
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--data", required=True, help="a multi-view test split (pix2nerf make-dataset)")
    parser.add_argument("--objects", type=int, default=12)
    parser.add_argument(
        "--variants",
        default=None,
        help=f"comma-separated, of {', '.join(VARIANTS)} (default: all; the critic_* ones only with --critic)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (then also --out .../inversion_gpu.json)")
    parser.add_argument("--out", default="benchmarks/results/inversion_cpu.json")
    parser.add_argument("--critic", default=None, help="a training checkpoint folder with D (the critic_* variants)")
    args = parser.parse_args()
    names = (
        args.variants.split(",")
        if args.variants
        else [n for n in VARIANTS if args.critic or not n.startswith("critic")]
    )
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    if not args.critic and any("critic" in VARIANTS[name] for name in names):
        parser.error("the critic_* variants need --critic RUN/checkpoint-<step> (a training checkpoint with D)")
    torch.set_num_threads(args.threads)
    model = Pix2NeRF.from_pretrained(args.model, map_location=args.device)
    objects = load_objects(args.data, "test", num_objects=args.objects)
    resolution = model.config.encoder_resolution
    _, limits = prior_ranges(model.config)
    truths = [
        torch.stack([image_utils.preprocess(i, resolution, model.background_color) for i in o.images]).add(1).div(2)
        for o in objects
    ]
    masks = [object_masks(o, resolution) for o in objects]
    results = {
        "environment": {**environment(torch.device(args.device)), "load_average_1min": os.getloadavg()[0]},
        "model": args.model,
        "data": args.data,
        "critic": args.critic,
        "protocol": "relative_pose",
        "objects": len(objects),
        "target_views": sum(len(t) - 1 for t in truths),
        "object_ids": [str(o.object_id) for o in objects],
        "render": {"resolution": resolution, "num_steps": model.config.num_steps, "lock_view_dependence": True},
        "default_settings": DEFAULT.__dict__,
        "variants": {},
    }

    def score(name: str, invert, colours: str | None = None) -> None:
        rows = {"psnr": [], "ssim": [], "colour_error": [], "input_psnr": []}
        seconds, step_seconds = [], []
        for obj, truth, mask in zip(objects, truths, masks):
            ticks = [time.perf_counter()]
            latent = invert(obj, lambda done, total: ticks.append(time.perf_counter()))
            if args.device != "cpu":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - ticks[0])
            step_seconds += [b - a for a, b in zip(ticks[1:-1], ticks[2:])]
            yaw, pitch = relative_poses(obj, latent.yaw[0], latent.pitch[0], limits)
            yaw, pitch = torch.cat([latent.yaw[:1].cpu(), yaw]), torch.cat([latent.pitch[:1].cpu(), pitch])
            views = model.render(latent.first(len(yaw)), yaw, pitch, resolution=resolution, return_depth=bool(colours))
            rgb = views.rgb.cpu()
            if colours is not None:
                photo = model.preprocess(obj.images[0]).cpu().add(1).div(2)  # what the refinement fitted
                rgb = photo_colours(model, latent, photo, views, yaw, pitch, colours == "mirrored")
            rows["input_psnr"].append(psnr(rgb[:1], truth[:1]))
            rows["psnr"].append(psnr(rgb[1:], truth[1:]))
            rows["ssim"].append(ssim(rgb[1:], truth[1:]))
            rows["colour_error"].append(colour_error(rgb[1:], truth[1:], mask[1:]))
        entry = {key: torch.cat(values).mean().item() for key, values in rows.items()}
        entry["seconds_per_image"] = statistics.mean(seconds)
        entry["seconds_per_step"] = statistics.median(step_seconds) if step_seconds else 0.0
        print(name, {k: round(v, 4) for k, v in entry.items()}, flush=True)
        entry["per_object"] = {  # each object's mean over its novel views, in the order of `object_ids`
            key: [round(v.mean().item(), 4) for v in values] for key, values in rows.items() if key != "input_psnr"
        }
        results["variants"][name] = entry
        write_json(args.out, results)

    discriminator = load_discriminator(model, args.critic) if args.critic else None

    def invert(obj, progress, settings: InversionSettings, critic, all_views: bool, turned: str | None):
        target = model.preprocess(obj.images[0])
        if turned:
            latent = model.invert(obj.images[0], settings=settings, progress=progress)
            return turned_round(model, target, latent, settings, turned, obj.yaw[0])
        if critic is None and not all_views:
            return model.invert(obj.images[0], settings=settings, progress=progress)
        regulariser = critic_loss(model, discriminator, *critic, seed=settings.seed) if critic else None
        others = []
        if all_views:
            yaw_offsets = wrap_degrees(torch.tensor(obj.yaw[1:]) - obj.yaw[0]).tolist()
            pitch_offsets = [pitch - obj.pitch[0] for pitch in obj.pitch[1:]]
            others = list(zip((model.preprocess(image) for image in obj.images[1:]), yaw_offsets, pitch_offsets))
        return refine(model, model.encode_input(target), target, settings, progress, regulariser, others)

    score("encoder", lambda obj, progress: model.encode(obj.images[0]))
    for name in names:
        changes = dict(VARIANTS[name])
        critic, all_views = changes.pop("critic", None), changes.pop("all_views", False)
        turned, colours = changes.pop("turned_round", None), changes.pop("photo_colours", None)
        settings = DEFAULT.replace(**changes)
        results["variants"].setdefault(name, {})
        score(
            name,
            lambda obj, progress, s=settings, c=critic, a=all_views, t=turned: invert(obj, progress, s, c, a, t),
            colours,
        )
        results["variants"][name]["settings"] = VARIANTS[name]
        write_json(args.out, results)


if __name__ == "__main__":
    main()
