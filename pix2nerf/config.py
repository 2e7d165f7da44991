"""Pix2NeRFConfig: one flat, JSON-serialisable description of a model, its cameras and its training schedule.

Presets carry the official settings of the paper's datasets (`carla`, `srn_chairs`, `celeba`) and the project's
own (`synthetic_cars`, `synthetic_cars_triplane`, and `tiny` / `tiny_triplane` for tests). Angles are degrees;
yaw 0 / pitch 0 is the front view.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pix2nerf.limits import Limits, check_bool, check_choice, check_float, check_int, shorten
from pix2nerf.limits import current as current_limits

FIELD_TYPES = ("siren", "triplane")  # pix2nerf.fields.FIELD_CLASSES holds their classes
SIREN_VARIANTS = ("tallsiren", "spatial")
LATENT_DISTRIBUTIONS = ("uniform", "gaussian")
BACKGROUNDS = ("white", "last_sample", "none")
POSE_DISTRIBUTIONS = ("gaussian", "spherical_uniform")
DISCRIMINATOR_TYPES = ("progressive", "ccs")
MAX_CONFIG_BYTES = 2**20  # a config.json is a few kB
SPATIAL_INPUT_SCALE = 2 / 0.24  # SPATIALSIRENBASELINE's UniformBoxWarp(0.24)


def _area_uniform_pitch_band(v_max: float) -> tuple[float, float]:
    """The official area-uniform prior (v ~ U(0, v_max), phi = arccos(1 - 2v)) as a pitch band (mean, spread)."""
    lowest = 90.0 - math.degrees(math.acos(1 - 2 * v_max))
    return (lowest + 90.0) / 2, (90.0 - lowest) / 2


@dataclass
class Pix2NeRFConfig:
    """Everything that defines a Pix2NeRF model. Round-trips through `config.json`."""

    preset: str = "carla"
    # radiance field: "siren" (pi-GAN's FiLM-SIREN, the official presets' and converted checkpoints') or
    # "triplane" (pix2nerf.fields.triplane: a style-modulated conv generator of three feature planes, a small decoder)
    field_type: str = "siren"
    z_dim: int = 256
    latent_distribution: str = "uniform"  # the GAN prior of z: U(-1, 1) (Pix2NeRF) or N(0, I) (pi-GAN releases)
    siren_variant: str = "tallsiren"
    hidden_dim: int = 256
    num_siren_layers: int = 8
    mapping_hidden_dim: int = 256
    mapping_num_layers: int = 3
    # tri-plane field: planes of triplane_channels at triplane_resolution^2, grown from a 4 x 4 constant through one
    # style-modulated 3x3 conv per resolution (triplane_synthesis_channels, from 4 px up to half the planes'
    # resolution: resolution = 8 * 2^(n - 1)), then bilinearly upsampled to the planes' resolution
    triplane_resolution: int = 128
    triplane_channels: int = 32
    triplane_synthesis_channels: list[int] = field(default_factory=lambda: [256, 256, 128, 128, 64])
    triplane_decoder_dim: int = 64
    triplane_decoder_layers: int = 2  # linear layers of the decoder MLP (features -> density and colour)
    triplane_mapping_dim: int = 256  # width of the mapping network and of its style w
    triplane_mapping_layers: int = 4
    # the mapping network learns at this fraction of lr_g (StyleGAN's 0.01: a mapping network at the full rate can
    # map every z to one w). Below 1 it has its own optimizer group, so a checkpoint does not resume across a change
    # between 1 and another value. The style affines start with triplane_style_gain times a unit-gain map of w.
    triplane_mapping_lr_scale: float = 1.0
    triplane_style_gain: float = 0.25
    # the decoder's colour is sigmoid(logit) * (1 + 2 m) - m for this margin m (EG3D's 0.001): black and white are then
    # reached at finite logits, so fitting them does not drive the logits (and the sigmoid) into saturation
    triplane_colour_margin: float = 0.0
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
    # PSNR (dB) at and above which an input counts as a fit for this model (pix2nerf.evaluation.fit), calibrated on
    # held-out objects against photos outside the domain by benchmarks/fit_calibration.py
    fit_threshold_db: float = 14.1
    # training objective (identical weights for all official datasets)
    r1_gamma: float = 10.0
    r1_interval: int = 1  # lazy R1: the penalty on every k-th D step with gamma * k (StyleGAN2); 1 = every step
    pose_loss_weight: float = 15.0
    reconstruction_weight: float = 5.0
    # > 0 adds to E's inversion loss the latent cycle in image space, weighted so: the MSE between the fakes and
    # G(E(fake)) rendered from the fakes' poses (G frozen for it; its own ray samples and density noise, so the term
    # stays above 0 even for a perfect E). 0 = the official objective (z regression alone)
    inversion_cycle_weight: float = 0.0
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
        """Raise ValueError naming the first field that holds an unusable value: a wrong type, NaN or infinity, or a
        number outside its range (sizes within pix2nerf.limits)."""
        limits = current_limits()
        check_int_fields = {
            "z_dim": (1, limits.width),
            "hidden_dim": (1, limits.width),
            "num_siren_layers": (2, limits.layers),
            "mapping_hidden_dim": (1, limits.width),
            "mapping_num_layers": (1, limits.layers),
            "encoder_resolution": (4, limits.resolution),
            "num_steps": (3, limits.num_steps),
            "render_resolution": (2, limits.resolution),
            "warmup_steps": (0, limits.train_steps),
            "density_noise_steps": (0, limits.train_steps),
            "fade_steps": (0, limits.train_steps),
            "topk_interval": (1, limits.train_steps),
            "max_train_steps": (0, limits.train_steps),
            "r1_interval": (1, limits.train_steps),
        }
        for name, (low, high) in check_int_fields.items():
            check_int(f"config.{name}", getattr(self, name), low, high)
        for name, (low, high) in _FLOAT_FIELDS.items():
            check_float(f"config.{name}", getattr(self, name), low, high)
        if not isinstance(self.preset, str) or len(self.preset) > 100:
            raise ValueError(f"config.preset must be a name of at most 100 characters, got {shorten(self.preset)}")
        check_choice("config.field_type", self.field_type, FIELD_TYPES)
        check_choice("config.siren_variant", self.siren_variant, SIREN_VARIANTS)
        check_choice("config.latent_distribution", self.latent_distribution, LATENT_DISTRIBUTIONS)
        check_choice("config.background", self.background, BACKGROUNDS)
        check_choice("config.pose_distribution", self.pose_distribution, POSE_DISTRIBUTIONS)
        check_choice("config.discriminator_type", self.discriminator_type, DISCRIMINATOR_TYPES)
        check_bool("config.has_encoder", self.has_encoder)
        for name in ("encoder_channels", "discriminator_channels"):
            _check_widths(f"config.{name}", getattr(self, name), limits)
        if not self.ray_start < self.ray_end:
            raise ValueError(f"config needs ray_start < ray_end, got {self.ray_start:g} and {self.ray_end:g}")
        self._validate_triplane()
        fraction = self.foreground_fraction
        if not isinstance(fraction, list) or len(fraction) != 2:
            raise ValueError(f"config.foreground_fraction must be [low, high], got {shorten(fraction)}")
        low = check_float("config.foreground_fraction[0]", fraction[0], 0.01, 1.0)
        check_float("config.foreground_fraction[1]", fraction[1], low, 1.0)
        max_res = 2 ** len(self.encoder_channels)
        if self.encoder_resolution & (self.encoder_resolution - 1) or not 4 <= self.encoder_resolution <= max_res:
            raise ValueError(
                f"config.encoder_resolution must be a power of two in [4, {max_res}] for "
                f"{len(self.encoder_channels)} encoder widths, got {self.encoder_resolution}"
            )
        _check_stages(self.training_stages, limits)

    def _validate_triplane(self) -> None:
        limits = current_limits()
        for name in ("triplane_channels", "triplane_decoder_dim", "triplane_mapping_dim"):
            check_int(f"config.{name}", getattr(self, name), 1, limits.width)
        check_int("config.triplane_mapping_layers", self.triplane_mapping_layers, 1, limits.layers)
        check_int("config.triplane_decoder_layers", self.triplane_decoder_layers, 2, limits.layers)
        _check_widths("config.triplane_synthesis_channels", self.triplane_synthesis_channels, limits)
        widths = self.triplane_synthesis_channels
        resolution = self.triplane_resolution
        if resolution != 8 * 2 ** (len(widths) - 1):
            raise ValueError(
                f"config.triplane_resolution must be 8 * 2^(n - 1) = {8 * 2 ** (len(widths) - 1)} for the n = "
                f"{len(widths)} triplane_synthesis_channels, got {str(resolution)[:40]}"
            )

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
        """A validated config from its fields (ValueError naming the first unknown or unusable one)."""
        if not isinstance(values, dict):
            raise ValueError(f"a config must be a dict of fields, got {shorten(values)}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(map(str, set(values) - known))
        if unknown:
            close = {name: difflib.get_close_matches(name, known, 1) for name in unknown[:5] if len(name) <= 100}
            hints = "; ".join(f"{name!r}: did you mean {match[0]!r}?" for name, match in close.items() if match)
            raise ValueError(
                f"unknown config fields {shorten(unknown, 200)}"
                + (f" ({hints})" if hints else "")
                + ". The fields are those of pix2nerf.config.Pix2NeRFConfig"
            )
        return cls(**values)

    def to_json_file(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_json_file(cls, path: str | Path) -> Pix2NeRFConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no config.json at {path}")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ValueError(
                f"{path} is {path.stat().st_size:,} bytes; a config.json holds at most {MAX_CONFIG_BYTES:,}"
            )
        try:
            values = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
            reason = shorten(str(error), 80)
            raise ValueError(f"{path} is not valid JSON ({reason}); expected a pix2nerf config.json") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a JSON object of config fields")
        return cls.from_dict(values)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> Pix2NeRFConfig:
        """A preset's config, with any field overridden by keyword."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; available presets: {', '.join(sorted(PRESETS))}")
        return cls.from_dict({**PRESETS[name], "preset": name, **overrides})


