"""Build a synthetic multi-view dataset: plan the splits, render every row, encode PNGs, make a `DatasetDict`.

Rows are rendered in batches of views; with `workers` > 1, batches go to worker processes (one torch thread
each), which scales on CPUs better than threads inside torch. A row's bytes do not depend on the batching, the
number of workers or their order: the same arguments give the same dataset, byte for byte, on one device.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import datasets
import torch
from tqdm.auto import tqdm

from pix2nerf.data.synthetic.categories import Category, get_category
from pix2nerf.data.synthetic.jobs import RenderJob, render_rows
from pix2nerf.data.synthetic.splits import SplitPlan, plan_split

FORMATS = ("arrow", "parquet")
MIN_RESOLUTION = 8
MAX_SHARD_BYTES = 256 * 2**20  # parquet shards hold at most about this much image data


def features() -> datasets.Features:
    """The columns: image (RGBA PNG), yaw, pitch, fov (float32 degrees), object_id, view_id, category."""
    return datasets.Features(
        {
            "image": datasets.Image(),
            "yaw": datasets.Value("float32"),
            "pitch": datasets.Value("float32"),
            "fov": datasets.Value("float32"),
            "object_id": datasets.Value("int64"),
            "view_id": datasets.Value("int32"),
            "category": datasets.Value("string"),
        }
    )


def build_dataset(
    category: str = "cars",
    train_objects: int = 20_000,
    test_objects: int = 100,
    test_views: int = 24,
    resolution: int = 128,
    seed: int = 0,
    device: str = "cpu",
    supersample: int = 2,
    batch_size: int | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> datasets.DatasetDict:
    """The `train` and `test` splits of a synthetic category (see `pix2nerf.data.synthetic.splits`).

    resolution: image side in pixels; supersample: rays per pixel side on edges; batch_size: views per render
    call (default 32 on CPU, 256 on CUDA); workers: render processes (default: up to 2 on CPU, 1 on CUDA).
    Raises ValueError for unusable arguments.
    """
    chosen = get_category(category)
    _check(train_objects, test_objects, test_views, resolution, seed, supersample, device)
    cuda = torch.device(device).type == "cuda"
    batch_size = batch_size or (256 if cuda else 32)
    workers = workers or (1 if cuda else min(2, os.cpu_count() or 1))
    config = chosen.config()
    plans = {
        "train": plan_split(config, "train", train_objects, 1, seed),
        "test": plan_split(config, "test", test_objects, test_views, seed),
    }
    if set(plans["train"].object_ids) & set(plans["test"].object_ids):
        raise RuntimeError("a train object id equals a test object id; choose another seed")
    jobs = {split: _jobs(chosen, plan, resolution, supersample, device, batch_size) for split, plan in plans.items()}
    images = {split: [] for split in plans}
    with tqdm(
        total=sum(len(p) for p in plans.values()), unit="image", disable=not progress, desc=f"Rendering {category}"
    ) as bar:
        for split, rows in _run(jobs, workers):
            images[split] += rows
            bar.update(len(rows))
    return datasets.DatasetDict(
        {split: _split_dataset(chosen, plan, images[split], config.fov, split) for split, plan in plans.items()}
    )


def save_dataset(dataset: datasets.DatasetDict, out: str | Path, format: str = "arrow") -> None:
    """Write `dataset` to the folder `out`: `save_to_disk` (arrow) or parquet shards out/data/<split>-*.parquet."""
    if format == "arrow":
        dataset.save_to_disk(str(out))
        return
    if format != "parquet":
        raise ValueError(f"unknown format {format!r}; expected one of {FORMATS}")
    data = Path(out) / "data"
    data.mkdir(parents=True, exist_ok=True)
    for split, ds in dataset.items():
        shards = max(1, math.ceil(ds.data.nbytes / MAX_SHARD_BYTES))
        for index in range(shards):
            path = data / f"{split}-{index:05d}-of-{shards:05d}.parquet"
            ds.shard(shards, index, contiguous=True).to_parquet(str(path))


def _check(
    train_objects: int, test_objects: int, test_views: int, resolution: int, seed: int, supersample: int, device: str
) -> None:
    if train_objects < 1 or test_objects < 1:
        raise ValueError(f"need at least one train and one test object, got {train_objects} and {test_objects}")
    if test_views < 1:
        raise ValueError(f"test_views must be at least 1, got {test_views}")
    if resolution < MIN_RESOLUTION:
        raise ValueError(f"resolution must be at least {MIN_RESOLUTION} pixels, got {resolution}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if not 1 <= supersample <= 8:
        raise ValueError(f"supersample must be in [1, 8], got {supersample}")
    kind = torch.device(device).type
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu")
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")


def _jobs(
    category: Category, plan: SplitPlan, resolution: int, supersample: int, device: str, batch_size: int
) -> list[RenderJob]:
    return [
        RenderJob(
            category.name,
            plan.object_ids[i : i + batch_size],
            plan.yaw[i : i + batch_size].tolist(),
            plan.pitch[i : i + batch_size].tolist(),
            resolution,
            supersample,
            device,
        )
        for i in range(0, len(plan), batch_size)
    ]


def _run(jobs: dict[str, list[RenderJob]], workers: int):
    """Yield (split, PNG bytes of a batch) for every job, in order."""
    order = [(split, job) for split, split_jobs in jobs.items() for job in split_jobs]
    if workers <= 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # many small ops: threads inside torch cost more than they bring
        try:
            for split, job in order:
                yield split, render_rows(job)
        finally:
            torch.set_num_threads(threads)
        return
    with ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=torch.set_num_threads, initargs=(1,)
    ) as pool:
        for (split, _), rows in zip(order, pool.map(render_rows, [job for _, job in order])):
            yield split, rows


def _split_dataset(
    category: Category, plan: SplitPlan, images: list[bytes], fov: float, split: str
) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {
            "image": [{"bytes": png, "path": None} for png in images],
            "yaw": plan.yaw.tolist(),
            "pitch": plan.pitch.tolist(),
            "fov": [fov] * len(plan),
            "object_id": plan.object_ids,
            "view_id": plan.view_ids,
            "category": [category.name] * len(plan),
        },
        features=features(),
        split=datasets.NamedSplit(split),
    )
