"""pix2nerf.limits: the checks' messages, the environment overrides, and the cases of issue 24 at each entry point."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from pix2nerf import Pix2NeRF, Pix2NeRFConfig
from pix2nerf.cli.main import main as cli_main
from pix2nerf.limits import Limits, check_choice, check_float, check_int, current, shorten


def test_checks_name_field_value_and_range():
    assert check_int("steps", 5, 1, 10) == 5 and check_float("psi", 1, 0, 2) == 1.0
    for call, message in (
        (lambda: check_int("batch_size", 0, 1, 64), r"batch_size must be an integer in \[1, 64\], got 0"),
        (lambda: check_int("steps", True, 1), "got True"),
        (lambda: check_int("steps", "12", 1), "got '12'"),
        (lambda: check_float("psi", math.nan, 0, 1), "psi must be a finite number in .*got nan"),
        (lambda: check_float("yaw", 10**400), "got an integer of 1329 bits"),
        (lambda: check_choice("quality", "x" * 10_000, ("full",)), r"got 'xxx.*\.\.\.$"),
    ):
        with pytest.raises(ValueError, match=message) as info:
            call()
        assert len(str(info.value)) < 200
    assert len(shorten("y" * 10**6)) <= 40


def test_limits_come_from_the_environment(monkeypatch):
    assert Limits().resolution == current().resolution == 1024
    monkeypatch.setenv("PIX2NERF_LIMIT_RESOLUTION", "4096")
    assert current().resolution == 4096
    monkeypatch.setenv("PIX2NERF_LIMIT_RESOLUTION", "lots")
    with pytest.raises(ValueError, match="PIX2NERF_LIMIT_RESOLUTION must be a whole number, got 'lots'"):
        current()
    with pytest.raises(ValueError, match="PIX2NERF_LIMIT_NUM_STEPS must be an integer >= 1"):
        Limits.from_env({"PIX2NERF_LIMIT_NUM_STEPS": "0"})


def test_render_arguments(tiny_model):
    z = torch.zeros(1, tiny_model.config.z_dim)
    for kwargs, message in (
        ({"yaw": 10**400}, "yaw must"),
        ({"num_steps": 10**9}, r"num_steps must be an integer in \[3, 512\]"),
        ({"resolution": 100_000}, r"resolution must be an integer in \[2, 1024\]"),
        ({"psi": math.nan}, "psi must be a finite number"),
        ({"pitch": torch.tensor([math.inf])}, "pitch must hold finite values"),
        ({"yaw": torch.tensor([0.0, 2e6])}, r"yaw must hold values in \[-1e\+06, 1e\+06\], got values in \[0, 2e"),
        ({"yaw": torch.tensor([])}, "yaw must be a non-empty real tensor"),
        ({"zoom": None}, "zoom must be a positive finite factor, got None"),
        ({"zoom": "2"}, "zoom must be a positive finite factor, got '2'"),
    ):
        with pytest.raises(ValueError, match=message):
            tiny_model.render(z, **{"yaw": 0.0, "pitch": 0.0, **kwargs})
    with pytest.raises(ValueError, match=r"the batch of z must be an integer in \[1, 64\], got 65"):
        tiny_model.render(torch.zeros(65, tiny_model.config.z_dim), 0.0, 0.0)


def test_devices_encoder_fade_and_framing_size_are_checked(tiny_model, monkeypatch):
    from pix2nerf.limits import check_device
    from pix2nerf.serving.service import Preprocessing

    assert check_device("map_location", "cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="map_location must be a torch device such as 'cpu' or 'cuda', got 'gpu'"):
        Pix2NeRF.from_pretrained("default", map_location="gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="--device is cuda, but torch sees no CUDA device here; use 'cpu'"):
        check_device("--device", "cuda")
    image = torch.zeros(1, 3, 16, 16)
    for alpha in (-5, math.nan, None):
        with pytest.raises(ValueError, match=r"alpha must be a finite number in \[0, 1\]"):
            tiny_model.encode(image, alpha=alpha)
    for size in ("0.5", None, True):
        with pytest.raises(ValueError, match=r"foreground_size must be in \[0, 1\] \(0: automatic\)"):
            Preprocessing(foreground_size=size)


def test_config_values_are_checked():
    for field, bad, message in (
        ("num_steps", "48", "config.num_steps must be an integer"),
        ("fov", math.nan, "config.fov must be a finite number"),
        ("ray_end", math.inf, "config.ray_end must be a finite number"),
        ("has_encoder", 1, "config.has_encoder must be True or False"),
        ("encoder_channels", [8, "8"], r"config.encoder_channels\[1\] must be an integer"),
        ("training_stages", [{"start_step": 0}], r"config.training_stages\[0\] must be a dict with the keys"),
    ):
        with pytest.raises(ValueError, match=message):
            Pix2NeRFConfig.from_preset("tiny", **{field: bad})


def test_weights_with_nan_are_refused_naming_the_tensor(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state["field.density_head.bias"][0] = math.nan
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="NaN or infinite values in the weight field.density_head.bias"):
        Pix2NeRF.from_pretrained(tmp_path)


def test_cli_answers_with_one_line(tiny_model, tmp_path, capsys):
    tiny_model.save_pretrained(tmp_path / "model")
    assert cli_main(["render", str(tmp_path), "--model", str(tmp_path / "model")]) == 2
    assert "(Is a directory)" in capsys.readouterr().err
    image = tmp_path / "car.png"
    from PIL import Image

    Image.new("RGB", (16, 16), "red").save(image)
    assert cli_main(["render", str(image), "--model", str(tmp_path / "model"), "--num-steps", "100000"]) == 2
    assert "num_steps must be an integer in [3, 512], got 100000" in capsys.readouterr().err
