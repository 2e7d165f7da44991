"""The segmentation network: a small U-Net that maps a downscaled photo to the logits of its object's mask, and its
weights file (safetensors, the net's config in the file's metadata).

Data flow: RGB (B, 3, H, W) in [0, 1], H and W multiples of 2^(levels - 1) -> encoder (two 3 x 3 conv-BN-ReLU per
level, 2 x 2 max pooling between levels) -> decoder (bilinear 2x upsampling, concatenation with the encoder's level,
two 3 x 3 conv-BN-ReLU) -> 1 x 1 conv -> logits (B, 1, H, W).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS_PATH = Path(__file__).parent / "weights" / "segmentation.safetensors"
CONFIG_KEY = "config"  # the safetensors metadata key that holds SegmentationConfig as JSON


@dataclass(frozen=True)
class SegmentationConfig:
    """channels: feature channels per U-Net level (the first at the input's resolution, each next at half);
    input_size: px, the long side of the downscaled photo that the net reads."""

    channels: tuple[int, ...] = (8, 16, 32, 48, 64)
    input_size: int = 128

    @property
    def multiple(self) -> int:
        """The input's sides must be multiples of this (one halving per level below the first)."""
        return 2 ** (len(self.channels) - 1)


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SegmentationNet(nn.Module):
    """RGB (B, 3, H, W) in [0, 1] -> mask logits (B, 1, H, W); H, W multiples of `config.multiple`."""

    def __init__(self, config: SegmentationConfig) -> None:
        super().__init__()
        self.config = config
        channels = config.channels
        self.encoder = nn.ModuleList(_conv_block(i, o) for i, o in zip((3, *channels[:-1]), channels))
        self.decoder = nn.ModuleList(
            _conv_block(deep + skip, skip) for deep, skip in zip(channels[:0:-1], channels[-2::-1])
        )
        self.head = nn.Conv2d(channels[0], 1, 1)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        x = rgb - 0.5
        skips = []
        for level, block in enumerate(self.encoder):
            x = block(F.max_pool2d(x, 2) if level else x)
            skips.append(x)
        for block, skip in zip(self.decoder, reversed(skips[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
        return self.head(x)


def save_network(net: SegmentationNet, path: str | Path, dtype: torch.dtype = torch.float16) -> None:
    """Write the net's weights and BatchNorm statistics (floats as `dtype`) with its config in the metadata."""
    from safetensors.torch import save_file

    tensors = {name: (t.to(dtype) if t.is_floating_point() else t).contiguous() for name, t in net.state_dict().items()}
    config = asdict(net.config)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={CONFIG_KEY: json.dumps(config)})


def load_network(path: str | Path = WEIGHTS_PATH) -> SegmentationNet:
    """The net saved at `path` (by default the shipped weights), float32, in eval mode."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as file:
        config = json.loads(file.metadata()[CONFIG_KEY])
        tensors = {name: file.get_tensor(name) for name in file.keys()}
    config["channels"] = tuple(config["channels"])
    net = SegmentationNet(SegmentationConfig(**config))
    net.load_state_dict({name: t.float() if t.is_floating_point() else t for name, t in tensors.items()})
    return net.eval()
