"""The SIREN field: pi-GAN's mapping network and FiLM-conditioned SIREN (TALLSIREN / SPATIALSIRENBASELINE), the
reference implementation of the field contract (pix2nerf.fields.base) and the official checkpoints' field.

latent z (B, z_dim) -> MappingNetwork -> codes (frequencies, phase_shifts), each (B, (L + 1) * H)
points (B, N, 3), view directions (B, N, 3), *codes -> SirenField -> rgb (B, N, 3) in [0, 1], sigma (B, N) raw

Precision: under autocast only the wide matmuls (256 -> 256) run in reduced precision; the mapping network, the
first layer (3 -> 256), the heads, the FiLM and the sine run in float32. gamma near 30-45 amplifies rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pix2nerf.config import Pix2NeRFConfig
from pix2nerf.fields.base import POINT_CHUNK, PointFunction, RadianceField, sample_latents

FREQUENCY_SCALE = 15.0  # gamma = 15 * f + 30
FREQUENCY_OFFSET = 30.0
SIREN_INIT_FREQUENCY = 25.0


def _siren_uniform_(linear: nn.Linear, bound: float) -> None:
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound)


def _float32_region(device: torch.device):
    return torch.autocast(device.type, enabled=False)


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The matmul dtype autocast would choose for x (float32 when autocast is off)."""
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """x W^T + c computed in x's dtype (the official fp16 training numerics), returned as `dtype`."""
    return F.linear(x, weight, bias.to(x.dtype)).to(dtype)


