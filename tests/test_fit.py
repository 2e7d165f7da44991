"""The fit score: a held-out car fits the shipped model, a cat photo does not, a blank photo shows no object."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pix2nerf import Pix2NeRF
from pix2nerf.evaluation.fit import GOOD_FIT, NO_OBJECT, POOR_FIT

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def shipped_model():
    return Pix2NeRF.from_pretrained("default")


def test_a_held_out_car_fits_and_a_cat_does_not(shipped_model):
    import skimage.data

    car = Image.open(EXAMPLES / "car_1.png")  # a held-out test object of the synthetic cars
    cat = Image.fromarray(skimage.data.chelsea())
    score = shipped_model.fit_score([car, cat])
    assert score.good.tolist() == [True, False]
    words = score.words()
    assert words[0].startswith(GOOD_FIT) and words[1].startswith(POOR_FIT)
    latent = shipped_model.encode(car)
    assert shipped_model.fit_score(car, latent).psnr.item() == pytest.approx(score.psnr[0].item(), abs=1e-4)
    with pytest.raises(ValueError, match="fit_score got 2 images and a Latent of 1"):
        shipped_model.fit_score([car, cat], latent)


def test_a_blank_photo_is_no_object_whatever_its_score(shipped_model):
    """A white photo renders as well as a car (the plain background matches it), but there is nothing to fit."""
    import numpy as np

    white, black = np.full((32, 32, 3), 255, np.uint8), np.zeros((32, 32, 3), np.uint8)
    score = shipped_model.fit_score([white, black])
    assert score.psnr[0] >= score.threshold  # the white one scores as a fit
    assert score.good.tolist() == [False, False]
    assert all(words.startswith(NO_OBJECT) for words in score.words())
