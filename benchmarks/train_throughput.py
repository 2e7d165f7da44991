"""The training iteration around the field (issue 26): `Pix2NeRFTrainer.train_step` with each field behind the same
interface (the SIREN, a zero-cost field, the tri-plane where its preset exists) in one process, timed in pairs of
iterations (an even pi-GAN step and an odd Pix2NeRF step, encoder trained, fade-in done, no density noise) at each
resolution and batch, on random real images already on the device. Rounds go over every field and resolution in
turn; each (field, resolution) also runs with the reference sampler and compositor where the trainer's runner
compiles them. Per field and resolution: median and spread over all timed pairs, peak memory, a profile of one pair
(top kernels by time, kernel count); per field: a no-grad render (every sample, deterministic) for each kernel choice.

    python benchmarks/train_throughput.py --out benchmarks/results/train_throughput_h200.json
    python benchmarks/train_throughput.py --device cpu --preset tiny --resolution 16 --batch 2 --rounds 1 --pairs 1 \\
        --warmup 0 --render-resolution 16 --render-steps 6 --render-warmup 1 --render-repeats 1 --out /tmp/tt_cpu.json
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import itertools
import math
import statistics
import sys
from collections.abc import Callable

import torch
from common import environment, time_it, write_json
from torch.profiler import ProfilerActivity, profile
from zero_field import ZeroCostField

from pix2nerf import Latent, Pix2NeRF, Pix2NeRFConfig, __version__
from pix2nerf.fields import FIELD_CLASSES
from pix2nerf.networks import Discriminator
from pix2nerf.networks.blocks import use_transposed_input_grad
from pix2nerf.rendering.ray_stages import REFERENCE_RAY_STAGES
from pix2nerf.training import Pix2NeRFTrainer
from pix2nerf.training.step_graphs import StepGraphs

FIELDS = ("siren", "zero", "triplane", "triplane_compile")  # triplane_compile: torch.compile, no Triton gather
VARIANT_SUFFIXES = ("_step_graphs", "_conv_autotune", "_other_layout", "_aten_r1")
TOP_KERNELS = 12


def field_config(field: str, args) -> Pix2NeRFConfig | None:
    """The config a field trains with (its preset, one stage of `--steps` samples, no warm-up, fade-in or density
    noise after step 1), or None with a message where the field's preset or type does not exist."""
    preset = f"{args.preset}_triplane" if field.startswith("triplane") else args.preset
    try:
        config = Pix2NeRFConfig.from_preset(preset)
    except ValueError as error:
        print(f"skipping field {field!r}: {error}", flush=True)
        return None
    if field != "zero" and config.field_type not in FIELD_CLASSES:
        print(f"skipping field {field!r}: field type {config.field_type!r} is not in pix2nerf.fields", flush=True)
        return None
    stage = {**config.training_stages[-1], "start_step": 0, "num_steps": args.steps}
    overrides = dict(training_stages=[stage], warmup_steps=0, fade_steps=1, density_noise_steps=1)
    if args.r1_interval is not None:
        if "r1_interval" in {f.name for f in dataclasses.fields(Pix2NeRFConfig)}:
            overrides["r1_interval"] = args.r1_interval
        else:
            print("--r1-interval ignored: this version's config has no r1_interval (R1 every step)", flush=True)
    return dataclasses.replace(config, **overrides)


def build_trainer(field: str, config: Pix2NeRFConfig, args, device: torch.device) -> Pix2NeRFTrainer:
    """With --step-graphs, the optimisers are capturable in every variant (the eager one runs without graphs), where
    the field's iteration can be captured."""
    torch.manual_seed(args.seed)
    model = Pix2NeRF(config)
    if field == "zero":
        model.field = ZeroCostField(config)
    model.to(device)
    discriminator = Discriminator(config.discriminator_channels, config.discriminator_type).to(device)
    kernels = "compile" if field.endswith("_compile") else "auto"
    options = dict(mixed_precision=args.mixed_precision, field_kernels=kernels)
    try:
        return Pix2NeRFTrainer(model, discriminator, step_graphs=args.step_graphs, **options)
    except ValueError as error:  # a field whose iteration a graph cannot replay: its rows without graphs
        if not (args.step_graphs and str(error).startswith("step_graphs:")):
            raise
        print(f"{field}: no step graphs ({error})", flush=True)
        return Pix2NeRFTrainer(model, discriminator, **options)


