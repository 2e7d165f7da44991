"""Fuzzing the entry points with random bytes, truncated files and wrong types: every refusal is a ValueError or
FileNotFoundError with a short message, never another exception or a crash. Seeded; a few hundred cases in seconds."""

from __future__ import annotations

import io
import json
import math
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pix2nerf import Pix2NeRF, Pix2NeRFConfig
from pix2nerf.official.safe_load import safe_load
from pix2nerf.serving import service as serving

CLEAR_ERRORS = (ValueError, FileNotFoundError)
MAX_MESSAGE = 1000  # characters: no error echoes a long input (the longest lists the known config fields)
WRONG_TYPES = [None, 3, 2.5, math.nan, 10**400, "x" * 100_000, b"", [], {}, object(), torch.zeros(2), np.zeros(3)]


def assert_clear_error(call, *args, **kwargs) -> None:
    """`call` either returns or raises ValueError / FileNotFoundError with a short message."""
    try:
        call(*args, **kwargs)
    except CLEAR_ERRORS as error:
        assert len(str(error)) < MAX_MESSAGE, str(error)[:200]


def png_bytes(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def mutations(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    """Random bytes, truncations and byte flips of `data`."""
    cases = []
    for _ in range(count):
        kind = rng.randrange(3)
        if kind == 0:
            cases.append(rng.randbytes(rng.randrange(0, 512)))
        elif kind == 1:
            cases.append(data[: rng.randrange(0, len(data))])
        else:
            flipped = bytearray(data)
            for _ in range(rng.randrange(1, 8)):
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            cases.append(bytes(flipped))
    return cases


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny")
    Pix2NeRF(Pix2NeRFConfig.from_preset("tiny")).save_pretrained(folder)
    return folder


def test_encode_random_and_truncated_images(tiny_folder):
    model = Pix2NeRF.from_pretrained(tiny_folder)
    rng = random.Random(0)
    for data in mutations(png_bytes(0), rng, 120):
        assert_clear_error(model.encode, data)
    for value in WRONG_TYPES:
        assert_clear_error(model.encode, value)
    for kwargs in ({"resolution": 10**9}, {"num_steps": 10**9}, {"psi": math.nan}, {"yaw": 10**400}):
        with pytest.raises(ValueError):
            model.render(torch.zeros(1, 16), **{"yaw": 0.0, "pitch": 0.0, **kwargs})


def test_from_pretrained_with_corrupt_files(tiny_folder, tmp_path):
    rng = random.Random(1)
    config = (tiny_folder / "config.json").read_bytes()
    weights = (tiny_folder / "model.safetensors").read_bytes()
    for index in range(60):
        folder = tmp_path / f"m{index}"
        folder.mkdir()
        corrupt_config = index % 2 == 0
        (folder / "config.json").write_bytes(mutations(config, rng, 1)[0] if corrupt_config else config)
        (folder / "model.safetensors").write_bytes(weights if corrupt_config else mutations(weights, rng, 1)[0])
        assert_clear_error(Pix2NeRF.from_pretrained, folder)
    values = json.loads(config)
    for field, bad in (("z_dim", "16"), ("fov", math.inf), ("hidden_dim", 10**9), ("num_steps", None)):
        folder = tmp_path / f"bad-{field}"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({**values, field: bad}))
        (folder / "model.safetensors").write_bytes(weights)
        with pytest.raises(ValueError, match=f"config.{field} must be"):
            Pix2NeRF.from_pretrained(folder)


def test_converter_with_random_archives(tmp_path):
    rng = random.Random(2)
    buffer = io.BytesIO()
    torch.save({"weight": torch.ones(4), "layers": [1, 2.0, "three"]}, buffer)
    for index, data in enumerate(mutations(buffer.getvalue(), rng, 80)):
        path = tmp_path / f"c{index}.pth"
        path.write_bytes(data)
        assert_clear_error(safe_load, path)
    for index in range(20):  # a valid archive around a random pickle
        path = tmp_path / f"p{index}.pth"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", b"\x80\x02" + rng.randbytes(rng.randrange(1, 64)) + b".")
            archive.writestr("archive/version", "3\n")
        assert_clear_error(safe_load, path)


def test_serving_requests_with_bad_input(tiny_folder):
    service = serving.Service(Pix2NeRF.from_pretrained(tiny_folder), view_resolution=8, orbit_frames=2)
    rng = random.Random(3)
    for data in mutations(png_bytes(1), rng, 40):
        assert_clear_error(service.novel_view, data, 0.0, 0.0)
    for value in WRONG_TYPES + ["data:image/png;base64,@@@", "data:,x", "data:image/png;base64," + "A" * 50_000_000]:
        assert_clear_error(serving.read_upload, value)
    good = png_bytes(2)
    for yaw, pitch, quality in ((10**400, 0, "interactive"), (0, math.nan, "interactive"), (0, 0, "best"), ("1", 0, 1)):
        with pytest.raises(ValueError):
            service.novel_view(good, yaw, pitch, quality)