_FLOAT_FIELDS = {  # name -> (low, high)
    "fov": (1.0, 179.0),
    "ray_start": (0.0, 1e3),
    "ray_end": (0.0, 1e3),
    "yaw_mean": (-360.0, 360.0),
    "yaw_spread": (0.0, 360.0),
    "pitch_mean": (-90.0, 90.0),
    "pitch_spread": (0.0, 180.0),
    "yaw_offset": (-360.0, 360.0),
    "fit_threshold_db": (0.0, 100.0),
    "r1_gamma": (0.0, 1e6),
    "pose_loss_weight": (0.0, 1e6),
    "reconstruction_weight": (0.0, 1e6),
    "inversion_cycle_weight": (0.0, 1e6),
    "grad_clip": (0.0, 1e6),
    "ema_decay": (0.0, 1.0),
    "topk_floor": (0.0, 1.0),
    "triplane_mapping_lr_scale": (0.0, 1.0),
    "triplane_style_gain": (0.0, 100.0),
    "triplane_colour_margin": (0.0, 0.1),
}
STAGE_KEYS = ("start_step", "resolution", "batch_size", "num_steps", "lr_g", "lr_d", "lr_e")


def _check_widths(name: str, widths: Any, limits: Limits) -> None:
    if not isinstance(widths, list) or not 2 <= len(widths) <= limits.layers:
        raise ValueError(f"{name} must be a list of 2 to {limits.layers} widths, got {shorten(widths)}")
    for index, width in enumerate(widths):
        check_int(f"{name}[{index}]", width, 1, limits.width)


