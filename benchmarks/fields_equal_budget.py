"""The equal-budget comparison of the fields: two runs of `train/equal_budget.sh` (the SIREN preset and the tri-plane
preset, from scratch, the same data) side by side.

Reads each run's `training.json`, `metrics.jsonl` (the trainer's log; else its console log, `train.log`, and then
no curve) and `eval_results.json` (`pix2nerf eval` on the 100 held-out cars), writes one JSON of the headline figures
and a figure of the held-out validation curves against minutes of training steps (the budget's unit: the log's
seconds per step summed over its logging intervals).

    python benchmarks/fields_equal_budget.py train/runs/fields-equal-budget/siren \
        train/runs/fields-equal-budget/triplane train/runs/fields-equal-budget/triplane-10min-h100 \
        train/runs/fields-equal-budget/triplane-10min-h200-graphs \
        -o benchmarks/results/fields_equal_budget.json --curves train/runs/fields-equal-budget/curves.png
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from PIL import Image, ImageDraw

from pix2nerf.hub.package_model import read_metrics

CURVES = (
    ("eval/relative_pose_psnr", "held-out PSNR, relative pose (dB)"),
    ("eval/predicted_pose_psnr", "held-out PSNR, predicted pose (dB)"),
    ("eval/pose_error_yaw_aligned_median_deg", "encoder yaw error, aligned median (deg)"),
    ("eval/sample_diversity", "sample diversity"),
)
COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189))  # one per run, in order
PANEL = (420, 230)


def training_minutes_at_steps(rows: list[dict], total_minutes: float) -> dict[int, float]:
    """Minutes of training steps done at each logged step: each log row's seconds per step times the steps since the
    previous row, scaled to the run's `total_minutes` (the trainer's own sum; the first interval after a resume holds
    fewer steps than the log's spacing). A resumed run logs again from its checkpoint's step: the later rows win."""
    by_step = {row["step"]: row["perf/seconds_per_step"] for row in rows if "perf/seconds_per_step" in row}
    minutes, total, previous = {}, 0.0, 0
    for step in sorted(by_step):
        total += by_step[step] * (step - previous) / 60
        minutes[step], previous = total, step
    return {step: value * total_minutes / total for step, value in minutes.items()}


def validation_curves(rows: list[dict], total_minutes: float) -> dict[str, list[tuple[float, float]]]:
    """(training minutes, value) of each CURVES series, at the steps where the trainer validated."""
    minutes = training_minutes_at_steps(rows, total_minutes)
    steps = sorted(minutes)
    curves: dict[str, list[tuple[float, float]]] = {}
    for key, _ in CURVES:
        points = {}
        for row in rows:
            if key in row:
                done = [s for s in steps if s <= row["step"]]
                points[row["step"]] = (minutes[done[-1]] if done else 0.0, row[key])
        curves[key] = [points[s] for s in sorted(points)]
    return curves


def log_rows(path: Path, resolution: int) -> list[dict]:
    """Rows like metrics.jsonl's from the trainer's console log, for a run whose metrics.jsonl was not kept: each
    validation ("step N: validation name value, ...") as eval/ scalars, and each command's closing median speed."""
    rows = []
    for line in path.read_text().splitlines():
        if match := re.search(r"step (\d+): validation (.*)", line):
            pairs = (item.rsplit(" ", 1) for item in match.group(2).split(", "))
            rows.append({"step": int(match.group(1)), **{f"eval/{name}": float(value) for name, value in pairs}})
        elif match := re.search(r"median ([\d.]+) images/s", line):
            rows.append({"perf/images_per_second": float(match.group(1)), "train/resolution": resolution})
    return rows


def run_rows(run: Path, training: dict) -> list[dict]:
    """The run's metrics.jsonl, or what its train.log holds of it."""
    metrics = run / "metrics.jsonl"
    return read_metrics(metrics) if metrics.exists() else log_rows(run / "train.log", training["resolution"])


