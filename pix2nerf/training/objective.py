"""The Pix2NeRF objective: one training iteration updates D, then E, then G (pi-GAN on even steps, Pix2NeRF's
conditional adversarial + reconstruction on odd steps), as the official code does.

Precision: with mixed_precision "fp16", matmuls and convolutions run in float16 under autocast while the FiLM and
sine of the field stay in float32 (see pix2nerf.fields.siren); gradients go through one GradScaler per network, and R1
is computed from scaled gradients then unscaled, so it is exact under fp16.
"""

from __future__ import annotations

import functools
import math
from contextlib import contextmanager, nullcontext

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from pix2nerf.evaluation.metrics import ssim
from pix2nerf.images import to_signed_range
from pix2nerf.kernels.precision import autocast
from pix2nerf.kernels.runner import FieldRunner, triton_available
from pix2nerf.model import Pix2NeRF
from pix2nerf.networks import Discriminator
from pix2nerf.networks.blocks import use_transposed_input_grad
from pix2nerf.rendering.cameras import degrees_to_official, official_to_degrees, wrap_degrees
from pix2nerf.rendering.volume import RaySamplingSettings
from pix2nerf.training.ema import EMA
from pix2nerf.training.step_graphs import StepGraphs

ADAM_BETAS = (0.0, 0.9)


