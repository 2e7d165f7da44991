"""CUDA graphs of whole training iterations (renders, forward, backward, R1's double backward, unscale, clip, fused
Adam, the grad scalers' updates, the EMAs) whose shapes and settings are fixed: an iteration launches thousands of
small kernels from Python, which on a fast GPU take longer to launch than to run; a replay launches them at once."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch


class StepGraphs:
    """Runs `step(*inputs) -> {name: tensor}` for a key, the same computation as called directly.

    A key's first `warmup` calls (at least one) run as launched (they train, on a side stream, so that the graph's
    stream has its libraries' workspaces, the optimisers their state and grad scalers their scale tensors, which a
    capture would otherwise create and every replay reset); the next call captures a graph (capturing runs nothing)
    and replays it; later calls copy their inputs into the graph's buffers and replay. The key must hold everything
    a replay cannot change: shapes, dtypes, Python numbers the step reads (learning rates, fade-in alpha, whether R1
    runs). Optimisers must be built with `capturable=True`; random numbers come from CUDA's default generator, which
    advances on every replay. The `MAX_GRAPHS` most recent keys keep their graphs (pi-GAN's and Pix2NeRF's iterations,
    each with R1 and, with lazy R1, without). The graphs share one memory pool: they replay one
    at a time and each replay's outputs are copied out before the next, so one graph's scratch memory may be
    another's. `clear()` after replacing tensors a graph reads or writes (loading optimiser state). A capture that
    fails raises: the step's optimisers and scalers are then left mid-step, so the training run must stop.
    """

    MAX_GRAPHS = 4

    def __init__(self, warmup: int = 2) -> None:
        if not isinstance(warmup, int) or warmup < 1:
            raise ValueError(f"warmup must be an integer of at least 1, got {str(warmup)[:40]!r}")
        self.warmup = warmup
        self._graphs: OrderedDict[tuple, tuple] = OrderedDict()
        self._calls: dict[tuple, int] = {}
        self._stream: torch.cuda.Stream | None = None
        self._pool = None  # the graphs' memory pool, made at the first capture

    def __len__(self) -> int:
        """The number of graphs held."""
        return len(self._graphs)

    def clear(self) -> None:
        self._graphs.clear()
        self._calls.clear()
        self._pool = None

    def __call__(
        self, key: tuple, step: Callable[..., dict[str, torch.Tensor]], *inputs: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        entry = self._graphs.get(key)
        if entry is None:
            self._calls[key] = calls = self._calls.get(key, 0) + 1
            if calls <= self.warmup:
                return self._on_side_stream(step, inputs)
            del self._calls[key]
            entry = self._graphs[key] = self._capture(step, inputs)
            while len(self._graphs) > self.MAX_GRAPHS:
                self._graphs.popitem(last=False)
        self._graphs.move_to_end(key)
        graph, static_inputs, static_outputs = entry
        for buffer, value in zip(static_inputs, inputs):
            buffer.copy_(value)
        graph.replay()
        return {name: value.clone() for name, value in static_outputs.items()}

    def _side_stream(self) -> torch.cuda.Stream:
        if self._stream is None:
            self._stream = torch.cuda.Stream()
        return self._stream

    def _on_side_stream(self, step, inputs) -> dict[str, torch.Tensor]:
        side, main = self._side_stream(), torch.cuda.current_stream()
        side.wait_stream(main)
        with torch.cuda.stream(side):
            outputs = step(*inputs)
        main.wait_stream(side)
        return outputs

    def _capture(self, step, inputs) -> tuple:
        static_inputs = [value.detach().clone() for value in inputs]
        side = self._side_stream()
        side.wait_stream(torch.cuda.current_stream())
        graph = torch.cuda.CUDAGraph()
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        try:
            # thread_local: other threads (a DataLoader's pin-memory thread) may call CUDA while this one captures
            with torch.cuda.graph(graph, pool=self._pool, stream=side, capture_error_mode="thread_local"):
                static_outputs = step(*static_inputs)
        except RuntimeError as error:
            raise RuntimeError(
                f"capturing a training step as a CUDA graph failed ({error}); this run cannot go on: resume it from "
                "its last checkpoint with the step graphs off (--step_graphs off, or step_graphs=False)"
            ) from error
        return graph, static_inputs, static_outputs
