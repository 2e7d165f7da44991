"""The tri-plane field: three axis-aligned feature planes per latent (pix2nerf.fields.plane_synthesis), sampled
bilinearly at each point, summed, and decoded by a small MLP to density and colour (after EG3D's representation).

latent z (B, z_dim) -> latent_codes -> planes (B, 3, C, R, R) float32: the XY, XZ and YZ planes
points (B, N, 3), view directions (B, N, 3), planes -> TriplaneField -> rgb (B, N, 3) in [-m, 1 + m] (m: the config's
triplane_colour_margin), sigma (B, N) raw

The planes span the scene box [-h, h]^3, h = `scene_half_size` of the config's camera and ray range (every sample
the renderer takes lies inside it); points outside have zero density. The colour does not
depend on the view direction: Pix2NeRF renders with the view locked at inference, and a view-independent colour
cannot disagree with it. Summing the planes (rather than concatenating them) keeps the decoder's input at C.

Initialisation: the density is the decoder's output plus a fixed bump, BLOB_DENSITY at the origin falling to zero at
BLOB_RADIUS * h, and the decoder's density starts below zero elsewhere: a fresh field renders a soft grey blob at the
origin (not empty space, not a wall), as pi-GAN's SIREN initialisation does; training reshapes it.

Precision: the synthesis convolutions and the decoder's matmuls follow autocast; the planes, their sampling and the
sum of the 12 texels a point reads stay float32 (the planes' gradient accumulates in float32).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pix2nerf.config import Pix2NeRFConfig
from pix2nerf.fields.base import POINT_CHUNK, PointFunction, RadianceField, sample_latents
from pix2nerf.fields.plane_synthesis import PlaneSynthesis, StyleMapping
from pix2nerf.rendering.cameras import scene_half_size

# the XY, XZ and YZ planes: the point coordinates (u, v) that index each plane's texels [v, u]
PLANE_COLUMNS = (0, 1, 0, 2, 1, 2)
BLOB_RADIUS = 0.4  # of the scene box's half edge: where the initial bump of density ends
BLOB_DENSITY = 10.0  # raw density of the bump at the origin
INITIAL_DENSITY_BIAS = -1.0  # the decoder's density output starts below zero: empty space outside the bump
AVERAGE_STYLE_LATENTS = 10_000  # prior latents whose mean w is the truncation centre
Gather = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (index, weights, table) -> rows


def embedding_bag_gather(index: torch.Tensor, weights: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """sum_k weights[m, k] * table[index[m, k]] for each row m: (M, C), in PyTorch on any device."""
    return F.embedding_bag(index, table, per_sample_weights=weights, mode="sum")


def _float32_region(device: torch.device):
    return torch.autocast(device.type, enabled=False)


class TriplaneField(RadianceField):
    """Mapping network, plane synthesis and decoder (about 2.3 M parameters with the default sizes)."""

    field_type = "triplane"
    cpu_chunk_factor = 4  # its widest activation is the decoder's (64 by default) against the SIREN's 256

    def __init__(self, config: Pix2NeRFConfig) -> None:
        super().__init__()
        self.z_dim = config.z_dim
        self.latent_distribution = config.latent_distribution
        self.half_size = scene_half_size(config.fov, config.ray_start, config.ray_end)
        self.mapping = StyleMapping(config.z_dim, config.triplane_mapping_dim, config.triplane_mapping_layers)
        self.synthesis = PlaneSynthesis(
            config.triplane_mapping_dim,
            config.triplane_synthesis_channels,
            config.triplane_channels,
            config.triplane_style_gain,
        )
        self.mapping_lr_scale = config.triplane_mapping_lr_scale
        self.colour_margin = config.triplane_colour_margin
        width = config.triplane_decoder_dim
        dims = [config.triplane_channels] + [width] * (config.triplane_decoder_layers - 1)
        layers: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            linear = nn.Linear(d_in, d_out)
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            nn.init.zeros_(linear.bias)
            layers += [linear, nn.ReLU(inplace=True)]
        head = nn.Linear(dims[-1], 4)  # raw density, then colour logits
        nn.init.normal_(head.weight, std=0.5 / dims[-1] ** 0.5)
        with torch.no_grad():
            head.bias.copy_(torch.tensor([INITIAL_DENSITY_BIAS, 0.0, 0.0, 0.0]))
        self.decoder = nn.Sequential(*layers, head)

    def extra_repr(self) -> str:
        return f"half_size={self.half_size:.4f}"

    def parameter_groups(self) -> list[dict]:
        """The mapping network in its own group at `lr_scale` = config.triplane_mapping_lr_scale (one group when 1)."""
        if self.mapping_lr_scale == 1:
            return super().parameter_groups()
        mapping = set(self.mapping.parameters())
        rest = [p for p in self.parameters() if p not in mapping]
        return [
            {"params": rest, "lr_scale": 1.0},
            {"params": list(self.mapping.parameters()), "lr_scale": self.mapping_lr_scale},
        ]

    # ------------------------------------------------------------------------------------------------------------
    def latent_codes(self, z: torch.Tensor, psi: float = 1.0) -> tuple[torch.Tensor]:
        """The planes (B, 3, C, R, R) float32 of latents z (B, z_dim); psi < 1 truncates w towards the mean w."""
        w = self.mapping(z)
        if psi != 1.0:
            mean = self.average_style()
            w = mean + psi * (w - mean)
        return self.codes_from_styles(w)

    def styles(self, z: torch.Tensor) -> tuple[torch.Tensor]:
        """The style w (B, W) of latents z (B, z_dim)."""
        return (self.mapping(z),)

    def codes_from_styles(self, w: torch.Tensor) -> tuple[torch.Tensor]:
        """The planes (B, 3, C, R, R) float32 synthesised from styles w (B, W)."""
        return (self.synthesis(w),)

    def code_synthesis(self) -> nn.Module:
        """The synthesis network: the weights that build the planes from w."""
        return self.synthesis

    @torch.no_grad()
    def average_style(self) -> torch.Tensor:
        """Mean w (1, W) over prior latents drawn with a fixed seed."""
        generator = torch.Generator().manual_seed(0)
        z = sample_latents(AVERAGE_STYLE_LATENTS, self.z_dim, self.latent_distribution, generator)
        return self.mapping(z.to(self.device)).mean(0, keepdim=True)

    def forward(
        self, points: torch.Tensor, directions: torch.Tensor, planes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """rgb (B, N, 3) in [-m, 1 + m] and raw sigma (B, N) at world points (B, N, 3); directions are not used."""
        return self.forward_with(points, directions, planes)

    def forward_with(
        self,
        points: torch.Tensor,
        directions: torch.Tensor,
        planes: torch.Tensor,
        *,
        gather: Gather = embedding_bag_gather,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward` with the texels' weighted gather done by `gather(index (M, 12) int32, weights (M, 12) float32,
        table (T, C) float32) -> (M, C)` (a FieldRunner's kernels; by default `F.embedding_bag`)."""
        return self._decode(points, self._features(points, planes, gather))

    def point_function(self, codes: Sequence[torch.Tensor], view_direction: Sequence[float]) -> PointFunction:
        """The field of one latent's planes as a function of position, float32, in chunks of POINT_CHUNK times
        `cpu_chunk_factor` points (view_direction does not change a tri-plane's colour)."""
        (planes,) = codes
        if planes.shape[0] != 1:
            raise ValueError(f"point_function takes the codes of one latent, got a batch of {planes.shape[0]}")
        planes = planes.detach().float()  # keeps the channels-last layout that `_features` reads in place

        @torch.no_grad()
        def evaluate(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            rgb = torch.empty(points.shape[0], 3, device=points.device)
            sigma = torch.empty(points.shape[0], device=points.device)
            step = POINT_CHUNK * self.cpu_chunk_factor
            with _float32_region(points.device):
                for start in range(0, points.shape[0], step):
                    chunk = points[None, start : start + step].float()
                    rgb[start : start + step], sigma[start : start + step] = self(chunk, chunk, planes)
            return rgb, sigma

        return evaluate

    # ------------------------------------------------------------------------------------------------------------
    def _features(self, points: torch.Tensor, planes: torch.Tensor, gather: Gather) -> torch.Tensor:
        """The sum over the three planes of their bilinear features at points (B, N, 3): (B, N, C) float32.

        Bilinear as `grid_sample(..., align_corners=False, padding_mode="border")`, computed as one weighted
        gather of 12 plane texels per point (`embedding_bag`): the planes' gradient is a sum per texel, and on a
        CPU the work is the 12 reads. Planes in the layout `latent_codes` gives them (channels last) are read in
        place; other layouts are copied first. One latent's planes (batch 1, or expanded to B) serve every row of
        points without copies."""
        batch, count = points.shape[:2]
        channels, resolution = planes.shape[2], planes.shape[-1]
        if planes.shape[0] == 1 or planes.stride(0) == 0:  # one latent's planes for every row (views of one object)
            planes = planes[:1]
        with _float32_region(points.device):
            table = planes.float().permute(0, 1, 3, 4, 2).reshape(-1, channels)  # (P * 3 * R * R, C), P = 1 or B
            points = points.float()  # columns picked one by one: a list index would be a host tensor, copied in
            uv = torch.stack([points[..., column] for column in PLANE_COLUMNS], -1).view(batch, count, 3, 2)
            # texel coordinates (align_corners=False), clamped to the texel centres of the border
            uv = uv.mul_(resolution / (2 * self.half_size)).add_(resolution / 2 - 0.5).clamp_(0, resolution - 1)
            low = uv.floor().clamp_(max=resolution - 2)
            fraction = uv.sub_(low)
            axis_weights = torch.stack([1 - fraction, fraction], -1)  # (B, N, 3, 2 axes, 2 texels)
            weights = axis_weights[..., 1, :, None] * axis_weights[..., 0, None, :]  # (B, N, 3, 2 in v, 2 in u)
            low = low.to(torch.int32)
            plane_start = torch.arange(0, planes.shape[0] * 3 * resolution**2, resolution**2, device=points.device)
            plane_start = plane_start.view(planes.shape[0], 1, 3).to(torch.int32)
            first = (low[..., 1] * resolution).add_(low[..., 0]).add_(plane_start)
            offset = torch.arange(2, device=points.device, dtype=torch.int32)
            corners = (offset[:, None] * resolution + offset[None, :]).view(4)  # texels 0, 1, R, R + 1
            index = (first[..., None] + corners).view(batch * count, 12)
            return gather(index, weights.view(-1, 12), table).view(batch, count, channels)

    def _decode(self, points: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """rgb (B, N, 3) in [-m, 1 + m] and raw sigma (B, N), float32, from features (B, N, C) at points (B, N, 3)."""
        out = self.decoder(features)
        with _float32_region(points.device):
            out = out.float()
            # the coordinates one by one, no reductions over the last axis of 3: compiled, a reduction that short
            # made the decoder's tail a slow reduction kernel (docs/performance.md)
            x, y, z = points.float().unbind(-1)
            blob_scale = -1 / (BLOB_RADIUS * self.half_size) ** 2
            # the relu's output is not changed in place: its backward reads it (gradients reach the points when the
            # rays' pose is refined)
            blob = BLOB_DENSITY * (x * x + y * y + z * z).mul_(blob_scale).add_(1).relu_()
            half = self.half_size
            inside = (x.abs() <= half) & (y.abs() <= half) & (z.abs() <= half)
            rgb = torch.sigmoid(out[..., 1:])
            if self.colour_margin:
                rgb = (
                    rgb * (1 + 2 * self.colour_margin) - self.colour_margin
                )  # not in place: the sigmoid's backward reads it
            return rgb, torch.where(inside, out[..., 0] + blob, 0.0)
