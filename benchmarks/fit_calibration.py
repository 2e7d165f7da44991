"""Calibrate the fit score's threshold: held-out synthetic cars (on white) against photographs outside the domain.

    python benchmarks/fit_calibration.py [--model default] [--cars 16] [--store] \
        [-o benchmarks/results/fit_calibration.json]

Scores (pix2nerf.evaluation.fit) of the shipped model with preprocess="auto" on: held-out cars at prior poses
(composites' clean inputs) and square crops of scikit-image's photos. The threshold is the midpoint between the
classes' closest scores when they separate, else the one with the best balanced accuracy. `--store` writes it into
the model folder's config.json (`fit_threshold_db`), where `Pix2NeRF.fit_score` reads it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import skimage.data
import torch
from common import environment, write_json
from PIL import Image

from pix2nerf import Pix2NeRF
from pix2nerf.evaluation.composites import make_composites
from pix2nerf.evaluation.fit import FIT_RESOLUTION
from pix2nerf.model import DEFAULT_MODEL, DEFAULT_MODEL_DIR

PHOTOS = ("chelsea", "astronaut", "coffee", "rocket", "camera", "cat", "hubble_deep_field", "immunohistochemistry")


def photo_crops(name: str) -> list[Image.Image]:
    """The photo's centre square and its left / right (or top / bottom) squares."""
    pixels = getattr(skimage.data, name)()
    image = Image.fromarray(pixels).convert("RGB")
    side = min(image.size)
    steps = [(0, 0), ((image.width - side) // 2, (image.height - side) // 2), (image.width - side, image.height - side)]
    return [image.crop((x, y, x + side, y + side)) for x, y in steps]


def best_threshold(cars: np.ndarray, others: np.ndarray) -> float:
    if cars.min() > others.max():
        return float((cars.min() + others.max()) / 2)
    candidates = np.sort(np.concatenate([cars, others]))
    accuracy = [((cars >= t).mean() + (others < t).mean()) / 2 for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a model folder, or default (the shipped model)")
    parser.add_argument("--cars", type=int, default=16)
    parser.add_argument("--store", action="store_true", help="write the threshold into the model folder's config.json")
    parser.add_argument("-o", "--output", default="benchmarks/results/fit_calibration.json")
    args = parser.parse_args()
    model = Pix2NeRF.from_pretrained(args.model)
    cars = [c.clean for c in make_composites([np.full((64, 64, 3), 255, np.uint8)], args.cars, size=64, seed=3)]
    car_scores = model.fit_score(cars).psnr.numpy()
    photo_scores = {}
    for name in PHOTOS:
        photo_scores[name] = model.fit_score(photo_crops(name)).psnr.tolist()
        print(name, np.round(photo_scores[name], 2))
    others = np.array([s for scores in photo_scores.values() for s in scores])
    threshold = best_threshold(car_scores, others)
    print("cars", np.round(car_scores, 2), "threshold", threshold)
    write_json(
        args.output,
        {
            "benchmark": "fit_calibration",
            "environment": environment(torch.device("cpu")),
            "score": f"PSNR (dB) of the latent's render at its own pose against the encoder input, {FIT_RESOLUTION} px",
            "preprocess": "auto",
            "held_out_cars": {
                "count": len(car_scores),
                "psnr": car_scores.round(3).tolist(),
                "min": float(car_scores.min()),
                "median": float(np.median(car_scores)),
            },
            "photos": {
                "crops": "left/top, centre and right/bottom squares",
                "psnr": photo_scores,
                "max": float(others.max()),
                "median": float(np.median(others)),
            },
            "model": args.model,
            "threshold_db": threshold,
            "cars_accepted": float((car_scores >= threshold).mean()),
            "photos_rejected": float((others < threshold).mean()),
        },
    )
    if args.store:
        path = (DEFAULT_MODEL_DIR if args.model == DEFAULT_MODEL else Path(args.model)) / "config.json"
        config = json.loads(path.read_text())
        config["fit_threshold_db"] = round(threshold, 2)
        path.write_text(json.dumps(config, indent=2) + "\n")
        print(f"wrote fit_threshold_db = {config['fit_threshold_db']} into {path}")


if __name__ == "__main__":
    main()
