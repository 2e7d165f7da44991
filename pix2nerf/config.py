"""Pix2NeRFConfig: one flat, JSON-serialisable description of a model, its cameras and its training schedule.

Presets carry the official settings of the paper's datasets (`carla`, `srn_chairs`, `celeba`) and the project's
own (`synthetic_cars`, and `tiny` for tests). Angles are degrees; yaw 0 / pitch 0 is the front view.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FIELD_TYPES = ("siren",)  # pix2nerf.fields.FIELD_CLASSES holds their classes
SIREN_VARIANTS = ("tallsiren", "spatial")
LATENT_DISTRIBUTIONS = ("uniform", "gaussian")
BACKGROUNDS = ("white", "last_sample", "none")
POSE_DISTRIBUTIONS = ("gaussian", "spherical_uniform")
DISCRIMINATOR_TYPES = ("progressive", "ccs")
SPATIAL_INPUT_SCALE = 2 / 0.24  # SPATIALSIRENBASELINE's UniformBoxWarp(0.24)


def _area_uniform_pitch_band(v_max: float) -> tuple[float, float]:
    """The official area-uniform prior (v ~ U(0, v_max), phi = arccos(1 - 2v)) as a pitch band (mean, spread)."""
    lowest = 90.0 - math.degrees(math.acos(1 - 2 * v_max))
    return (lowest + 90.0) / 2, (90.0 - lowest) / 2


@dataclass
class Pix2NeRFConfig:
    """Everything that defines a Pix2NeRF model. Round-trips through `config.json`."""

    preset: str = "carla"
    # radiance field: "siren" (pi-GAN's FiLM-SIREN, the official presets' and converted checkpoints')
    field_type: str = "siren"
    z_dim: int = 256
    latent_distribution: str = "uniform"  # the GAN prior of z: U(-1, 1) (Pix2NeRF) or N(0, I) (pi-GAN releases)
    siren_variant: str = "tallsiren"
    hidden_dim: int = 256
    num_siren_layers: int = 8
    mapping_hidden_dim: int = 256
    mapping_num_layers: int = 3
    # encoder (CCS) and discriminator, channel widths from the highest resolution down
    encoder_channels: list[int] = field(default_factory=lambda: [32, 64, 128, 256, 400, 400, 400, 400])
    encoder_resolution: int = 64
    has_encoder: bool = True  # False for converted pi-GAN generators, which have none
    discriminator_type: str = "progressive"
    discriminator_channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256, 400, 400, 400, 400])
    # cameras and rendering
    fov: float = 30.0
    ray_start: float = 0.7
    ray_end: float = 1.3
    background: str = "white"
    # The object's extent in the training images (its box's longer side over the frame's side), the range (2nd and
    # 98th percentiles) of the synthetic cars' (benchmarks/foreground.py): encode's preprocess="auto" re-frames user
    # photos into it.
    foreground_fraction: list[float] = field(default_factory=lambda: [0.47, 0.875])
    num_steps: int = 48
    render_resolution: int = 128
    # pose prior (degrees); see pix2nerf.rendering.cameras.sample_poses
    pose_distribution: str = "spherical_uniform"
    yaw_mean: float = 0.0
    yaw_spread: float = 180.0
    pitch_mean: float = _area_uniform_pitch_band(0.5 * 85 / 90)[0]
    pitch_spread: float = _area_uniform_pitch_band(0.5 * 85 / 90)[1]
    # The generator's yaw of the data's yaw 0, degrees. A GAN trained on unposed images under a full-circle yaw prior
    # picks its own yaw origin; `pix2nerf calibrate-yaw` measures it on posed views so that `render` and `encode`
    # speak the data's yaws (yaw 0 = front). Training works in the generator's frame (offset 0).
    yaw_offset: float = 0.0
    # training objective (identical weights for all official datasets)
    r1_gamma: float = 10.0
    pose_loss_weight: float = 15.0
    reconstruction_weight: float = 5.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    warmup_steps: int = 280_000
    density_noise_steps: int = 5000
    fade_steps: int = 10_000
    topk_floor: float = 1.0  # < 1 enables top-k: keep the best max(0.99^(step/topk_interval), floor) fakes
    topk_interval: int = 2000
    # training stages: each {"start_step", "resolution", "batch_size", "num_steps", "lr_g", "lr_d", "lr_e"}
    training_stages: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {
                "start_step": 0,
                "resolution": 32,
                "batch_size": 36,
                "num_steps": 48,
                "lr_g": 4e-5,
                "lr_d": 4e-4,
                "lr_e": 4e-5,
            },
            {
                "start_step": 50_000,
                "resolution": 64,
                "batch_size": 12,
                "num_steps": 36,
                "lr_g": 2e-5,
                "lr_d": 2e-4,
                "lr_e": 2e-4,
            },
        ]
    )
    max_train_steps: int = 300_000

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first field that holds an unusable value."""
        _choice("field_type", self.field_type, FIELD_TYPES)
        _choice("siren_variant", self.siren_variant, SIREN_VARIANTS)
        _choice("latent_distribution", self.latent_distribution, LATENT_DISTRIBUTIONS)
        _choice("background", self.background, BACKGROUNDS)
        _choice("pose_distribution", self.pose_distribution, POSE_DISTRIBUTIONS)
        _choice("discriminator_type", self.discriminator_type, DISCRIMINATOR_TYPES)
        for name in ("z_dim", "hidden_dim", "num_siren_layers", "mapping_hidden_dim", "num_steps", "render_resolution"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"config.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.num_siren_layers < 2:
            raise ValueError("config.num_siren_layers must be at least 2")
        if not 0 < self.fov < 180:
            raise ValueError(f"config.fov must be in (0, 180) degrees, got {self.fov}")
        low, high = (list(self.foreground_fraction) + [0.0, 0.0])[:2]
        if len(self.foreground_fraction) != 2 or not 0 < low <= high <= 1:
            raise ValueError(
                f"config.foreground_fraction must be [low, high] with 0 < low <= high <= 1, got "
                f"{self.foreground_fraction!r}"
            )
        if not 0 <= self.ray_start < self.ray_end:
            raise ValueError(f"config needs 0 <= ray_start < ray_end, got {self.ray_start}, {self.ray_end}")
        max_res = 2 ** len(self.encoder_channels)
        if self.encoder_resolution & (self.encoder_resolution - 1) or not 4 <= self.encoder_resolution <= max_res:
            raise ValueError(
                f"config.encoder_resolution must be a power of two in [4, {max_res}] for "
                f"{len(self.encoder_channels)} encoder widths, got {self.encoder_resolution}"
            )
        if not self.training_stages or self.training_stages[0].get("start_step") != 0:
            raise ValueError("config.training_stages must start with a stage at start_step 0")

    @property
    def num_mapping_outputs(self) -> int:
        """Frequencies plus phase shifts: one hidden_dim slice per SIREN layer and one for the colour layer."""
        return 2 * (self.num_siren_layers + 1) * self.hidden_dim

    @property
    def input_scale(self) -> float:
        """Factor on world xyz before the first SIREN layer (SPATIALSIRENBASELINE scales by 2/0.24)."""
        return SPATIAL_INPUT_SCALE if self.siren_variant == "spatial" else 1.0

    def stage_at(self, step: int) -> dict[str, Any]:
        """The training stage in force at `step`."""
        current = self.training_stages[0]
        for stage in self.training_stages:
            if step >= stage["start_step"]:
                current = stage
        return current

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Pix2NeRFConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config fields {unknown}; known fields: {sorted(known)}")
        return cls(**values)

    def to_json_file(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_json_file(cls, path: str | Path) -> Pix2NeRFConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no config.json at {path}")
        try:
            values = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not valid JSON ({error}); expected a pix2nerf config.json") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a JSON object of config fields")
        return cls.from_dict(values)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> Pix2NeRFConfig:
        """A preset's config, with any field overridden by keyword."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; available presets: {', '.join(sorted(PRESETS))}")
        return cls.from_dict({**PRESETS[name], "preset": name, **overrides})


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"config.{name} must be one of {allowed}, got {value!r}")


_CHAIRS_PITCH = _area_uniform_pitch_band(0.5)

PRESETS: dict[str, dict[str, Any]] = {
    # Official CARLA: TALLSIREN, z 256, fov 30, rays 0.7-1.3, yaw over 360, pitch area-uniform to ~87 deg from top.
    "carla": {},
    # Official ShapeNet-SRN chairs: as CARLA with fov 52, rays 0.6-1.4 and the whole upper hemisphere.
    "srn_chairs": {
        "fov": 52.0,
        "ray_start": 0.6,
        "ray_end": 1.4,
        "pitch_mean": _CHAIRS_PITCH[0],
        "pitch_spread": _CHAIRS_PITCH[1],
    },
    # Official CelebA 64: SPATIALSIRENBASELINE (xyz * 2/0.24), z 512, fov 12, rays 0.88-1.12, gaussian poses,
    # last-sample background, CCS discriminator, R1 0.2, clip 10, top-k.
    "celeba": {
        "z_dim": 512,
        "siren_variant": "spatial",
        "fov": 12.0,
        "ray_start": 0.88,
        "ray_end": 1.12,
        "background": "last_sample",
        "num_steps": 24,
        "pose_distribution": "gaussian",
        "yaw_mean": 0.0,
        "yaw_spread": math.degrees(0.3),
        "pitch_mean": 0.0,
        "pitch_spread": math.degrees(0.155),
        "discriminator_type": "ccs",
        "discriminator_channels": [32, 64, 128, 256, 400, 400, 400, 400],
        "r1_gamma": 0.2,
        "grad_clip": 10.0,
        "topk_floor": 0.6,
        "training_stages": [
            {
                "start_step": 0,
                "resolution": 64,
                "batch_size": 48,
                "num_steps": 12,
                "lr_g": 6e-5,
                "lr_d": 2e-4,
                "lr_e": 2e-4,
            },
        ],
    },
    # The project's shipped model: CARLA cameras on the synthetic cars, a short single-GPU schedule (the shipped
    # model stopped at step 8550, 35 minutes of steps on an H100 in two resumed runs) with a narrower encoder /
    # discriminator (256 wide instead of 400), 24 + 24 samples per ray in training and the 64 px stage from step 1800.
    "synthetic_cars": {
        "encoder_channels": [32, 64, 128, 256, 256, 256, 256, 256],
        "discriminator_channels": [16, 32, 64, 128, 256, 256, 256, 256, 256],
        "num_steps": 36,
        "render_resolution": 128,
        "warmup_steps": 1800,
        "fade_steps": 500,
        "density_noise_steps": 1000,
        "max_train_steps": 6500,
        "training_stages": [
            {
                "start_step": 0,
                "resolution": 32,
                "batch_size": 36,
                "num_steps": 24,
                "lr_g": 5e-5,
                "lr_d": 4e-4,
                "lr_e": 1e-4,
            },
            {
                "start_step": 1800,
                "resolution": 64,
                "batch_size": 16,
                "num_steps": 24,
                "lr_g": 3e-5,
                "lr_d": 2e-4,
                "lr_e": 1e-4,
            },
        ],
    },
    # A few-thousand-parameter model that trains on a CPU in seconds (tests).
    "tiny": {
        "z_dim": 16,
        "hidden_dim": 16,
        "num_siren_layers": 3,
        "mapping_hidden_dim": 16,
        "encoder_channels": [8, 8, 16, 16, 16],
        "encoder_resolution": 16,
        "discriminator_channels": [8, 8, 16, 16, 16],
        "num_steps": 6,
        "render_resolution": 16,
        "warmup_steps": 4,
        "fade_steps": 4,
        "density_noise_steps": 4,
        "max_train_steps": 8,
        "training_stages": [
            {
                "start_step": 0,
                "resolution": 8,
                "batch_size": 4,
                "num_steps": 6,
                "lr_g": 1e-4,
                "lr_d": 4e-4,
                "lr_e": 1e-4,
            },
            {
                "start_step": 4,
                "resolution": 16,
                "batch_size": 2,
                "num_steps": 6,
                "lr_g": 1e-4,
                "lr_d": 4e-4,
                "lr_e": 1e-4,
            },
        ],
    },
}
