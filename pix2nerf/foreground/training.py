"""Training of the segmentation network on composites made on the fly (`training_data`), on the CPU.

Data flow: training-split cars and chairs (seed TRAINING_SEED) + scikit-image's training photos -> `CompositeStream`
-> SegmentationNet -> binary cross-entropy + soft Dice against the true alpha -> AdamW with a one-cycle learning
rate. Validation: a fixed batch of composites of other objects (the test split of TRAINING_SEED) from another stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pix2nerf.foreground.network import SegmentationConfig, SegmentationNet
from pix2nerf.foreground.training_data import CompositeStream, load_photos, render_pool

TRAINING_SEED = 0  # the synthetic objects' seed (the benchmark's held-out cars come from another)
RENDER_SIZE = 128  # px, the object renders' side


@dataclass(frozen=True)
class TrainingSettings:
    """steps and batch_size: optimiser steps of batch_size composites; cars, chairs: rendered objects in the pools;
    learning_rate: the one-cycle schedule's peak; validation: composites in the validation batch; seed: the
    initialisation's and the stream's."""

    steps: int = 1200
    batch_size: int = 24
    cars: int = 1500
    chairs: int = 300
    learning_rate: float = 4e-3
    weight_decay: float = 1e-4
    validation: int = 96
    seed: int = 0


def segmentation_loss(logits: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice loss (per image, averaged) of logits (B, 1, H, W) against alpha in [0, 1]."""
    probability = torch.sigmoid(logits)
    overlap = (probability * alpha).sum((1, 2, 3))
    dice = 1 - (2 * overlap + 1) / (probability.sum((1, 2, 3)) + alpha.sum((1, 2, 3)) + 1)
    return F.binary_cross_entropy_with_logits(logits, alpha) + dice.mean()


def mask_ious(logits: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """IoU (B,) of the masks logits > 0 and alpha > 0.5, each (B, 1, H, W)."""
    predicted, truth = logits > 0, alpha > 0.5
    union = (predicted | truth).sum((1, 2, 3)).clamp_min(1)
    return (predicted & truth).sum((1, 2, 3)) / union


def train_segmentation(
    settings: TrainingSettings,
    config: SegmentationConfig = SegmentationConfig(),
    log: Callable[[dict], None] = print,
    log_every: int = 50,
) -> tuple[SegmentationNet, list[dict]]:
    """Train a SegmentationNet from scratch (deterministic given the settings and the thread count): the net (eval
    mode) and its log, one dict per `log_every` steps (step, mean training loss, validation IoU median and mean,
    seconds)."""
    torch.manual_seed(settings.seed)
    photos = load_photos()
    objects = {
        "cars": render_pool("cars", settings.cars, "train", TRAINING_SEED, RENDER_SIZE),
        "chairs": render_pool("chairs", settings.chairs, "train", TRAINING_SEED, RENDER_SIZE),
    }
    held_out = {
        "cars": render_pool("cars", settings.validation, "test", TRAINING_SEED, RENDER_SIZE),
        "chairs": render_pool("chairs", settings.validation // 4, "test", TRAINING_SEED, RENDER_SIZE),
    }
    stream = CompositeStream(objects, photos, config.input_size, settings.seed)
    validation_stream = CompositeStream(held_out, photos, config.input_size, settings.seed + 1)
    validation_images, validation_alpha = validation_stream.batch(settings.validation)

    net = SegmentationNet(config).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(net.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.learning_rate, total_steps=settings.steps)
    history, losses, start = [], [], time.perf_counter()
    for step in range(1, settings.steps + 1):
        images, alpha = stream.batch(settings.batch_size)
        loss = segmentation_loss(net(images.contiguous(memory_format=torch.channels_last)), alpha)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % log_every == 0 or step == settings.steps:
            net.eval()
            with torch.no_grad():
                ious = mask_ious(net(validation_images), validation_alpha)
            net.train()
            entry = {
                "step": step,
                "loss": sum(losses) / len(losses),
                "validation_iou_median": float(ious.median()),
                "validation_iou_mean": float(ious.mean()),
                "seconds": time.perf_counter() - start,
            }
            history.append(entry)
            log(entry)
            losses = []
    return net.eval().to(memory_format=torch.contiguous_format), history
