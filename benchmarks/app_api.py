"""The app's speed and memory on this machine's CPU, in-process (pix2nerf.serving.service) and through the API
(gradio_client against the Gradio app launched in this process on a free local port).

    python benchmarks/app_api.py [--model DIR_OR_ID] [--memory-requests 200] [--output benchmarks/results/app_api.json]

Targets (2-core CPU): first view of a new image <= 3 s; further 128x128 views <= 150 ms median in-process; orbit of
36 frames at 128 px <= 15 s; mesh <= 10 s; 8 clients at once all get correct images; memory flat over 200 requests
on different images.

Gradio runs handlers in worker threads, where torch's OpenMP work runs on one thread; in-process calls here run in
the main thread with torch's default threads (all cores), which is far slower when other processes load the CPU
(spinning OpenMP threads): compare with --torch-threads 1. The JSON records the load average.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np
import psutil
import torch
from common import environment, write_json
from PIL import Image, ImageOps

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"first_view_s": 3.0, "view_median_ms": 150.0, "orbit_s": 15.0, "mesh_s": 10.0}


def load_app():
    spec = importlib.util.spec_from_file_location("pix2nerf_app", REPO_ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def base_images() -> list[Image.Image]:
    """The app's example images, else procedural blobs."""
    paths = sorted((REPO_ROOT / "examples").glob("*.png"))
    if paths:
        return [Image.open(p).convert("RGBA") for p in paths]
    rng = np.random.default_rng(0)
    images = []
    for _ in range(4):
        pixels = np.full((128, 128, 3), 255, np.uint8)
        y, x = np.mgrid[0:128, 0:128]
        pixels[((x - rng.uniform(40, 88)) ** 2 + (y - 64) ** 2) < 40**2] = rng.integers(0, 200, 3)
        images.append(Image.fromarray(pixels))
    return images


def variant(bases: list[Image.Image], index: int, folder: Path) -> Path:
    """A different image for each index (a base image shifted, cropped and possibly mirrored), saved as PNG."""
    base = bases[index % len(bases)]
    dx, dy = index // len(bases) % 9, index // len(bases) // 9 % 9
    image = base.crop((dx, dy, base.width - 8 + dx, base.height - 8 + dy)).resize(base.size)
    if index // len(bases) // 81 % 2:
        image = ImageOps.mirror(image)
    path = folder / f"request{index:04d}.png"
    image.save(path)
    return path


def seconds(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def summary(values: list[float], scale: float = 1.0) -> dict:
    values = [v * scale for v in values]
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def try_mesh(fn) -> dict:
    try:
        elapsed, path = seconds(fn)
        return {"seconds": elapsed, "bytes": Path(path).stat().st_size}
    except Exception as error:  # a model without a surface (an untrained one) cannot be meshed
        return {"error": str(error).splitlines()[0]}


def in_process(service, bases, folder: Path, new_images: int, views: int) -> dict:
    rng = np.random.default_rng(1)
    poses = service.pose_range
    first = [seconds(lambda: service.novel_view(variant(bases, i, folder), 30.0, 20.0))[0] for i in range(new_images)]
    image = variant(bases, 0, folder)
    view_seconds = []
    for _ in range(views):
        yaw, pitch = rng.uniform(poses.yaw_min, poses.yaw_max), rng.uniform(poses.pitch_min, poses.pitch_max)
        view_seconds.append(seconds(lambda: service.novel_view(image, yaw, pitch))[0])
    orbit_seconds, _ = seconds(lambda: service.orbit(image, 20.0))
    return {
        "first_view_s": summary(first),
        "view_ms": summary(view_seconds, 1000),
        "orbit_s": orbit_seconds,
        "mesh_of_viewed_image": try_mesh(lambda: service.mesh(image)),
        "mesh_again": try_mesh(lambda: service.mesh(image)),
        "mesh_of_new_image": try_mesh(lambda: service.mesh(variant(bases, new_images, folder))),
        "cache_entry_mb": service.prepare(image).nbytes / 2**20,
    }


def through_api(url: str, service, bases, folder: Path, new_images: int, views: int, clients: int) -> dict:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    first = [
        seconds(
            lambda: client.predict(handle_file(str(variant(bases, 1000 + i, folder))), 30, 20, api_name="/novel_view")
        )[0]
        for i in range(new_images)
    ]
    image = handle_file(str(variant(bases, 1000, folder)))
    view_seconds = [
        seconds(lambda: client.predict(image, -180 + 360 * k / views, 20, api_name="/novel_view"))[0]
        for k in range(views)
    ]
    orbit_seconds, _ = seconds(lambda: client.predict(image, 20, api_name="/orbit"))

    requests = [(variant(bases, 2000 + i % 2, folder), -180.0 + 45.0 * i) for i in range(clients)]
    results: dict[int, object] = {}

    def call(index: int) -> None:
        try:
            results[index] = Client(url, verbose=False).predict(
                handle_file(str(requests[index][0])), requests[index][1], 20, api_name="/novel_view"
            )
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=call, args=(i,)) for i in range(clients)]
    concurrent_seconds, _ = seconds(lambda: ([t.start() for t in threads], [t.join() for t in threads]))
    correct = 0
    for index, (path, yaw) in enumerate(requests):
        if not isinstance(results[index], Exception):
            expected = np.asarray(service.novel_view(path, yaw, 20).image, dtype=np.int16)
            got = np.asarray(Image.open(results[index]).convert("RGB"), dtype=np.int16)
            correct += int(got.shape == expected.shape and np.abs(got - expected).max() <= 1)
    return {
        "first_view_s": summary(first),
        "view_ms": summary(view_seconds, 1000),
        "orbit_s": orbit_seconds,
        "mesh": try_mesh(lambda: client.predict(image, api_name="/mesh")),
        "concurrent_clients": {"clients": clients, "correct": correct, "wall_s": concurrent_seconds},
    }


