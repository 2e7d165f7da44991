"""Shared test fixtures: the official reference files and small models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
torch.set_num_threads(min(2, torch.get_num_threads()))

REPO_ROOT = Path(__file__).resolve().parents[1]
# the official code's reference outputs beside the checkout; PIX2NERF_OFFICIAL_FIXTURES points elsewhere
OFFICIAL_FIXTURES = Path(
    os.environ.get("PIX2NERF_OFFICIAL_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures" / "official-pix2nerf")
)
REQUIRE_FIXTURES = os.environ.get("PIX2NERF_REQUIRE_FIXTURES") == "1"  # CI (.ci/run): their absence fails


@pytest.fixture(scope="session")
def official_dir() -> Path:
    """The official fixtures' folder; without it the test is skipped (failed under PIX2NERF_REQUIRE_FIXTURES=1)."""
    if not OFFICIAL_FIXTURES.is_dir():
        reason = f"the official Pix2NeRF fixtures are not at {OFFICIAL_FIXTURES} (set PIX2NERF_OFFICIAL_FIXTURES)"
        if REQUIRE_FIXTURES:
            pytest.fail(f"{reason}; PIX2NERF_REQUIRE_FIXTURES=1 requires them")
        pytest.skip(reason)
    return OFFICIAL_FIXTURES


@pytest.fixture(scope="session")
def reference(official_dir):
    from safetensors.torch import load_file

    return load_file(str(official_dir / "carla_reference.safetensors"))


@pytest.fixture(scope="session")
def official_checkpoint(official_dir):
    from pix2nerf.official.convert import OFFICIAL_MODULE_PREFIXES
    from pix2nerf.official.safe_load import safe_load

    return safe_load(official_dir / "carla_checkpoint_train.pth", OFFICIAL_MODULE_PREFIXES)


@pytest.fixture(scope="session")
def carla_model(official_dir):
    """The fixture's checkpoint converted by the public converter (EMA generator and encoder), float32 on the CPU."""
    from pix2nerf.official.convert import convert_official_checkpoint

    return convert_official_checkpoint(official_dir / "carla_checkpoint_train.pth", "carla")


@pytest.fixture
def tiny_model():
    from pix2nerf import Pix2NeRF, Pix2NeRFConfig

    torch.manual_seed(0)
    return Pix2NeRF(Pix2NeRFConfig.from_preset("tiny")).eval()


@pytest.fixture(scope="session")
def tiny_blob_model():
    """A tiny model and one z whose field is a smooth, coloured blob of radius ~0.2 around the origin (hand-set
    weights): gamma = 1 everywhere, layer 0 gives sin(x), sin(y), sin(z); layer 1 (phase pi/2) their cosines,
    about 1 - x^2 / 2; later layers pass them on, so the density falls off with the squared distance from the origin."""
    import math

    from pix2nerf import Pix2NeRF, Pix2NeRFConfig

    torch.manual_seed(0)
    config = Pix2NeRFConfig.from_preset("tiny")
    model = Pix2NeRF(config).eval()
    field, hidden = model.field, config.hidden_dim
    with torch.no_grad():
        last = field.mapping.layers[-1]
        last.weight.zero_()
        frequencies = torch.full(((config.num_siren_layers + 1) * hidden,), (1 - 30) / 15)  # gamma = 1
        phases = torch.zeros_like(frequencies)
        phases[hidden : hidden + 3] = math.pi / 2
        last.bias.copy_(torch.cat([frequencies, phases]))
        for layer in field.film_layers:
            layer.linear.weight.zero_()
            layer.linear.bias.zero_()
            layer.linear.weight[:3, :3] = torch.eye(3)
        field.density_head.weight.zero_()
        field.density_head.weight[0, :3] = 1500.0
        field.density_head.bias.fill_(-1500.0 * 3 * math.sin(math.cos(0.2)))  # zero at radius ~0.2
        field.color_film.linear.weight.mul_(20)
    return model, model.sample_latents(1, torch.Generator().manual_seed(1))
