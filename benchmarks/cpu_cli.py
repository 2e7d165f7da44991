"""Wall-clock times a user sees on a CPU with the default model: `pix2nerf render` of one 128 px view (a new process,
start-up included), `pix2nerf orbit`, and in-process `novel_views` of four 128 px views (the model loaded).

    python benchmarks/cpu_cli.py [--model default] [--repeats 3] [-o benchmarks/results/cpu_cli.json]

Targets (issue 23, 2-core CPU): render <= 3 s including start-up; novel_views of four 128 px views <= 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import environment, write_json
from PIL import Image

from pix2nerf import Pix2NeRF

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "car_0.png"


def wall_seconds(command: list[str], repeats: int) -> dict:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "command": " ".join(command[2:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("-o", "--output", default="benchmarks/results/cpu_cli.json")
    args = parser.parse_args()
    results = {"benchmark": "cpu_cli", "environment": environment(torch.device("cpu")), "model": args.model}
    with tempfile.TemporaryDirectory() as folder:
        cli = [sys.executable, "-m", "pix2nerf"]
        render = [*cli, "render", str(EXAMPLE), "--model", args.model, "--resolution", "128", "--yaw", "90"]
        results["render_128px_seconds"] = wall_seconds([*render, "-o", f"{folder}/view.png"], args.repeats)
        orbit = [*cli, "orbit", str(EXAMPLE), "--model", args.model, "-o", f"{folder}/orbit.gif"]
        results["orbit_seconds"] = wall_seconds(orbit, args.repeats)
    model = Pix2NeRF.from_pretrained(args.model)
    image = Image.open(EXAMPLE)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        model.novel_views(image, yaws=[0, 90, 180, 270], pitches=15.0, resolution=128)
        times.append(time.perf_counter() - start)
    results["novel_views_4x128px_seconds"] = {"median": statistics.median(times), "min": min(times), "max": max(times)}
    print({k: v["median"] for k, v in results.items() if isinstance(v, dict) and "median" in v})
    write_json(args.output, results)


if __name__ == "__main__":
    main()
