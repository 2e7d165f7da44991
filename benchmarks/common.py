"""Shared helpers for the benchmarks: timing with device events, environment facts, JSON output."""

from __future__ import annotations

import datetime
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch


def environment(device: torch.device) -> dict:
    """Device, versions and date for a benchmark's JSON."""
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda)
    return info


def time_it(fn: Callable[[], object], device: torch.device, warmup: int = 3, repeats: int = 10) -> dict:
    """Median/min/max milliseconds of fn() after warm-up, each call's time (times_ms), and peak memory in GB (CUDA)
    during the timed runs."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
    result = {
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "repeats": repeats,
        "times_ms": times,
    }
    if device.type == "cuda":
        result["peak_memory_gb"] = torch.cuda.max_memory_allocated(device) / 1e9
    return result


def payload(benchmark: str, device: torch.device, args, results: dict) -> dict:
    """A benchmark's JSON: its name, the environment (with pix2nerf's version), its arguments but --out, and
    `results` (filled in as rows finish)."""
    from pix2nerf import __version__

    return {
        "benchmark": benchmark,
        "environment": {**environment(device), "pix2nerf": __version__},
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "results": results,
    }


def write_json(path: str | Path, payload: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")
