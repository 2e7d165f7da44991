"""Novel-view evaluation on a multi-view test split (the `pix2nerf eval` command is pix2nerf.cli.evaluate).

For every held-out object (rows with object_id, view_id, yaw, pitch in degrees, and an RGBA image; view 0 is the
input), the model encodes view 0 and renders every other view. PSNR and SSIM (data range 1) against the ground truth
composited over the model's background, under two protocols:

- "relative_pose": at the encoder's pose of view 0 plus the true pose offset of the target (yaw offset wrapped,
  pitch offset added, pitch clamped to the pose prior's range);
- "predicted_pose" (the paper's): at the pose the encoder predicts for the target image itself.

Also the encoder's pose error (degrees, yaw wrap-aware) on every view, the reconstruction of the input view at its
predicted pose, the object colour error of each protocol (pix2nerf.evaluation.metrics.colour_error over the
ground-truth alpha > 0.5), and two baselines on the same target views: the input image itself, and a blank background
image. With `refine` settings, the same protocols again from `model.invert` of view 0 (the "refined" rows, relative to
the input's pose as the refinement returns it), timed.

Yaw is reported twice. A GAN trained on unposed images under a full-circle yaw prior picks its own yaw origin: turning
every generated scene about the vertical axis leaves the image distribution unchanged, so its yaw 0 is the data's
yaw c for some unknown c. "yaw" is the raw error in the data's frame; "yaw_aligned" is the error once one global
offset is removed, fitted on the other half of the objects (even objects use the offset of the odd ones and
vice versa), so no view helps fit its own correction. Pitch needs no alignment: the prior fixes the up direction.
The two rendering protocols are unaffected by the offset (they use the encoder's own poses).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from pix2nerf import images as image_utils
from pix2nerf.evaluation.metrics import colour_error, psnr, ssim, ssim_skimage
from pix2nerf.rendering.cameras import prior_ranges, scene_half_size, wrap_degrees

REQUIRED_COLUMNS = ("object_id", "view_id", "yaw", "pitch")
PROTOCOLS = ("relative_pose", "predicted_pose")
BASELINES = ("input_image", "blank_background")
# per-image metrics of every row: "ssim" is the official code's (zero padding), "ssim_skimage" scikit-image's
IMAGE_METRICS = {"psnr": psnr, "ssim": ssim, "ssim_skimage": ssim_skimage}


@dataclass
class ObjectViews:
    """The views of one test object: images (PIL, RGBA or RGB), their true yaw and pitch in degrees; view 0 first."""

    object_id: str
    category: str
    images: list[Image.Image]
    yaw: list[float]
    pitch: list[float]


@dataclass
class EvaluationSamples:
    """Images of the first objects for the grid: input (3, R, R), predictions and truths (V - 1, 3, R, R), in [0, 1]."""

    inputs: list[torch.Tensor] = field(default_factory=list)
    predictions: list[torch.Tensor] = field(default_factory=list)
    truths: list[torch.Tensor] = field(default_factory=list)


def load_objects(
    data: str, split: str = "test", *, num_objects: int | None = None, image_column: str = "image"
) -> list[ObjectViews]:
    """The multi-view objects of a split (local folder, parquet file or hub id), in object_id order, objects with at
    least two views only; the first `num_objects` of them (all when None)."""
    from pix2nerf.data.reading import load_split, undecoded_column

    dataset = load_split(data, split, unnamed_as=split)  # a single parquet file or saved Dataset is the split asked for
    missing = [c for c in (*REQUIRED_COLUMNS, image_column) if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"{data} [{split}] lacks the columns {missing}; a multi-view test split has {list(REQUIRED_COLUMNS)} "
            f"and an image column (columns found: {dataset.column_names})"
        )
    meta = dataset.select_columns([c for c in (*REQUIRED_COLUMNS, "category") if c in dataset.column_names]).to_dict()
    rows_by_object: dict[str, list[int]] = {}
    for row, object_id in enumerate(meta["object_id"]):
        rows_by_object.setdefault(str(object_id), []).append(row)
    object_ids = sorted((o for o, rows in rows_by_object.items() if len(rows) >= 2), key=_natural_key)
    if not object_ids:
        raise ValueError(
            f"{data} [{split}] has no object with two or more views; evaluation needs an input and a target view"
        )
    images = undecoded_column(dataset, image_column)
    objects = []
    for object_id in object_ids[:num_objects]:
        rows = sorted(rows_by_object[object_id], key=lambda r: int(meta["view_id"][r]))
        objects.append(
            ObjectViews(
                object_id=object_id,
                category=str(meta["category"][rows[0]]) if "category" in meta else "",
                images=[_decode(images[r][image_column], object_id, meta["view_id"][r]) for r in rows],
                yaw=[float(meta["yaw"][r]) for r in rows],
                pitch=[float(meta["pitch"][r]) for r in rows],
            )
        )
    return objects


def _decode(cell, object_id: str, view_id) -> Image.Image:
    from pix2nerf.data.reading import pil_from_cell

    try:
        return pil_from_cell(cell)
    except (ValueError, TypeError, OSError) as error:
        raise ValueError(f"object {object_id} view {view_id}: {error}") from None


def _natural_key(text: str) -> tuple:
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def fit_yaw_offset(differences: torch.Tensor, step_deg: float = 0.1) -> float:
    """The global yaw offset c (degrees, in [-180, 180)) that minimises the mean |wrap(d - c)| over signed
    differences d = predicted - true yaw (degrees); a grid search, so it is exact to `step_deg`."""
    if differences.numel() == 0:
        raise ValueError("no yaw differences to fit an offset to")
    candidates = torch.arange(-180.0, 180.0, step_deg, dtype=torch.float64)
    d = differences.double().flatten()
    cost = torch.cat([wrap_degrees(d[None, :] - chunk[:, None]).abs().mean(1) for chunk in candidates.split(256)])
    return candidates[cost.argmin()].item()


def yaw_alignment(differences_by_object: Sequence[torch.Tensor]) -> tuple[dict[str, Any], torch.Tensor]:
    """(summary, aligned absolute errors of every view) for signed yaw differences per object (degrees).

    Each object is aligned with the offset fitted on the objects of the other parity (with one object, its own).
    summary: {"offset_deg" (fitted on all), "front_back_flips" (share of views still off by more than 90 deg)}.
    """
    even = torch.cat([d for i, d in enumerate(differences_by_object) if i % 2 == 0])
    odd = [d for i, d in enumerate(differences_by_object) if i % 2 == 1]
    offsets = (fit_yaw_offset(torch.cat(odd)) if odd else fit_yaw_offset(even), fit_yaw_offset(even))
    aligned = torch.cat([wrap_degrees(d - offsets[i % 2]).abs() for i, d in enumerate(differences_by_object)])
    summary = {
        "offset_deg": fit_yaw_offset(torch.cat(list(differences_by_object))),
        "front_back_flips": (aligned > 90).double().mean().item(),
    }
    return summary, aligned


def pose_errors(yaw_differences: Sequence[torch.Tensor], pitch_errors: Sequence[torch.Tensor]) -> dict[str, Any]:
    """{"pose_error_deg": {"yaw", "yaw_aligned", "pitch"}, "yaw_alignment"} from per-object signed yaw differences
    and absolute pitch errors (degrees)."""
    alignment, aligned = yaw_alignment(yaw_differences)
    return {
        "pose_error_deg": {
            "yaw": _summary(torch.cat(yaw_differences).abs()),
            "yaw_aligned": _summary(aligned),
            "pitch": _summary(torch.cat(pitch_errors)),
        },
        "yaw_alignment": alignment,
    }


def relative_poses(
    obj: ObjectViews,
    input_yaw: float | torch.Tensor,
    input_pitch: float | torch.Tensor,
    pitch_limits: tuple[float, float],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The relative-pose protocol's cameras of views 1.. (degrees, (V - 1,) each): the input's predicted pose plus
    each target's true offset from view 0 (yaw wrapped, pitch clamped to `pitch_limits`)."""
    true_yaw, true_pitch = torch.tensor(obj.yaw), torch.tensor(obj.pitch)
    input_yaw, input_pitch = (torch.as_tensor(angle).float().cpu() for angle in (input_yaw, input_pitch))
    yaw = input_yaw + wrap_degrees(true_yaw[1:] - true_yaw[0])
    return yaw, (input_pitch + true_pitch[1:] - true_pitch[0]).clamp(*pitch_limits)


