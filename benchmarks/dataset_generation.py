"""Benchmark: how long `pix2nerf make-dataset` takes for the full job (default: 20,000 training cars at 128 px
plus 100 test objects x 24 views), rendering, PNG encoding, assembling and saving included.

By default it times a sample of the job and extrapolates: first a one-image build (the fixed cost: worker
start-up), then --sample-train training objects and --sample-test test objects; full time = fixed + per-image
time x images. --full times the full job itself. The JSON records the machine, its load (other processes share
the CPU) and torch's version.

    python benchmarks/dataset_generation.py --device cpu --out benchmarks/results/dataset_generation_cpu.json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import datasets
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import environment, write_json  # noqa: E402

from pix2nerf.data.synthetic.builder import build_dataset, save_dataset  # noqa: E402

TARGET_SECONDS = 600  # the budget for 20,000 training images at 128 px plus the test split on 2 CPU cores


def timed_build(category: str, train: int, test: int, views: int, args: argparse.Namespace) -> tuple[float, int]:
    """Seconds to build and save (arrow) a dataset, and its number of images."""
    start = time.perf_counter()
    dataset = build_dataset(category, train, test, views, args.resolution, args.seed, args.device, args.supersample,
                            workers=args.workers, progress=False)
    with tempfile.TemporaryDirectory() as folder:
        save_dataset(dataset, folder)
    return time.perf_counter() - start, sum(len(split) for split in dataset.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", nargs="+", default=["cars", "chairs"])
    parser.add_argument("--train-objects", type=int, default=20_000)
    parser.add_argument("--test-objects", type=int, default=100)
    parser.add_argument("--test-views", type=int, default=24)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--supersample", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=None, help="default: build_dataset's (2 on cpu, 1 on cuda)")
    parser.add_argument("--sample-train", type=int, default=1000, help="training objects of the timed sample")
    parser.add_argument("--sample-test", type=int, default=10, help="test objects of the timed sample")
    parser.add_argument("--full", action="store_true", help="time the full job instead of extrapolating")
    parser.add_argument("--out", default="benchmarks/results/dataset_generation_cpu.json")
    args = parser.parse_args()
    datasets.disable_progress_bars()

    device = torch.device(args.device)
    full_images = args.train_objects + args.test_objects * args.test_views
    runs = []
    for category in args.category:
        load_before = os.getloadavg()
        if args.full:
            seconds, images = timed_build(category, args.train_objects, args.test_objects, args.test_views, args)
            fixed, per_image, estimate = None, (seconds / images), seconds
        else:
            fixed, _ = timed_build(category, 1, 1, 1, args)
            seconds, images = timed_build(category, args.sample_train, args.sample_test, args.test_views, args)
            per_image = (seconds - fixed) / (images - 2)
            estimate = fixed + per_image * full_images
        run = {
            "category": category,
            "measured": "full job" if args.full else f"sample of {images} images, extrapolated linearly",
            "measured_images": images,
            "measured_seconds": round(seconds, 2),
            "fixed_seconds": None if fixed is None else round(fixed, 2),
            "ms_per_image": round(per_image * 1000, 2),
            "images_per_second": round(1 / per_image, 1),
            "full_job_images": full_images,
            "full_job_seconds": round(estimate, 1),
            "within_target": estimate <= TARGET_SECONDS,
            "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        }
        runs.append(run)
        print(run, flush=True)
    write_json(args.out, {
        "benchmark": "make-dataset: render, encode PNG, assemble and save a synthetic dataset",
        "environment": {**environment(device), "cpu_cores": os.cpu_count(), "cpu_model": _cpu_model()},
        "settings": {k: getattr(args, k) for k in ("train_objects", "test_objects", "test_views", "resolution",
                                                   "supersample", "seed", "workers")},
        "target_seconds": TARGET_SECONDS,
        "runs": runs,
    })


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
