"""Export the EMA model of a training checkpoint as a model folder (save_pretrained + training.json), on any machine:
for checkpoints that came back from a machine whose command returned no model folder (train/campaign_command.sh).

    python train/export_checkpoint.py outputs/synthetic-cars-triplane/checkpoint-11020 \\
        --preset synthetic_cars_triplane --config_overrides '{"r1_gamma": 1.0, ...}' -o outputs/campaign-11020

The preset and overrides must be those the run trained with (the checkpoint holds tensors, not the config).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pix2nerf.networks.discriminators import Discriminator
from pix2nerf.training.checkpoint import load_trainer
from pix2nerf.training.initial_model import initial_model
from pix2nerf.training.objective import Pix2NeRFTrainer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a checkpoint-<step> folder of train/train.py")
    parser.add_argument("--preset", required=True)
    parser.add_argument("--config_overrides", default="{}", help="the run's JSON object of config fields")
    parser.add_argument("-o", "--out", type=Path, required=True, help="model folder to write")
    args = parser.parse_args(argv)
    try:
        overrides = json.loads(args.config_overrides)
        model = initial_model(args.preset, overrides)
        config = model.config
        trainer = Pix2NeRFTrainer(model, Discriminator(config.discriminator_channels, config.discriminator_type))
        progress = load_trainer(trainer, args.checkpoint)
    except (OSError, ValueError) as error:
        print(f"export_checkpoint.py: error: {error}", file=sys.stderr)
        return 2
    trainer.ema_model().save_pretrained(args.out)
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