def memory(url: str, service, bases, folder: Path, requests: int) -> dict:
    """RSS of this process (server included) while `requests` different images go through /novel_view."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    process = psutil.Process()
    samples, start = [], time.perf_counter()
    for i in range(requests):
        path = variant(bases, 5000 + i, folder)
        client.predict(handle_file(str(path)), 0, 20, api_name="/novel_view")
        path.unlink()
        if i % 20 == 19 or i == 0:
            samples.append(
                {"request": i + 1, "rss_mb": process.memory_info().rss / 2**20, "cache_entries": len(service.cache)}
            )
    return {
        "requests": requests,
        "seconds": time.perf_counter() - start,
        "rss_mb": samples,
        "growth_after_first_20_mb": samples[-1]["rss_mb"] - samples[1]["rss_mb"] if len(samples) > 2 else None,
        "cache_max_entries": service.cache.max_entries,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the app's)")
    parser.add_argument("--new-images", type=int, default=5, help="first views of new images to time")
    parser.add_argument("--views", type=int, default=30, help="further views of one image to time")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--memory-requests", type=int, default=200, help="0 skips the memory run")
    parser.add_argument(
        "--torch-threads", type=int, default=None, help="torch threads of the in-process calls (default: torch's)"
    )
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "app_api.json")
    args = parser.parse_args()

    import tempfile

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    app = load_app()
    service = app.load_service(args.model)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = app.build_demo(service)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_options())
    url = f"http://127.0.0.1:{port}/"
    bases = base_images()
    results: dict = {
        "environment": {
            **environment(torch.device("cpu")),
            "cpu_count": os.cpu_count(),
            "load_average_before": os.getloadavg(),
        },
        "model": {
            "source": args.model or os.environ.get("PIX2NERF_MODEL") or "default",
            "preset": service.model.config.preset,
        },
        "view_resolution": service.view_resolution,
        "orbit_frames": service.orbit_frames,
        "targets": TARGETS,
    }
    try:
        with tempfile.TemporaryDirectory() as folder:
            print("in-process ...", flush=True)
            results["in_process"] = in_process(service, bases, Path(folder), args.new_images, args.views)
            print("through the API ...", flush=True)
            results["api"] = through_api(url, service, bases, Path(folder), args.new_images, args.views, args.clients)
            if args.memory_requests:
                print(f"memory over {args.memory_requests} requests ...", flush=True)
                results["memory"] = memory(url, service, bases, Path(folder), args.memory_requests)
    finally:
        demo.close()
    local, api = results["in_process"], results["api"]
    results["meets_targets"] = {
        "first_view_s": max(local["first_view_s"]["max"], api["first_view_s"]["max"]) <= TARGETS["first_view_s"],
        "view_median_ms": local["view_ms"]["median"] <= TARGETS["view_median_ms"],
        "orbit_s": max(local["orbit_s"], api["orbit_s"]) <= TARGETS["orbit_s"],
        "mesh_s": local["mesh_of_new_image"].get("seconds", float("inf")) <= TARGETS["mesh_s"],
        "concurrent_clients": api["concurrent_clients"]["correct"] == args.clients,
    }
    results["environment"]["load_average_after"] = os.getloadavg()
    write_json(args.output, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
