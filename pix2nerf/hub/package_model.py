"""Turn a trained model folder (`train/train.py`'s `<output_dir>/model` after `pix2nerf eval`) into the hub folder
that is shipped: weights stored in float16 (checked against the float32 weights by rendering), training curves
drawn from the run's metrics log, the evaluation JSON and grid, and a model card with the commands that reproduce it.

    python hub/package_model.py RUN/model --metrics RUN/logs/metrics.jsonl --eval RUN/model/eval_results.json \
        --grid RUN/model/eval_grid.png --commands train/synthetic_cars.sh -o pix2nerf/models/pix2nerf-synthetic-cars

The float16 weights are refused (exit 1) when any check render from them is below --min-psnr (default 40 dB)
against the same render from the float32 weights; --dtype float32 keeps full precision.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from pix2nerf import Pix2NeRF
from pix2nerf.evaluation.metrics import psnr
from pix2nerf.evaluation.yaw_calibration import RECORD_NAME
from pix2nerf.hub.model_card import write_model_card
from pix2nerf.official.convert import check_output_folder

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
CHECK_POSES = [(0.0, 20.0), (90.0, 10.0), (180.0, 35.0), (-60.0, 60.0)]  # (yaw, pitch) degrees
CHECK_SEEDS = (0, 1)
CURVES = [  # (metrics key, title) drawn in the training-curves figure
    ("train/d_loss", "discriminator loss"),
    ("train/g_loss", "generator loss"),
    ("train/recon_mse", "reconstruction MSE (odd G steps)"),
    ("train/e_yaw_error_deg", "encoder yaw error on generated images (deg)"),
    ("train/e_latent_explained", "share of z's variance the encoder reads (generated images)"),
    ("eval/relative_pose_psnr", "held-out novel views, relative pose: PSNR (dB)"),
    ("eval/pose_error_yaw_median_deg", "held-out encoder yaw error, median (deg)"),
    ("eval/latent_cycle_psnr", "G(E(G(z))) against G(z), same poses: PSNR (dB)"),
]
PANEL, MARGIN = (420, 220), 36


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub/package_model.py", description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="trained model folder (config.json, model.safetensors, training.json)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="hub folder to write")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the output folder (all of it) if it holds a model"
    )
    parser.add_argument("--metrics", type=Path, default=None, help="the run's metrics.jsonl (training curves)")
    parser.add_argument(
        "--eval", type=Path, default=None, help="`pix2nerf eval` JSON for the card (default: MODEL/eval_results.json)"
    )
    parser.add_argument(
        "--grid", type=Path, default=None, help="`pix2nerf eval --grid` PNG (default: MODEL/eval_grid.png)"
    )
    parser.add_argument(
        "--commands", type=Path, default=None, help="shell script that reproduces the model, quoted in the card"
    )
    parser.add_argument(
        "--model-id", default=None, help="what the card's usage examples load (default: the output folder)"
    )
    parser.add_argument(
        "--description", type=Path, default=None, help="Markdown file: the card's opening text (what, how, limitations)"
    )
    parser.add_argument("--datasets", nargs="*", default=[], help="hub dataset ids for the card's metadata")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float16", help="storage dtype of the weights")
    parser.add_argument("--min-psnr", type=float, default=40.0, help="dB, lowest check render PSNR accepted")
    parser.add_argument("--check-resolution", type=int, default=48, help="px of the check renders")
    return parser


@torch.no_grad()
def storage_fidelity(model: Pix2NeRF, stored: Pix2NeRF, resolution: int) -> list[float]:
    """PSNR (dB) of renders from `stored` against `model` (float32), for CHECK_SEEDS x CHECK_POSES."""
    scores = []
    for seed in CHECK_SEEDS:
        z = model.sample_latents(1, torch.Generator().manual_seed(seed))
        for yaw, pitch in CHECK_POSES:
            options = dict(resolution=resolution, return_depth=False, skip_empty=False)  # every sample: precision only
            reference = model.render(z, yaw, pitch, **options).rgb
            candidate = stored.render(z, yaw, pitch, **options).rgb
            scores.append(float(psnr(candidate, reference)))
    return scores


def save_weights(model: Pix2NeRF, folder: Path, dtype: torch.dtype) -> Pix2NeRF:
    """save_pretrained with the weights cast to `dtype`; returns the model read back from the folder (float32)."""
    model.save_pretrained(folder)
    if dtype != torch.float32:
        from safetensors.torch import save_file

        state = {name: tensor.to(dtype).contiguous() for name, tensor in model.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt", "storage_dtype": str(dtype)})
    return Pix2NeRF.from_pretrained(folder)


def read_metrics(path: Path) -> list[dict]:
    """The JSON lines of a metrics log (blank lines ignored); a malformed line is an error that names it."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number} is not JSON ({error})") from None
    return rows


