"""Exporting a training run's model: save_pretrained of the EMA model with its card, grids and training record."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from PIL import Image

from pix2nerf.hub.model_card import write_model_card
from pix2nerf.model import Pix2NeRF
from pix2nerf.networks.discriminators import Discriminator
from pix2nerf.training.checkpoint import load_trainer
from pix2nerf.training.initial_model import initial_model
from pix2nerf.training.objective import Pix2NeRFTrainer

TRAINING_INFO_NAME = "training.json"
CARD_IMAGES = (  # (caption, path in the model folder); the file stem names the validation grid
    ("Generated samples (fixed seeds, EMA model)", "images/samples.png"),
    ("Held-out inputs (left) and novel views around them", "images/novel_views.png"),
)


def export_model(
    model: Pix2NeRF,
    model_dir: str | Path,
    *,
    grids: dict[str, Image.Image],
    training: dict,
    evaluation: dict | None,
    model_id: str,
    title: str,
    datasets: list[str],
) -> None:
    """Write `model` into `model_dir` with save_pretrained, its card (usage loading `model_id`), the
    grids the card shows and `training` as training.json. The folder is written aside, then moved in file by file:
    an interrupted export leaves the previous files or the new ones, never a half-written file."""
    model_dir = Path(model_dir)
    staging = model_dir.with_name(model_dir.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    (staging / "images").mkdir()
    images = []
    for caption, path in CARD_IMAGES:
        if Path(path).stem in grids:
            grids[Path(path).stem].save(staging / path)
            images.append((caption, path))
    (staging / TRAINING_INFO_NAME).write_text(json.dumps(training, indent=2) + "\n")
    note = None
    if evaluation is not None:
        note = (
            f"Validation during training at step {evaluation['step']} on the first {evaluation['counts']['objects']} "
            f"objects of the held-out split; `pix2nerf eval` on the whole split gives the reference figures."
        )
    write_model_card(
        staging,
        model_id=model_id,
        title=title,
        training=training,
        evaluation=evaluation,
        evaluation_note=note,
        images=images,
        datasets=datasets,
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    for old in model_dir.iterdir():
        if old.is_file():
            old.unlink()
    shutil.rmtree(model_dir / "images", ignore_errors=True)
    for item in staging.iterdir():
        os.replace(item, model_dir / item.name)
    staging.rmdir()


def checkpoint_ema_model(folder: str | Path, preset: str, overrides: dict | None = None) -> tuple[Pix2NeRF, dict]:
    """The EMA model of a training checkpoint folder written with `preset` and config `overrides` (the checkpoint
    holds tensors, not the config), and the checkpoint's progress (step, images_seen, train_seconds, ...)."""
    model = initial_model(preset, overrides or {})
    config = model.config
    trainer = Pix2NeRFTrainer(model, Discriminator(config.discriminator_channels, config.discriminator_type))
    progress = load_trainer(trainer, folder)
    return trainer.ema_model(), progress