class Workload:
    """Pairs of iterations of one trainer at one resolution and batch; `ray_stages` None keeps the runner's;
    `graphs`: whole iterations replayed from CUDA graphs (StepGraphs of this workload's own) or launched;
    `autotune`: the trainer's conv_autotune (cuDNN times its convolution algorithms); `other_layout`: D's and E's
    images in the layout the trainer does not take (`channels_last` flipped); `aten_r1`: D's CoordConvs on PyTorch's own
    double backward (cuDNN's fallback kernel in R1) instead of the trainer's choice (`transposed_input_grad`)."""

    def __init__(
        self,
        trainer: Pix2NeRFTrainer,
        resolution: int,
        batch: int,
        ray_stages=None,
        graphs=False,
        autotune=False,
        other_layout=False,
        aten_r1=False,
    ) -> None:
        self.trainer, self.ray_stages, self.autotune, self.aten_r1 = trainer, ray_stages, autotune, aten_r1
        self.channels_last = trainer.channels_last != other_layout
        self.step_graphs = StepGraphs() if graphs else None
        self.real = torch.rand(batch, 3, resolution, resolution, device=trainer.device) * 2 - 1
        self.steps = iter(range(2, 10**9, 2))  # even steps from 2: the fade-in is done, the density noise off
        self.losses: dict = {}

    def pair(self) -> None:
        runner, trainer = self.trainer.field_runner, self.trainer
        runner_stages, trainer_graphs, autotune = runner.ray_stages, trainer.step_graphs, trainer.conv_autotune
        channels_last = trainer.channels_last
        runner.ray_stages = self.ray_stages or runner_stages
        trainer.step_graphs, trainer.conv_autotune = self.step_graphs, self.autotune
        trainer.channels_last = self.channels_last
        use_transposed_input_grad(trainer.discriminator, trainer.transposed_input_grad and not self.aten_r1)
        try:
            step = next(self.steps)
            trainer.train_step(self.real, step)
            self.losses = trainer.train_step(self.real, step + 1)
        finally:
            runner.ray_stages, trainer.step_graphs, trainer.conv_autotune = runner_stages, trainer_graphs, autotune
            trainer.channels_last = channels_last
            use_transposed_input_grad(trainer.discriminator, trainer.transposed_input_grad)


