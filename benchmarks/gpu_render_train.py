"""The reference table's workloads on a GPU (or the CPU ones on a CPU): renders, generator steps and whole
training iterations, each kernel choice (pix2nerf.kernels.runner: "reference", "compile", "triton" with CUDA graphs
off and on) checked against the plain float32 path on fresh random inputs. Every choice but "reference" also runs the
sampler and compositor compiled.

    python benchmarks/gpu_render_train.py --out benchmarks/results/gpu_h100.json
    python benchmarks/gpu_render_train.py --device cpu --only render64_36 --out benchmarks/results/cpu_render.json
"""

from __future__ import annotations

import argparse
import sys

import torch
from common import environment, time_it, write_json

from pix2nerf import Pix2NeRF, Pix2NeRFConfig
from pix2nerf.evaluation.metrics import psnr
from pix2nerf.kernels.precision import autocast
from pix2nerf.kernels.runner import FieldRunner
from pix2nerf.networks import Discriminator
from pix2nerf.training import Pix2NeRFTrainer
from pix2nerf.training.objective import official_pose

OFFICIAL_MS = {  # the official code on one H100, from the reference doc
    "render128_48": 80.6,
    "render128_96": 163.0,
    "render64_36": 18.3,
    "gstep32_b36": 245.0,
    "gstep64_b12": 224.0,
    "iter32_b36": 517.0,
    "iter64_b12": 578.0,
}
PSNR_TARGET_DB = 40.0
TRAINING_VARIANTS = {  # name -> (the trainer's runner kernels, its training layer kernels); all fp16
    "fp16": ("reference", False),  # the field uncompiled
    "fp16+compile": ("compile", False),
    "fp16+fused": ("triton", False),  # the fused kernel for the D step's no-grad render, the field compiled elsewhere
    "fp16+kernels": ("triton", True),  # the default where Triton is
}
RENDER_VARIANTS = {  # name -> render options and the model's kernels and graphs; every sample evaluated
    "fp32": dict(precision="fp32", kernels="reference", graphs=False),
    "fp16": dict(precision="fp16", kernels="reference", graphs=False),
    "fp16+compile": dict(precision="fp16", kernels="compile", graphs=False),
    "fp16+fused": dict(precision="fp16", kernels="triton", graphs=False),
    "fp16+fused+graphs": dict(precision="fp16", kernels="triton", graphs=True),
}


def structured_model(device: torch.device, seed: int) -> Pix2NeRF:
    """A carla-sized model with random weights whose density and colour heads are scaled up as in the official
    fixture (densities of about +-60), so renders show structure and precision differences are visible."""
    torch.manual_seed(seed)
    model = Pix2NeRF(Pix2NeRFConfig.from_preset("carla")).to(device).eval()
    with torch.no_grad():
        model.field.density_head.weight.mul_(300.0)
        model.field.color_head.weight.mul_(40.0)
    return model


def guarded(fn):
    """Run a workload; an out-of-memory error becomes a result instead of ending the benchmark."""
    try:
        return fn()
    except torch.OutOfMemoryError as error:
        torch.cuda.empty_cache()
        return {"error": f"out of memory: {str(error).splitlines()[0]}"}


def field_pass_ms(model, num_points, device, repeats, variant) -> float:
    """Median ms of one field evaluation over `num_points` points (one of a render's two passes), same kernels."""
    codes = model.field.latent_codes(model.sample_latents(1).to(device))
    points = torch.rand(1, num_points, 3, device=device) * 0.3 - 0.15
    directions = torch.nn.functional.normalize(torch.randn(1, num_points, 3, device=device), dim=-1)
    runner = FieldRunner(model.field, variant["kernels"], graphs=False)
    with torch.no_grad(), autocast(variant["precision"], device):
        return time_it(lambda: runner(points, directions, *codes), device, repeats=repeats)["median_ms"]


def bench_render(model, resolution, steps, device, repeats, variant):
    """Time the render with the variant's kernels, then check it against float32 on fresh latents and poses."""
    model.use_kernels(variant["kernels"], graphs=variant["graphs"])
    timing = _bench_render(model, resolution, steps, device, repeats, variant)
    if variant["graphs"]:  # a replayed graph computes what the same render launched op by op does
        z = model.sample_latents(1)
        yaw, pitch = model.sample_poses(1)
        kwargs = dict(resolution=resolution, num_steps=steps, deterministic=True, precision=variant["precision"])
        replayed = [model.render(z, yaw, pitch, **kwargs, skip_empty=False).rgb for _ in range(3)][-1]  # replays
        model.use_kernels(variant["kernels"], graphs=False)
        launched = model.render(z, yaw, pitch, **kwargs, skip_empty=False).rgb
        timing["graph_vs_launched_max_abs"] = (replayed - launched).abs().max().item()
        if timing["graph_vs_launched_max_abs"] > 1e-5:
            print(
                f"FAIL: render graph differs from the launched render by {timing['graph_vs_launched_max_abs']}",
                file=sys.stderr,
            )
            timing["correctness"] = "FAIL"
    return timing