def summary(run: Path) -> dict:
    """The headline figures of one run folder."""
    training = json.loads((run / "training.json").read_text())
    evaluation = json.loads((run / "eval_results.json").read_text())
    rows = run_rows(run, training)
    speeds: dict[str, list[float]] = {}  # by training resolution
    for row in rows:
        if "perf/images_per_second" in row:
            speeds.setdefault(f"{row['train/resolution']:g} px", []).append(row["perf/images_per_second"])
    last_validation = [row for row in rows if "eval/sample_diversity" in row][-1]
    protocols = evaluation["protocols"]
    return {
        "preset": training["preset"],
        "steps": training["steps"],
        "images_seen": training["images_seen"],
        "training_minutes": round(training["training_minutes"], 3),
        "median_images_per_second": {res: sorted(values)[len(values) // 2] for res, values in speeds.items()},
        "device": training["device"],
        "torch": training["torch"],
        "held_out": {
            name: {metric: round(protocols[name][metric]["mean"], 4) for metric in ("psnr", "ssim", "colour_error")}
            for name in protocols
        },
        "baselines": {name: round(value["psnr"]["mean"], 4) for name, value in evaluation["baselines"].items()},
        "psnr_gain_over_best_baseline_db": evaluation["psnr_gain_over_best_baseline_db"],
        "pose_error_deg_median": {k: round(v["median"], 2) for k, v in evaluation["pose_error_deg"].items()},
        "sample_diversity_at_last_validation": last_validation["eval/sample_diversity"],
        "eval_objects": evaluation["counts"]["objects"],
        "eval_date": evaluation["date"],
    }


def _panel(series: list[list[tuple[float, float]]], title: str, max_minutes: float) -> Image.Image:
    """One chart: training minutes on x, one coloured line per run."""
    image = Image.new("RGB", PANEL, "white")
    draw = ImageDraw.Draw(image)
    draw.text((50, 6), title, fill="black")
    left, top, right, bottom = 50, 24, PANEL[0] - 10, PANEL[1] - 22
    draw.rectangle([left, top, right, bottom], outline=(180, 180, 180))
    values = [v for points in series for _, v in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    for points, colour in zip(series, COLOURS):
        xy = [(left + (right - left) * m / max_minutes, bottom - (bottom - top) * (v - low) / span) for m, v in points]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for x, y in xy:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
    draw.text((2, top), f"{high:.3g}", fill="black")
    draw.text((2, bottom - 10), f"{low:.3g}", fill="black")
    draw.text((left, bottom + 6), "0", fill="black")
    draw.text(((left + right) // 2 - 40, bottom + 6), "training minutes", fill="black")
    draw.text((right - 30, bottom + 6), f"{max_minutes:.3g}", fill="black")
    return image


def curves_figure(runs: dict[str, tuple[list[dict], float]]) -> Image.Image:
    """A 2-column figure of the CURVES of every run ((log rows, training minutes) by name), with a legend line."""
    curves = {name: validation_curves(*run) for name, run in runs.items()}
    max_minutes = max(m for c in curves.values() for points in c.values() for m, _ in points) or 1.0
    panels = [
        _panel([curves[name][key] for name in runs], title, max_minutes)
        for key, title in CURVES
        if all(curves[name][key] for name in runs)
    ]
    figure = Image.new("RGB", (2 * PANEL[0], 20 + -(-len(panels) // 2) * PANEL[1]), "white")
    draw = ImageDraw.Draw(figure)
    for index, (name, colour) in enumerate(zip(runs, COLOURS)):
        draw.text((50 + 250 * index, 4), f"--- {name}", fill=colour)
    for index, panel in enumerate(panels):
        figure.paste(panel, ((index % 2) * PANEL[0], 20 + (index // 2) * PANEL[1]))
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (training.json, metrics.jsonl, eval_results)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="JSON to write")
    parser.add_argument("--curves", type=Path, default=None, help="also write the curves figure (PNG)")
    args = parser.parse_args()
    summaries = {run.name: summary(run) for run in args.runs}
    args.output.write_text(json.dumps({"benchmark": "fields at equal training budget", "runs": summaries}, indent=2))
    if args.curves:
        runs = {  # curves need each log interval's seconds per step: runs with a metrics.jsonl only
            run.name: (read_metrics(run / "metrics.jsonl"), summaries[run.name]["training_minutes"])
            for run in args.runs
            if (run / "metrics.jsonl").exists()
        }
        curves_figure(runs).save(args.curves)
    for name, figures in summaries.items():
        rel = figures["held_out"]["relative_pose"]
        print(f"{name}: {figures['training_minutes']:.2f} min, {figures['steps']} steps, relative pose {rel}")


if __name__ == "__main__":
    main()
