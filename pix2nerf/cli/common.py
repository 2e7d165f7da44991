"""What several subcommands share: the model argument and loading, and the refinement of an image's latent."""

from __future__ import annotations

import argparse
import os

from pix2nerf.model import DEFAULT_MODEL


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=os.environ.get("PIX2NERF_MODEL", DEFAULT_MODEL),
        help="local model folder or hub repo id (default: $PIX2NERF_MODEL, else 'default': the model shipped with "
        "pix2nerf)",
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")


def add_refine_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--refine-steps",
        type=int,
        default=0,
        help="refine the encoder's latent against the image for this many steps (Pix2NeRF.invert; 0: encoder only)",
    )


def image_latent(model, image: str, refine_steps: int):
    """The image's Latent: encoded, then refined for `refine_steps` steps with a tqdm bar."""
    if refine_steps == 0:
        return model.encode(image)
    from tqdm.auto import tqdm

    with tqdm(total=refine_steps, desc="refining", unit="step") as bar:
        return model.invert(image, refine_steps, progress=lambda done, total: bar.update(done - bar.n))


def load_model(args: argparse.Namespace):
    from pix2nerf.model import Pix2NeRF

    return Pix2NeRF.from_pretrained(args.model, map_location=args.device)
