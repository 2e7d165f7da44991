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
OFFICIAL_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "official-pix2nerf"


@pytest.fixture(scope="session")
def official_dir() -> Path:
    if not OFFICIAL_FIXTURES.is_dir():
        pytest.fail(f"the official fixtures are missing at {OFFICIAL_FIXTURES}")
    return OFFICIAL_FIXTURES


@pytest.fixture(scope="session")
def reference(official_dir):
    from safetensors.torch import load_file

    return load_file(str(official_dir / "carla_reference.safetensors"))


@pytest.fixture(scope="session")
def official_checkpoint(official_dir):
    from pix2nerf.convert import OFFICIAL_MODULE_PREFIXES
    from pix2nerf.safe_pickle import safe_load

    return safe_load(official_dir / "carla_checkpoint_train.pth", OFFICIAL_MODULE_PREFIXES)


@pytest.fixture(scope="session")
def carla_model(official_dir):
    """The fixture's checkpoint converted by the public converter (EMA generator and encoder), float32 on the CPU."""
    from pix2nerf.convert import convert_official_checkpoint

    return convert_official_checkpoint(official_dir / "carla_checkpoint_train.pth", "carla")


@pytest.fixture
def tiny_model():
    from pix2nerf import Pix2NeRF, Pix2NeRFConfig

    torch.manual_seed(0)
    return Pix2NeRF(Pix2NeRFConfig.from_preset("tiny")).eval()
