"""FieldRunner: a radiance field run with an explicit choice of kernels, owned by whoever runs the field (a model's
renders, a trainer's steps); no process-wide switch.

kernels:
- "reference": the field's own PyTorch maths (pix2nerf.fields), on any device.
- "compile": the field's forward through torch.compile (CUDA with Triton).
- "triton": the field's Triton kernels where they apply, torch.compile elsewhere. For the SIREN: the fused inference
  kernel (pix2nerf.kernels.fused_siren: every layer per tile of points, no gradients, fp16), the training layer
  kernels (pix2nerf.kernels.siren_layers: product, FiLM and sine in one kernel each way, with gradients, fp16) when
  `training_kernels` is set, and CUDA graphs of fixed-shape renders on the fused kernel (`graphs=True`). For the
  tri-plane: the fused inference kernel (pix2nerf.kernels.fused_triplane: texel weights, gather and decoder per tile
  of points, no gradients, fp16) where its sizes allow, and the plane texels' weighted gather
  (pix2nerf.kernels.plane_gather, forward and backward) between the compiled parts of its forward in the other calls.
- "auto": on CUDA with Triton, "triton" for a field with Triton kernels (they have measured faster than
  torch.compile for both fields, docs/performance.md) and "compile" for one without; elsewhere "reference".

Every choice but "reference" also compiles a field's synthesis network where it has one (the tri-plane's planes from
w, `latent_codes`) and runs the sampler and compositor compiled (`ray_stages`: one torch.compile graph
per stage, see pix2nerf.rendering.ray_stages); "reference" runs them op by op. With `graphs="all"`, every choice but
"reference" lets fixed-shape renders without gradients on CUDA replay CUDA graphs (a SIREN with its fused kernel:
only the renders that take it), whatever the field (faster where timed, docs/performance.md; not the default until
they have run in training's validation and in serving on a GPU).
"""

from __future__ import annotations

import functools

import torch

from pix2nerf.fields.base import RadianceField
from pix2nerf.kernels.precision import fp16_on_cuda
from pix2nerf.kernels.render_graphs import RenderGraphs
from pix2nerf.rendering.ray_stages import INDUCTOR_OPTIONS, REFERENCE_RAY_STAGES, compiled_ray_stages

KERNELS = ("auto", "reference", "compile", "triton")


def triton_available(device: torch.device) -> bool:
    """torch.compile's GPU backend and the Triton kernels need CUDA and Triton."""
    if device.type != "cuda":
        return False
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def has_triton_kernels(field: RadianceField) -> bool:
    """Whether the field has Triton kernels (needs Triton importable)."""
    return field.field_type == "triplane" or _has_siren_kernels(field)


def _has_siren_kernels(field: RadianceField) -> bool:
    from pix2nerf.kernels.fused_siren import supports

    return supports(field)


def resolve_kernels(kernels: str, field: RadianceField, device: torch.device) -> str:
    """The kernel set that `kernels` means for `field` on `device` ("auto" resolved); refuses what cannot run."""
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {', '.join(KERNELS)}, got {str(kernels)[:40]!r}")
    gpu = triton_available(device)
    if kernels == "auto":
        return ("triton" if has_triton_kernels(field) else "compile") if gpu else "reference"
    if kernels != "reference" and not gpu:
        raise ValueError(f'kernels="{kernels}" needs CUDA and Triton; on {device.type} use "reference" or "auto"')
    if kernels == "triton" and not has_triton_kernels(field):
        raise ValueError(f'kernels="triton": the {field.field_type} field has no Triton kernels; use "compile"')
    return kernels


