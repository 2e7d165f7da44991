"""The service's preprocessing of uploads: background removal on or off, the object's size, the fit in words."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pix2nerf.serving.service import Preprocessing, Service


@pytest.fixture
def service(tiny_model, tmp_path):
    from pix2nerf.serving.service import OutputFolder

    return Service(tiny_model, view_resolution=8, bake_options={"resolution": 12}, outputs=OutputFolder(tmp_path))


def busy_photo() -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    pixels[14:34, 10:38] = (200, 30, 30)
    return Image.fromarray(pixels)


def test_preprocessing_choices_are_cached_apart_and_carry_the_fit(service):
    photo = busy_photo()
    cleaned = service.prepare(photo)
    plain = service.prepare(photo, Preprocessing(remove_background=False))
    small = service.prepare(photo, Preprocessing(foreground_size=0.4))
    assert len({cleaned.key, plain.key, small.key}) == 3 and len(service.cache) == 3
    assert "fit" in cleaned.fit and cleaned.fit.endswith("dB)")
    shown = [np.asarray(p.encoder_input, dtype=np.int16) for p in (cleaned, plain, small)]
    assert (shown[0][0] == 255).all() and not (shown[1][0] == 255).all()  # the noisy border is gone when cleaned
    assert (shown[2] == 255).all(-1).sum() > (shown[0] == 255).all(-1).sum()  # a smaller object, more backdrop
    assert service.prepare(photo) is cleaned
    view = service.novel_view(cleaned, 0.0, 10.0, zoom=2.0)
    assert view.image.size == (8, 8)
    with pytest.raises(ValueError, match="foreground_size must be in"):
        Preprocessing(foreground_size=1.5)
    with pytest.raises(ValueError, match="bake_options cannot take psi"):
        Service(service.model, bake_options={"psi": 0.7})


def test_the_object_size_does_not_split_the_cache_when_the_background_is_kept():
    assert Preprocessing(remove_background=False, foreground_size=0.4) == Preprocessing(remove_background=False)
    assert Preprocessing(foreground_size=0.4) != Preprocessing()
