"""Pix2NeRF: image -> encoder -> latent -> radiance field -> renderer -> image, with Hugging Face hub I/O."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from pix2nerf import images as image_utils
from pix2nerf.config import Pix2NeRFConfig
from pix2nerf.fields import make_field
from pix2nerf.fields.base import sample_latents
from pix2nerf.kernels.precision import autocast, resolve_precision
from pix2nerf.kernels.runner import FieldRunner
from pix2nerf.networks import CCSEncoder
from pix2nerf.rendering.cameras import (
    constant_vectors,
    degrees_tensor,
    official_to_degrees,
    sample_poses,
    world_rays,
    wrap_degrees,
)
from pix2nerf.rendering.empty_space import render_image_skipping_empty
from pix2nerf.rendering.volume import RaySamplingSettings, render_rays_in_chunks

DEFAULT_MODEL = "default"  # the name `from_pretrained`, the CLI, serving and the app give the shipped model
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "pix2nerf-synthetic-cars"  # package data
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PAPER_URL = "https://arxiv.org/abs/2202.13162"
# field evaluations per chunk in inference renders: bounded memory (a 128x128 render at 96 per ray stays < 2 GB on
# CPU); on CPUs small chunks keep activations in cache (a 64 px render with 36 + 36 samples: 2.4 s at 2**13 points,
# 5.7 s at 2**17 on 2 cores)
MAX_POINTS_PER_CHUNK = {"cpu": 2**13, "cuda": 2**22}
LOCKED_VIEW_DIRECTION = (0.0, 0.0, -1.0)


@dataclass
class Latent:
    """What the encoder reads off an image: z (B, z_dim) and the camera pose, yaw and pitch (B,) in degrees.
    codes: the field's codes refined against the image (`Pix2NeRF.invert`; batch B), which renders then take
    instead of `field.latent_codes(z)`; None for an encoded latent."""

    z: torch.Tensor
    yaw: torch.Tensor
    pitch: torch.Tensor
    codes: tuple[torch.Tensor, ...] | None = None

    def first(self, count: int = 1) -> Latent:
        """The first latent repeated `count` times (z, pose and codes)."""
        codes = None if self.codes is None else tuple(c[:1].expand(count, *c.shape[1:]) for c in self.codes)
        return Latent(self.z[:1].expand(count, -1), self.yaw[:1].expand(count), self.pitch[:1].expand(count), codes)


@dataclass
class RenderOutput:
    """rgb (B, 3, H, W) in [0, 1]; depth (B, H, W), the expected ray termination distance sum(w * t) from the
    camera (background pixels tend to 0; None unless asked for); opacity (B, H, W), the rays' accumulated alpha."""

    rgb: torch.Tensor
    depth: torch.Tensor | None
    opacity: torch.Tensor


