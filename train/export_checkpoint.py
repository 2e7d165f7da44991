"""Export the EMA model of a training checkpoint as a model folder (save_pretrained + training.json), on any machine:
for checkpoints that came back from a machine whose command returned no model folder (train/campaign_command.sh).

    python train/export_checkpoint.py outputs/synthetic-cars-triplane/checkpoint-11020 \\
        --preset synthetic_cars_triplane [--config_overrides '{...}'] -o outputs/campaign-11020

The preset and overrides must be those the run trained with (the checkpoint holds tensors, not the config); then
`pix2nerf calibrate-yaw`, `pix2nerf eval` and `hub/package_model.py` as in train/synthetic_cars_triplane.sh.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pix2nerf.training.export import checkpoint_ema_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a checkpoint-<step> folder of train/train.py")
    parser.add_argument("--preset", required=True)
    parser.add_argument("--config_overrides", default="{}", help="the run's JSON object of config fields")
    parser.add_argument("-o", "--out", type=Path, required=True, help="model folder to write")
    args = parser.parse_args(argv)
    try:
        overrides = json.loads(args.config_overrides)
        model, progress = checkpoint_ema_model(args.checkpoint, args.preset, overrides)
    except (OSError, ValueError) as error:
        print(f"export_checkpoint.py: error: {error}", file=sys.stderr)
        return 2
    model.save_pretrained(args.out)
    training = {
        "preset": args.preset,
        "config_overrides": overrides,
        "checkpoint": str(args.checkpoint),
        "steps": progress["step"],
        "images_seen": progress["images_seen"],
        "training_minutes": progress["train_seconds"] / 60,
    }
    (args.out / "training.json").write_text(json.dumps(training, indent=2) + "\n")
    print(f"wrote {args.out}: the EMA model at step {progress['step']} ({training['training_minutes']:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
