"""Multi-GPU scaling of train/train.py: the same global batch trained by 1 and by N processes (`accelerate launch`),
images per second and losses side by side, then each run's last checkpoint resumed on the other process count
(N -> 1 and 1 -> N).

    python benchmarks/multi_gpu_scaling.py --data outputs/data/synthetic-cars \\
        --out benchmarks/results/multi_gpu_h200x2.json
    python benchmarks/multi_gpu_scaling.py --data /tmp/tiny --preset tiny --cpu --steps 4 --resume-steps 2 \\
        --out /tmp/s.json

Throughput is the median of the logged images/s after the first log (which includes compilation); losses are means
over the second half of each run's logs (the two runs draw different fakes, so they agree statistically, not bit for
bit).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from common import environment, write_json

from pix2nerf import __version__

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAIN_SCRIPT = REPO_ROOT / "train" / "train.py"
SCALING_TARGET = 1.8
COMPARED_LOSSES = ("d_loss", "g_loss", "d_real", "d_fake", "r1", "e_pose", "recon_mse")


def launch(args, processes: int, output_dir: Path, max_steps: int, resume: Path | None = None) -> dict:
    """One `accelerate launch` of train/train.py; returns its wall time, logs and training.json."""
    launcher = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
    ]
    if processes > 1:
        launcher.append("--multi_gpu")
    command = (
        launcher
        + [
            str(TRAIN_SCRIPT),
            "--train_data_dir",
            args.data,
            "--preset",
            args.preset,
            "--output_dir",
            str(output_dir),
            "--max_train_steps",
            str(max_steps),
            "--checkpointing_steps",
            str(max_steps),
            "--logging_steps",
            str(args.logging_steps),
            "--validation_steps",
            str(10**9),
            "--validation_num_objects",
            "1",
            "--report_to",
            "none",
            "--dataloader_num_workers",
            str(args.workers),
            "--seed",
            "0",
        ]
        + (["--train_batch_size", str(args.batch)] if args.batch else [])
        + (["--resume_from_checkpoint", str(resume)] if resume else [])
    )
    python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path, "HF_HUB_OFFLINE": "1"}
    if args.cpu:
        env.update(ACCELERATE_USE_CPU="True", OMP_NUM_THREADS="1")  # CPU processes with gloo
    print(
        f"{processes} process(es) -> {output_dir.name} to step {max_steps}" + (f" from {resume}" if resume else ""),
        flush=True,
    )
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    (output_dir / "launch.log").parent.mkdir(parents=True, exist_ok=True)
    (output_dir / "launch.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed (rc {result.returncode}):\n{result.stderr[-4000:]}")
    logs = [json.loads(line) for line in (output_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    logs = [row for row in logs if "perf/images_per_second" in row]
    info = json.loads((output_dir / "model" / "training.json").read_text())
    return {"wall_seconds": seconds, "logs": logs, "training": info}


def summarise(run: dict, start_step: int = 0) -> dict:
    """Images/s and mean losses of one launch (logs after its first, and the second half for the losses)."""
    logs = [row for row in run["logs"] if row["step"] > start_step]
    speeds = [row["perf/images_per_second"] for row in logs[1:]] or [row["perf/images_per_second"] for row in logs]
    late = logs[len(logs) // 2 :]
    losses = {
        name: statistics.fmean(row[f"train/{name}"] for row in late)
        for name in COMPARED_LOSSES
        if all(f"train/{name}" in row for row in late)
    }
    return {
        "processes": run["training"]["num_processes"],
        "steps": run["training"]["steps"],
        "images_per_second": {
            "median": statistics.median(speeds),
            "min": min(speeds),
            "max": max(speeds),
            "logs": len(speeds),
        },
        "losses_second_half": losses,
        "first_logged_losses": {name: logs[0].get(f"train/{name}") for name in COMPARED_LOSSES},
        "wall_seconds": run["wall_seconds"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="training data (a save_to_disk folder of the synthetic cars)")
    parser.add_argument("--preset", default="synthetic_cars")
    parser.add_argument("--processes", type=int, default=2, help="the multi-process run's process count")
    parser.add_argument("--batch", type=int, default=None, help="global batch (default: the first stage's)")
    parser.add_argument("--steps", type=int, default=600, help="steps of each scaling run (first stage)")
    parser.add_argument("--resume-steps", type=int, default=50, help="steps trained after each cross-count resume")
    parser.add_argument("--logging-steps", type=int, default=25)
    parser.add_argument("--workers", type=int, default=8, help="data loader workers per process")
    parser.add_argument("--cpu", action="store_true", help="CPU processes with gloo (a smoke test of the script)")
    parser.add_argument("--work-dir", default="outputs/multi_gpu_scaling")
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "multi_gpu.json"))
    args = parser.parse_args()
    if args.processes < 2:
        parser.error("--processes must be at least 2")
    if not args.cpu and torch.cuda.device_count() < args.processes:
        parser.error(
            f"{args.processes} processes need {args.processes} GPUs; found {torch.cuda.device_count()} (or pass --cpu)"
        )
    work = Path(args.work_dir)
    n = args.processes
    one = launch(args, 1, work / "one", args.steps)
    many = launch(args, n, work / f"x{n}", args.steps)
    end = args.steps + args.resume_steps
    many_to_one = launch(args, 1, work / f"x{n}_to_one", end, resume=work / f"x{n}" / f"checkpoint-{args.steps}")
    one_to_many = launch(args, n, work / f"one_to_x{n}", end, resume=work / "one" / f"checkpoint-{args.steps}")

    results = {"one": summarise(one), f"x{n}": summarise(many)}
    speedup = results[f"x{n}"]["images_per_second"]["median"] / results["one"]["images_per_second"]["median"]
    resumes = {}
    for name, run, before in ((f"x{n}_to_one", many_to_one, many), (f"one_to_x{n}", one_to_many, one)):
        summary = summarise(run, start_step=args.steps)
        resumes[name] = {
            "resumed_from_step": args.steps,
            "reached_step": run["training"]["steps"],
            "processes": summary["processes"],
            "first_logged_losses": summary["first_logged_losses"],
            "losses_before_resume": summarise(before)["losses_second_half"],
            "finite": all(v is None or math.isfinite(v) for v in summary["first_logged_losses"].values()),
        }
    device = torch.device("cpu" if args.cpu else "cuda")
    env = environment(device)
    env["gpu_count"] = 0 if args.cpu else torch.cuda.device_count()
    write_json(
        args.out,
        {
            "benchmark": "train/train.py at one global batch on 1 and N processes (accelerate launch), and resumes "
            "across process counts",
            "environment": {**env, "pix2nerf": __version__},
            "settings": {
                "preset": args.preset,
                "data": args.data,
                "processes": n,
                "global_batch": args.batch or "first stage's",
                "steps": args.steps,
                "resume_steps": args.resume_steps,
                "logging_steps": args.logging_steps,
            },
            "target_speedup": SCALING_TARGET,
            "speedup": speedup,
            "runs": results,
            "resumes": resumes,
        },
    )
    print(
        f"{n} processes: {speedup:.2f}x the images/s of one "
        f"({results[f'x{n}']['images_per_second']['median']:.1f} vs "
        f"{results['one']['images_per_second']['median']:.1f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