def _linear_float_out(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x W^T + c as float32 (..., H). Reduced-precision x and W keep the float32 accumulator on CUDA, so the
    result is not rounded to 16 bits before the FiLM multiplies it by gamma."""
    if x.is_cuda and x.dtype != torch.float32:
        flat = torch.mm(x.reshape(-1, x.shape[-1]), weight.t(), out_dtype=torch.float32)
        return flat.view(*x.shape[:-1], -1) + bias.float()
    return F.linear(x, weight, bias.to(x.dtype)).to(torch.promote_types(x.dtype, torch.float32))


class MappingNetwork(nn.Module):
    """z -> hidden (LeakyReLU 0.2) x num_layers -> raw frequencies and phase shifts (halves of one output)."""

    def __init__(self, z_dim: int, hidden_dim: int, num_layers: int, output_dim: int) -> None:
        super().__init__()
        dims = [z_dim] + [hidden_dim] * num_layers
        layers: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(d_in, d_out), nn.LeakyReLU(0.2)]
        layers.append(nn.Linear(dims[-1], output_dim))
        self.layers = nn.Sequential(*layers)
        for layer in self.layers:
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_normal_(layer.weight, a=0.2, mode="fan_in", nonlinearity="leaky_relu")
        with torch.no_grad():
            self.layers[-1].weight.mul_(0.25)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with _float32_region(z.device):
            out = self.layers(z.float())
        return out.chunk(2, dim=-1)


class _RecomputedFiLMSine(torch.autograd.Function):
    """sin(gamma * (x W^T + c) + beta), storing only x and recomputing the rest in the backward pass.

    x (B, N, K), weight (H, K) in the matmul dtype; bias (H), gamma and beta (B, H) in the FiLM dtype (float32).
    Autograd would keep the matmul output, the FiLM argument and the sine input: four times the memory.
    The matmul output is rounded to x's dtype as in the official fp16 training (inference keeps float32).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, gamma, beta):
        ctx.save_for_backward(x, weight, bias, gamma, beta)
        return torch.sin(gamma[:, None, :] * _linear(x, weight, bias, gamma.dtype) + beta[:, None, :])

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, bias, gamma, beta = ctx.saved_tensors
        y = _linear(x, weight, bias, gamma.dtype)
        grad_arg = grad_out.to(gamma.dtype) * torch.cos(gamma[:, None, :] * y + beta[:, None, :])
        grad_gamma = (grad_arg * y).sum(1)
        grad_beta = grad_arg.sum(1)
        grad_y = (grad_arg * gamma[:, None, :]).to(x.dtype)
        flat = grad_y.reshape(-1, grad_y.shape[-1])
        grad_x = (grad_y @ weight) if ctx.needs_input_grad[0] else None
        if not (ctx.needs_input_grad[1] or ctx.needs_input_grad[2]):  # frozen weights (inversion): codes only
            return grad_x, None, None, grad_gamma, grad_beta
        grad_weight = flat.t() @ x.reshape(-1, x.shape[-1])
        return grad_x, grad_weight, flat.float().sum(0).to(bias.dtype), grad_gamma, grad_beta


def recomputed_film_sine(x, weight, bias, gamma, beta, out_dtype):
    """_RecomputedFiLMSine, float32 whatever `out_dtype` allows (a cast here made the compiled training field keep
    more activations). The reference `FilmSine` of the layers with gradients."""
    return _RecomputedFiLMSine.apply(x, weight, bias, gamma, beta)


# film_sine(x, weight, bias, gamma, beta, out_dtype) -> sin(gamma * (x W^T + c) + beta) (B, N, H): a FiLM-SIREN
# layer's maths with gradients; pix2nerf.kernels.siren_layers provides a Triton one with the same signature
FilmSine = Callable[..., torch.Tensor]


def _padded_cat(tensors: list[torch.Tensor], alignment: int) -> torch.Tensor:
    """torch.cat on the last dimension, with zero columns up to a multiple of `alignment`."""
    padding = -sum(t.shape[-1] for t in tensors) % alignment
    if padding:
        tensors = [*tensors, tensors[0].new_zeros(*tensors[0].shape[:-1], padding)]
    return torch.cat(tensors, dim=-1)


class FiLMSirenLayer(nn.Module):
    """h -> sin(gamma * (W h + c) + beta), with per-latent gamma and beta (B, H) broadcast over points (B, N, .).

    The matmul follows autocast; the FiLM and the sine run in float32. With gradients on, the layer recomputes
    its intermediates in the backward pass instead of storing them.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(
        self,
        x: torch.Tensor,
        gamma: torch.Tensor,
        beta: torch.Tensor,
        out_dtype: torch.dtype = torch.float32,
        film_sine: FilmSine = recomputed_film_sine,
    ) -> torch.Tensor:
        """(B, N, H) in float32, or in `out_dtype` where that is cheaper: a layer whose output only feeds the next
        layer's matmul may allow that matmul's dtype (the next layer rounds to it anyway). x may be wider than
        the layer's input by zero columns (an aligned input). `film_sine` computes the layer when it needs
        gradients."""
        dtype = _compute_dtype(x)
        with _float32_region(x.device):
            weight = self.linear.weight
            if x.shape[-1] != weight.shape[1]:  # zero columns of a padded input
                weight = F.pad(weight, (0, x.shape[-1] - weight.shape[1]))
            x, weight, bias = x.to(dtype), weight.to(dtype), self.linear.bias
            if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad or gamma.requires_grad):
                return film_sine(x, weight, bias, gamma, beta, out_dtype)
            return torch.sin(gamma[:, None, :] * _linear_float_out(x, weight, bias) + beta[:, None, :]).to(out_dtype)


class SirenField(RadianceField):
    """pi-GAN's conditioned radiance field with its mapping network (about 1.9 M parameters at z 256, H 256)."""

    field_type = "siren"

    def __init__(self, config: Pix2NeRFConfig) -> None:
        super().__init__()
        hidden = config.hidden_dim
        self.hidden_dim = hidden
        self.latent_distribution = config.latent_distribution
        self.input_scale = config.input_scale
        self.mapping = MappingNetwork(
            config.z_dim, config.mapping_hidden_dim, config.mapping_num_layers, config.num_mapping_outputs
        )
        self.film_layers = nn.ModuleList(
            [FiLMSirenLayer(3 if i == 0 else hidden, hidden) for i in range(config.num_siren_layers)]
        )
        self.density_head = nn.Linear(hidden, 1)
        self.color_film = FiLMSirenLayer(hidden + 3, hidden)  # input: [view direction (3), features (H)]
        self.color_head = nn.Linear(hidden, 3)
        for linear in [layer.linear for layer in self.film_layers] + [
            self.density_head,
            self.color_film.linear,
            self.color_head,
        ]:
            _siren_uniform_(linear, math.sqrt(6 / linear.in_features) / SIREN_INIT_FREQUENCY)
        _siren_uniform_(self.film_layers[0].linear, 1 / 3)

    def latent_codes(self, z: torch.Tensor, psi: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (frequencies, phase_shifts) for latents z (B, z_dim), each (B, (L + 1) * H), float32.

        psi < 1 truncates towards the average code of 10,000 prior latents, as pi-GAN does.
        """
        frequencies, phase_shifts = self.mapping(z)
        if psi != 1.0:
            mean_frequencies, mean_phase_shifts = self.average_codes()
            frequencies = mean_frequencies + psi * (frequencies - mean_frequencies)
            phase_shifts = mean_phase_shifts + psi * (phase_shifts - mean_phase_shifts)
        return frequencies, phase_shifts

    @torch.no_grad()
    def average_codes(self, num_latents: int = 10_000) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean raw codes over prior latents drawn with a fixed seed, (1, (L + 1) * H) each."""
        device = self.density_head.weight.device
        generator = torch.Generator().manual_seed(0)
        z = sample_latents(num_latents, self.mapping.layers[0].in_features, self.latent_distribution, generator)
        frequencies, phase_shifts = self.mapping(z.to(device))
        return frequencies.mean(0, keepdim=True), phase_shifts.mean(0, keepdim=True)

    def forward(
        self, points: torch.Tensor, directions: torch.Tensor, frequencies: torch.Tensor, phase_shifts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """rgb (B, N, 3) in [0, 1] and raw sigma (B, N) at world points (B, N, 3) seen along directions (B, N, 3)."""
        return self.forward_with(points, directions, frequencies, phase_shifts)

    def forward_with(
        self,
        points: torch.Tensor,
        directions: torch.Tensor,
        frequencies: torch.Tensor,
        phase_shifts: torch.Tensor,
        film_sine: FilmSine = recomputed_film_sine,
        input_alignment: int = 1,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward` with the layers that need gradients computed by `film_sine`, whose inputs are built with zero
        columns up to a multiple of `input_alignment` (what that function would otherwise pad by a copy)."""
        gammas = (FREQUENCY_SCALE * frequencies.float() + FREQUENCY_OFFSET).split(self.hidden_dim, dim=-1)
        betas = phase_shifts.float().split(self.hidden_dim, dim=-1)
        feature_dtype = _compute_dtype(points)  # what the next matmul rounds a hidden output to anyway
        with _float32_region(points.device):  # the first layer sees raw coordinates: keep it exact
            h = self.film_layers[0](points.float() * self.input_scale, gammas[0], betas[0], feature_dtype, film_sine)
        last = len(self.film_layers) - 1  # its output also feeds the density head: float32
        for index, (layer, gamma, beta) in enumerate(zip(self.film_layers[1:], gammas[1:], betas[1:]), start=1):
            h = layer(h, gamma, beta, torch.float32 if index == last else feature_dtype, film_sine)
        color_input = _padded_cat([directions.to(h.dtype), h], input_alignment)
        color = self.color_film(color_input, gammas[-1], betas[-1], torch.float32, film_sine)
        with _float32_region(points.device):
            sigma = self.density_head(h.float()).squeeze(-1)
            rgb = torch.sigmoid(self.color_head(color.float()))
        return rgb, sigma

    def point_function(self, codes: Sequence[torch.Tensor], view_direction: Sequence[float]) -> PointFunction:
        """The field of one latent seen along one direction, with each FiLM-SIREN layer sin(gamma * (W h + c) + beta)
        folded into sin(W' h + c') (W' = gamma W, c' = gamma c + beta) and the direction's part of the colour layer
        into its bias: the values of `forward` (within float32 rounding) in fewer passes over memory."""
        return FoldedSiren(self, *codes, view_direction=view_direction)


class FoldedSiren:
    """A SirenField with one latent's FiLM folded into its weights and the view direction fixed (a PointFunction)."""

    def __init__(
        self, field: SirenField, frequencies: torch.Tensor, phase_shifts: torch.Tensor, view_direction: Sequence[float]
    ) -> None:
        if frequencies.shape[0] != 1 or phase_shifts.shape[0] != 1:
            raise ValueError(f"point_function takes the codes of one latent, got a batch of {frequencies.shape[0]}")
        hidden = field.hidden_dim
        gammas = (FREQUENCY_SCALE * frequencies[0] + FREQUENCY_OFFSET).float().split(hidden)
        betas = phase_shifts[0].float().split(hidden)
        with torch.no_grad():
            self.input_scale = field.input_scale
            self.trunk = [
                (g[:, None] * layer.linear.weight).t().contiguous() for layer, g in zip(field.film_layers, gammas)
            ]
            self.trunk_bias = [g * layer.linear.bias + b for layer, g, b in zip(field.film_layers, gammas, betas)]
            color_weight, color_bias = field.color_film.linear.weight, field.color_film.linear.bias
            direction = torch.tensor(view_direction, dtype=color_weight.dtype, device=color_weight.device)
            self.color = (gammas[-1][:, None] * color_weight[:, 3:]).t().contiguous()
            self.color_bias = gammas[-1] * (color_bias + color_weight[:, :3] @ direction) + betas[-1]
            self.density_head = field.density_head.weight.t().contiguous()
            self.density_head_bias = field.density_head.bias
            self.color_head = field.color_head.weight.t().contiguous()
            self.color_head_bias = field.color_head.bias

    @torch.no_grad()
    def __call__(self, points: torch.Tensor, chunk: int = POINT_CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
        """rgb (N, 3) in [0, 1] and raw sigma (N,) at world points (N, 3), evaluated in chunks of `chunk` points."""
        rgb = torch.empty(points.shape[0], 3, device=points.device)
        sigma = torch.empty(points.shape[0], device=points.device)
        for start in range(0, points.shape[0], chunk):
            h = points[start : start + chunk] * self.input_scale
            for weight, bias in zip(self.trunk, self.trunk_bias):
                h = torch.addmm(bias, h, weight).sin_()
            sigma[start : start + chunk] = torch.addmm(self.density_head_bias, h, self.density_head)[:, 0]
            color = torch.addmm(self.color_bias, h, self.color).sin_()
            rgb[start : start + chunk] = torch.addmm(self.color_head_bias, color, self.color_head).sigmoid_()
        return rgb, sigma
