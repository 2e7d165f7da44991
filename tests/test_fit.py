"""The fit score: a held-out car fits the shipped model, a cat photo does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pix2nerf import Pix2NeRF
from pix2nerf.evaluation.fit import GOOD_FIT, POOR_FIT

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
