"""Background removal, re-framing and the encoder's preprocess modes on small images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pix2nerf import Pix2NeRFConfig, remove_background
from pix2nerf.evaluation.composites import benchmark_backgrounds, make_composites, mask_iou
from pix2nerf.foreground import box_fraction, prepare_image, reframe
from pix2nerf.foreground.policy import uniform_border
from pix2nerf.images import load_image, to_rgb

WHITE = (255, 255, 255)
HELD_OUT_IOU = 0.8  # a little below what benchmarks/foreground.py measures


@pytest.fixture(scope="module")
def composites():
    import skimage.data

    wall = np.random.default_rng(0).normal((90, 140, 90), 12, (96, 96, 3)).clip(0, 255).astype(np.uint8)
    return make_composites([skimage.data.brick(), wall], 2, 96, 48)


def test_remove_background_finds_cars_on_held_out_photos():
    """Held-out cars over photographs that the network never trained on (benchmarks/foreground.py measures 24)."""
    for composite in make_composites(benchmark_backgrounds()[:3], 3, 128, seed=2):
        rgba = remove_background(composite.photo)
        assert rgba.mode == "RGBA" and rgba.size == composite.photo.size
        assert mask_iou(np.asarray(rgba)[..., 3] >= 128, composite.mask) > HELD_OUT_IOU


def test_remove_background_keeps_the_size_and_is_deterministic(composites):
    photo = composites[1].photo.crop((0, 10, 96, 70))  # 96 x 60: not square, sides not multiples of the net's
    first, second = remove_background(photo), remove_background(photo.convert("L"))
    assert first.size == second.size == photo.size and first.mode == second.mode == "RGBA"
    assert np.array_equal(np.asarray(first), np.asarray(remove_background(photo)))
    assert np.array_equal(np.asarray(first)[..., :3], np.asarray(photo))
    assert np.array_equal(np.asarray(remove_background(np.asarray(photo))), np.asarray(first))  # an array source
    with pytest.raises(ValueError, match="cannot load an image from"):
        remove_background(12)
    with pytest.raises(ValueError, match="at least 8x8"):
        remove_background(np.zeros((4, 4, 3), np.uint8))


def square_rgba(size: int, box: tuple[int, int, int, int]) -> Image.Image:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    image.paste((200, 30, 30, 255), box)
    return image


def test_reframe_centres_the_object_at_the_fraction_over_the_background():
    framed = reframe(square_rgba(100, (5, 10, 25, 20)), (0.5, 0.5), WHITE)  # a 20 x 10 box near the corner
    assert framed.mode == "RGB" and framed.size == (40, 40)
    pixels = np.asarray(framed)
    red = (pixels == (200, 30, 30)).all(-1)
    assert box_fraction(red.astype(np.uint8) * 255) == pytest.approx(0.5)
    rows, columns = np.nonzero(red)
    assert (rows.min() + rows.max() + 1) / 2 == pytest.approx(20) and (columns.min() + columns.max() + 1) / 2 == 20
    assert (pixels[~red] == 255).all()  # padded and composited over the background
    in_range = square_rgba(100, (30, 35, 70, 65))  # extent 0.4, centred: framed as the training data
    assert np.array_equal(np.asarray(reframe(in_range, (0.3, 0.6), WHITE)), np.asarray(to_rgb(in_range, WHITE)))
    with pytest.raises(ValueError, match="extent must be"):
        reframe(square_rgba(10, (2, 2, 5, 5)), (0.5, 1.5), WHITE)
    # a 3-pixel object framed at 0.9 would be a 3 x 3 image: enlarged to the smallest size an upload may have
    tiny = reframe(square_rgba(32, (2, 2, 5, 5)), (0.9, 0.9), WHITE)
    assert tiny.size == (8, 8) and load_image(tiny).size == (8, 8)


def test_auto_leaves_plain_backdrops_and_reframes_the_rest(composites):
    plain = Image.new("RGB", (64, 64), WHITE)
    plain.paste((10, 90, 200), (20, 20, 40, 40))
    assert uniform_border(plain) and prepare_image(plain, "auto", (0.5, 0.5), WHITE) is plain
    assert prepare_image(composites[0].photo, "none", (0.5, 0.5), WHITE) is composites[0].photo
    assert not uniform_border(composites[0].photo)
    cleaned = prepare_image(composites[0].photo, "auto", (0.55, 0.86), WHITE)
    assert cleaned.width == cleaned.height and (np.asarray(cleaned)[:2] == 255).all()  # the photo's border is gone
    framed = prepare_image(square_rgba(64, (4, 4, 20, 20)), "auto", (0.5, 0.5), WHITE)
    assert framed.size == (32, 32)
    with pytest.raises(ValueError, match="preprocess must be one of"):
        prepare_image(plain, "crop", (0.5, 0.5), WHITE)


def test_encode_takes_a_preprocess_mode(tiny_model, composites):
    photo = composites[0].photo
    none = tiny_model.encode(photo, preprocess="none")
    auto = tiny_model.encode(photo)
    assert not torch.equal(none.z, auto.z)
    assert torch.equal(tiny_model.encode(photo, preprocess="none").z, none.z)
    with pytest.raises(ValueError, match="preprocess must be one of"):
        tiny_model.encode(photo, preprocess="magic")


def test_foreground_fraction_is_a_checked_config_field():
    low, high = Pix2NeRFConfig().foreground_fraction
    assert 0 < low <= high <= 1
    for bad in ([0.0, 0.5], [0.8, 0.5], [0.5]):
        with pytest.raises(ValueError, match=r"foreground_fraction(\[\d\])? must be"):
            Pix2NeRFConfig(foreground_fraction=bad)