def _panel(points: list[tuple[float, float]], title: str, max_step: float) -> Image.Image:
    """One line chart: step on x (0..max_step), the value on y (its finite range), with the title and y range."""
    image = Image.new("RGB", PANEL, "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, 6), title, fill="black")
    left, top, right, bottom = MARGIN, 24, PANEL[0] - 10, PANEL[1] - 22
    draw.rectangle([left, top, right, bottom], outline=(180, 180, 180))
    values = [v for _, v in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    xy = [(left + (right - left) * s / max_step, bottom - (bottom - top) * (v - low) / span) for s, v in points]
    if len(xy) > 1:
        draw.line(xy, fill=(31, 119, 180), width=2)
    for x, y in xy if len(xy) <= 12 else []:  # sparse series (evaluations): mark the points
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(214, 39, 40))
    draw.text((2, top), f"{high:.3g}", fill="black")
    draw.text((2, bottom - 10), f"{low:.3g}", fill="black")
    draw.text((left, bottom + 6), "0", fill="black")
    draw.text(((left + right) // 2 - 12, bottom + 6), "step", fill="black")
    draw.text((right - 40, bottom + 6), f"{max_step:g}", fill="black")
    return image


def training_curves(rows: list[dict]) -> Image.Image:
    """A 2-column figure of the CURVES that the log holds (finite values only), x = training step."""
    max_step = max(row["step"] for row in rows)
    panels = []
    for key, title in CURVES:
        points = [(row["step"], row[key]) for row in rows if key in row and math.isfinite(row[key])]
        if points:
            panels.append(_panel(points, title, max_step))
    if not panels:
        raise ValueError("the metrics log holds none of the plotted series")
    columns = 2
    rows_needed = -(-len(panels) // columns)
    figure = Image.new("RGB", (columns * PANEL[0], rows_needed * PANEL[1]), "white")
    for index, panel in enumerate(panels):
        figure.paste(panel, ((index % columns) * PANEL[0], (index // columns) * PANEL[1]))
    return figure


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    source: Path = args.model
    evaluation_path = args.eval or source / "eval_results.json"
    grid_path = args.grid or source / "eval_grid.png"
    out: Path = args.out
    try:
        if out.resolve() == source.resolve():
            raise ValueError(f"the output folder is the model folder {source}; give another -o")
        check_output_folder(out, args.overwrite)
        model = Pix2NeRF.from_pretrained(source)
        evaluation = json.loads(evaluation_path.read_text()) if evaluation_path.is_file() else None
        training = json.loads((source / "training.json").read_text()) if (source / "training.json").is_file() else None
        rows = read_metrics(args.metrics) if args.metrics else None
        commands = (
            {"Reproduce (data, training, evaluation, packaging)": args.commands.read_text()} if args.commands else None
        )
        description = args.description.read_text().strip() if args.description else None
    except (OSError, ValueError) as error:
        print(f"hub/package_model.py: error: {error}", file=sys.stderr)
        return 2
    if evaluation is None:
        print(f"warning: no evaluation at {evaluation_path}: the card will have no evaluation table", file=sys.stderr)

    shutil.rmtree(out, ignore_errors=True)
    (out / "images").mkdir(parents=True)
    stored = save_weights(model, out, DTYPES[args.dtype])
    notes = []
    calibration_path = source / RECORD_NAME  # from `pix2nerf calibrate-yaw`
    if calibration_path.is_file():
        calibration = json.loads(calibration_path.read_text())
        shutil.copy(calibration_path, out / RECORD_NAME)
        notes.append(
            f"Yaw origin: config.yaw_offset = {calibration['yaw_offset_deg']:.1f} deg, fitted on "
            f"{calibration['pose_views']} views of {calibration['objects']} other posed objects "
            f"(`{RECORD_NAME}`), so that yaw 0 is the data's front view."
        )
    if args.dtype != "float32":
        scores = storage_fidelity(model, stored, args.check_resolution)
        print(f"{args.dtype} weights: check renders {min(scores):.1f}-{max(scores):.1f} dB PSNR against float32")
        if min(scores) < args.min_psnr:
            print(
                f"hub/package_model.py: error: {args.dtype} storage is below {args.min_psnr:g} dB; use --dtype float32",
                file=sys.stderr,
            )
            shutil.rmtree(out)
            return 1
        fidelity = {
            "dtype": args.dtype,
            "psnr_db_min": min(scores),
            "psnr_db_max": max(scores),
            "resolution": args.check_resolution,
            "poses": CHECK_POSES,
            "seeds": list(CHECK_SEEDS),
        }
        (out / "storage_check.json").write_text(json.dumps(fidelity, indent=2) + "\n")
        notes.append(
            f"Weights stored as {args.dtype}; renders from them match the float32 weights at {min(scores):.1f} "
            f"dB PSNR or more (`storage_check.json`)."
        )

    images = []
    if rows:
        training_curves(rows).save(out / "images" / "training_curves.png")
        shutil.copy(args.metrics, out / "metrics.jsonl")
        images.append(
            (
                "Training curves (from metrics.jsonl; the evaluations are the held-out validation during training)",
                "images/training_curves.png",
            )
        )
    copies = [
        (
            grid_path,
            "eval_grid.png",
            "Held-out test objects: input (left), then predicted and true views (rows per object)",
        )
    ]
    copies += [
        (source / "images" / name, name, f"During training: {name[:-4].replace('_', ' ')} (EMA model)")
        for name in ("samples.png", "novel_views.png")
    ]
    for path, name, caption in copies:
        if path.is_file():
            shutil.copy(path, out / "images" / name)
            images.append((caption, f"images/{name}"))
    if evaluation is not None:
        (out / "eval_results.json").write_text(json.dumps(evaluation, indent=2) + "\n")
    if training is not None:
        (out / "training.json").write_text(json.dumps(training, indent=2) + "\n")
    write_model_card(
        out,
        model_id=args.model_id or str(out),
        title=out.name,
        training=training,
        evaluation=evaluation,
        evaluation_note=" ".join(notes) or None,
        images=images,
        commands=commands,
        datasets=args.datasets,
        description=description,
    )
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