def _check_stages(stages: Any, limits: Limits) -> None:
    """Training stages: a list of dicts with STAGE_KEYS, the first at step 0, start steps increasing."""
    if not isinstance(stages, list) or not 1 <= len(stages) <= limits.layers:
        raise ValueError(f"config.training_stages must be a list of 1 to {limits.layers} stages, got {shorten(stages)}")
    previous = -1
    for index, stage in enumerate(stages):
        name = f"config.training_stages[{index}]"
        if not isinstance(stage, dict) or set(stage) != set(STAGE_KEYS):
            raise ValueError(f"{name} must be a dict with the keys {', '.join(STAGE_KEYS)}, got {shorten(stage)}")
        start = check_int(
            f"{name}.start_step", stage["start_step"], 0 if index == 0 else previous + 1, limits.train_steps
        )
        if index == 0 and start != 0:
            raise ValueError(f"config.training_stages must start with a stage at start_step 0, got {start}")
        previous = start
        check_int(f"{name}.resolution", stage["resolution"], 4, limits.resolution)
        check_int(f"{name}.batch_size", stage["batch_size"], 1, limits.train_batch_size)
        check_int(f"{name}.num_steps", stage["num_steps"], 3, limits.num_steps)
        for key in ("lr_g", "lr_d", "lr_e"):
            check_float(f"{name}.{key}", stage[key], 0.0, 1.0, open_low=True)


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

