"""What several subcommands share: the model argument and loading, and the refinement of an image's latent."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from pix2nerf.limits import check_device
from pix2nerf.model import DEFAULT_MODEL


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=os.environ.get("PIX2NERF_MODEL", DEFAULT_MODEL),
        help="local model folder or hub repo id (default: $PIX2NERF_MODEL, else 'default': the shipped model)",
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")


def check_output(path: str, check_suffix: Callable[[str], object]) -> None:
    """-o PATH checked before any work: `check_suffix(path)` accepts its suffix (raising ValueError otherwise), it is
    not a folder, and its folder is created if missing."""
    check_suffix(path)
    if Path(path).is_dir():
        raise ValueError(f"-o {path} is a folder; give a file name")
    Path(path).parent.mkdir(parents=True, exist_ok=True)


def check_image_suffix(path: str) -> None:
    """An image file name that PIL can write (.png, .jpg, .webp, ...)."""
    from PIL import Image

    formats = Image.registered_extensions()
    suffix = Path(path).suffix.lower()
    if formats.get(suffix) not in Image.SAVE:
        raise ValueError(f"-o must name an image file such as view.png or view.jpg, got {path!r}")


def add_refine_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--refine-steps",
        type=int,
        default=0,
        help="refine the encoder's latent against the image for this many steps (Pix2NeRF.invert; 0: encoder only)",
    )


def image_latent(model, image: str, refine_steps: int, preprocess: str = "auto"):
    """The image's Latent: preprocessed (`preprocess`) and encoded, then refined for `refine_steps` steps with a tqdm
    bar."""
    if refine_steps == 0:
        return model.encode(image, preprocess=preprocess)
    from tqdm.auto import tqdm

    encoder_input = model.preprocess(image, preprocess)
    with tqdm(desc="refining", unit="step") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        return model.invert(encoder_input, refine_steps, progress=progress)


def load_model(args: argparse.Namespace):
    from pix2nerf.model import Pix2NeRF

    return Pix2NeRF.from_pretrained(args.model, map_location=check_device("--device", args.device))


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    """Framing and preprocessing of the views that render and orbit write."""
    parser.add_argument("--zoom", type=float, default=1.0, help="magnification; above 1 the object fills more")
    add_preprocess_argument(parser)


def add_preprocess_argument(parser: argparse.ArgumentParser) -> None:
    """How a photo becomes the encoder's input."""
    parser.add_argument(
        "--preprocess",
        choices=("auto", "none"),
        default="auto",
        help="auto: remove a photo's background and re-frame it like the training data; none: crop and resize only",
    )


@contextmanager
def progress_bar(description: str, unit: str = "%", total: int = 100):
    """A tqdm bar on stderr and its callback, which takes the fraction done (0-1)."""
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=description, unit=unit, leave=False) as bar:

        def update(fraction: float) -> None:
            bar.update(round(fraction * total) - bar.n)

        yield update
