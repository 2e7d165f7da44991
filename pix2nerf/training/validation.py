"""Validation during training: the held-out images, the image grids of the EMA model and its held-out metrics."""

from __future__ import annotations

import contextlib

import torch
from PIL import Image

from pix2nerf import images as image_utils
from pix2nerf.data.reading import load_split, pil_from_cell, undecoded_column
from pix2nerf.evaluation.benchmark import colour_saturation, evaluate, latent_cycle, load_objects, sample_diversity
from pix2nerf.model import Pix2NeRF

NUM_HELD_OUT_IMAGES = 8
NUM_SAMPLES = 8
NOVEL_VIEW_YAWS = (0.0, 60.0, 120.0, 180.0, 240.0, 300.0)  # degrees added to the encoder's yaw of the input
MULTIVIEW_COLUMNS = {"object_id", "view_id", "yaw", "pitch"}


def load_held_out(
    source: str,
    train_dataset,
    *,
    validation_data_dir: str | None = None,
    split_name: str = "test",
    config_name: str | None = None,
    cache_dir: str | None = None,
    num_objects: int = 16,
    image_column: str = "image",
) -> tuple[list, list, str]:
    """(multi-view objects for the metrics, fixed input images for the grids, what they are).

    The held-out split is `split_name` of `validation_data_dir` (one unnamed split counts as it) or of `source`;
    without one, the grids take the first readable training images and there are no metrics.
    """
    held_source = validation_data_dir or source
    if validation_data_dir:
        split = load_split(held_source, split_name, cache_dir=cache_dir, unnamed_as=split_name)
    else:
        try:
            split = load_split(source, split_name, config_name=config_name, cache_dir=cache_dir)
        except (ValueError, FileNotFoundError):
            split = None
    what = f"held-out {split_name} split"
    if split is not None and MULTIVIEW_COLUMNS <= set(split.column_names):
        with contextlib.suppress(ValueError):  # e.g. no object with two views: grids only
            objects = load_objects(held_source, split_name, num_objects=num_objects, image_column=image_column)
            return objects, [o.images[0] for o in objects[:NUM_HELD_OUT_IMAGES]], what
    rows, what = (split, what) if split is not None else (train_dataset, "training images (no held-out split)")
    column = undecoded_column(rows, image_column)
    inputs = []
    for index in range(len(column)):
        if len(inputs) == NUM_HELD_OUT_IMAGES:
            break
        with contextlib.suppress(ValueError, TypeError, OSError):
            inputs.append(pil_from_cell(column[index][image_column]))
    return [], inputs, what


@torch.no_grad()
def validation_grids(model: Pix2NeRF, inputs: list, resolution: int) -> dict[str, Image.Image]:
    """Image grids at `resolution` px: "samples" (fixed seeds), and with `inputs` (PIL images) "reconstructions"
    (inputs over their reconstructions) and "novel_views" (each of the first four inputs, then views around it)."""
    options = dict(resolution=resolution, lock_view_dependence=False, return_depth=False, kernels="reference")
    generator = torch.Generator(device=model.device).manual_seed(0)
    z = model.sample_latents(NUM_SAMPLES, generator)
    yaw, pitch = model.sample_poses(NUM_SAMPLES, generator)
    to_pil = image_utils.tensor_to_pil
    grids = {"samples": image_utils.image_grid([to_pil(t) for t in model.render(z, yaw, pitch, **options).rgb], 8)}
    if inputs:
        latent = model.encode(inputs)
        truth = [
            to_pil(image_utils.to_unit_range(image_utils.preprocess(i, resolution, model.background_color)))
            for i in inputs
        ]
        recon = model.render(latent, **options).rgb
        grids["reconstructions"] = image_utils.image_grid(truth + [to_pil(t) for t in recon], len(inputs))
        tiles = []
        for i in range(min(4, len(inputs))):
            yaws = latent.yaw[i] + torch.tensor(NOVEL_VIEW_YAWS, device=model.device)
            views = model.render(latent.z[i : i + 1].expand(len(yaws), -1), yaws, latent.pitch[i], **options).rgb
            tiles += [truth[i]] + [to_pil(t) for t in views]
        grids["novel_views"] = image_utils.image_grid(tiles, 1 + len(NOVEL_VIEW_YAWS))
    return grids


def validation_metrics(model: Pix2NeRF, objects: list, resolution: int) -> tuple[dict[str, float], dict | None]:
    """(scalars to log under eval/, the benchmark's results without per-object rows or None without `objects`)."""
    metrics = {"eval/sample_diversity": sample_diversity(model), "eval/colour_saturation": colour_saturation(model)}
    metrics.update({f"eval/latent_{k}": v for k, v in latent_cycle(model).items()})
    if not objects:
        return metrics, None
    results, _ = evaluate(model, objects, resolution=resolution, progress=False, scikit_ssim=False)
    results.pop("per_object")
    metrics.update(
        {
            f"eval/{p}_{m}": v[m]["mean"]
            for group in ("protocols", "baselines")
            for p, v in results[group].items()
            for m in ("psnr", "ssim")
        }
    )
    metrics.update({f"eval/pose_error_{k}_median_deg": v["median"] for k, v in results["pose_error_deg"].items()})
    return metrics, results