def _bench_render(model, resolution, steps, device, repeats, variant):
    z = model.sample_latents(1)
    yaw, pitch = model.sample_poses(1)
    # every sample (the field's cost), the model's kernels and graphs
    kwargs = dict(resolution=resolution, num_steps=steps, deterministic=True, skip_empty=False)
    render = lambda: model.render(z, yaw, pitch, **kwargs, precision=variant["precision"])  # noqa: E731
    timing = time_it(render, device, repeats=repeats)
    scores = []
    for trial in range(3):
        z = model.sample_latents(1)
        yaw, pitch = model.sample_poses(1)
        reference = model.render(z, yaw, pitch, **kwargs, precision="fp32", kernels="reference").rgb
        fast = render().rgb
        assert torch.isfinite(fast).all(), "fast render produced NaN/inf"
        scores.append(psnr(fast, reference).item())
    timing["psnr_vs_fp32_db"] = min(scores)
    if device.type == "cuda":  # (CPU renders run in chunks, so one unchunked pass would not be their share)
        timing["field_pass_ms"] = field_pass_ms(model, resolution * resolution * steps, device, repeats, variant)
    if min(scores) < PSNR_TARGET_DB:
        print(
            f"FAIL: render {resolution}px {steps}+{steps}: fast path only {min(scores):.1f} dB vs fp32", file=sys.stderr
        )
        timing["correctness"] = "FAIL"
    else:
        timing["correctness"] = "ok"
    return timing


def trainer_for(device, precision, kernels="compile", training_kernels=False, seed=0):
    """A fresh carla-sized trainer whose field runs through `kernels`, with the Triton layer kernels for calls with
    gradients where `training_kernels` (kernels "triton")."""
    torch.manual_seed(seed)
    config = Pix2NeRFConfig.from_preset("carla", warmup_steps=0)
    model = Pix2NeRF(config).to(device)
    discriminator = Discriminator(config.discriminator_channels, config.discriminator_type).to(device)
    trainer = Pix2NeRFTrainer(model, discriminator, mixed_precision=precision, compile_field=kernels != "reference")
    trainer.field_runner = FieldRunner(model.field, kernels, training_kernels=training_kernels)
    return trainer


def generator_step(trainer, step, batch, resolution, num_steps):
    """Render with gradients, D, backward, Adam on G (the reference table's 'generator step')."""
    from pix2nerf.rendering.volume import RaySamplingSettings

    config = trainer.config
    settings = RaySamplingSettings(config.ray_start, config.ray_end, num_steps, True, False, config.background, 0.0)
    model = trainer.model
    trainer.discriminator.requires_grad_(False)
    z = model.sample_latents(batch)
    yaw, pitch = model.sample_poses(batch)
    fake = trainer._render(z, yaw, pitch, resolution, settings)
    loss = trainer._generator_adversarial(fake, official_pose(yaw, pitch), 1.0, step)
    trainer._apply("g", loss, {"g": model.field})
    trainer.discriminator.requires_grad_(True)


LOSS_SCALE = 2.0**16


def training_gradient_check(device: torch.device, num_points: int = 65536) -> dict:
    """Field gradients of one loss through the training kernels and through the compiled field, both under fp16,
    against float32: relative errors (norm of the difference over the norm, all parameters as one vector). The
    kernels must be as close to float32 as the compiled path (within 1.25x)."""
    model = structured_model(device, seed=1)
    field = model.field
    runners = {
        "compiled": FieldRunner(field, "compile"),
        "kernels": FieldRunner(field, "triton", training_kernels=True),
    }
    generator = torch.Generator(device=device).manual_seed(2)
    z = torch.rand(2, model.config.z_dim, device=device, generator=generator) * 2 - 1
    points = torch.rand(2, num_points, 3, device=device, generator=generator) * 0.3 - 0.15
    directions = torch.nn.functional.normalize(
        torch.randn(2, num_points, 3, device=device, generator=generator), dim=-1
    )

    def gradients(precision, runner=field):
        field.zero_grad(set_to_none=True)
        with autocast(precision, device):
            rgb, sigma = runner(points, directions, *field.latent_codes(z))
            loss = rgb.float().square().mean() + 1e-3 * torch.relu(sigma.float()).mean()
        (loss * LOSS_SCALE).backward()  # as the trainer's grad scaler does: no fp16 gradient underflows
        return torch.cat([p.grad.flatten().float() for p in field.parameters()]) / LOSS_SCALE

    reference = gradients("fp32")
    errors = {
        name: ((gradients("fp16", runner) - reference).norm() / reference.norm()).item()
        for name, runner in runners.items()
    }
    errors["correctness"] = "ok" if errors["kernels"] <= 1.25 * errors["compiled"] + 1e-5 else "FAIL"
    return errors