class FieldRunner:
    """Calls `field` (same signature and results, within fp16 rounding) through the kernels chosen at construction.

    training_kernels: take the SIREN's Triton layer kernels for calls with gradients under fp16 (kernels "triton").
    graphs: let fixed-shape renders without gradients on CUDA replay CUDA graphs (`render_graph_key`): True where a
    fused kernel runs, "all" for every kernel choice but "reference" (where a fused kernel exists, the renders that
    take it), False nowhere.
    """

    def __init__(
        self, field: RadianceField, kernels: str = "auto", *, training_kernels: bool = False, graphs: bool | str = True
    ) -> None:
        if not (isinstance(graphs, bool) or graphs == "all"):
            raise ValueError(f"graphs must be True, False or 'all', got {str(graphs)[:40]!r}")
        self.field = field
        self.kernels = resolve_kernels(kernels, field, field.device)
        self.ray_stages = REFERENCE_RAY_STAGES if self.kernels == "reference" else compiled_ray_stages()
        self.fused = self.film_sine = None
        self.film_sine_alignment = 1
        forward = field.forward
        if self.kernels == "triton" and field.field_type == "triplane":
            from pix2nerf.kernels import fused_triplane
            from pix2nerf.kernels.plane_gather import plane_gather

            forward = functools.partial(field.forward_with, gather=plane_gather)
            self.fused = fused_triplane.FusedTriplaneField(field) if fused_triplane.supports(field) else None
        elif self.kernels == "triton":
            from pix2nerf.kernels.fused_siren import FusedSirenField
            from pix2nerf.kernels.siren_layers import ALIGNMENT, TritonFiLMSine

            self.fused, self.film_sine, self.film_sine_alignment = (
                FusedSirenField(field),
                TritonFiLMSine.apply,
                ALIGNMENT,
            )
        self.training_kernels = training_kernels and self.film_sine is not None
        self.field_forward = forward  # the field's forward with these kernels, before torch.compile
        compiled = self.kernels != "reference"
        self.compiled = torch.compile(forward, dynamic=True, options=INDUCTOR_OPTIONS) if compiled else None
        # a synthesis network (the tri-plane's planes from w) compiled too: one graph per batch size
        synthesis = compiled and field.code_synthesis() is not None
        self.synthesis = (
            torch.compile(field.codes_from_styles, dynamic=False, options=INDUCTOR_OPTIONS) if synthesis else None
        )
        every_render = graphs == "all" and self.kernels != "reference"
        self.graphs = RenderGraphs(keep_alive=self._graph_weights) if (graphs and self.fused) or every_render else None

    def __repr__(self) -> str:
        return (
            f"FieldRunner({type(self.field).__name__}, kernels={self.kernels!r}, "
            f"training_kernels={self.training_kernels}, graphs={self.graphs is not None}, "
            f"ray_stages={self.ray_stages.name!r})"
        )

    def latent_codes(self, z: torch.Tensor, psi: float = 1.0) -> tuple[torch.Tensor, ...]:
        """`field.latent_codes(z, psi)`, its synthesis network compiled where this runner compiles (psi 1: the
        codes built from `field.styles(z)`, which is what the field computes then)."""
        if self.synthesis is None or psi != 1.0:
            return self.field.latent_codes(z, psi)
        return self.synthesis(*self.field.styles(z))

    def fused_applies(self, points: torch.Tensor) -> bool:
        """Whether a call on `points` now takes the fused kernel: CUDA, no gradients, fp16 autocast."""
        return self.fused is not None and not torch.is_grad_enabled() and fp16_on_cuda(points)

    def training_kernels_apply(self, points: torch.Tensor) -> bool:
        """Whether a call on `points` now runs the field's layers on Triton kernels: asked for, gradients, fp16."""
        return self.training_kernels and torch.is_grad_enabled() and fp16_on_cuda(points)

    def graphs_apply(self, like: torch.Tensor) -> bool:
        """Whether a render on the device of `like` (a tensor) now may replay a graph: graphs asked for, no
        gradients, CUDA and, for a field with a fused kernel, the call taking it."""
        if self.graphs is None or torch.is_grad_enabled() or like.device.type != "cuda":
            return False
        return self.fused is None or self.fused_applies(like)

    def render_graph_key(self, like: torch.Tensor, shapes: tuple) -> tuple | None:
        """The RenderGraphs key of a fixed-shape render (`shapes`: everything that sets its shapes and settings;
        `like`: a tensor on its device), or None where graphs do not apply (`graphs_apply`). The key holds the
        autocast state and the weights' versions."""
        if not self.graphs_apply(like):
            return None
        precision = (torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda"))
        # walked afresh each render, so that a replaced parameter shows
        return shapes + (precision,) + tuple((p._version, p.data_ptr()) for p in self.field.module_parameters())

    def _graph_weights(self) -> object:
        """What a render graph reads of the field, held with it: its parameters (a fused kernel packs or reads them
        within the graph)."""
        return tuple(self.field.parameters())

    def __call__(
        self, points: torch.Tensor, directions: torch.Tensor, *codes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.fused_applies(points):
            return self.fused(points, directions, *codes)
        if self.training_kernels_apply(points):
            return self.field.forward_with(
                points, directions, *codes, film_sine=self.film_sine, input_alignment=self.film_sine_alignment
            )
        if self.compiled is not None:
            return self.compiled(points, directions, *codes)
        return self.field(points, directions, *codes)
