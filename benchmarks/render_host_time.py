"""Host time of `Pix2NeRF.render` around its render graph (issues 26 and 27): a replayed render's GPU work is one
launch, so the Python that checks the arguments, builds the graph's key, copies the inputs in and the outputs out
is part of every render's time (a render that reads the device in its checks also waits there for the GPU).

On CUDA: wall time of each render of a warm graph, without synchronising after it (`host_ms`: what the caller's
thread spends; the GPU's work is queued behind it), and with a synchronise (`end_to_end_ms`). On a CPU, where graphs
do not run: the graph replaced by a stand-in that returns fixed outputs at once, so `host_ms` is every step of the
render but the graph's input copies, replay and output clones (a few launches on CUDA). Rows: the pose as Python
floats, and as the Latent's own pose (tensors on the model's device); each with the codes computed before (a
Latent with `codes`), the default model's renders at `--resolution` with `--steps` + as many samples.

    python benchmarks/render_host_time.py --device cpu --out benchmarks/results/render_host_time_cpu.json
    python benchmarks/render_host_time.py --device cuda --out benchmarks/results/render_host_time_h100.json
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch
from common import payload, write_json

from pix2nerf import Latent, Pix2NeRF


def stand_in_graphs(model: Pix2NeRF, resolution: int) -> list[tuple]:
    """On a CPU: the model's renders take the graph path with a stand-in for the graph that returns fixed outputs;
    returns the list of the keys it is called with (one a render)."""
    runner = model.field_runner()
    outputs = (
        torch.zeros(1, 3, resolution, resolution),
        torch.zeros(1, resolution, resolution),
        torch.zeros(1, resolution, resolution),
    )
    keys = []

    def replay(key, render, *inputs):
        keys.append(key)
        return outputs

    runner.graphs_apply = lambda like: True
    runner.graphs = replay
    return keys


def host_times(render, device: torch.device, repeats: int, synchronise: bool) -> list[float]:
    """Milliseconds of each of `repeats` calls of render() on the host's clock (with a device synchronise after
    each call when `synchronise`; always one before it)."""
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        render()
        if synchronise and device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(times: list[float]) -> dict:
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "repeats": len(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--steps", type=int, default=48, help="coarse samples per ray (as many fine)")
    parser.add_argument("--repeats", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (a render's host work is one thread)")
    parser.add_argument("--out", default="benchmarks/results/render_host_time.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = Pix2NeRF.from_pretrained(args.model, map_location=device).eval()
    generator = torch.Generator(device).manual_seed(0)
    encoded = Latent(model.sample_latents(1, generator), *model.sample_poses(1, generator))
    with torch.no_grad():
        latent = dataclasses.replace(encoded, codes=model.codes_of(encoded))
    stand_in_keys = stand_in_graphs(model, args.resolution) if device.type != "cuda" else None
    options = dict(resolution=args.resolution, num_steps=args.steps)
    renders = {
        "pose_as_floats": lambda: model.render(latent, 30.0, 10.0, **options),
        "latent_pose_tensors": lambda: model.render(latent, **options),
    }
    results = {}
    report = payload("render_host_time", device, args, results)
    report["settings"]["graphs"] = "replayed" if device.type == "cuda" else "stand-in (no replay, copies or clones)"
    for name, render in renders.items():
        for _ in range(3):  # the first call runs the render, the second captures its graph, later ones replay it
            render()
        row = {"host": summary(host_times(render, device, args.repeats, synchronise=False))}
        if device.type == "cuda":
            row["end_to_end"] = summary(host_times(render, device, args.repeats, synchronise=True))
        if stand_in_keys is not None:  # every render took the graph path
            row["stand_in_calls"], row["keys"] = len(stand_in_keys), len(set(stand_in_keys))
            stand_in_keys.clear()
        results[name] = row
        print(name, {k: round(v["median_ms"], 4) if isinstance(v, dict) else v for k, v in row.items()}, flush=True)
    write_json(args.out, report)


if __name__ == "__main__":
    main()