def profile_summary(pair: Callable[[], object], device: torch.device, per: str = "pair") -> dict:
    """One call of `pair` (a pair of iterations, or whatever `per` names) under torch.profiler: on CUDA the kernels
    (count, busy time, the largest by total time); on the CPU the operators (count, the largest by self time)."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        pair()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    if device.type == "cuda":
        events = [(e.name, e.time_range.elapsed_us()) for e in prof.events() if e.device_type.name == "CUDA"]
        unit = "kernels"
    else:
        events = [(e.name, e.self_cpu_time_total) for e in prof.events() if e.device_type.name == "CPU"]
        unit = "operators"
    totals, counts = collections.Counter(), collections.Counter()
    for name, microseconds in events:
        totals[name] += microseconds / 1000
        counts[name] += 1
    return {
        f"{unit}_per_{per}": sum(counts.values()),
        f"{unit}_ms_per_{per}": sum(totals.values()),
        f"top_{unit}": [
            {"name": name[:120], "ms": ms, "calls": counts[name]} for name, ms in totals.most_common(TOP_KERNELS)
        ],
    }


def summarise(times: list[float], batch: int, peaks: list[float]) -> dict:
    """Median, mean (the figure with lazy R1, whose penalty comes every k-th step) and spread of pair times (ms) over
    every round, as images/s (2 x batch per pair) too, and the peak memory (GB, CUDA)."""
    median, mean = statistics.median(times), statistics.fmean(times)
    result = {
        "pair_ms": {
            "median": median,
            "mean": mean,
            "min": min(times),
            "max": max(times),
            "pairs": len(times),
            "all": times,
        },
        "images_per_second": {
            "median": 2 * batch / median * 1000,
            "mean": 2 * batch / mean * 1000,
            "min": 2 * batch / max(times) * 1000,
            "max": 2 * batch / min(times) * 1000,
        },
    }
    if peaks:
        result["peak_memory_gb"] = max(peaks)
    return result


def bench_render(
    trainer: Pix2NeRFTrainer,
    kernels: str,
    args,
    device: torch.device,
    skip_empty=False,
    graphs: bool | str = True,
    codes_once=False,
    profile=False,
) -> dict:
    """A no-grad render of one latent at `--render-resolution` with `--render-steps` + as many samples, deterministic,
    through `kernels`: every sample evaluated (on CUDA, the SIREN's fused kernel replayed from a CUDA graph; with
    `graphs="all"`, every compiled field's render), or skipping empty space. `codes_once`: the latent's codes (the
    tri-plane's planes) computed before the timing, as for the views of one photo; else each render computes them.
    `profile`: with a profile of one render (its kernels on CUDA)."""
    model = trainer.model
    model_kernels, model_graphs = model.kernels, model.render_graphs
    options = dict(
        resolution=args.render_resolution, num_steps=args.render_steps, skip_empty=skip_empty, kernels=kernels
    )
    try:
        model.eval().use_kernels(model_kernels, graphs=graphs)
        z = model.sample_latents(1)
        yaw, pitch = model.sample_poses(1)
        if codes_once:
            with torch.no_grad():
                z = Latent(z, yaw, pitch, tuple(model.field.latent_codes(z)))
        render = lambda: model.render(z, yaw, pitch, **options)  # noqa: E731
        timing = time_it(render, device, warmup=args.render_warmup, repeats=args.render_repeats)
        timing["runner"] = repr(model.field_runner(kernels))
        if profile:
            timing["profile"] = profile_summary(render, device, per="render")
    except ValueError as error:  # a kernel choice the field or device cannot take
        return {"skipped": str(error)}
    finally:
        model.train()
        model.use_kernels(model_kernels, graphs=model_graphs)
    return timing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--field", nargs="+", choices=FIELDS, default=list(FIELDS))
    parser.add_argument(
        "--preset", default="synthetic_cars", help="the fields' preset (the tri-plane's: PRESET_triplane)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default=None, help="default: fp16 on CUDA")
    parser.add_argument("--resolution", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 8], help="one per --resolution")
    parser.add_argument("--steps", type=int, default=24, help="coarse samples per ray in training (as many fine)")
    parser.add_argument("--r1-interval", type=int, default=None, help="config.r1_interval, where the config has it")
    parser.add_argument(
        "--step-graphs",
        action="store_true",
        help="also time each field with its iterations replayed from CUDA graphs (the *_step_graphs rows)",
    )
    parser.add_argument(
        "--conv-autotune",
        action="store_true",
        help="also time each field with cuDNN timing its convolution algorithms (the *_conv_autotune rows)",
    )
    parser.add_argument(
        "--other-layout",
        action="store_true",
        help="also time each field with D's and E's images in the layout its trainer does not take (*_other_layout "
        "rows; the JSON's settings say which each trainer takes)",
    )
    parser.add_argument(
        "--aten-r1",
        action="store_true",
        help="also time each field with D's CoordConvs on PyTorch's own double backward (*_aten_r1 rows), where the "
        "trainer takes transposed_grad_conv2d",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every field and resolution")
    parser.add_argument("--pairs", type=int, default=4, help="timed pairs per field, resolution and round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed pairs before the first round (compilation)")
    parser.add_argument("--render-resolution", type=int, default=128)
    parser.add_argument("--render-steps", type=int, default=48)
    parser.add_argument("--render-kernels", nargs="+", default=["reference", "auto"])
    parser.add_argument("--render-warmup", type=int, default=3, help="untimed renders (graph capture happens here)")
    parser.add_argument("--render-repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/train_throughput.json")
    args = parser.parse_args()
    if len(args.batch) != len(args.resolution):
        parser.error(f"--batch needs one value per --resolution ({len(args.resolution)}), got {len(args.batch)}")
    device = torch.device(args.device)
    args.mixed_precision = args.mixed_precision or ("fp16" if device.type == "cuda" else "no")

    trainers, workloads, failed = {}, {}, {}
    for field in args.field:
        config = field_config(field, args)
        if config is None:
            continue
        try:
            trainers[field] = trainer = build_trainer(field, config, args, device)
        except ValueError as error:  # kernels this device cannot run (the Triton gather on a CPU)
            print(f"skipping field {field!r}: {error}", flush=True)
            continue
        print(f"{field}: {trainer.field_runner!r}, field kernels {trainer.field_kernels}", flush=True)
        for resolution, batch in zip(args.resolution, args.batch):
            key = f"{resolution}px_b{batch}"
            samplers = {trainer.field_runner.ray_stages.name: None}
            samplers.setdefault(REFERENCE_RAY_STAGES.name, REFERENCE_RAY_STAGES)
            variants = {(sampler, False, False, False, False): stages for sampler, stages in samplers.items()}
            own = trainer.field_runner.ray_stages.name
            for flags in itertools.product((False, True), repeat=4):
                graphs, autotune, other_layout, aten_r1 = flags
                asked = (
                    trainer.step_graphs is not None or not graphs,
                    args.conv_autotune or not autotune,
                    args.other_layout or not other_layout,
                    args.aten_r1 or not aten_r1,
                )
                if all(asked):
                    variants.setdefault((own, *flags), None)
            for (sampler, *flags), stages in variants.items():
                graphs = flags[0]
                suffix = "".join(name for name, on in zip(VARIANT_SUFFIXES, flags) if on)
                name = (field, key, f"{sampler}_sampler{suffix}")
                work = Workload(trainer, resolution, batch, stages, *flags)
                try:
                    for _ in range(args.warmup):
                        work.pair()
                    interval = trainer.config.r1_interval  # the kinds of iteration: (pi-GAN or Pix2NeRF, R1 or not)
                    graphs_expected = len({(step % 2, step % interval == 0) for step in range(2 * interval)})
                    for _ in range(3 * interval + 3):  # the graphs' warm-ups and captures, untimed
                        if not graphs or len(work.step_graphs) >= graphs_expected:
                            break
                        work.pair()
                except RuntimeError as error:  # a capture that fails: recorded, the other rows still run
                    if not graphs:
                        raise
                    failed[name] = str(error).splitlines()[0][:300]
                    print(f"{'/'.join(name)}: step graphs failed: {failed[name]}", flush=True)
                    continue
                workloads[name] = work

    times, peaks = collections.defaultdict(list), collections.defaultdict(list)
    for round_index in range(args.rounds):
        for name, work in workloads.items():
            timing = time_it(work.pair, device, warmup=0, repeats=args.pairs)
            times[name] += timing["times_ms"]
            peaks[name] += [timing["peak_memory_gb"]] if "peak_memory_gb" in timing else []
            print(f"round {round_index}: {'/'.join(name)} {timing['median_ms']:.1f} ms per pair", flush=True)

    results: dict = {
        field: {"field_kernels": trainer.field_kernels, "train": {}} for field, trainer in trainers.items()
    }
    for (field, key, variant), work in workloads.items():
        row = summarise(times[field, key, variant], work.real.shape[0], peaks[field, key, variant])
        row["losses_finite"] = all(math.isfinite(float(v)) for v in work.losses.values())
        if work.ray_stages is None:  # the runner's own sampler: the one a training run takes
            row["profile"] = profile_summary(work.pair, device)
        results[field]["train"].setdefault(key, {})[variant] = row
        print(f"{field} {key} {variant}: {row['images_per_second']['median']:.1f} images/s", flush=True)
    for (field, key, variant), error in failed.items():
        results[field]["train"].setdefault(key, {})[variant] = {"error": error}
    settings = {
        key: getattr(args, key)
        for key in (
            "preset",
            "mixed_precision",
            "steps",
            "rounds",
            "pairs",
            "warmup",
            "render_resolution",
            "render_steps",
            "step_graphs",
            "conv_autotune",
            "other_layout",
            "aten_r1",
        )
    }
    settings["r1_interval"] = {field: getattr(t.config, "r1_interval", 1) for field, t in trainers.items()}
    settings["transposed_input_grad"] = {field: t.transposed_input_grad for field, t in trainers.items()}
    settings["image_layout_channels_last"] = {field: t.channels_last for field, t in trainers.items()}
    payload = {
        "benchmark": "train_throughput",
        "environment": {**environment(device), "pix2nerf": __version__},
        "settings": settings,
        "results": results,
    }
    write_json(args.out, payload)  # the training figures, should the renders not finish
    for field, trainer in trainers.items():
        render_key = f"render{args.render_resolution}_{args.render_steps}"
        results[field][render_key] = renders = {k: bench_render(trainer, k, args, device) for k in args.render_kernels}
        renders["auto_skip_empty"] = bench_render(trainer, "auto", args, device, skip_empty=True)
        renders["auto_codes_once"] = bench_render(trainer, "auto", args, device, codes_once=True)
        # launched, so that the profile names each kernel of the render (a graph's replay times the same kernels)
        renders["auto_codes_once_launched"] = bench_render(
            trainer, "auto", args, device, graphs=False, codes_once=True, profile=True
        )
        if device.type == "cuda":  # render graphs of every compiled field: CUDA only
            renders["auto_graphs_all"] = bench_render(trainer, "auto", args, device, graphs="all")
            renders["auto_graphs_all_codes_once"] = bench_render(
                trainer, "auto", args, device, graphs="all", codes_once=True
            )
        print(field, render_key, {k: v.get("median_ms") for k, v in results[field][render_key].items()}, flush=True)
    write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
