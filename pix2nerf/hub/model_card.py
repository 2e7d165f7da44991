"""Model cards (the README.md of a model folder) for trained pix2nerf models: YAML metadata for the hub, how to use
the model, the latest evaluation table, the training settings and commands, and images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCardData

from pix2nerf.config import Pix2NeRFConfig
from pix2nerf.fields import describe_field
from pix2nerf.model import HUB_METADATA, PAPER_URL

CITATION = """@inproceedings{cai2022pix2nerf,
  title     = {Pix2NeRF: Unsupervised Conditional pi-GAN for Single Image to Neural Radiance Fields Translation},
  author    = {Cai, Shengqu and Obukhov, Anton and Dai, Dengxin and Van Gool, Luc},
  booktitle = {IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2022}
}"""
PROTOCOL_LABELS = {
    "relative_pose": "Pix2NeRF, relative pose (encoder's pose of the input + true offset)",
    "predicted_pose": "Pix2NeRF, predicted pose (paper's protocol: encoder's pose of the target)",
    "input_image": "baseline: the input image itself",
    "blank_background": "baseline: a blank background image",
}


def card_metadata(
    config: Pix2NeRFConfig,
    datasets: Sequence[str] = (),
    evaluation: Mapping[str, Any] | None = None,
    model_name: str = "pix2nerf",
) -> ModelCardData:
    """The card's YAML front matter: library, pipeline tag, license, tags, datasets (hub ids), and with an
    evaluation its metrics and `model-index` (PSNR / SSIM of both protocols)."""
    tags = sorted({*HUB_METADATA["tags"], config.preset.replace("_", "-")})
    return ModelCardData(
        library_name=HUB_METADATA["library_name"],
        pipeline_tag=HUB_METADATA["pipeline_tag"],
        license=HUB_METADATA["license"],
        tags=tags,
        datasets=list(datasets) or None,
        metrics=["psnr", "ssim"] if evaluation is not None else None,
        model_name=model_name if evaluation is not None else None,
        eval_results=eval_results(evaluation, datasets) if evaluation is not None else None,
    )


def eval_results(evaluation: Mapping[str, Any], datasets: Sequence[str] = ()) -> list[EvalResult]:
    """`model-index` entries: mean PSNR (dB) and SSIM of each protocol of a `pix2nerf eval` result, on the first of
    `datasets` (a hub id) or else the evaluated data's folder name, split as evaluated."""
    data = datasets[0] if datasets else str(evaluation.get("data", "synthetic")).rstrip("/").rsplit("/", 1)[-1]
    common = dict(
        task_type="image-to-3d",
        task_name="Novel view synthesis from one image",
        dataset_type=data,
        dataset_name=data,
        dataset_split=evaluation.get("split"),
    )
    return [
        EvalResult(
            metric_type=metric,
            metric_name=f"{metric.upper()} ({name.replace('_', ' ')})",
            metric_value=round(values[metric]["mean"], 4),
            **common,
        )
        for name, values in evaluation["protocols"].items()
        for metric in ("psnr", "ssim")
    ]


def evaluation_table(results: Mapping[str, Any]) -> str:
    """Markdown: PSNR / SSIM of both protocols and both baselines, the pose errors and what was measured."""
    rows = ["| method | PSNR (dB) | SSIM |", "| --- | --- | --- |"]
    for group in ("protocols", "baselines"):
        for name, values in results[group].items():
            label = PROTOCOL_LABELS.get(name, name)
            rows.append(f"| {label} | {values['psnr']['mean']:.2f} | {values['ssim']['mean']:.3f} |")
    pose, counts, settings = results["pose_error_deg"], results["counts"], results["settings"]
    lines = [
        "\n".join(rows),
        "",
        f"Encoder pose error: yaw median {pose['yaw']['median']:.1f} deg (mean {pose['yaw']['mean']:.1f}), "
        f"pitch median {pose['pitch']['median']:.1f} deg (mean {pose['pitch']['mean']:.1f})."
        + (
            f" With the generator's yaw origin fitted on the other half of the objects: yaw median "
            f"{pose['yaw_aligned']['median']:.1f} deg (mean {pose['yaw_aligned']['mean']:.1f}); "
            f"{results['yaw_alignment']['front_back_flips']:.1%} of views seen from the wrong end."
            if "yaw_aligned" in pose
            else ""
        ),
        "",
        f"{counts['objects']} held-out objects, {counts['target_views']} target views; view 0 of each object is the "
        f"input. Rendered at {settings['resolution']} px with {settings['num_steps']} + {settings['num_steps']} "
        f"samples per ray ({settings['precision']}); metrics on images in [0, 1] over the "
        f"{'white' if tuple(settings['background']) == (255, 255, 255) else 'black'} background.",
    ]
    where = [f"{k}: {results[k]}" for k in ("data", "split", "date") if k in results]
    if where:
        lines += ["", "; ".join(where) + "."]
    return "\n".join(lines)


