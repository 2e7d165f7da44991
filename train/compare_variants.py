"""Compare the variants of train/variants.sh on their validation curves (held-out cars, relative pose) and on what
the default model lacks most: identity, measured as the latent cycle's gain over the mean latent.

Usage: python train/compare_variants.py VARIANTS_DIR [-o comparison.json]

For each VARIANTS_DIR/<name>/logs/metrics.jsonl: the config fields where <name>/model/config.json differs from its
preset, the last step, the median images per second, and each validation's metrics; "final" averages the last two
validations (one alone is noisy at 16 objects).
The variants are ranked by the final identity gain, cycle PSNR minus mean-latent PSNR: positive when the encoder reads
the generator's latent from its images, near zero or negative when it reads nothing or the generator ignores z.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from pix2nerf import Pix2NeRFConfig

FINAL_KEYS = (
    "eval/relative_pose_psnr",
    "eval/relative_pose_ssim",
    "eval/sample_diversity",
    "eval/latent_cycle_psnr",
    "eval/latent_mean_latent_psnr",
    "eval/pose_error_yaw_aligned_median_deg",
)


def summarise(folder: Path) -> dict:
    rows = [json.loads(line) for line in (folder / "logs" / "metrics.jsonl").read_text().splitlines() if line]
    validations = [row for row in rows if "eval/relative_pose_psnr" in row]
    training = [row for row in rows if "train/e_latent" in row]
    summary: dict = {"name": folder.name, "steps": max((row["step"] for row in rows), default=0)}
    config_file = folder / "model" / "config.json"
    if config_file.exists():
        config = json.loads(config_file.read_text())
        preset = Pix2NeRFConfig.from_preset(config["preset"]).to_dict()
        summary["overrides"] = {k: v for k, v in config.items() if preset.get(k) != v and k != "yaw_offset"}
    speeds = [row["perf/images_per_second"] for row in training if "perf/images_per_second" in row]
    summary["images_per_second_median"] = statistics.median(speeds) if speeds else None
    last = [row for row in training if row["step"] > summary["steps"] - 100]
    if last:
        summary["e_latent_last_100_steps"] = statistics.fmean(row["train/e_latent"] for row in last)
        explained = [row["train/e_latent_explained"] for row in last if "train/e_latent_explained" in row]
        if explained:  # the share of z's variance E reads: 0 when it reads nothing
            summary["e_latent_explained_last_100_steps"] = statistics.fmean(explained)
    summary["validations"] = [{"step": row["step"], **{k: row.get(k) for k in FINAL_KEYS}} for row in validations]
    final = validations[-2:]
    if final:
        summary["final"] = {
            key: statistics.fmean(row[key] for row in final) for key in FINAL_KEYS if all(key in r for r in final)
        }
        if {"eval/latent_cycle_psnr", "eval/latent_mean_latent_psnr"} <= summary["final"].keys():
            summary["final"]["identity_gain_db"] = (
                summary["final"]["eval/latent_cycle_psnr"] - summary["final"]["eval/latent_mean_latent_psnr"]
            )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants_dir", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=None)
    args = parser.parse_args(argv)
    folders = sorted(p.parent.parent for p in args.variants_dir.glob("*/logs/metrics.jsonl"))
    if not folders:
        print(f"no variants with logs/metrics.jsonl under {args.variants_dir}", file=sys.stderr)
        return 1
    variants = [summarise(folder) for folder in folders]
    variants.sort(key=lambda v: v.get("final", {}).get("identity_gain_db", float("-inf")), reverse=True)
    result = {"ranked_by": "final identity_gain_db (latent cycle PSNR - mean-latent PSNR)", "variants": variants}
    text = json.dumps(result, indent=2)
    if args.output:
        args.output.write_text(text + "\n")
    columns = ("steps", "img/s", "PSNR", "divers", "cycle", "mean-z", "gain", "E reads")
    print(f"{'variant':<16} " + " ".join(f"{c:>{7 if c in ('divers', 'E reads') else 6}}" for c in columns))
    for v in variants:
        f = v.get("final", {})
        cells = [f.get(k, float("nan")) for k in FINAL_KEYS[:1] + FINAL_KEYS[2:5]]
        print(
            f"{v['name']:<16} {v['steps']:>6} {v['images_per_second_median'] or 0:>6.1f} {cells[0]:>6.2f} "
            f"{cells[1]:>7.4f} {cells[2]:>6.2f} {cells[3]:>6.2f} {f.get('identity_gain_db', float('nan')):>6.2f} "
            f"{v.get('e_latent_explained_last_100_steps', float('nan')):>7.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
