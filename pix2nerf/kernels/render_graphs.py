"""CUDA graphs of whole renders with fixed shapes: one launch instead of ~100 small kernels launched from Python."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import torch


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
        """render(*inputs) -> tensors, replayed from a graph once the key was seen before. Inputs whose rows are one
        row expanded (stride 0: one latent's codes for every view) stay so in the graph's buffers, and the key
        tells them apart from inputs with rows of their own."""
        key = key + (tuple(_one_row_expanded(value) for value in inputs),)
        with self._lock:
            entry = self._graphs.get(key)
            if entry is None and key not in self._seen:
                self._seen[key] = None
                while len(self._seen) > self.MAX_SEEN:
                    self._seen.popitem(last=False)
            elif entry is None:
                static_inputs = [_static_copy(value) for value in inputs]
                entry = self._graphs[key] = (*self._capture(render, static_inputs), static_inputs, self.keep_alive())
                while len(self._graphs) > self.MAX_GRAPHS:
                    self._graphs.popitem(last=False)
            if entry is not None:
                self._graphs.move_to_end(key)
                graph, static_outputs, static_inputs, _ = entry
                for buffer, value in zip(static_inputs, inputs):  # the same expanded rows: the key holds them
                    if _one_row_expanded(buffer):
                        buffer, value = buffer[:1], value[:1]
                    buffer.copy_(value)
                graph.replay()
                return tuple(out.clone() for out in static_outputs)
        return render(*inputs)  # a key's first call runs as launched

    @staticmethod
    def _capture(render, static_inputs):
        """(graph, its outputs) of render(*static_inputs), after a warm-up on a side stream."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            render(*static_inputs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: other threads (a training run's pin-memory thread) may call CUDA while this one captures
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            static_outputs = render(*static_inputs)
        return graph, static_outputs


def _one_row_expanded(value: torch.Tensor) -> bool:
    """Whether the rows of `value` are one row expanded (stride 0 along a first axis longer than 1)."""
    return value.dim() > 0 and value.shape[0] > 1 and value.stride(0) == 0


def _static_copy(value: torch.Tensor) -> torch.Tensor:
    """A graph's buffer for `value`: a copy, one row expanded where `value` is."""
    return value[:1].clone().expand_as(value) if _one_row_expanded(value) else value.clone()