def bench_training(name, kernels, training_kernels, resolution, batch, steps, device, repeats):
    """Time generator steps ("gstep...") or whole training iterations ("iter...") of a fresh fp16 trainer whose
    field runs through `kernels` (and the training layer kernels where `training_kernels`)."""
    trainer = trainer_for(device, "fp16", kernels, training_kernels)
    counter = iter(range(10**6))
    if name.startswith("gstep"):
        work = lambda: generator_step(trainer, next(counter), batch, resolution, steps)  # noqa: E731
        timing = guarded(lambda: time_it(work, device, repeats=repeats))
    else:  # a whole iteration; even and odd ones alternate, so an even count of repeats averages both
        trainer.config.training_stages = stage_overrides(resolution, batch, steps)
        real = torch.rand(batch, 3, resolution, resolution, device=device) * 2 - 1
        work = lambda: trainer.train_step(real, next(counter))  # noqa: E731
        timing = guarded(lambda: time_it(work, device, warmup=4, repeats=max(4, repeats // 2 * 2)))
    if "median_ms" in timing:
        timing["images_per_s"] = batch / timing["median_ms"] * 1000
    return timing


def stage_overrides(resolution, batch, num_steps):
    return [
        {
            "start_step": 0,
            "resolution": resolution,
            "batch_size": batch,
            "num_steps": num_steps,
            "lr_g": 2e-5,
            "lr_d": 2e-4,
            "lr_e": 2e-4,
        }
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", nargs="*", default=None, help="subset of workloads")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--variants",
        nargs="*",
        default=["fp32", "fp16", "fp16+compile", "fp16+fused", "fp16+fused+graphs", "fp16+kernels"],
    )
    parser.add_argument("--out", default="benchmarks/results/gpu_render_train.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False  # the float32 reference stays float32
    results: dict = {"environment": environment(device), "official_h100_ms": OFFICIAL_MS, "workloads": {}}
    wanted = lambda name: args.only is None or name in args.only  # noqa: E731

    variants = RENDER_VARIANTS if device.type == "cuda" else {"fp32": RENDER_VARIANTS["fp32"]}
    model = structured_model(device, seed=0)
    for name, resolution, steps in [("render128_48", 128, 48), ("render128_96", 128, 96), ("render64_36", 64, 36)]:
        if not wanted(name):
            continue
        for variant in args.variants:
            if variant not in variants:
                continue
            key = f"{name}/{variant}"
            results["workloads"][key] = bench_render(model, resolution, steps, device, args.repeats, variants[variant])
            print(key, results["workloads"][key], flush=True)

    if device.type == "cuda" and "fp16+kernels" in args.variants and (wanted("gstep32_b36") or wanted("gstep64_b12")):
        results["training_gradients_vs_fp32"] = training_gradient_check(device)
        print("training gradients vs fp32", results["training_gradients_vs_fp32"], flush=True)
    if device.type == "cuda":
        for name, resolution, batch, steps in [
            ("gstep32_b36", 32, 36, 48),
            ("gstep64_b12", 64, 12, 36),
            ("iter32_b36", 32, 36, 48),
            ("iter64_b12", 64, 12, 36),
        ]:
            if not wanted(name):
                continue
            for variant, (kernels, training_kernels) in TRAINING_VARIANTS.items():
                if variant not in args.variants or (name.startswith("gstep") and variant == "fp16+fused"):
                    continue  # (a generator step needs gradients everywhere: the fused kernel has no part in it)
                timing = bench_training(name, kernels, training_kernels, resolution, batch, steps, device, args.repeats)
                results["workloads"][f"{name}/{variant}"] = timing
                print(f"{name}/{variant}", timing, flush=True)
                torch.cuda.empty_cache()
    write_json(args.out, results)
    print("\nworkload                      median ms   official ms   PSNR vs fp32")
    for key, value in results["workloads"].items():
        official = OFFICIAL_MS.get(key.split("/")[0], float("nan"))
        print(
            f"{key:28s} {value.get('median_ms', float('nan')):10.2f} {official:12.1f}   "
            f"{value.get('psnr_vs_fp32_db', float('nan')):.1f}  {value.get('peak_memory_gb', float('nan')):.1f} GB "
            f"{value.get('error', '')}"
        )
    checks = list(results["workloads"].values()) + [results.get("training_gradients_vs_fp32", {})]
    return 1 if any(v.get("correctness") == "FAIL" for v in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