# The synthetic cars with the tri-plane field: the `synthetic_cars` cameras, pose prior, background, encoder,
# discriminator and objective, at 64 px. lr_g suits a conv generator in plain (not equalised) weights under Adam (0,
# 0.9): Adam's step is about lr in weight units, so 2e-4 moves a 3x3 conv of 64-256 inputs by 0.3-0.7% of its initial
# scale per step, near StyleGAN2's 2e-3 on its equalised weights (0.2%); StyleGAN's or EG3D's lr taken as is would be
# ten times that. E and D are the SIREN preset's with their widths capped at 128 channels, and the synthesis network is
# narrow, so that the whole trainer state (networks, EMAs, Adam's second moments: 12.7 M floats, 48.4 MiB) stays under
# 49 MiB and a checkpoint travels between machines in a few files (see train/synthetic_cars_triplane.sh).
PRESETS["synthetic_cars_triplane"] = {
    **PRESETS["synthetic_cars"],
    "field_type": "triplane",
    "encoder_channels": [32, 64, 128, 128, 128, 128, 128, 128],
    "discriminator_channels": [16, 32, 64, 128, 128, 128, 128, 128, 128],
    "triplane_synthesis_channels": [128, 128, 128, 64, 64],
    # what the shipped model trained with (train/runs/synthetic-cars-triplane-campaign/README.md: without them the
    # generator collapsed, the encoder read nothing of z and the colours saturated)
    "r1_gamma": 1.0,
    "inversion_cycle_weight": 1.0,
    "triplane_mapping_lr_scale": 0.01,
    "triplane_style_gain": 1.0,
    "triplane_colour_margin": 0.001,
    "max_train_steps": 40000,
    # one stage at the synthetic cars' own 64 px (a 128 px stage would train on upsampled images)
    "training_stages": [
        {
            "start_step": 0,
            "resolution": 64,
            "batch_size": 16,
            "num_steps": 24,
            "lr_g": 2e-4,
            "lr_d": 2e-4,
            "lr_e": 1e-4,
        },
    ],
}
# `tiny` with a tri-plane field of 8 channels at 16 px (tests).
PRESETS["tiny_triplane"] = {
    **PRESETS["tiny"],
    "field_type": "triplane",
    "triplane_resolution": 16,
    "triplane_channels": 8,
    "triplane_synthesis_channels": [16, 8],
    "triplane_decoder_dim": 16,
    "triplane_mapping_dim": 16,
    "triplane_mapping_layers": 2,
}
