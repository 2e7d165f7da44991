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
import resource
import tempfile
import time
from pathlib import Path

import datasets
import torch
from common import environment, write_json

from pix2nerf.data.synthetic.builder import build_dataset, save_dataset

TARGET_SECONDS = 600  # the budget for 20,000 training images at 128 px plus the test split on 2 CPU cores


def timed_build(category: str, train: int, test: int, views: int, args: argparse.Namespace) -> tuple[float, float, int]:
    """Wall seconds and CPU seconds (this process and its workers) to build and save (arrow) a dataset, and its
    number of images."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    dataset = build_dataset(
        category,
        train,
        test,
        views,
        args.resolution,
        args.seed,
        args.device,
        args.supersample,
        workers=args.workers,
        progress=False,
    )
    with tempfile.TemporaryDirectory() as folder:
        save_dataset(dataset, folder)
    return time.perf_counter() - start, _cpu_seconds() - cpu, sum(len(split) for split in dataset.values())


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its finished worker processes."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


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
    cores = min(args.workers or 2, os.cpu_count() or 1) if device.type == "cpu" else 1
    for category in args.category:
        load_before = os.getloadavg()
        if args.full:
            seconds, cpu, images = timed_build(category, args.train_objects, args.test_objects, args.test_views, args)
            fixed, fixed_cpu = 0.0, 0.0
        else:
            fixed, fixed_cpu, _ = timed_build(category, 1, 1, 1, args)
            seconds, cpu, images = timed_build(category, args.sample_train, args.sample_test, args.test_views, args)
            images -= 2  # the one-image build's rows are paid for by the fixed cost
        per_image, cpu_per_image = (seconds - fixed) / images, (cpu - fixed_cpu) / images
        run = {
            "category": category,
            "measured": "full job" if args.full else f"sample of {images} images, extrapolated linearly",
            "measured_images": images,
            "measured_wall_seconds": round(seconds, 2),
            "measured_cpu_seconds": round(cpu, 2),
            "fixed_wall_seconds": round(fixed, 2),
            "wall_ms_per_image": round(per_image * 1000, 2),
            "cpu_ms_per_image": round(cpu_per_image * 1000, 2),
            "full_job_images": full_images,
            "full_job_wall_seconds": round(fixed + per_image * full_images, 1),
            # what the job takes on an otherwise idle machine: its CPU time spread over the cores it uses
            "full_job_idle_machine_seconds": round(fixed_cpu / cores + cpu_per_image * full_images / cores, 1),
            "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        }
        run["within_target"] = run["full_job_wall_seconds"] <= TARGET_SECONDS
        runs.append(run)
        print(run, flush=True)
    write_json(
        args.out,
        {
            "benchmark": "make-dataset: render, encode PNG, assemble and save a synthetic dataset",
            "environment": {**environment(device), "cpu_cores": os.cpu_count(), "cpu_model": _cpu_model()},
            "settings": {
                k: getattr(args, k)
                for k in ("train_objects", "test_objects", "test_views", "resolution", "supersample", "seed", "workers")
            },
            "target_seconds": TARGET_SECONDS,
            "cores_used": cores,
            "runs": runs,
        },
    )


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
