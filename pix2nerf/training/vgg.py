"""The VGG16 feature stack of the official perceptual term, up to relu3_3, in plain PyTorch.

Its parameters carry torchvision's and timm's names for VGG16 (`features.<index>.weight` / `.bias`, indices 0, 2, 5,
7, 10, 12, 14), so a VGG16 state dict saved as safetensors loads as it is; later layers in the file are ignored.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

# (input channels, output channels) of each 3x3 convolution, "M" a 2x2 max-pool; every convolution is followed by ReLU
VGG16_RELU3_3 = [(3, 64), (64, 64), "M", (64, 128), (128, 128), "M", (128, 256), (256, 256), (256, 256)]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HUB_FILENAME = "model.safetensors"  # what a hub id is read from (e.g. timm/vgg16.tv_in1k)


class VGG16Features(nn.Module):
    """Images (B, 3, H, W) in [-1, 1] -> relu3_3 features (B, 256, H/4, W/4), ImageNet-normalised inside."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for item in VGG16_RELU3_3:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(*item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(((images + 1) / 2 - self.mean) / self.std)

    def load_weights(self, tensors: dict[str, torch.Tensor], source: str) -> None:
        """Copy the stack's weights from a VGG16 state dict; ValueError naming missing or mis-shaped keys."""
        expected = self.state_dict()
        missing = [key for key in expected if key not in tensors]
        wrong = [
            f"{key} {tuple(tensors[key].shape)} (expected {tuple(value.shape)})"
            for key, value in expected.items()
            if key in tensors and tensors[key].shape != value.shape
        ]
        if missing or wrong:
            problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"mis-shaped {', '.join(wrong)}"] if wrong else []
            )
            raise ValueError(
                f"{source} is not a VGG16 state dict up to relu3_3: {'; '.join(problems)} (expected keys "
                "features.{0,2,5,7,10,12,14}.weight and .bias, as torchvision's vgg16().state_dict() names them)"
            )
        self.load_state_dict({key: tensors[key].float() for key in expected})


def load_vgg16_features(source: str | Path) -> VGG16Features:
    """The relu3_3 stack (eval mode, no gradients) from a safetensors file, a folder holding model.safetensors, or a
    hub id (its model.safetensors; only the local cache when HF_HUB_OFFLINE is set)."""
    path = Path(source)
    if path.is_dir():
        path = path / HUB_FILENAME
    elif not path.is_file():
        if path.suffix == ".safetensors":
            raise FileNotFoundError(f"--vgg_weights: {str(source)[:200]} does not exist")
        path = _download(str(source))
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise ValueError(f"--vgg_weights: {str(path)[:200]} is not a readable safetensors file ({error})") from None
    model = VGG16Features()
    model.load_weights(tensors, str(source)[:200])
    return model.eval().requires_grad_(False)


def _download(repo_id: str) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    try:
        return Path(hf_hub_download(repo_id, HUB_FILENAME))
    except HFValidationError:
        raise FileNotFoundError(f"--vgg_weights: {repo_id[:200]!r} is neither a local file nor a hub id") from None
    except (LocalEntryNotFoundError, EntryNotFoundError, RepositoryNotFoundError, HfHubHTTPError) as error:
        where = "the local hub cache (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else "the hub"
        raise FileNotFoundError(
            f"--vgg_weights: could not get {HUB_FILENAME} of {repo_id[:200]!r} from {where} ({type(error).__name__})"
        ) from None