def official_pose(yaw: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
    """Pose regression target (B, 2) = (phi, theta) in radians, the official (pitch, yaw) order."""
    theta, phi = degrees_to_official(yaw, pitch)
    return torch.stack([phi, theta], dim=-1)


def pose_to_degrees(pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(phi, theta) radians (B, 2) -> (yaw, pitch) degrees."""
    return official_to_degrees(pose[:, 1], pose[:, 0])


class Pix2NeRFTrainer:
    """Holds G (model.field), E (model.encoder), D, their optimizers, grad scalers and EMAs; `train_step` runs one
    iteration. Gradients are averaged across processes when torch.distributed is initialised (no DDP wrappers)."""

    def __init__(
        self,
        model: Pix2NeRF,
        discriminator: Discriminator,
        *,
        mixed_precision: str = "no",
        vgg: nn.Module | None = None,
        compile_field: bool | None = None,
        field_kernels: str = "auto",
        step_graphs: bool | str = False,
        conv_autotune: bool | None = None,
        transposed_input_grad: bool | None = None,
        channels_last: bool | None = None,
    ) -> None:
        """compile_field: run the field through the fast kernels on CUDA (default: where Triton is), else its
        reference maths; field_kernels: the field under fp16 on CUDA, "triton" (the field's Triton kernels: the
        SIREN's layer kernels with gradients, pix2nerf.kernels.siren_layers; the tri-plane's plane gather,
        pix2nerf.kernels.plane_gather), "compile" (torch.compile) or "auto": the runner's choice (triton on CUDA; the
        SIREN's layer kernels only under fp16). `self.field_kernels` says which was taken (see
        docs/performance.md for their speed). step_graphs: replay each whole iteration (renders, D's, E's
        and G's steps with R1's double backward and the optimisers, the EMAs) from CUDA graphs once the fade-in and
        the density noise are done (pix2nerf.training.step_graphs; CUDA, one process; see docs/performance.md for what
        has been measured of them); "auto": on for the tri-plane where they can run
        (`self.step_graphs` is None when off). conv_autotune: cuDNN times
        its convolution algorithms for each new shape and keeps the fastest (`torch.backends.cudnn.benchmark`, set
        around each iteration only; the choice may differ between runs); None leaves cuDNN's setting as it is.
        transposed_input_grad: D's CoordConvs compute their input gradient as a transposed convolution
        (pix2nerf.networks.transposed_grad_conv), so that R1's double backward runs on cuDNN's standard kernels
        instead of its fallback; the same values and derivatives. None: on CUDA, where it measured faster
        (docs/performance.md), off elsewhere. channels_last: the real and generated images enter D and E in the
        channels-last layout, so their convolutions run on it (cuDNN's NHWC kernels without layout conversions);
        the same values, the weights' layout unchanged. None: on with step graphs, where it measured faster
        (docs/performance.md), off elsewhere."""
        if mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be 'no', 'fp16' or 'bf16', got {mixed_precision!r}")
        if model.encoder is None:
            raise ValueError("training needs a model with an encoder (config.has_encoder = True)")
        self.precision = "fp32" if mixed_precision == "no" else mixed_precision
        if not (isinstance(step_graphs, bool) or step_graphs == "auto"):
            raise ValueError(f"step_graphs must be True, False or 'auto', got {str(step_graphs)[:40]!r}")
        self.model, self.discriminator, self.vgg = model, discriminator, vgg
        self.config = config = model.config
        self.device = model.device
        self.field_runner = FieldRunner(
            model.field, _training_kernels(field_kernels, compile_field, self.precision, model), training_kernels=True
        )
        no_graphs = self._why_no_step_graphs()
        if step_graphs is True and no_graphs:
            raise ValueError(f"step_graphs: {no_graphs}: leave them off (--step_graphs off or auto)")
        # auto: the tri-plane, the field whose graphed training has been measured (docs/performance.md)
        step_graphs = step_graphs is True or (
            step_graphs == "auto" and no_graphs is None and model.field.field_type == "triplane"
        )
        stage = config.stage_at(0)
        # fused Adam on CUDA takes the grad scaler's inf check on the device: no host sync per optimizer step
        adam = dict(betas=ADAM_BETAS, fused=True) if self.device.type == "cuda" else dict(betas=ADAM_BETAS)
        self.step_graphs = StepGraphs() if step_graphs else None
        self.conv_autotune = conv_autotune
        if transposed_input_grad is None:
            transposed_input_grad = self.device.type == "cuda"
        self.transposed_input_grad = bool(transposed_input_grad)
        use_transposed_input_grad(discriminator, self.transposed_input_grad)
        self.channels_last = bool(step_graphs if channels_last is None else channels_last)
        if step_graphs:
            adam["capturable"] = True  # passes the optimisers' capture check (fused Adam's step count is on the device)
        self.optimizers = {
            "g": torch.optim.Adam(model.field.parameter_groups(), lr=stage["lr_g"], **adam),
            "d": torch.optim.Adam(discriminator.parameters(), lr=stage["lr_d"], **adam),
            "e": torch.optim.Adam(model.encoder.parameters(), lr=stage["lr_e"], **adam),
        }
        use_scaler = self.precision == "fp16" and self.device.type == "cuda"
        self.scalers = {name: torch.amp.GradScaler("cuda", enabled=use_scaler) for name in self.optimizers}
        self.field_kernels = "triton" if self.field_runner.training_kernels else self.field_runner.kernels
        self.ema_field = EMA(model.field, config.ema_decay)
        self.ema_encoder = EMA(model.encoder, config.ema_decay)

    def _why_no_step_graphs(self) -> str | None:
        """Why this trainer cannot replay its iterations from CUDA graphs, or None where it can."""
        if self.device.type != "cuda" or _world_size() > 1:
            return f"they need one CUDA process; this trainer runs on {self.device.type} in {_world_size()} process(es)"
        return None

    # ------------------------------------------------------------------------------------------------------------
    def autocast(self):
        return autocast(self.precision, self.device)

    def alpha(self, step: int) -> float:
        """Progressive fade-in of the newest resolution since the first stage at the current resolution began (a
        stage that changes only learning rates, batch or samples keeps the fade where it was)."""
        start, resolution = 0, None
        for stage in self.config.training_stages:  # ascending start steps (config validation)
            if stage["start_step"] > step:
                break
            if stage["resolution"] != resolution:
                start, resolution = stage["start_step"], stage["resolution"]
        return min(1.0, (step - start) / max(1, self.config.fade_steps))

    def density_noise(self, step: int) -> float:
        return max(0.0, 1.0 - step / max(1, self.config.density_noise_steps))

    def topk_keep(self, step: int, batch: int) -> int | None:
        """Top-k: how many of a batch's fakes, the most real to D, train G (None: all, top-k off)."""
        config = self.config
        if config.topk_floor >= 1:
            return None
        return math.ceil(max(0.99 ** (step / config.topk_interval), config.topk_floor) * batch)

    def _render(
        self, z: torch.Tensor, yaw: torch.Tensor, pitch: torch.Tensor, resolution: int, settings
    ) -> torch.Tensor:
        """Differentiable training render, images (B, 3, R, R) in [-1, 1]."""
        with self.autocast():
            codes = self.field_runner.latent_codes(z)
            out = self.model.render_codes(codes, yaw, pitch, resolution, settings, field=self.field_runner)
        return self._image_layout(to_signed_range(out.rgb))

    def _image_layout(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, R, R) in the layout D and E take (`channels_last`)."""
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images

    def _apply(self, scaler_name: str, loss: torch.Tensor, modules: dict[str, nn.Module]) -> None:
        """One backward of `loss` through a scaler, then for each (optimizer name, module): average across
        processes, unscale, clip and step."""
        scaler = self.scalers[scaler_name]
        for name in modules:
            self.optimizers[name].zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        for name, module in modules.items():
            _average_gradients(module)
            scaler.unscale_(self.optimizers[name])
            nn.utils.clip_grad_norm_(module.parameters(), self.config.grad_clip)
        for name in modules:
            scaler.step(self.optimizers[name])
        scaler.update()
        for name in modules:
            self.optimizers[name].zero_grad(set_to_none=True)

    def _generator_adversarial(
        self, fake: torch.Tensor, pose: torch.Tensor, alpha: float, keep: int | None
    ) -> torch.Tensor:
        """G's adversarial loss on fakes (B, 3, R, R) from poses (B, 2): D's realness (of the `keep` most real,
        None: all) and its pose regression."""
        with self.autocast():
            logits, predicted_pose = self.discriminator(fake, alpha)
        logits = logits.float()
        if keep is not None:
            logits = torch.topk(logits, keep, dim=0).values
        pose_loss = F.mse_loss(predicted_pose.float(), pose)
        return F.softplus(-logits).mean() + self.config.pose_loss_weight * pose_loss

    def reconstruction_loss(self, reconstruction: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """MSE, 1 - SSIM and the optional VGG perceptual term between images in [-1, 1]."""
        terms = {
            "recon_mse": F.mse_loss(reconstruction, real),
            "recon_ssim": 1 - ssim(reconstruction, real, data_range=1.0).mean(),
        }
        if self.vgg is not None:
            with self.autocast():
                terms["recon_vgg"] = F.mse_loss(self.vgg(reconstruction).float(), self.vgg(real).float())
        return terms

    def _discriminator_step(
        self, real: torch.Tensor, fake: torch.Tensor, pose: torch.Tensor, *, alpha: float, with_r1: bool
    ) -> dict[str, torch.Tensor]:
        """D on real and generated images (B, 3, R, R) in [-1, 1]: the adversarial loss, R1 on the reals where
        `with_r1`, and pose regression on the fakes' poses (B, 2); returns the logs."""
        config, discriminator = self.config, self.discriminator
        real = real.detach().requires_grad_(with_r1)
        with self.autocast():
            real_logits, _ = discriminator(real, alpha)
            fake_logits, fake_pose = discriminator(fake, alpha)
        logs = {}
        r1 = 0.0
        if with_r1:
            scale = self.scalers["d"].scale(torch.ones((), device=real.device))  # a tensor (1 when disabled): no sync
            (grad_real,) = torch.autograd.grad(real_logits.float().sum() * scale, real, create_graph=True)
            gamma = config.r1_gamma * config.r1_interval
            logs["r1"] = r1 = 0.5 * gamma * (grad_real.float() / scale).pow(2).flatten(1).sum(1).mean()
        d_pose = F.mse_loss(fake_pose.float(), pose)
        d_loss = (
            F.softplus(fake_logits.float()).mean()
            + F.softplus(-real_logits.float()).mean()
            + r1
            + config.pose_loss_weight * d_pose
        )
        self._apply("d", d_loss, {"d": discriminator})
        logs.update(d_loss=d_loss, d_pose=d_pose, d_real=real_logits.mean(), d_fake=fake_logits.mean())
        return {name: value.detach() for name, value in logs.items()}  # nothing keeps the step's autograd graph

    def _encoder_step(
        self,
        fake: torch.Tensor,
        z: torch.Tensor,
        yaw: torch.Tensor,
        pitch: torch.Tensor,
        pose: torch.Tensor,
        *,
        alpha: float,
        resolution: int,
        settings: RaySamplingSettings,
    ) -> dict[str, torch.Tensor]:
        """E inverts generated images (B, 3, R, R) to their latents z (B, Z) and poses (B, 2), and (with the
        inversion cycle) renders its latents from the same yaw and pitch (B,) degrees to match the fakes; returns
        the logs and the predicted pose ("pose_pred", detached)."""
        model, config = self.model, self.config
        with self.autocast():
            z_pred, pose_pred = model.encoder(fake, alpha)
        e_latent, e_pose = F.mse_loss(z_pred.float(), z), F.mse_loss(pose_pred.float(), pose)
        logs = {"e_latent": e_latent, "e_pose": e_pose, "pose_pred": pose_pred.detach()}
        e_loss = e_latent + e_pose
        if config.inversion_cycle_weight > 0:  # the fakes seen again through E's latent, from their own poses
            model.field.requires_grad_(False)  # saves G's weight gradients; E's flow through the codes
            try:
                cycle = self._render(z_pred.float(), yaw, pitch, resolution, settings)
            finally:
                model.field.requires_grad_(True)
            logs["e_cycle"] = F.mse_loss(cycle.float(), fake.float())
            e_loss = e_loss + config.inversion_cycle_weight * logs["e_cycle"]
        self._apply("e", e_loss, {"e": model.encoder})
        return {name: value.detach() for name, value in logs.items()}

    # ------------------------------------------------------------------------------------------------------------
    def train_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor | float]:
        """One iteration on real images (B, 3, R, R) in [-1, 1].

        Returns the losses as 0-d tensors on the device (reading them would wait for the GPU: `IntervalMeans`
        sums them there) and the schedule's alpha and density noise as floats.
        """
        config = self.config
        stage = config.stage_at(step)
        for name in self.optimizers:
            for group in self.optimizers[name].param_groups:
                group["lr"] = stage[f"lr_{name}"] * group.get("lr_scale", 1.0)
        self.model.train()
        self.discriminator.train()
        alpha = self.alpha(step)
        settings = RaySamplingSettings.from_config(
            config, num_steps=stage["num_steps"], deterministic=False, noise_std=self.density_noise(step)
        )
        with _cudnn_benchmark(self.conv_autotune):
            losses = self._run(
                self._iteration,
                (real,),
                alpha=alpha,
                settings=settings,
                with_r1=step % config.r1_interval == 0,  # lazy R1: every r1_interval-th D step, gamma scaled to match
                conditional=step % 2 == 1,
                train_encoder=step >= config.warmup_steps,  # before, only E's inversion loss trains E
                keep=self.topk_keep(step, real.shape[0]),
            )
        return {**losses, "alpha": alpha, "density_noise": settings.noise_std}

    def _run(self, step, inputs: tuple[torch.Tensor, ...], **switches) -> dict[str, torch.Tensor]:
        """step(*inputs, **switches), replayed from a CUDA graph where the trainer has step graphs and the schedule
        has settled (fade-in done, no density noise); the key: the inputs' shapes, the switches, every learning rate,
        the convolutions' autotuning and the images' layout (what a replay cannot change)."""
        settled = switches["alpha"] == 1.0 and switches["settings"].noise_std == 0
        if self.step_graphs is None or not settled:
            return step(*inputs, **switches)
        rates = tuple(group["lr"] for optimizer in self.optimizers.values() for group in optimizer.param_groups)
        shapes = tuple((tuple(value.shape), value.dtype) for value in inputs)
        key = (shapes, tuple(sorted(switches.items())), rates, self.conv_autotune, self.channels_last)
        losses = self.step_graphs(key, functools.partial(step, **switches), *inputs)
        # a replay updates the weights in place behind autograd's version counters: bump them, so that what is keyed
        # on them (the SIREN's packed weights, render graphs) sees the new weights
        weights = [p for network in (self.model, self.discriminator) for p in network.parameters()]
        torch.autograd.graph.increment_version(weights)
        return losses

    def _iteration(
        self,
        real: torch.Tensor,
        *,
        alpha: float,
        settings: RaySamplingSettings,
        with_r1: bool,
        conditional: bool,
        train_encoder: bool,
        keep: int | None,
    ) -> dict[str, torch.Tensor]:
        """D, then E, then G (pi-GAN, or Pix2NeRF's conditional adversarial + reconstruction step where
        `conditional`) and the EMAs, on real images (B, 3, R, R); returns the losses (0-d, float32, detached).
        Latents, poses and ray jitter come from the device's random numbers, so a CUDA graph can replay it."""
        config, model, discriminator = self.config, self.model, self.discriminator
        batch, resolution = real.shape[0], real.shape[-1]
        real = self._image_layout(real)
        logs: dict[str, torch.Tensor] = {}

        # D: real vs. generated, R1 on reals, pose regression on fakes
        z = model.sample_latents(batch)
        yaw, pitch = model.sample_poses(batch)
        pose = official_pose(yaw, pitch)
        with torch.no_grad():
            fake = self._render(z, yaw, pitch, resolution, settings)
        logs.update(self._discriminator_step(real, fake, pose, alpha=alpha, with_r1=with_r1))

        # E: inversion of the same fakes
        e_logs = self._encoder_step(fake, z, yaw, pitch, pose, alpha=alpha, resolution=resolution, settings=settings)
        self.ema_encoder.update(model.encoder)
        yaw_pred, pitch_pred = pose_to_degrees(e_logs.pop("pose_pred").float())
        logs.update(
            e_logs,
            e_latent_explained=1 - e_logs["e_latent"] / z.float().var().clamp_min(1e-12),  # 0: no better than z's mean
            e_yaw_error_deg=wrap_degrees(yaw_pred - yaw).abs().mean(),
            e_pitch_error_deg=(pitch_pred - pitch).abs().mean(),
        )

        # G: pi-GAN, or Pix2NeRF (conditional adversarial + reconstruction); D is frozen
        discriminator.requires_grad_(False)
        z2 = model.sample_latents(batch)
        yaw2, pitch2 = model.sample_poses(batch)
        pose2 = official_pose(yaw2, pitch2)
        if not conditional:
            g_loss = self._generator_adversarial(
                self._render(z2, yaw2, pitch2, resolution, settings), pose2, alpha, keep
            )
            self._apply("g", g_loss, {"g": model.field})
        else:
            with self.autocast(), nullcontext() if train_encoder else torch.no_grad():
                z_real, pose_real = model.encoder(real, alpha)
            z_real = z_real.float()
            yaw_real, pitch_real = pose_to_degrees(pose_real.detach().float())
            adversarial = self._generator_adversarial(
                self._render(z_real, yaw2, pitch2, resolution, settings), pose2, alpha, keep
            )
            terms = self.reconstruction_loss(self._render(z_real, yaw_real, pitch_real, resolution, settings), real)
            g_loss = adversarial + config.reconstruction_weight * sum(terms.values())
            self._apply("g", g_loss, {"g": model.field, "e": model.encoder} if train_encoder else {"g": model.field})
            if train_encoder:
                self.ema_encoder.update(model.encoder)
            logs.update(g_conditional=adversarial, **terms)
        discriminator.requires_grad_(True)
        self.ema_field.update(model.field)
        logs["g_loss"] = g_loss
        return {name: value.detach().float().reshape(()) for name, value in logs.items()}

    # ------------------------------------------------------------------------------------------------------------
    def ema_model(self) -> Pix2NeRF:
        """A Pix2NeRF (eval mode, same device) holding the EMA weights of the field and the encoder."""
        model = Pix2NeRF(self.config).to(self.device)
        model.field.load_state_dict(self.ema_field.shadow.state_dict())
        model.encoder.load_state_dict(self.ema_encoder.shadow.state_dict())
        return model.eval()

    def state_dict(self) -> dict:
        """Everything needed to resume: networks, EMAs, optimizers and scalers (tensors and plain values).

        With beta1 = 0 Adam's first moment is the last gradient, overwritten by the next step before it is used, so
        it is left out (a quarter of the checkpoint); `load_state_dict` puts zeros in its place.
        """
        return {
            "model": self.model.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "ema_field": self.ema_field.state_dict(),
            "ema_encoder": self.ema_encoder.state_dict(),
            "optimizers": {k: _without_first_moment(v.state_dict()) for k, v in self.optimizers.items()},
            "scalers": {k: v.state_dict() for k, v in self.scalers.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.ema_field.load_state_dict(state["ema_field"])
        self.ema_encoder.load_state_dict(state["ema_encoder"])
        for name, optimizer in self.optimizers.items():
            saved = state["optimizers"][name]
            for moments in saved["state"].values():
                moments.setdefault("exp_avg", torch.zeros_like(moments["exp_avg_sq"]))
            optimizer.load_state_dict(saved)
        # the config's learning-rate scales, not the checkpoint's (load_state_dict keeps the saved group settings)
        for group, fresh in zip(self.optimizers["g"].param_groups, self.model.field.parameter_groups()):
            group["lr_scale"] = fresh["lr_scale"]
        for name, scaler in self.scalers.items():
            scaler.load_state_dict(state["scalers"][name])
        for optimizer in self.optimizers.values():  # the trainer's choice, not the checkpoint's
            for group in optimizer.param_groups:
                group["capturable"] = self.step_graphs is not None
        if self.step_graphs is not None:  # the graphs wrote into the optimisers' replaced state
            self.step_graphs.clear()


def _training_kernels(field_kernels: str, compile_field: bool | None, precision: str, model: Pix2NeRF) -> str:
    """The FieldRunner kernels of a training run ("auto" leaves the choice to the runner)."""
    if field_kernels not in ("auto", "compile", "triton"):
        raise ValueError(f"field_kernels must be 'auto', 'compile' or 'triton', got {str(field_kernels)[:40]!r}")
    if compile_field is None:
        compile_field = triton_available(model.device)
    siren_layers = model.field.field_type == "siren"  # its Triton layer kernels train under fp16 only
    if field_kernels == "triton" and not (compile_field and (precision == "fp16" or not siren_layers)):
        raise ValueError(
            'field_kernels="triton" needs CUDA, Triton and the fast field (leave compile_field on: no '
            '--disable_compile); the SIREN\'s also mixed_precision "fp16"'
        )
    return field_kernels if compile_field else "reference"


def _without_first_moment(optimizer_state: dict) -> dict:
    """An Adam state dict without exp_avg where every group has beta1 = 0 (then it is just the last gradient)."""
    if any(group["betas"][0] != 0 for group in optimizer_state["param_groups"]):
        return optimizer_state
    moments = {
        index: {k: v for k, v in values.items() if k != "exp_avg"} for index, values in optimizer_state["state"].items()
    }
    return {**optimizer_state, "state": moments}


@contextmanager
def _cudnn_benchmark(on: bool | None):
    """torch.backends.cudnn.benchmark set to `on` inside the block (None: left as it is)."""
    if on is None:
        yield
        return
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _average_gradients(module: nn.Module) -> None:
    """All-reduce (mean) the gradients of `module` across processes, in one flat buffer."""
    if _world_size() == 1:
        return
    params = [p for p in module.parameters() if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n
