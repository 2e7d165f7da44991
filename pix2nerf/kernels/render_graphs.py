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
        # thread_local: other threads (a training run's pin-memory thread) may call CUDA while this one captures
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            static_outputs = render(*static_inputs)
        return graph, static_inputs, static_outputs
