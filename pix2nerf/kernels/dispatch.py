"""Fast paths for the field on CUDA, chosen automatically behind the same API.

- precision "fp16": matmuls on tensor cores in float16 under autocast; the FiLM (gamma * (W h + c) + beta) and the
  sine stay in float32 (see pix2nerf.fields.siren.FiLMSirenLayer), as the official training did.
- the fused field (pix2nerf.kernels.fused_siren, Triton): for inference under fp16, one kernel takes each tile of points
  through every layer without writing activations to memory.
- CUDA graphs of whole renders with fixed shapes on that kernel (RenderGraphs): one launch instead of ~100.
- in training under fp16 (`FastField.training_kernels`, set by the trainer's default field_kernels="auto"), each
  FiLM-SIREN layer with gradients as Triton kernels (pix2nerf.kernels.siren_layers): product, FiLM and sine in one
  kernel each way, recomputing the product in the backward pass instead of storing it.
- a compiled field (torch.compile) everywhere else on CUDA (training in fp32 or bf16, field_kernels="compile"): fuses
  the FiLM and sine into few kernels and, in training, recomputes those cheap pointwise ops in the backward pass.
All are off on the CPU, where the plain float32 path runs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import torch

from pix2nerf.fields.siren import RadianceField, film_sine_function

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_precision(precision: str, device: torch.device) -> str:
    """ "auto" -> "fp16" on CUDA, "fp32" elsewhere; other names are checked and returned."""
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {sorted(PRECISIONS)}, got {precision!r}")
    return precision


def autocast(precision: str, device: torch.device):
    """The autocast context of a resolved precision name."""
    dtype = PRECISIONS[precision]
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def compile_available(device: torch.device) -> bool:
    """torch.compile's GPU backend needs CUDA and Triton."""
    if device.type != "cuda":
        return False
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


_enabled = {"fused": True, "graphs": True}


@contextmanager
def fast_paths(fused: bool = True, graphs: bool = True) -> Iterator[None]:
    """Turn the fused inference kernel and the render graphs on or off inside the block (benchmarks compare them
    with torch.compile alone, and graphed renders with renders launched op by op)."""
    previous = dict(_enabled)
    _enabled.update(fused=fused, graphs=graphs)
    try:
        yield
    finally:
        _enabled.update(previous)


class RenderGraphs:
    """CUDA graphs of whole renders whose shapes are fixed (every sample evaluated): a render launches ~100 small
    kernels from Python, which on a fast GPU take longer to launch than to run; a replay launches them at once.

    A key's first call runs normally; its second captures a graph (after a warm-up on a side stream); later
    calls copy their inputs into the graph's buffers and replay it. The key includes the parameters' versions, so
    changed weights capture again; `keep_alive()` (the weights the graph reads) is held with each graph. The
    `MAX_GRAPHS` most recent keys are kept, each with its own memory pool. A lock keeps threads from sharing a
    graph's buffers between copying in and reading out.
    """

    MAX_GRAPHS = 4
    MAX_SEEN = 64

    def __init__(self, keep_alive: Callable[[], object] = lambda: None) -> None:
        self.keep_alive = keep_alive
        self._graphs: OrderedDict[tuple, tuple] = OrderedDict()
        self._seen: OrderedDict[tuple, None] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, key: tuple, render: Callable[..., tuple[torch.Tensor, ...]], *inputs: torch.Tensor):
        """render(*inputs) -> tensors, replayed from a graph once the key was seen before."""
        with self._lock:
            entry = self._graphs.get(key)
            if entry is None and key not in self._seen:
                self._seen[key] = None
                while len(self._seen) > self.MAX_SEEN:
                    self._seen.popitem(last=False)
            elif entry is None:
                entry = self._graphs[key] = self._capture(render, inputs) + (self.keep_alive(),)
                while len(self._graphs) > self.MAX_GRAPHS:
                    self._graphs.popitem(last=False)
            if entry is not None:
                self._graphs.move_to_end(key)
                graph, static_inputs, static_outputs, _ = entry
                for buffer, value in zip(static_inputs, inputs):
                    buffer.copy_(value)
                graph.replay()
                return tuple(out.clone() for out in static_outputs)
        return render(*inputs)  # a key's first call runs as launched

    @staticmethod
    def _capture(render, inputs):
        static_inputs = [value.clone() for value in inputs]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            render(*static_inputs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_outputs = render(*static_inputs)
        return graph, static_inputs, static_outputs


def _fp16_on_cuda(points: torch.Tensor) -> bool:
    return points.is_cuda and torch.is_autocast_enabled("cuda") and torch.get_autocast_dtype("cuda") == torch.float16


class FastField:
    """`field.forward` (same signature, results within fp16 rounding) through the fastest path that applies: under
    fp16 autocast on CUDA the fused Triton kernel without gradients; with gradients, the field with its FiLM-sine
    layers on Triton kernels if `training_kernels` is set; else the compiled field. `film_sine_alignment`: the
    width multiple those kernels take their inputs in without a padding copy."""

    def __init__(self, field: RadianceField) -> None:
        self.field = field
        self.compiled = torch.compile(field.forward, dynamic=True)
        self.fused = self.film_sine = None
        self.film_sine_alignment = 1
        self.training_kernels = False
        self.graphs = RenderGraphs(keep_alive=lambda: self.fused._packed)
        try:
            from pix2nerf.kernels.fused_siren import FusedRadianceField, supports
            from pix2nerf.kernels.siren_layers import ALIGNMENT, TritonFiLMSine
        except ImportError:  # no Triton: the compiled field alone
            return
        if supports(field):
            self.fused, self.film_sine = FusedRadianceField(field), TritonFiLMSine.apply
            self.film_sine_alignment = ALIGNMENT

    def fused_applies(self, points: torch.Tensor) -> bool:
        """Whether a call on `points` now takes the fused kernel: CUDA, no gradients, fp16 autocast."""
        return _enabled["fused"] and self.fused is not None and not torch.is_grad_enabled() and _fp16_on_cuda(points)

    def training_kernels_apply(self, points: torch.Tensor) -> bool:
        """Whether a call on `points` now runs the field with Triton FiLM-sine kernels: asked for, CUDA, gradients,
        fp16."""
        return (
            self.training_kernels and self.film_sine is not None and torch.is_grad_enabled() and _fp16_on_cuda(points)
        )

    def render_graph_key(self, like: torch.Tensor, shapes: tuple) -> tuple | None:
        """The RenderGraphs key of a fixed-shape render (`shapes`: everything that sets its shapes and settings;
        `like`: a tensor on its device) whose field calls take the fused kernel, or None where graphs do not apply."""
        if not (_enabled["graphs"] and self.fused_applies(like)):
            return None
        return shapes + tuple((p._version, p.data_ptr()) for p in self.field.parameters())

    def __call__(
        self, points: torch.Tensor, directions: torch.Tensor, frequencies: torch.Tensor, phase_shifts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.fused_applies(points):
            return self.fused(points, directions, frequencies, phase_shifts)
        if self.training_kernels_apply(points):
            with film_sine_function(self.film_sine, input_alignment=self.film_sine_alignment):
                return self.field(points, directions, frequencies, phase_shifts)
        return self.compiled(points, directions, frequencies, phase_shifts)

    def __deepcopy__(self, memo: dict) -> None:
        return None  # a copied field (an EMA shadow, say) makes its own fast paths when first asked


def fast_field(field: RadianceField) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """The field's FastField, made once per field (needs compile_available)."""
    fast = getattr(field, "_fast_field", None)
    if fast is None:
        fast = FastField(field)
        object.__setattr__(field, "_fast_field", fast)
    return fast
