"""Hybrid inversion on a CPU: held-out novel-view PSNR / SSIM (relative-pose protocol of pix2nerf.evaluation.benchmark)
and object colour error of the encoder alone and of each refinement variant, with its time per image and per step.

    pix2nerf make-dataset --category cars --train-objects 1 --test-objects 12 --test-views 6 --resolution 64 \\
        --seed 777 --out /tmp/invert_cars
    python benchmarks/inversion.py --data /tmp/invert_cars [--objects 12] [--variants default,z,...] \\
        [--out benchmarks/results/inversion_cpu.json]

On a GPU, `--device cuda --out benchmarks/results/inversion_gpu.json`. Renders are the model's default inference
renders (64 px, the config's samples per ray, view direction locked).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from common import environment, write_json

from pix2nerf import images as image_utils
from pix2nerf.evaluation.benchmark import load_objects, object_masks, relative_poses
from pix2nerf.evaluation.metrics import colour_error, psnr, ssim
from pix2nerf.inversion import InversionSettings
from pix2nerf.model import Pix2NeRF
from pix2nerf.rendering.cameras import prior_ranges

DEFAULT = InversionSettings()
VARIANTS = {  # name -> changes to the default settings
    "default": {},
    "steps_10": {"steps": 10},
    "steps_40": {"steps": 40},
    "steps_100": {"steps": 100},
    "steps_200": {"steps": 200},
    "steps_200_all_rays": {"steps": 200, "rays_per_step": 0},
    "lr_1e-2": {"learning_rate": 1e-2},
    "lr_5e-2": {"learning_rate": 5e-2},
    "z": {"variable": "z"},
    "code_weight_1": {"code_weight": 1.0},
    "symmetry_1": {"symmetry": 1.0},
    "all_rays": {"rays_per_step": 0},
    "resolution_64": {"resolution": 64},
    "noise_0.03": {"noise": 0.03},
    # the recipe (Pix2NeRF's hybrid_optimization.py at 50 steps): every pixel of a 64 px loss image, Adam 1e-2,
    # annealed noise 0.03, no pull towards the encoder's codes
    "official_50": {
        "steps": 50,
        "learning_rate": 1e-2,
        "resolution": 64,
        "rays_per_step": 0,
        "noise": 0.03,
        "code_weight": 0.0,
    },
    "official_50_32px": {
        "steps": 50,
        "learning_rate": 1e-2,
        "resolution": 32,
        "rays_per_step": 0,
        "noise": 0.03,
        "code_weight": 0.0,
    },
    "lr_1e-2_noise": {"learning_rate": 1e-2, "noise": 0.03},
    # offsets to the mapping network's output (the tri-plane's w, from which the planes are synthesised; for the SIREN
    # the codes themselves), free of the pull towards the encoder's codes
    "style_40_lr_5e-2": {"variable": "style", "learning_rate": 5e-2, "code_weight": 0.0},
    "style_40_lr_1e-1": {"variable": "style", "learning_rate": 1e-1, "code_weight": 0.0},
    "style_80_lr_5e-2": {"variable": "style", "steps": 80, "learning_rate": 5e-2, "code_weight": 0.0},
    "style_80_lr_1e-1": {"variable": "style", "steps": 80, "learning_rate": 1e-1, "code_weight": 0.0},
    # the planes themselves (the tri-plane's codes) without the pull towards the encoder's: does the input view fit?
    "samples_36": {"num_steps": 36},
    "free_codes_lr_1e-1": {"learning_rate": 1e-1, "code_weight": 0.0},
    "free_codes_100_64px_36": {
        "steps": 100,
        "learning_rate": 5e-2,
        "code_weight": 0.0,
        "resolution": 64,
        "num_steps": 36,
        "rays_per_step": 1024,
    },
    "style_80_lr_1e-1_decay": {
        "variable": "style",
        "steps": 80,
        "learning_rate": 1e-1,
        "final_lr_fraction": 0.1,
        "code_weight": 0.0,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--data", required=True, help="a multi-view test split (pix2nerf make-dataset)")
    parser.add_argument("--objects", type=int, default=12)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (then also --out .../inversion_gpu.json)")
    parser.add_argument("--out", default="benchmarks/results/inversion_cpu.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = Pix2NeRF.from_pretrained(args.model, map_location=args.device)
    objects = load_objects(args.data, "test", num_objects=args.objects)
    resolution = model.config.encoder_resolution
    _, limits = prior_ranges(model.config)
    truths = [
        torch.stack([image_utils.preprocess(i, resolution, model.background_color) for i in o.images]).add(1).div(2)
        for o in objects
    ]
    masks = [object_masks(o, resolution) for o in objects]
    results = {
        "environment": {**environment(torch.device(args.device)), "load_average_1min": os.getloadavg()[0]},
        "model": args.model,
        "data": args.data,
        "protocol": "relative_pose",
        "objects": len(objects),
        "target_views": sum(len(t) - 1 for t in truths),
        "render": {"resolution": resolution, "num_steps": model.config.num_steps, "lock_view_dependence": True},
        "default_settings": DEFAULT.__dict__,
        "variants": {},
    }

    def score(name: str, invert) -> None:
        rows = {"psnr": [], "ssim": [], "colour_error": [], "input_psnr": []}
        seconds, step_seconds = [], []
        for obj, truth, mask in zip(objects, truths, masks):
            ticks = [time.perf_counter()]
            latent = invert(obj.images[0], lambda done, total: ticks.append(time.perf_counter()))
            if args.device != "cpu":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - ticks[0])
            step_seconds += [b - a for a, b in zip(ticks[1:-1], ticks[2:])]
            yaw, pitch = relative_poses(obj, latent.yaw[0], latent.pitch[0], limits)
            yaw, pitch = torch.cat([latent.yaw[:1].cpu(), yaw]), torch.cat([latent.pitch[:1].cpu(), pitch])
            rgb = model.render(latent.first(len(yaw)), yaw, pitch, resolution=resolution, return_depth=False).rgb.cpu()
            rows["input_psnr"].append(psnr(rgb[:1], truth[:1]))
            rows["psnr"].append(psnr(rgb[1:], truth[1:]))
            rows["ssim"].append(ssim(rgb[1:], truth[1:]))
            rows["colour_error"].append(colour_error(rgb[1:], truth[1:], mask[1:]))
        entry = {key: torch.cat(values).mean().item() for key, values in rows.items()}
        entry["seconds_per_image"] = statistics.mean(seconds)
        entry["seconds_per_step"] = statistics.median(step_seconds) if step_seconds else 0.0
        results["variants"][name] = entry
        print(name, {k: round(v, 4) for k, v in entry.items()}, flush=True)
        write_json(args.out, results)

    score("encoder", lambda image, progress: model.encode(image))
    for name in args.variants.split(","):
        settings = DEFAULT.replace(**VARIANTS[name])
        results["variants"].setdefault(name, {})
        score(name, lambda image, progress, s=settings: model.invert(image, settings=s, progress=progress))
        results["variants"][name]["settings"] = VARIANTS[name]
        write_json(args.out, results)


if __name__ == "__main__":
    main()
