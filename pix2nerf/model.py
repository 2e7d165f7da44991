"""Pix2NeRF: image -> encoder -> latent -> radiance field -> renderer -> image, with Hugging Face hub I/O."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from numbers import Integral
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from huggingface_hub import ModelCard, PyTorchModelHubMixin, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from pix2nerf import images as image_utils
from pix2nerf.config import Pix2NeRFConfig
from pix2nerf.evaluation.fit import FIT_RESOLUTION, FitScore, blank_inputs, input_view_psnr
from pix2nerf.fields import make_field
from pix2nerf.fields.base import sample_latents
from pix2nerf.foreground.policy import prepare_images
from pix2nerf.kernels.precision import autocast, resolve_precision
from pix2nerf.kernels.runner import FieldRunner
from pix2nerf.limits import check_degrees, check_device, check_float, check_int, shorten
from pix2nerf.limits import current as current_limits
from pix2nerf.networks import CCSEncoder
from pix2nerf.outputs import LOCKED_VIEW_DIRECTION, MAX_POINTS_PER_CHUNK, Latent, RenderOutput, check_latents
from pix2nerf.rendering.cameras import (
    constant_vectors,
    degrees_tensor,
    official_to_degrees,
    sample_poses,
    world_rays,
    wrap_degrees,
    zoomed_fov,
)
from pix2nerf.rendering.empty_space import render_image_skipping_empty
from pix2nerf.rendering.ray_stages import REFERENCE_RAY_STAGES
from pix2nerf.rendering.volume import RaySamplingSettings, render_rays_in_chunks

DEFAULT_MODEL = "default"  # the name `from_pretrained`, the CLI, serving and the app give the shipped model
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "pix2nerf-synthetic-cars"  # package data
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PAPER_URL = "https://arxiv.org/abs/2202.13162"
HUB_METADATA = {  # the model cards' front matter (pix2nerf.hub.model_card), also given to PyTorchModelHubMixin
    "library_name": "pix2nerf",
    "pipeline_tag": "image-to-3d",
    "license": "mit",
    "tags": ("pix2nerf", "nerf", "pi-gan", "novel-view-synthesis", "image-to-3d"),
}


def _reporting_progress(
    field: Callable[..., tuple[torch.Tensor, torch.Tensor]], total: int, progress: Callable[[float], None]
) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """`field` that calls progress(fraction) after each call with the share of `total` points evaluated so far."""
    done = 0

    def reporting(points: torch.Tensor, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal done
        out = field(points, *args)
        done += points.numel() // 3
        progress(min(done / total, 1.0))
        return out

    reporting.ray_stages = getattr(field, "ray_stages", REFERENCE_RAY_STAGES)  # the runner's sampler and compositor
    return reporting


class Pix2NeRF(
    nn.Module,
    PyTorchModelHubMixin,
    paper_url=PAPER_URL,
    repo_url="https://github.com/pix2nerf/pix2nerf",
    library_name=HUB_METADATA["library_name"],
    pipeline_tag=HUB_METADATA["pipeline_tag"],
    license=HUB_METADATA["license"],
    tags=list(HUB_METADATA["tags"]),
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
        self.field = make_field(config)
        self.encoder = CCSEncoder(config.encoder_channels, config.z_dim) if config.has_encoder else None
        self.use_kernels(kernels)

    def use_kernels(self, kernels: str = "auto", *, graphs: bool | str = True) -> None:
        """Run renders' field through `kernels` ("auto", "reference", "compile" or "triton"); `graphs`: replay CUDA
        graphs of fixed-shape renders where a fused kernel runs (True), for every compiled field ("all") or nowhere
        (False). Checked when a render first needs the runner."""
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
        map_location = check_device("map_location", map_location)
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

    def save_pretrained(
        self,
        save_directory: str | Path,
        *,
        config: dict | Pix2NeRFConfig | None = None,
        model_card_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> str | None:
        """Write config.json, model.safetensors and the project's model card (README.md, unless the folder has one)
        into `save_directory`; `model_card_kwargs` go to `pix2nerf.hub.model_card.model_card` (model_id: what its
        usage loads, by default the folder). Other arguments as `PyTorchModelHubMixin.save_pretrained`."""
        card = {"model_id": str(save_directory), **(model_card_kwargs or {})}
        return super().save_pretrained(save_directory, config=config or self.config, model_card_kwargs=card, **kwargs)

    def push_to_hub(self, repo_id: str, *, model_card_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """Upload config.json, model.safetensors and the project's model card to the hub repo `repo_id` (created if
        missing; a bare NAME becomes USER/NAME, the id that the card's usage loads). Other arguments as
        `PyTorchModelHubMixin.push_to_hub`."""
        from huggingface_hub import HfApi

        api = HfApi(token=kwargs.get("token"))
        repo_id = api.create_repo(repo_id, private=kwargs.get("private"), exist_ok=True).repo_id
        card = {**(model_card_kwargs or {}), "model_id": repo_id}
        return super().push_to_hub(repo_id, model_card_kwargs=card, **kwargs)

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        """The project's card for this model (`pix2nerf.hub.model_card.model_card` with `kwargs`, e.g. model_id)."""
        from pix2nerf.hub.model_card import model_card

        return ModelCard(model_card(self.config, **kwargs))

    def load_weights(self, path: str | Path) -> None:
        """Load model.safetensors strictly into this model."""
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as error:
            raise ValueError(f"{path} is not a readable safetensors file ({error})") from None
        self.load_state_dict_strict(state, source=str(path))

    def load_state_dict_strict(self, state: dict[str, torch.Tensor], source: str = "state dict") -> None:
        """Load weights, refusing any missing, unexpected, mis-shaped or non-finite tensor (the error names it)."""
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
        for name, tensor in state.items():
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                raise ValueError(f"{source} holds NaN or infinite values in the weight {name}")
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

    def preprocess(self, images: Any, preprocess: str = "auto") -> torch.Tensor:
        """PIL image(s), uint8 array(s) or a float tensor (B, 3, H, W) in [-1, 1] -> (B, 3, R, R) encoder input.
        preprocess: "auto" removes the background of photos and re-frames them (pix2nerf.foreground.policy; tensors
        are taken as they are), "none" only crops and resizes."""
        resolution = self.config.encoder_resolution
        if isinstance(images, torch.Tensor):
            batch = image_utils.validate_tensor_images(images)
            if batch.shape[-1] != resolution:
                batch = F.interpolate(
                    batch, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False
                )
        else:
            sources = list(images) if isinstance(images, (list, tuple)) else [images]
            check_int("the number of images", len(sources), 1, current_limits().batch_size)
            extent = tuple(self.config.foreground_fraction)
            sources = prepare_images(sources, preprocess, extent, self.background_color)
            batch = image_utils.preprocess_batch(sources, resolution, self.background_color)
        return batch.to(self.device, torch.float32)

    @torch.no_grad()
    def encode(self, images: Any, alpha: float = 1.0, preprocess: str = "auto") -> Latent:
        """Encode images into a Latent (z and the camera pose in degrees); see `preprocess` for accepted inputs and
        the `preprocess` modes ("auto" or "none")."""
        self._check_encoder()
        alpha = check_float("alpha", alpha, 0.0, 1.0)  # the fade-in of the encoder's first block
        return self.encode_input(self.preprocess(images, preprocess), alpha)

    @torch.no_grad()
    def encode_input(self, encoder_input: torch.Tensor, alpha: float = 1.0) -> Latent:
        """Encode a batch that `preprocess` made, (B, 3, R, R) in [-1, 1] on this model's device, without checking or
        preprocessing it again (the upload path validates an image once)."""
        self._check_encoder()
        z, pose = self.encoder(encoder_input, alpha)
        yaw, pitch = official_to_degrees(pose[:, 1], pose[:, 0])
        return Latent(z=z, yaw=wrap_degrees(yaw - self.config.yaw_offset), pitch=pitch)

    def _check_encoder(self) -> None:
        if self.encoder is None:
            raise ValueError(
                "this model was converted without an encoder (a pi-GAN generator): it can `generate` from a latent "
                "or seed, but cannot `encode` images"
            )

    @torch.no_grad()
    def fit_score(self, images: Any, latent: Latent | None = None, preprocess: str = "auto") -> FitScore:
        """How well the model reproduces what its encoder saw of `images` (see `encode`): their latents (given, or
        encoded here) rendered from their own pose against the encoder input; `.words()` says it in words."""
        encoder_input = self.preprocess(images, preprocess)
        latent = self.encode(encoder_input) if latent is None else latent
        if latent.z.shape[0] != encoder_input.shape[0]:
            raise ValueError(f"fit_score got {encoder_input.shape[0]} images and a Latent of {latent.z.shape[0]}")
        rendered = self.render(latent, resolution=FIT_RESOLUTION, return_depth=False).rgb
        return FitScore(
            input_view_psnr(rendered, encoder_input), self.config.fit_threshold_db, blank_inputs(encoder_input)
        )

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

        self._check_encoder()
        target = self.preprocess(image)
        if target.shape[0] != 1:
            raise ValueError(f"invert takes one image, got a batch of {target.shape[0]}")
        options = (settings or InversionSettings()).replace(**overrides, **({} if steps is None else {"steps": steps}))
        return refine(self, self.encode_input(target), target, options, progress)

    def codes_of(self, latent_or_z: Latent | torch.Tensor, psi: float = 1.0) -> tuple[torch.Tensor, ...]:
        """The field's codes of a Latent (its refined `codes` when it has them) or of latents z (B, z_dim)."""
        device = self.device
        if isinstance(latent_or_z, Latent) and latent_or_z.codes is not None:
            return tuple(c.to(device, torch.float32) for c in latent_or_z.codes)
        z = (latent_or_z.z if isinstance(latent_or_z, Latent) else latent_or_z).to(device, torch.float32)
        if z.shape[0] > 1 and z.stride(0) == 0:  # one latent for every view (Latent.first): its codes once, shared
            return tuple(c.expand(z.shape[0], *c.shape[1:]) for c in self.field.latent_codes(z[:1], psi))
        return self.field.latent_codes(z, psi)

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
        fov: float | None = None,
    ) -> RenderOutput:
        """Differentiable render from the field's codes (`field.latent_codes`, batch B) at poses (B,) in degrees, in
        the generator's frame (`render` takes the data's yaws and adds config.yaw_offset).

        Rays are processed in chunks of at most `max_points_per_chunk` field evaluations (None: all at once).
        `field` replaces `self.field` (same signature), e.g. with a FieldRunner, whose `ray_stages` then run the
        sampler and compositor (without `skip_empty`; else the reference stages). `skip_empty` evaluates the
        field less where the image is background (inference; see pix2nerf.rendering.empty_space). `fov`: degrees
        (None: the config's).
        """
        field = self.field if field is None else field
        with torch.autocast(yaw.device.type, enabled=False):  # cameras and depths stay float32 under autocast
            origins, directions = world_rays(yaw.float(), pitch.float(), resolution, fov or self.config.fov)
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
            stages = getattr(field, "ray_stages", REFERENCE_RAY_STAGES)
            rgb, depth, opacity = render_rays_in_chunks(
                field_fn, origins, directions, settings, view, generator, max_points_per_chunk, stages
            )
        return RenderOutput.from_rays(rgb, depth, opacity, resolution)

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
        zoom: float = 1.0,
        progress: Callable[[float], None] | None = None,
    ) -> RenderOutput:
        """Render latents from camera poses in degrees (floats or (B,) tensors; default: the latent's own pose).

        num_steps: coarse samples per ray (and as many fine ones when hierarchical); None takes the config's.
        deterministic: no stratified jitter and evenly spaced importance samples.
        precision: "auto" (fp16 matmuls with fp32 FiLM and sine on CUDA, fp32 on CPU), "fp32", "fp16" or "bf16".
        skip_empty: evaluate the field less where the image is background (pix2nerf.rendering.empty_space); False
        evaluates every sample, as the official sampler does. None (default): every sample where the render can
        replay a CUDA graph (pix2nerf.kernels.runner: the fused kernel's renders, or every compiled field's with
        `use_kernels(graphs="all")`), else skip.
        kernels: how the field runs for this call ("reference", "compile", "triton" or "auto"; None: the model's
        choice, `use_kernels`).
        zoom: magnification (> 1 narrows the field of view so that the object fills more of the frame).
        progress: called with the fraction of the field evaluations done (0-1) as chunks finish, and 1 at the end.
        """
        z, yaw, pitch, resolution, steps, psi = self._check_render_arguments(
            latent_or_z, yaw, pitch, resolution, num_steps, psi
        )
        batch, device = z.shape[0], self.device
        yaw_t = self._angles("yaw", yaw, batch, device) + self.config.yaw_offset  # the data's yaw -> the generator's
        pitch_t = self._angles("pitch", pitch, batch, device)
        codes = self.codes_of(latent_or_z, psi)
        settings = RaySamplingSettings.from_config(
            self.config, num_steps=steps, hierarchical=hierarchical, deterministic=deterministic
        )
        runner = self.field_runner(kernels)
        chunk = MAX_POINTS_PER_CHUNK.get(device.type, MAX_POINTS_PER_CHUNK["cpu"])
        chunk *= self.field.cpu_chunk_factor if device.type == "cpu" else 1
        fov = zoomed_fov(self.config.fov, zoom)
        evaluations = batch * int(resolution) ** 2 * steps * (2 if hierarchical else 1)
        field = runner if progress is None else _reporting_progress(runner, evaluations, progress)

        inputs = (*codes, yaw_t, pitch_t)
        with autocast(resolve_precision(precision, device), device):
            graph_key = None
            if deterministic and not skip_empty:  # fixed shapes, no random numbers
                shapes = (batch, int(resolution), settings, lock_view_dependence, fov)
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
                    field,
                    skip,
                    fov,
                )
                return out.rgb.clamp(0, 1), out.depth, out.opacity  # clamped in the graph: one launch less after it

            rgb, depth, opacity = (
                render_tensors(*inputs) if graph_key is None else runner.graphs(graph_key, render_tensors, *inputs)
            )
        if progress is not None:
            progress(1.0)
        return RenderOutput(rgb=rgb, depth=depth if return_depth else None, opacity=opacity)

    def _check_render_arguments(
        self, latent_or_z: Any, yaw: Any, pitch: Any, resolution: Any, num_steps: Any, psi: Any
    ) -> tuple[torch.Tensor, Any, Any, int, int, float]:
        """`render`'s arguments checked against pix2nerf.limits: (z, yaw, pitch, resolution, steps, psi)."""
        limits = current_limits()
        z = check_latents(latent_or_z.z if isinstance(latent_or_z, Latent) else latent_or_z, self.config.z_dim)
        check_int("the batch of z", z.shape[0], 1, limits.batch_size)
        if isinstance(latent_or_z, Latent):
            yaw = latent_or_z.yaw if yaw is None else yaw
            pitch = latent_or_z.pitch if pitch is None else pitch
        if yaw is None or pitch is None:
            raise ValueError("yaw and pitch (degrees) are needed to render a plain z")
        resolution = check_int("resolution", resolution, 2, limits.resolution)
        # at least 3: hierarchical sampling needs inner bins
        steps = self.config.num_steps if num_steps is None else check_int("num_steps", num_steps, 3, limits.num_steps)
        psi = check_float("psi", psi, -limits.psi, limits.psi)
        return z, check_degrees("yaw", yaw, limits), check_degrees("pitch", pitch, limits), resolution, steps, psi

    @staticmethod
    def _angles(name: str, value: float | torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
        angles = degrees_tensor(name, value, device)
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
        preprocess: str = "auto",
        refine_steps: int = 0,
        **render_kwargs: Any,
    ) -> list:
        """One image (or a Latent) -> a PIL image for each (yaw, pitch) in degrees; pitches may be one number for all
        yaws. The views render in one batched call; `render_kwargs` go to `render` (e.g. zoom, progress).
        refine_steps > 0: `invert` the image with that many steps instead of encoding it."""
        limits = current_limits()
        if not isinstance(yaws, Sequence) or isinstance(yaws, str):
            raise ValueError(f"yaws must be a list of degrees, got {shorten(yaws)}")
        check_int("the number of yaws", len(yaws), 1, limits.batch_size)
        yaws = [check_degrees(f"yaws[{i}]", y, limits) for i, y in enumerate(yaws)]
        if isinstance(pitches, Sequence) and not isinstance(pitches, str):
            pitches = [check_degrees(f"pitches[{i}]", p, limits) for i, p in enumerate(pitches)]
        else:
            pitches = [check_degrees("pitch", pitches, limits)] * len(yaws)
        if len(pitches) != len(yaws):
            raise ValueError(f"got {len(yaws)} yaws and {len(pitches)} pitches; give as many of each, or one pitch")
        if isinstance(image, Latent):
            latent = image
        elif refine_steps:
            latent = self.invert(self.preprocess(image, preprocess), refine_steps)
        else:
            latent = self.encode(image, preprocess=preprocess)
        if latent.z.shape[0] != 1:
            raise ValueError(f"novel_views takes one image or a Latent of one, got a batch of {latent.z.shape[0]}")
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
        if isinstance(seed_or_z, Integral) and not isinstance(seed_or_z, bool):
            check_int("seed", seed_or_z, 0, 2**63 - 1)
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
