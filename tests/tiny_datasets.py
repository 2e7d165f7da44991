"""Tiny multi-view datasets for the training and evaluation tests: random RGBA discs in the project's dataset layout
(columns image, yaw, pitch, fov, object_id, view_id, category; a train split with one view per object and a test
split of held-out objects whose view 0 is the input)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

CORRUPT_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40  # a PNG signature followed by garbage


def disc_png(rng: np.random.Generator, size: int) -> bytes:
    """A coloured disc on a transparent background, as PNG bytes."""
    pixels = np.zeros((size, size, 4), np.uint8)
    y, x = np.mgrid[:size, :size]
    radius = size / 4 + rng.uniform(0, size / 4)
    inside = (y - size / 2) ** 2 + (x - size / 2) ** 2 < radius**2
    pixels[inside, :3] = rng.integers(0, 256, 3)
    pixels[inside, 3] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, "PNG")
    return buffer.getvalue()


def multiview_split(objects: int, views: int, size: int = 16, *, first_id: int = 0, corrupt_rows=(), seed: int = 0):
    import datasets

    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {k: [] for k in ("image", "yaw", "pitch", "fov", "object_id", "view_id", "category")}
    for obj in range(objects):
        for view in range(views):
            png = CORRUPT_PNG if len(rows["image"]) in corrupt_rows else disc_png(rng, size)
            rows["image"].append({"bytes": png, "path": None})
            rows["yaw"].append(float(rng.uniform(-180, 180)))
            rows["pitch"].append(float(rng.uniform(5, 60)))
            rows["fov"].append(30.0)
            rows["object_id"].append(f"{first_id + obj:05d}")
            rows["view_id"].append(view)
            rows["category"].append("disc")
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "yaw": datasets.Value("float32"),
            "pitch": datasets.Value("float32"),
            "fov": datasets.Value("float32"),
            "object_id": datasets.Value("string"),
            "view_id": datasets.Value("int32"),
            "category": datasets.Value("string"),
        }
    )
    return datasets.Dataset.from_dict(rows, features=features)


def write_multiview_dataset(
    path: Path, *, train_objects: int = 24, test_objects: int = 3, views: int = 3, size: int = 16, corrupt_train_rows=()
) -> Path:
    """save_to_disk a DatasetDict with train (one view per object) and test (`views` per object) splits."""
    import datasets

    datasets.disable_progress_bars()
    splits = datasets.DatasetDict(
        train=multiview_split(train_objects, 1, size, corrupt_rows=corrupt_train_rows, seed=0),
        test=multiview_split(test_objects, views, size, first_id=100_000, seed=1),
    )
    splits.save_to_disk(str(path))
    return path
