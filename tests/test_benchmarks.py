"""Benchmarks that run on a CPU in a tiny mode: the training throughput (one pair of iterations per field and a render,
its JSON keyed by field, resolution and batch), the tri-plane's scale statistics and the latent probe; and the
equal-budget comparison, which reproduces its committed JSON."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_train_throughput_runs_on_cpu(tmp_path):
    out = tmp_path / "train_throughput.json"
    command = [sys.executable, str(REPO_ROOT / "benchmarks" / "train_throughput.py"), "--device", "cpu"]
    command += ["--preset", "tiny", "--field", "siren", "zero", "triplane", "triplane_compile"]
    command += ["--resolution", "8", "--batch", "2"]
    command += ["--steps", "4", "--rounds", "1", "--pairs", "1", "--warmup", "0", "--render-resolution", "8"]
    command += ["--render-steps", "4", "--render-warmup", "0", "--render-repeats", "1", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    assert {"siren", "zero"} <= set(results)  # the tri-plane where the tiny preset has one
    assert {results[f]["field_kernels"] for f in ("triplane", "triplane_compile")} == {"reference"}  # a CPU
    for field in ("siren", "zero"):
        row = results[field]["train"]["8px_b2"]["reference_sampler"]
        assert row["pair_ms"]["pairs"] == 1 and row["pair_ms"]["median"] > 0 and row["losses_finite"]
        assert row["profile"]["operators_per_pair"] > 0
        assert results[field]["render8_4"]["reference"]["median_ms"] > 0
        assert results[field]["render8_4"]["auto_codes_once_launched"]["profile"]["operators_per_render"] > 0


def test_the_equal_budget_comparison_reproduces_its_committed_json(tmp_path):
    runs = REPO_ROOT / "train" / "runs" / "fields-equal-budget"
    out, curves = tmp_path / "comparison.json", tmp_path / "curves.png"
    command = [sys.executable, str(REPO_ROOT / "benchmarks" / "fields_equal_budget.py"), str(runs / "siren")]
    command += [str(runs / name) for name in ("triplane", "triplane-10min-h100", "triplane-10min-h200-graphs")]
    command += ["-o", str(out), "--curves", str(curves)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    committed = json.loads((REPO_ROOT / "benchmarks" / "results" / "fields_equal_budget.json").read_text())
    assert json.loads(out.read_text()) == committed
    assert committed["runs"]["siren"]["training_minutes"] >= committed["runs"]["triplane"]["training_minutes"]
    # the run without its metrics.jsonl: its validations and speed from train.log
    assert committed["runs"]["triplane-10min-h100"]["training_minutes"] >= 10.0
    assert committed["runs"]["triplane-10min-h100"]["median_images_per_second"]["64 px"] > 0
    assert curves.stat().st_size > 0


def test_r1_kernel_benchmark_runs_on_cpu(tmp_path):
    out = tmp_path / "r1.json"
    arguments = ["--preset", "tiny", "--device", "cpu", "--batch", "2", "--resolution", "16", "--repeats", "1"]
    result = _run_benchmark("gpu_r1_kernels.py", *arguments, "--variants", "fp16", "fp16_no_r1", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    assert results["fp16"]["time"]["median_ms"] > 0 and results["fp16"]["profile"]["count"] > 0
    # R1's double backward adds operators to the step
    assert results["fp16"]["profile"]["count"] > results["fp16_no_r1"]["profile"]["count"]


def test_render_host_time_runs_every_render_through_the_stand_in_graph_on_cpu(tmp_path):
    out, model = tmp_path / "host.json", _tiny_model(tmp_path / "model", "tiny_triplane")
    arguments = ["--device", "cpu", "--model", str(model), "--resolution", "8", "--steps", "4", "--repeats", "3"]
    result = _run_benchmark("render_host_time.py", *arguments, "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"pose_as_floats", "latent_pose_tensors"}
    for row in results.values():
        assert row["host"]["repeats"] == 3 and row["host"]["median_ms"] > 0
        assert row["stand_in_calls"] == 3 + 3 and row["keys"] == 1  # warm-up and timed renders, one graph key


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
def test_gpu_plane_gather_times_the_triton_gather_on_recorded_rows_in_the_interpreter(tmp_path):
    out = tmp_path / "gather.json"
    arguments = ["--device", "cpu", "--model", "tiny", "--resolution", "4", "--batch", "1", "--repeats", "1"]
    result = _run_benchmark("gpu_plane_gather.py", *arguments, "--out", str(out), environment={"TRITON_INTERPRET": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"coarse", "fine"}
    for row in results.values():
        assert row["rows"] == 4 * 4 * 24 and 0 <= row["repeat_share"] <= 1
        for kernel in ("triton", "triton_acq_rel", "embedding_bag"):
            assert row[kernel]["median_ms"] > 0
        for kernel in ("triton", "triton_acq_rel"):
            assert row[kernel]["relative_grad_error"] < 1e-5


def test_gpu_plane_upsample_compares_each_variant_with_the_fields_own_upsampling(tmp_path):
    out = tmp_path / "upsample.json"
    arguments = ["--device", "cpu", "--batch", "1", "--channels", "4", "--resolution", "8", "--repeats", "1"]
    variants = ["blend", "interpolate", "interpolate_channels_last", "interpolate_reduced_precision"]
    result = _run_benchmark("gpu_plane_upsample.py", *arguments, "--variants", *variants, "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    assert list(results) == variants
    assert results["blend"]["max_abs_error"] == 0
    for row in results.values():
        assert row["median_ms"] > 0 and row["max_abs_error"] < 1e-5 and row["max_abs_grad_error"] < 1e-5


def _run_benchmark(script: str, *arguments: str, environment: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, str(REPO_ROOT / "benchmarks" / script), *arguments]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.update(environment or {})
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def _tiny_model(folder: Path, preset: str) -> Path:
    import torch

    from pix2nerf import Pix2NeRF, Pix2NeRFConfig

    torch.manual_seed(0)
    Pix2NeRF(Pix2NeRFConfig.from_preset(preset)).save_pretrained(folder)
    return folder


def test_triplane_statistics_reports_bounded_planes_for_a_fresh_field(tmp_path):
    model, out = _tiny_model(tmp_path / "model", "tiny_triplane"), tmp_path / "statistics.json"
    result = _run_benchmark("triplane_statistics.py", "--model", str(model), "-o", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    (values,) = json.loads(out.read_text())["results"].values()
    assert len(values["synthesis_conv_output_rms"]) == 2 and 0 < values["plane_rms"] < 10
    assert 0 <= values["colour_saturation"] < 0.1
    siren = _tiny_model(tmp_path / "siren", "tiny")
    refused = _run_benchmark("triplane_statistics.py", "--model", str(siren))
    assert refused.returncode != 0 and "tri-plane" in refused.stderr


def test_latent_linear_probe_writes_r2_per_penalty(tmp_path):
    model, out = _tiny_model(tmp_path / "model", "tiny"), tmp_path / "probe.json"
    arguments = ["--model", str(model), "--num-latents", "40", "--resolution", "4", "--num-steps", "3", "-o", str(out)]
    result = _run_benchmark("latent_linear_probe.py", *arguments)
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads(out.read_text())
    assert payload["latents"] == {"train": 32, "held_out": 8, "z_dim": 16}
    assert all(row["r2_all_dims"] <= 1 and len(row["r2_best_five_dims"]) == 5 for row in payload["results"].values())


def test_triplane_training_drift_logs_the_scale_at_the_first_and_last_step(tmp_path):
    from tiny_datasets import write_multiview_dataset

    data = write_multiview_dataset(tmp_path / "data", train_objects=8, test_objects=1)
    result = _run_benchmark("triplane_training_drift.py", "--data", str(data), "--steps", "1", "--threads", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["step"] for row in rows] == [0, 1]
    assert all(0 < row["plane_rms"] < 10 and 0 <= row["colour_saturation"] <= 1 for row in rows)


def test_yaw_candidates_benchmark_compares_batched_and_one_by_one(tmp_path):
    from tiny_datasets import write_multiview_dataset

    data = write_multiview_dataset(tmp_path / "data", train_objects=1, test_objects=2)
    model, out = _tiny_model(tmp_path / "model", "tiny_triplane"), tmp_path / "yaw.json"
    arguments = ["--model", str(model), "--data", str(data), "--objects", "2", "--rounds", "1", "--threads", "1"]
    result = _run_benchmark("yaw_candidates.py", *arguments, "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads(out.read_text())
    assert payload["photos"] == 2 and payload["same_choice"] == 2
    assert all(row["median"] > 0 for row in payload["seconds_per_photo"].values())


def test_inversion_probe_paints_the_photo_where_the_input_view_sees_the_surface(monkeypatch, tmp_path):
    """benchmarks/inversion.py's photo_colours, seen from the input view itself: every pixel whose ray finds the
    surface (opacity > 0.5) takes the photo's colour at that pixel, the others keep the render (the projection and the
    depth test agree with the renderer's cameras)."""
    import torch

    from pix2nerf import Latent, Pix2NeRF

    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("inversion_benchmark", REPO_ROOT / "benchmarks" / "inversion.py")
    inversion = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(inversion)
    model = Pix2NeRF.from_pretrained(str(_tiny_model(tmp_path / "model", "tiny_triplane"))).eval()
    latent = Latent(torch.zeros(1, model.config.z_dim), torch.tensor([25.0]), torch.tensor([10.0]))
    seen = model.render(latent, resolution=16)
    opacity = seen.opacity[:, None]
    assert (opacity > 0.5).any() and (opacity <= 0.5).any()
    photo = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 16, 16)
    painted = inversion.photo_colours(model, latent, photo, seen, latent.yaw, latent.pitch, mirrored=False)
    expected = torch.where(opacity > 0.5, opacity * photo + (1 - opacity), seen.rgb)
    torch.testing.assert_close(painted, expected)
