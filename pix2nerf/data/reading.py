"""Training data: a Hugging Face dataset (hub id, `save_to_disk` folder, parquet, or a folder of images) ->
preprocessed image tensors, sharded across processes, in a deterministic order that a resumed run can skip into.

Unreadable images never stop training: they are dropped from their batch, the batch is refilled from the next
ones, and they are counted (`TrainingBatches.num_failed`) for the logs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pix2nerf import images as image_utils
from pix2nerf.extras import require

logger = logging.getLogger(__name__)

PARQUET_SUFFIX = ".parquet"
MAX_LOGGED_FAILURES = 10  # unreadable images named in the log; the rest are only counted


def load_split(
    source: str,
    split: str = "train",
    *,
    config_name: str | None = None,
    cache_dir: str | None = None,
    unnamed_as: str = "train",
):
    """One split of a dataset as a `datasets.Dataset`.

    source: a local folder (the output of `save_to_disk`, a folder of parquet files, or a folder of images that
    the "imagefolder" builder reads, with train/test sub-folders or not), a parquet file, or a hub dataset id.
    A source of one unnamed split (a parquet file, a saved single `Dataset`) is read as the split `unnamed_as`;
    an image folder without split folders is the "train" split.
    """
    datasets = require("datasets", "reading a dataset")

    path = Path(source)
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            loaded = datasets.load_from_disk(str(path))
        else:
            loaded = datasets.load_dataset(str(path), cache_dir=cache_dir)
    elif path.is_file():
        if path.suffix != PARQUET_SUFFIX:
            raise ValueError(
                f"{path} is a file but not a {PARQUET_SUFFIX} file; give a folder, a parquet file or a hub dataset id"
            )
        loaded = datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=cache_dir)
    elif source.startswith(("/", ".", "~")) or source.count("/") > 1 or (os.sep != "/" and os.sep in source):
        raise FileNotFoundError(f"no dataset at {source}: it is neither a local folder or file nor a hub dataset id")
    else:
        loaded = datasets.load_dataset(source, config_name, cache_dir=cache_dir)
    if isinstance(loaded, datasets.Dataset):
        if split != unnamed_as:
            raise ValueError(
                f"{source} holds one unnamed split, which is read as the {unnamed_as} split; it has no {split!r} split"
            )
        return loaded
    if split not in loaded:
        raise ValueError(f"{source} has no {split!r} split; its splits are {sorted(loaded)}")
    return loaded[split]


def image_source(value: Any) -> Any:
    """A dataset cell -> something `pix2nerf.images.load_image` reads: an undecoded `datasets.Image` cell
    ({"bytes", "path"}), bytes, a path, a PIL image or an array."""
    if isinstance(value, dict):
        if value.get("bytes") is not None:
            return value["bytes"]
        if value.get("path"):
            return value["path"]
        raise ValueError("the image cell holds neither bytes nor a path")
    if value is None:
        raise ValueError("the image cell is empty")
    return value


def undecoded_column(dataset, image_column: str):
    """`dataset` reduced to `image_column`, whose images stay encoded (decoded later, where failures are caught)."""
    datasets = require("datasets", "reading a dataset")

    if image_column not in dataset.column_names:
        raise ValueError(
            f"the dataset has no image column {image_column!r}; its columns are {dataset.column_names} "
            f"(see --image_column)"
        )
    column = dataset.select_columns([image_column])
    if isinstance(column.features[image_column], datasets.Image):
        column = column.cast_column(image_column, datasets.Image(decode=False))
    return column


class PreprocessedImages(torch.utils.data.Dataset):
    """Rows of a `datasets.Dataset` -> (index, image) with image a float32 tensor (3, R, R) in [-1, 1]
    (RGBA composited over `background`, centre crop, Lanczos resize), or an error message when it is unreadable."""

    def __init__(self, dataset, image_column: str, resolution: int, background: tuple[int, int, int]) -> None:
        self.column = undecoded_column(dataset, image_column)
        self.image_column, self.resolution, self.background = image_column, resolution, background

    def __len__(self) -> int:
        return len(self.column)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | str]:
        try:
            source = image_source(self.column[int(index)][self.image_column])
            return index, image_utils.preprocess(source, self.resolution, self.background)
        except (ValueError, TypeError, OSError) as error:
            return index, f"{type(error).__name__}: {error}"


def collate_readable(items: list[tuple[int, torch.Tensor | str]]) -> dict[str, Any]:
    """Stack the readable images of a batch; keep (index, reason) of the unreadable ones."""
    readable = [image for _, image in items if isinstance(image, torch.Tensor)]
    return {
        "images": torch.stack(readable) if readable else None,
        "failed": [(index, image) for index, image in items if not isinstance(image, torch.Tensor)],
    }


class ShardedBatchSampler:
    """An endless batch sampler: epochs of seeded permutations of the items, one after another, cut into global
    batches of `batch_size * num_processes` positions; each process takes its own `batch_size` slice.

    It starts at global batch `start`, so a resumed run continues in the same order without reading the batches
    it skips. Every process yields the same number of batches, whatever the dataset size.
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        *,
        num_processes: int = 1,
        process_index: int = 0,
        seed: int = 0,
        start: int = 0,
    ) -> None:
        if num_items < 1:
            raise ValueError("the training dataset is empty")
        self.num_items, self.batch_size, self.num_processes = num_items, batch_size, num_processes
        self.process_index, self.seed, self.start = process_index, seed, start
        self._permutations: dict[int, np.ndarray] = {}

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._permutations:
            self._permutations = {e: p for e, p in self._permutations.items() if e >= epoch - 1}
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._permutations[epoch] = torch.randperm(self.num_items, generator=generator).numpy()
        return self._permutations[epoch]

    def batch_indices(self, batch: int) -> list[int]:
        """This process's item indices of global batch number `batch`."""
        first = (batch * self.num_processes + self.process_index) * self.batch_size
        return [
            int(self._permutation(p // self.num_items)[p % self.num_items])
            for p in range(first, first + self.batch_size)
        ]

    def __iter__(self) -> Iterator[list[int]]:
        batch = self.start
        while True:
            yield self.batch_indices(batch)
            batch += 1


class TrainingBatches:
    """Batches of exactly `batch_size` readable images (B, 3, R, R) in [-1, 1], from `num_workers` loader
    processes. Unreadable images are skipped (refilled from the next batches) and counted.

    `batches_read` counts the sampler batches taken so far (from `start`): the position a resumed run starts at.
    """

    def __init__(
        self,
        images: PreprocessedImages,
        batch_size: int,
        *,
        num_processes: int = 1,
        process_index: int = 0,
        seed: int = 0,
        start: int = 0,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        self.images, self.batch_size = images, batch_size
        self.sampler = ShardedBatchSampler(
            len(images), batch_size, num_processes=num_processes, process_index=process_index, seed=seed, start=start
        )
        self.loader = torch.utils.data.DataLoader(
            images,
            batch_sampler=self.sampler,
            num_workers=num_workers,
            collate_fn=collate_readable,
            pin_memory=pin_memory,
            generator=torch.Generator().manual_seed(seed),  # never draws from the global RNG
        )
        self._iterator = None
        self._pending: list[torch.Tensor] = []
        self.batches_read = start
        self.num_failed = 0
        self._failed_in_a_row = 0

    def __iter__(self) -> TrainingBatches:
        return self

    def __next__(self) -> torch.Tensor:
        if self._iterator is None:
            self._iterator = iter(self.loader)
        while sum(len(chunk) for chunk in self._pending) < self.batch_size:
            batch = next(self._iterator)
            self.batches_read += 1
            self._record_failures(batch["failed"])
            if batch["images"] is not None:
                self._pending.append(batch["images"])
                self._failed_in_a_row = 0
        if len(self._pending) == 1 and len(self._pending[0]) == self.batch_size:
            return self._pending.pop()  # the usual case: no copy, so pinned memory stays pinned
        images = torch.cat(self._pending)
        self._pending = [images[self.batch_size :]] if len(images) > self.batch_size else []
        return images[: self.batch_size]

    def _record_failures(self, failed: list[tuple[int, str]]) -> None:
        for index, reason in failed:
            self.num_failed += 1
            self._failed_in_a_row += 1
            if self.num_failed <= MAX_LOGGED_FAILURES:
                logger.warning("skipping unreadable training image %d: %s", index, reason)
            elif self.num_failed == MAX_LOGGED_FAILURES + 1:
                logger.warning("more unreadable training images: they are skipped and counted, not named")
        if self._failed_in_a_row > max(len(self.images), self.batch_size):
            raise ValueError(
                f"none of {self._failed_in_a_row} training images in a row could be read (last: {failed[-1][1]}); "
                f"check the dataset and --image_column"
            )

    def close(self) -> None:
        """Stop the loader's worker processes."""
        self._iterator = None


def pil_from_cell(value: Any) -> Image.Image:
    """A dataset cell -> a decoded, validated PIL image (RGB or RGBA)."""
    return image_utils.load_image(image_source(value))
