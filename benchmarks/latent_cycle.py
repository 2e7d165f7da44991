"""Whether a model's encoder reads what its generator makes of z (pix2nerf.evaluation.benchmark.latent_cycle), with
the sample diversity, for shipped models and for training checkpoints (their EMA weights).

    python benchmarks/latent_cycle.py --model default \
        --checkpoint synthetic_cars_triplane:outputs/synthetic-cars-triplane/checkpoint-2500 -o latent_cycle.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from common import environment

from pix2nerf import Pix2NeRF
from pix2nerf.evaluation.benchmark import latent_cycle, sample_diversity
from pix2nerf.training.export import checkpoint_ema_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], help="model folder or hub id (repeatable)")
    parser.add_argument("--checkpoint", action="append", default=[], help="PRESET:FOLDER of a training checkpoint")
    parser.add_argument("--latents", type=int, default=8)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    models = {name: Pix2NeRF.from_pretrained(name).eval() for name in args.model}
    for spec in args.checkpoint:
        preset, _, folder = spec.partition(":")
        models[folder] = checkpoint_ema_model(folder, preset)[0]
    results = {}
    for name, model in models.items():
        results[name] = {
            **latent_cycle(model, num_latents=args.latents),
            "sample_diversity": sample_diversity(model),
        }
        print(name, results[name], flush=True)
    record = {"benchmark": "latent cycle", "latents": args.latents, "environment": environment(torch.device("cpu"))}
    args.output.write_text(json.dumps({**record, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