def model_card(
    config: Pix2NeRFConfig,
    *,
    model_id: str,
    title: str | None = None,
    description: str | None = None,
    training: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    evaluation_note: str | None = None,
    images: Sequence[tuple[str, str]] = (),
    commands: Mapping[str, str] | None = None,
    datasets: Sequence[str] = (),
) -> str:
    """The card's Markdown text with YAML front matter.

    model_id: the hub id (or folder, or "default") that `from_pretrained` takes; its last part is the default title.
    training: settings of the run (see `train/train.py`'s training.json). evaluation: results of
    `pix2nerf.evaluation.benchmark.evaluate` / `pix2nerf eval`.
    images: (caption, path relative to the card). commands: {title: shell commands} to reproduce the model.
    datasets: hub dataset ids for the metadata.
    """
    title = title or model_id.rstrip("/").rsplit("/", 1)[-1]
    metadata = card_metadata(config, datasets, evaluation, title)
    parts = [
        f"---\n{metadata.to_yaml()}\n---",
        f"# {title}",
        description
        or (
            f"A [Pix2NeRF]({PAPER_URL}) model (preset `{config.preset}`): one image in, a radiance field out that "
            f"renders the object from any yaw and pitch. Trained with the `pix2nerf` package."
        ),
        "## Usage",
        "```python\nfrom PIL import Image\nfrom pix2nerf import Pix2NeRF\n\n"
        f'model = Pix2NeRF.from_pretrained("{model_id}")\n'
        'latent = model.encode(Image.open("input.png"))  # z and the pose (degrees)\n'
        'views = model.novel_views(Image.open("input.png"), yaws=[0, 90, 180, 270], pitches=15.0)\n```',
        f"```bash\npix2nerf orbit input.png --model {model_id} -o orbit.gif\n```",
    ]
    if evaluation is not None:
        parts += ["## Evaluation", evaluation_table(evaluation)]
        if evaluation_note:
            parts.append(evaluation_note)
        if evaluation.get("command"):
            parts.append(f"Reproduce:\n\n```bash\n{evaluation['command']}\n```")
    if images:
        parts += ["## Images"] + [f"{caption}\n\n![{caption}]({path})" for caption, path in images]
    if training is not None:
        parts += ["## Training", _training_section(config, training)]
    if commands:
        parts += ["## Reproduce"] + [f"{name}:\n\n```bash\n{text.strip()}\n```" for name, text in commands.items()]
    parts += ["## Model", _config_section(config), "## Citation", f"```bibtex\n{CITATION}\n```"]
    return "\n\n".join(parts) + "\n"


def _training_section(config: Pix2NeRFConfig, training: Mapping[str, Any]) -> str:
    labels = {
        "dataset": "data",
        "steps": "steps",
        "images_seen": "images seen",
        "training_minutes": "time in training steps (minutes)",
        "device": "device",
        "num_processes": "processes",
        "mixed_precision": "mixed precision",
        "train_batch_size": "global batch size (override)",
        "resolution": "data resolution (px)",
        "seed": "seed",
        "corrupt_images_skipped": "unreadable images skipped",
        "date": "date",
    }
    rows = ["| setting | value |", "| --- | --- |"]
    for key, label in labels.items():
        value = training.get(key)
        if value is not None:
            rows.append(f"| {label} | {round(value, 1) if isinstance(value, float) else value} |")
    stages = [
        "| from step | resolution | batch | samples per ray | lr G | lr D | lr E |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in config.training_stages:
        rates = f"{s['lr_g']:g} | {s['lr_d']:g} | {s['lr_e']:g}"
        stages.append(f"| {s['start_step']} | {s['resolution']} | {s['batch_size']} | {s['num_steps']} | {rates} |")
    text = [
        "\n".join(rows),
        "",
        "Stages of the schedule:",
        "",
        "\n".join(stages),
        "",
        f"Objective: D with R1 (gamma {config.r1_gamma:g}) and the pose loss (weight {config.pose_loss_weight:g}); "
        f"E's inversion loss; G's pi-GAN (even) and conditional + reconstruction (odd, weight "
        f"{config.reconstruction_weight:g}) steps; encoder warm-up {config.warmup_steps} steps; grad clip "
        f"{config.grad_clip:g}; EMA {config.ema_decay:g} (this model holds the EMA weights).",
    ]
    if training.get("command"):
        text += ["", f"```bash\n{training['command']}\n```"]
    return "\n".join(text)


def _config_section(config: Pix2NeRFConfig) -> str:
    return (
        f"{describe_field(config)}; encoder at {config.encoder_resolution} px; fov {config.fov:g} deg, rays "
        f"{config.ray_start:g}-{config.ray_end:g}; pose prior {config.pose_distribution} (yaw {config.yaw_mean:g} "
        f"+- {config.yaw_spread:g}, pitch {config.pitch_mean:.1f} +- {config.pitch_spread:.1f} deg); background "
        f"{config.background}; {config.num_steps} + {config.num_steps} samples per ray by default. See `config.json`."
    )


def write_model_card(folder: str | Path, config: Pix2NeRFConfig | None = None, **kwargs: Any) -> Path:
    """Write README.md into a model folder (config read from its config.json unless given); returns its path."""
    folder = Path(folder)
    if config is None:
        config = Pix2NeRFConfig.from_json_file(folder / "config.json")
    kwargs.setdefault("model_id", str(folder))
    path = folder / "README.md"
    path.write_text(model_card(config, **kwargs))
    return path