def object_masks(obj: ObjectViews, resolution: int) -> torch.Tensor:
    """Where each view shows the object, (V, R, R) bool: ground-truth alpha > 0.5, cropped and resized as the
    images are (views without alpha: everywhere)."""
    masks = []
    for image in obj.images:
        alpha = image.getchannel("A") if "A" in image.getbands() else image.convert("L").point(lambda _: 255)
        masks.append(image_utils.preprocess(alpha.convert("RGB"), resolution)[0] > 0)  # [-1, 1]: alpha > 0.5
    return torch.stack(masks)


def _input_pose_errors(errors: Sequence[torch.Tensor]) -> dict[str, Any]:
    """{"yaw", "pitch": summaries of the absolute errors, "front_back_flips": the share of yaw errors over 90 deg}
    from (signed yaw error, signed pitch error) pairs, degrees."""
    stacked = torch.stack(list(errors)).abs()
    return {
        "yaw": _summary(stacked[:, 0]),
        "pitch": _summary(stacked[:, 1]),
        "front_back_flips": (stacked[:, 0] > 90).double().mean().item(),
    }


def _encoded_poses(model, obj: ObjectViews):
    """(latent of every view, signed yaw differences, absolute pitch errors), degrees, on the CPU."""
    latent = model.encode(obj.images)
    pred_yaw, pred_pitch = latent.yaw.float().cpu(), latent.pitch.float().cpu()
    return latent, wrap_degrees(pred_yaw - torch.tensor(obj.yaw)), (pred_pitch - torch.tensor(obj.pitch)).abs()