class Pix2NeRF(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="pix2nerf",
    pipeline_tag="image-to-3d",
    paper_url=PAPER_URL,
    repo_url="https://github.com/pix2nerf/pix2nerf",
    license="mit",
    tags=["pix2nerf", "nerf", "pi-gan", "novel-view-synthesis", "image-to-3d"],
):
    """The Pix2NeRF model: a CCS encoder E and a radiance field G of `config.field_type` (the discriminator lives in
    training). `kernels` picks how renders run the field ("auto", "reference", "compile" or "triton": see
    pix2nerf.kernels.runner); change it with `use_kernels`.

    >>> model = Pix2NeRF.from_pretrained("default")
    >>> latent = model.encode(Image.open("car.png"))
    >>> views = model.render(latent, yaw=90.0, pitch=20.0, resolution=128)
    """

    def __init__(self, config: Pix2NeRFConfig | None = None, *, kernels: str = "auto") -> None:
        super().__init__()
        if config is None:
            config = Pix2NeRFConfig()
        elif isinstance(config, dict):
            config = Pix2NeRFConfig.from_dict(config)
        self.config = config
        self._hub_mixin_config = config
        self.field = make_field(config)
        self.encoder = CCSEncoder(config.encoder_channels, config.z_dim) if config.has_encoder else None
        self.use_kernels(kernels)

    def use_kernels(self, kernels: str = "auto", *, graphs: bool = True) -> None:
        """Run renders' field through `kernels` ("auto", "reference", "compile" or "triton"); `graphs`: replay CUDA
        graphs of fixed-shape renders where the fused kernel runs. Checked when a render first needs the runner."""
        self.kernels, self.render_graphs = kernels, graphs
        self._runners: dict[tuple[torch.device, str], FieldRunner] = {}

    def field_runner(self, kernels: str | None = None) -> FieldRunner:
        """The FieldRunner of renders with `kernels` (None: the model's), made for the field's device on first use."""
        key = (self.device, kernels or self.kernels)
        if key not in self._runners:
            self._runners[key] = FieldRunner(self.field, key[1], graphs=self.render_graphs)
        return self._runners[key]

    def extra_repr(self) -> str:
        return f"field_type={self.config.field_type!r}, kernels={self.kernels!r}"

    # ----------------------------------------------------------------------------------------------------------
    # loading and saving
    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        *,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        force_download: bool = False,
        token: str | bool | None = None,
        local_files_only: bool = False,
        map_location: str | torch.device = "cpu",
        kernels: str = "auto",
        **_: Any,
    ) -> Pix2NeRF:
        """Load a model from a local folder, a hub repo id (config.json + model.safetensors) or "default" (the model
        shipped inside the package), strictly:
        missing, unexpected or mis-shaped weights raise a ValueError that names them."""
        source = str(
            DEFAULT_MODEL_DIR if str(pretrained_model_name_or_path) == DEFAULT_MODEL else pretrained_model_name_or_path
        )
        if os.path.isdir(source):
            config_path, weights_path = Path(source, CONFIG_NAME), Path(source, WEIGHTS_NAME)
            for path in (config_path, weights_path):
                if not path.is_file():
                    raise FileNotFoundError(
                        f"{path} is missing: a pix2nerf model folder holds {CONFIG_NAME} and {WEIGHTS_NAME}"
                    )
        else:
            download = dict(
                repo_id=source,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                token=token,
                local_files_only=local_files_only,
            )
            try:
                config_path = Path(hf_hub_download(filename=CONFIG_NAME, **download))
                weights_path = Path(hf_hub_download(filename=WEIGHTS_NAME, **download))
            except (
                LocalEntryNotFoundError,
                EntryNotFoundError,
                RepositoryNotFoundError,
                HfHubHTTPError,
                ValueError,
            ) as error:
                raise FileNotFoundError(
                    f"could not load pix2nerf model {source!r}: it is not a local folder, and the hub "
                    f"{'cache' if local_files_only or os.environ.get('HF_HUB_OFFLINE') else 'repo'} has no "
                    f"{CONFIG_NAME} and {WEIGHTS_NAME} for it ({type(error).__name__})"
                ) from None
        model = cls(Pix2NeRFConfig.from_json_file(config_path), kernels=kernels)
        model.load_weights(weights_path)
        return model.to(map_location).eval()

    def load_weights(self, path: str | Path) -> None:
        """Load model.safetensors strictly into this model."""
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as error:
            raise ValueError(f"{path} is not a readable safetensors file ({error})") from None
        self.load_state_dict_strict(state, source=str(path))

    def load_state_dict_strict(self, state: dict[str, torch.Tensor], source: str = "state dict") -> None:
        """Load weights, refusing any missing, unexpected or mis-shaped tensor with an error that names it."""
        expected = self.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        misshaped = sorted(
            f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
            for k, v in expected.items()
            if k in state and state[k].shape != v.shape
        )
        problems = [
            f"{label}: {', '.join(items[:8])}{' ...' if len(items) > 8 else ''}"
            for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
            if items
        ]
        if problems:
            raise ValueError(f"{source} does not match this model's config ({'; '.join(problems)})")
        self.load_state_dict(state, strict=True)

    # ----------------------------------------------------------------------------------------------------------
    # image -> latent
    @property
    def device(self) -> torch.device:
        return self.field.device

    @property
    def background_color(self) -> tuple[int, int, int]:
        """RGB colour (0-255) that transparent input pixels are composited over."""
        return (255, 255, 255) if self.config.background == "white" else (0, 0, 0)

    def preprocess(self, images: Any) -> torch.Tensor:
        """PIL image(s), uint8 array(s) or a float tensor (B, 3, H, W) in [-1, 1] -> (B, 3, R, R) encoder input."""
        resolution = self.config.encoder_resolution
        if isinstance(images, torch.Tensor):
            batch = image_utils.validate_tensor_images(images)
            if batch.shape[-1] != resolution:
                batch = F.interpolate(
                    batch, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False
                )
        else:
            sources = list(images) if isinstance(images, (list, tuple)) else [images]
            batch = image_utils.preprocess_batch(sources, resolution, self.background_color)
        return batch.to(self.device, torch.float32)

    @torch.no_grad()
    def encode(self, images: Any, alpha: float = 1.0) -> Latent:
        """Encode images into a Latent (z and the camera pose in degrees); see `preprocess` for accepted inputs."""
        if self.encoder is None:
            raise ValueError(
                "this model was converted without an encoder (a pi-GAN generator): it can `generate` from a latent "
                "or seed, but cannot `encode` images"
            )
        z, pose = self.encoder(self.preprocess(images), alpha)
        yaw, pitch = official_to_degrees(pose[:, 1], pose[:, 0])
        return Latent(z=z, yaw=wrap_degrees(yaw - self.config.yaw_offset), pitch=pitch)

    def invert(
        self,
        image: Any,
        steps: int | None = None,
        *,
        settings: Any = None,
        progress: Callable[[int, int], None] | None = None,
        **overrides: Any,
    ) -> Latent:
        """Encode one image, then refine the field's codes against it at the encoder's pose (hybrid inversion).

        steps: refinement steps (None: the settings'; 0: `encode` alone). settings: a
        pix2nerf.inversion.InversionSettings (None: the defaults); overrides: fields of it (learning_rate, seed,
        ...). progress(done, total) after each step. Returns a Latent whose `codes` hold the refined codes.
        """
        from pix2nerf.inversion import InversionSettings, refine

        if self.encoder is None:
            self.encode(None)  # the encoder's own error
        target = self.preprocess(image)
        if target.shape[0] != 1:
            raise ValueError(f"invert takes one image, got a batch of {target.shape[0]}")
        options = (settings or InversionSettings()).replace(**overrides, **({} if steps is None else {"steps": steps}))
        return refine(self, self.encode(target), target, options, progress)

    def codes_of(self, latent_or_z: Latent | torch.Tensor, psi: float = 1.0) -> tuple[torch.Tensor, ...]:
        """The field's codes of a Latent (its refined `codes` when it has them) or of latents z (B, z_dim)."""
        if isinstance(latent_or_z, Latent) and latent_or_z.codes is not None:
            return tuple(c.to(self.device, torch.float32) for c in latent_or_z.codes)
        z = latent_or_z.z if isinstance(latent_or_z, Latent) else latent_or_z
        return self.field.latent_codes(z.to(self.device, torch.float32), psi)

    # ----------------------------------------------------------------------------------------------------------
    # latent -> image
    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Prior latents (n, z_dim) from the config's latent distribution."""
        return sample_latents(n, self.config.z_dim, self.config.latent_distribution, generator, self.device)

    def sample_poses(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Camera poses (yaw, pitch) in degrees, (n,) each, from the config's pose prior (the generator's frame,
        which `render_codes` takes; `render` adds config.yaw_offset to its yaws)."""
        c = self.config
        return sample_poses(
            n, c.pose_distribution, c.yaw_mean, c.yaw_spread, c.pitch_mean, c.pitch_spread, generator, self.device
        )

    def render_codes(
        self,
        codes: tuple[torch.Tensor, ...],
        yaw: torch.Tensor,
        pitch: torch.Tensor,
        resolution: int,
        settings: RaySamplingSettings,
        lock_view_dependence: bool = False,
        max_points_per_chunk: int | None = None,
        generator: torch.Generator | None = None,
        field: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = None,
        skip_empty: bool = False,
    ) -> RenderOutput:
        """Differentiable render from the field's codes (`field.latent_codes`, batch B) at poses (B,) in degrees, in
        the generator's frame (`render` takes the data's yaws and adds config.yaw_offset).

        Rays are processed in chunks of at most `max_points_per_chunk` field evaluations (None: all at once).
        `field` replaces `self.field` (same signature), e.g. with a FieldRunner. `skip_empty` evaluates the
        field less where the image is background (inference; see pix2nerf.rendering.empty_space).
        """
        field = self.field if field is None else field
        batch = yaw.shape[0]
        with torch.autocast(yaw.device.type, enabled=False):  # cameras and depths stay float32 under autocast
            origins, directions = world_rays(yaw.float(), pitch.float(), resolution, self.config.fov)
        view = None
        if lock_view_dependence:
            view = constant_vectors(LOCKED_VIEW_DIRECTION, directions)

        def field_fn(points: torch.Tensor, dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return field(points, dirs, *codes)

        if skip_empty:
            rgb, depth, opacity = render_image_skipping_empty(
                field_fn, origins, directions, resolution, settings, view, generator, max_points_per_chunk
            )
        else:
            rgb, depth, opacity = render_rays_in_chunks(
                field_fn, origins, directions, settings, view, generator, max_points_per_chunk
            )
        shape = (batch, resolution, resolution)
        return RenderOutput(
            rgb=rgb.reshape(*shape, 3).permute(0, 3, 1, 2).contiguous(),
            depth=depth.reshape(shape),
            opacity=opacity.reshape(shape),
        )

    @torch.no_grad()
    def render(
        self,
        latent_or_z: Latent | torch.Tensor,
        yaw: float | torch.Tensor | None = None,
        pitch: float | torch.Tensor | None = None,
        *,
        resolution: int = 128,
        num_steps: int | None = None,
        hierarchical: bool = True,
        deterministic: bool = True,
        psi: float = 1.0,
        lock_view_dependence: bool = True,
        return_depth: bool = True,
        generator: torch.Generator | None = None,
        precision: str = "auto",
        skip_empty: bool | None = None,
        kernels: str | None = None,
    ) -> RenderOutput:
        """Render latents from camera poses in degrees (floats or (B,) tensors; default: the latent's own pose).

        num_steps: coarse samples per ray (and as many fine ones when hierarchical); None takes the config's.
        deterministic: no stratified jitter and evenly spaced importance samples.
        precision: "auto" (fp16 matmuls with fp32 FiLM and sine on CUDA, fp32 on CPU), "fp32", "fp16" or "bf16".
        skip_empty: evaluate the field less where the image is background (pix2nerf.rendering.empty_space); False
        evaluates every sample, as the official sampler does. None (default): every sample where the render can
        replay a CUDA graph of the fused kernel (faster there), else skip.
        kernels: how the field runs for this call ("reference", "compile", "triton" or "auto"; None: the model's
        choice, `use_kernels`).
        """
        z = latent_or_z.z if isinstance(latent_or_z, Latent) else latent_or_z
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != self.config.z_dim:
            raise ValueError(f"z must be a tensor of shape (B, {self.config.z_dim})")
        if not torch.isfinite(z).all():
            raise ValueError("z contains NaN or infinite values")
        if isinstance(latent_or_z, Latent):
            yaw = latent_or_z.yaw if yaw is None else yaw
            pitch = latent_or_z.pitch if pitch is None else pitch
        if yaw is None or pitch is None:
            raise ValueError("yaw and pitch (degrees) are needed to render a plain z")
        if int(resolution) < 2:
            raise ValueError(f"resolution must be at least 2 pixels, got {resolution}")
        steps = self.config.num_steps if num_steps is None else int(num_steps)
        if steps < 3:
            raise ValueError(f"num_steps must be at least 3 (hierarchical sampling needs inner bins), got {steps}")
        batch = z.shape[0]
        yaw_t = self._angles("yaw", yaw, batch) + self.config.yaw_offset  # the data's yaw -> the generator's
        pitch_t = self._angles("pitch", pitch, batch)
        codes = self.codes_of(latent_or_z, psi)
        settings = RaySamplingSettings(
            near=self.config.ray_start,
            far=self.config.ray_end,
            num_steps=steps,
            hierarchical=hierarchical,
            deterministic=deterministic,
            background=self.config.background,
        )
        runner = self.field_runner(kernels)
        chunk = MAX_POINTS_PER_CHUNK.get(self.device.type, MAX_POINTS_PER_CHUNK["cpu"])

        inputs = (*codes, yaw_t, pitch_t)
        with autocast(resolve_precision(precision, self.device), self.device):
            graph_key = None
            if deterministic and not skip_empty:  # fixed shapes, no random numbers
                shapes = (batch, int(resolution), settings, lock_view_dependence, self.config.fov)
                graph_key = runner.render_graph_key(yaw_t, shapes)
            skip = graph_key is None if skip_empty is None else skip_empty

            def render_tensors(*tensors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
                *codes, yaw, pitch = tensors
                out = self.render_codes(
                    tuple(codes),
                    yaw,
                    pitch,
                    int(resolution),
                    settings,
                    lock_view_dependence,
                    chunk,
                    generator,
                    runner,
                    skip,
                )
                return out.rgb, out.depth, out.opacity

            rgb, depth, opacity = (
                render_tensors(*inputs) if graph_key is None else runner.graphs(graph_key, render_tensors, *inputs)
            )
        return RenderOutput(rgb=rgb.clamp(0, 1), depth=depth if return_depth else None, opacity=opacity)

    def _angles(self, name: str, value: float | torch.Tensor, batch: int) -> torch.Tensor:
        angles = degrees_tensor(name, value, self.device)
        if angles.numel() == 1:
            return angles.expand(batch)
        if angles.numel() != batch:
            raise ValueError(f"{name} has {angles.numel()} values for a batch of {batch}; give one or {batch}")
        return angles

    # ----------------------------------------------------------------------------------------------------------
    # conveniences
    def novel_views(
        self,
        image: Any,
        yaws: Sequence[float],
        pitches: Sequence[float] | float,
        *,
        refine_steps: int = 0,
        **render_kwargs: Any,
    ) -> list:
        """One image (or a Latent) -> a PIL image for each (yaw, pitch) in degrees; pitches may be one number for
        all yaws. refine_steps > 0: `invert` the image with that many steps instead of encoding it."""
        yaws = [float(y) for y in yaws]
        pitches = [float(pitches)] * len(yaws) if isinstance(pitches, (int, float)) else [float(p) for p in pitches]
        if len(pitches) != len(yaws):
            raise ValueError(f"got {len(yaws)} yaws and {len(pitches)} pitches; give as many of each, or one pitch")
        if isinstance(image, Latent):
            latent = image
        else:
            latent = self.invert(image, refine_steps) if refine_steps else self.encode(image)
        out = self.render(latent.first(len(yaws)), torch.tensor(yaws), torch.tensor(pitches), **render_kwargs)
        return [image_utils.tensor_to_pil(rgb) for rgb in out.rgb]

    def generate(
        self,
        seed_or_z: int | torch.Tensor,
        yaw: float | torch.Tensor = 0.0,
        pitch: float | torch.Tensor = 0.0,
        **render_kwargs: Any,
    ) -> RenderOutput:
        """Unconditional GAN samples: a seed (one latent from the prior) or latents z (B, z_dim)."""
        if isinstance(seed_or_z, int):
            z = self.sample_latents(1, torch.Generator(device=self.device).manual_seed(seed_or_z))
        else:
            z = seed_or_z
        return self.render(z, yaw, pitch, **render_kwargs)

    def num_parameters(self) -> dict[str, int]:
        """Parameter counts of the field and the encoder."""
        return {
            "field": sum(p.numel() for p in self.field.parameters()),
            "encoder": sum(p.numel() for p in self.encoder.parameters()) if self.encoder is not None else 0,
        }