@torch.no_grad()
def encoded_pose_errors(
    model, objects: Sequence[ObjectViews], *, progress: bool = True
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per object: the signed yaw differences (predicted - true, wrapped) and absolute pitch errors, degrees."""
    from tqdm.auto import tqdm

    _check_evaluable(model, objects)
    yaw_differences, pitch_errors = [], []
    for obj in tqdm(objects, desc="encoding", unit="object", disable=not progress):
        _, yaw_difference, pitch_error = _encoded_poses(model, obj)
        yaw_differences.append(yaw_difference)
        pitch_errors.append(pitch_error)
    return yaw_differences, pitch_errors


def evaluate_poses(model, objects: Sequence[ObjectViews], *, progress: bool = True) -> dict[str, Any]:
    """The encoder's pose errors alone (no rendering: seconds on a CPU); the same keys as `evaluate`'s."""
    return {
        **pose_errors(*encoded_pose_errors(model, objects, progress=progress)),
        "counts": {"objects": len(objects), "pose_views": sum(len(o.images) for o in objects)},
    }


def _check_evaluable(model, objects: Sequence[ObjectViews]) -> None:
    if model.encoder is None:
        raise ValueError("the model has no encoder (a converted pi-GAN generator): it cannot be evaluated on images")
    if not objects:
        raise ValueError("no objects to evaluate")


def _summary(values: torch.Tensor) -> dict[str, float]:
    values = values.double()
    return {"mean": values.mean().item(), "std": values.std(unbiased=False).item(), "median": values.median().item()}


@torch.no_grad()
def sample_diversity(model, *, num_latents: int = 8, resolution: int = 32, yaw: float = 30.0, seed: int = 0) -> float:
    """How much the generator's renders depend on the latent: the per-pixel standard deviation of RGB (in [0, 1])
    across `num_latents` prior latents seen from one pose (yaw in degrees, the prior's mean pitch), averaged over the
    pixels. Near 0 the generator has collapsed to one object whatever the latent (the encoder then cannot invert it).
    """
    if num_latents < 2:
        raise ValueError(f"num_latents must be at least 2, got {num_latents}")
    generator = torch.Generator(device=model.device).manual_seed(seed)
    z = model.sample_latents(num_latents, generator)
    rgb = model.render(
        z,
        yaw,
        model.config.pitch_mean,
        resolution=resolution,
        lock_view_dependence=True,
        return_depth=False,
        kernels="reference",
        skip_empty=False,
    ).rgb
    return rgb.float().std(dim=0).mean().item()


@torch.no_grad()
def colour_saturation(model, *, num_latents: int = 8, num_points: int = 4096, seed: int = 0) -> float:
    """The fraction of the field's colour channels within 0.01 of 0 or 1 at the occupied points (positive raw density,
    the points renders can show) among `num_points` drawn uniformly from the inner half of the scene box, over
    `num_latents` prior latents; 0 when no point is occupied. Empty space is left out: its colour gets no gradient and
    is free to saturate. Near 1 the colour output's sigmoid is saturated where it matters: its gradient vanishes and
    the generator can no longer learn colour (every object renders black or white)."""
    config = model.config
    generator = torch.Generator(device=model.device).manual_seed(seed)
    z = model.sample_latents(num_latents, generator)
    half = 0.5 * scene_half_size(config.fov, config.ray_start, config.ray_end)
    points = (torch.rand(num_latents, num_points, 3, generator=generator, device=model.device) * 2 - 1) * half
    directions = torch.nn.functional.normalize(-points, dim=-1)
    rgb, sigma = model.field(points, directions, *model.field.latent_codes(z))
    rgb, occupied = rgb.float(), sigma.reshape(rgb.shape[:-1]) > 0
    if not occupied.any():
        return 0.0
    return (torch.minimum(rgb, 1 - rgb) < 0.01)[occupied].float().mean().item()


@torch.no_grad()
def latent_cycle(model, *, num_latents: int = 8, seed: int = 0) -> dict[str, float]:
    """Does the encoder read what the generator makes of z? Renders of prior latents at prior poses (at the encoder's
    resolution) are encoded, and the encoded z rendered from the same poses: "cycle_psnr" is their PSNR (dB) against
    the first renders, "mean_latent_psnr" the same with the prior's mean latent for every render (what an encoder
    that reads nothing of z scores). The gap between the two is the identity that the encoder recovers."""
    if num_latents < 1:
        raise ValueError(f"num_latents must be at least 1, got {num_latents}")
    generator = torch.Generator(device=model.device).manual_seed(seed)
    z = model.sample_latents(num_latents, generator)
    yaw, pitch = model.sample_poses(num_latents, generator)
    options = dict(
        resolution=model.config.encoder_resolution,
        lock_view_dependence=True,
        return_depth=False,
        kernels="reference",
        skip_empty=False,
    )
    rgb = model.render(z, yaw, pitch, **options).rgb.float()
    encoded = model.encode_input(image_utils.to_signed_range(rgb).clamp(-1, 1)).z
    mean_z = model.sample_latents(4096, generator).mean(0, keepdim=True).expand_as(z)
    return {
        "cycle_psnr": psnr(model.render(encoded, yaw, pitch, **options).rgb, rgb).mean().item(),
        "mean_latent_psnr": psnr(model.render(mean_z, yaw, pitch, **options).rgb, rgb).mean().item(),
    }


@torch.no_grad()
def evaluate(
    model,
    objects: Sequence[ObjectViews],
    *,
    resolution: int = 64,
    num_steps: int | None = None,
    batch_size: int = 32,
    precision: str = "fp32",
    lock_view_dependence: bool = False,
    grid_objects: int = 4,
    progress: bool = True,
    refine=None,
    scikit_ssim: bool = True,
) -> tuple[dict[str, Any], EvaluationSamples]:
    """Evaluate `model` (a Pix2NeRF with an encoder) on `objects`; returns (results, samples for the grid).

    results: {"protocols": {name: {"psnr", "ssim", "ssim_skimage", "colour_error"}}, "baselines": {...},
    "input_reconstruction": {...}, "pose_error_deg": {"yaw", "pitch"}, "counts", "settings", "per_object"}; each
    metric a {"mean", "std", "median"} over all target views (pose errors: over all views). refine
    (pix2nerf.inversion.InversionSettings): also "refined": {"protocols", "input_reconstruction",
    "seconds_per_image", "settings", "input_pose_error_deg" and, for the same views, "encoder_input_pose_error_deg"}
    from `model.invert`. scikit_ssim=False leaves "ssim_skimage" out (it needs
    scikit-image and a pass over the images on the CPU).
    """
    from tqdm.auto import tqdm

    _check_evaluable(model, objects)
    background = model.background_color
    _, (low, high) = prior_ranges(model.config)
    render_options = dict(
        resolution=resolution,
        num_steps=num_steps,
        precision=precision,
        lock_view_dependence=lock_view_dependence,
        return_depth=False,
        kernels="reference",
        skip_empty=False,  # metrics of the exact sampler, the same on every device
    )
    image_metrics = IMAGE_METRICS if scikit_ssim else {k: v for k, v in IMAGE_METRICS.items() if k != "ssim_skimage"}
    rows = (*PROTOCOLS, *BASELINES, "input_reconstruction")
    if refine is not None:
        rows += (*(f"refined_{name}" for name in PROTOCOLS), "refined_input_reconstruction")
    scores: dict[str, dict[str, list[torch.Tensor]]] = {
        name: {metric: [] for metric in (*image_metrics, *(("colour_error",) if "pose" in name else ()))}
        for name in rows
    }
    refine_seconds = []
    input_pose_errors: dict[str, list[torch.Tensor]] = {"": [], "refined_": []}  # (yaw, pitch) of view 0, signed yaw
    yaw_differences, pitch_errors, per_object = [], [], []
    samples = EvaluationSamples()
    blank = torch.tensor(background, dtype=torch.float32).div(255).view(1, 3, 1, 1).expand(1, 3, resolution, resolution)

    def render(latent, yaw: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
        """The first latent of `latent` seen from every (yaw, pitch)."""
        parts = []
        for i in range(0, len(yaw), batch_size):
            yaws, pitches = yaw[i : i + batch_size], pitch[i : i + batch_size]
            parts.append(model.render(latent.first(len(yaws)), yaws, pitches, **render_options).rgb.float().cpu())
        return torch.cat(parts)

    for index, obj in enumerate(tqdm(objects, desc="evaluating", unit="object", disable=not progress)):
        latent, yaw_difference, pitch_error = _encoded_poses(model, obj)  # view 0 gives z, all give poses
        yaw_differences.append(yaw_difference)
        pitch_errors.append(pitch_error)
        pred_yaw, pred_pitch = latent.yaw.float().cpu(), latent.pitch.float().cpu()
        truth = image_utils.to_unit_range(
            torch.stack([image_utils.preprocess(image, resolution, background) for image in obj.images])
        )
        targets = truth[1:]
        count = len(targets)
        masks = object_masks(obj, resolution)[1:] if any("pose" in name for name in rows) else None
        latents = {"": latent}
        if refine is not None:
            start = time.perf_counter()
            latents["refined_"] = model.invert(obj.images[0], settings=refine)
            refine_seconds.append(time.perf_counter() - start)
            for prefix, source in latents.items():  # the input view's pose, as encoded and as refined
                yaw_error = wrap_degrees(source.yaw.float().cpu()[0] - obj.yaw[0])
                input_pose_errors[prefix].append(torch.stack([yaw_error, source.pitch.float().cpu()[0] - obj.pitch[0]]))
        renders = {
            "input_image": truth[:1].expand(count, -1, -1, -1),
            "blank_background": blank.expand(count, -1, -1, -1),
        }
        row = {"object_id": obj.object_id, "category": obj.category, "views": count}
        for prefix, source in latents.items():
            # the input's pose as the method estimates it (a refinement may refine it) plus each view's true offset
            input_yaw, input_pitch = source.yaw.float().cpu()[:1], source.pitch.float().cpu()[:1]
            relative_yaw, relative_pitch = relative_poses(obj, input_yaw[0], input_pitch[0], (low, high))
            renders[f"{prefix}relative_pose"] = render(source, relative_yaw, relative_pitch)
            renders[f"{prefix}predicted_pose"] = render(source, pred_yaw[1:], pred_pitch[1:])
            reconstruction = render(source, input_yaw, input_pitch)
            for metric_name, metric in image_metrics.items():
                values = metric(reconstruction, truth[:1], data_range=1.0)
                scores[f"{prefix}input_reconstruction"][metric_name].append(values)
        for name, images in renders.items():
            for metric_name, metric in image_metrics.items():
                values = metric(images, targets, data_range=1.0)
                scores[name][metric_name].append(values)
                if "pose" in name:
                    row[f"{name}_{metric_name}"] = values.mean().item()
            if "pose" in name:
                scores[name]["colour_error"].append(colour_error(images, targets, masks))
        per_object.append(row)
        if index < grid_objects:
            samples.inputs.append(truth[0])
            samples.predictions.append(renders["relative_pose"])
            samples.truths.append(targets)

    def metrics(name: str) -> dict[str, dict[str, float]]:
        return {m: _summary(torch.cat(values)) for m, values in scores[name].items()}

    results = {
        "protocols": {name: metrics(name) for name in PROTOCOLS},
        "baselines": {name: metrics(name) for name in BASELINES},
        "input_reconstruction": metrics("input_reconstruction"),
        **pose_errors(yaw_differences, pitch_errors),
        "counts": {
            "objects": len(objects),
            "target_views": sum(row["views"] for row in per_object),
            "pose_views": sum(len(o.images) for o in objects),
        },
        "settings": {
            "resolution": resolution,
            "num_steps": model.config.num_steps if num_steps is None else int(num_steps),
            "hierarchical": True,
            "precision": precision,
            "lock_view_dependence": lock_view_dependence,
            "background": list(background),
            "relative_pitch_clamp_deg": [low, high],
        },
        "per_object": per_object,
    }
    if refine is not None:
        results["refined"] = {
            "protocols": {name: metrics(f"refined_{name}") for name in PROTOCOLS},
            "input_reconstruction": metrics("refined_input_reconstruction"),
            "seconds_per_image": _summary(torch.tensor(refine_seconds)),
            "settings": dataclasses.asdict(refine),
            # the input view's pose error as the refinement returns it, beside the encoder's for the same views
            **{
                f"{name}input_pose_error_deg": _input_pose_errors(input_pose_errors[prefix])
                for prefix, name in (("refined_", ""), ("", "encoder_"))
            },
        }
    best_baseline = max(results["baselines"][name]["psnr"]["mean"] for name in BASELINES)
    results["psnr_gain_over_best_baseline_db"] = {
        name: results["protocols"][name]["psnr"]["mean"] - best_baseline for name in PROTOCOLS
    }
    return results, samples


def evaluation_grid(
    samples: EvaluationSamples, background: tuple[int, int, int] = (255, 255, 255), max_views: int = 6
) -> Image.Image:
    """Two rows per object: the input then the predictions (relative pose), a blank cell then the ground truths."""
    if not samples.inputs:
        raise ValueError("no samples to draw")
    columns = 1 + min(max_views, max(len(t) for t in samples.truths))
    blank = Image.new("RGB", (samples.inputs[0].shape[-1],) * 2, background)
    tiles: list[Image.Image] = []
    for image, predictions, truths in zip(samples.inputs, samples.predictions, samples.truths):
        for first, row in ((image_utils.tensor_to_pil(image), predictions), (blank, truths)):
            cells = [first] + [image_utils.tensor_to_pil(t) for t in row[: columns - 1]]
            tiles.extend(cells + [blank] * (columns - len(cells)))
    return image_utils.image_grid(tiles, columns, background=background)


def summary_lines(results: dict[str, Any]) -> list[str]:
    """A short human-readable table of the results."""
    lines = [f"{'':<30}{'PSNR (dB)':>10}{'SSIM':>8}{'SSIM-sk':>8}{'colour':>8}"] if "protocols" in results else []
    refined = results.get("refined", {})
    groups = [("", results.get("protocols", {})), ("refined ", refined.get("protocols", {}))]
    for prefix, group in groups + [("", results.get("baselines", {}))]:
        for name, values in group.items():
            colour = f"{values['colour_error']['mean']:>8.3f}" if "colour_error" in values else ""
            skimage = f"{values['ssim_skimage']['mean']:>8.3f}" if "ssim_skimage" in values else f"{'':>8}"
            lines.append(
                f"{prefix + name:<30}{values['psnr']['mean']:>10.2f}{values['ssim']['mean']:>8.3f}{skimage}{colour}"
            )
    if "generator" in results:
        generator = results["generator"]
        cycle = generator["latent_cycle"]
        saturation = generator.get("colour_saturation")  # absent from results written before it was measured
        lines.append(
            f"generator: sample diversity {generator['sample_diversity']:.3f}; latent cycle {cycle['cycle_psnr']:.2f} "
            f"dB against {cycle['mean_latent_psnr']:.2f} dB for the mean latent"
            + ("" if saturation is None else f"; colour saturation {saturation:.3f}")
        )
    if refined:
        seconds = refined["seconds_per_image"]
        lines.append(f"refinement: {refined['settings']['steps']} steps, {seconds['mean']:.1f} s per image (mean)")
        if "input_pose_error_deg" in refined:  # absent from results written before it was measured
            encoded, pose = refined["encoder_input_pose_error_deg"], refined["input_pose_error_deg"]
            lines.append(
                f"input view's yaw error (deg), encoded -> refined: median {encoded['yaw']['median']:.1f} -> "
                f"{pose['yaw']['median']:.1f}, front/back flips {encoded['front_back_flips']:.1%} -> "
                f"{pose['front_back_flips']:.1%}"
            )
    pose, alignment = results["pose_error_deg"], results["yaw_alignment"]
    lines.append(
        f"encoder pose error (deg): yaw median {pose['yaw']['median']:.1f} mean {pose['yaw']['mean']:.1f}; "
        f"aligned yaw median {pose['yaw_aligned']['median']:.1f} mean {pose['yaw_aligned']['mean']:.1f} "
        f"(offset {alignment['offset_deg']:.1f}, front/back flips {alignment['front_back_flips']:.1%}); "
        f"pitch median {pose['pitch']['median']:.1f} mean {pose['pitch']['mean']:.1f}"
    )
    return lines
