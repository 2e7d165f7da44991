"""The tri-plane's Triton plane gather (pix2nerf.kernels.plane_gather), run on the CPU by Triton's interpreter
(TRITON_INTERPRET=1, in a subprocess since the flag is read at import), against `F.embedding_bag`: values and
gradients of the gather alone and of the whole field, and the runner's choice of it."""

from __future__ import annotations

import importlib.util
import textwrap

import pytest
from triton_interpreter import run_interpreted

pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")

GATHER_CHECK = textwrap.dedent(
    """
    import functools

    import pytest
    import torch
    import torch.nn.functional as F

    from pix2nerf.kernels.plane_gather import plane_gather

    torch.manual_seed(0)
    reference = lambda i, w, t: F.embedding_bag(i, t, per_sample_weights=w, mode="sum")  # noqa: E731
    # several programs with a ragged end; channels not a power of 2; no rows
    for rows, channels in ((70, 32), (5, 6), (0, 8), (150, 8)):
        table = torch.randn(40, channels, requires_grad=True)
        index = torch.randint(0, 40, (rows, 12), dtype=torch.int32)
        index[:, 1] = index[:, 0]  # repeated texels within a row and across rows: the adds must all land
        index[10:30, 2] = 7  # a run of equal texels in consecutive rows (a ray's samples in one texel)
        index[60:70, 3] = 5  # and one across two programs' rows (64 each)
        weights = torch.rand(rows, 12, requires_grad=True)
        grad = torch.randn(rows, channels)
        results = []
        for gather in (reference, plane_gather, functools.partial(plane_gather, atomic_semantics="acq_rel")):
            table.grad = weights.grad = None
            out = gather(index, weights, table)
            (out * grad).sum().backward()
            results.append((out.detach(), table.grad.clone(), weights.grad.clone()))
        for result in results[1:]:
            for got, want in zip(result, results[0]):
                assert got.shape == want.shape and torch.allclose(got, want, atol=1e-5, rtol=1e-5), (rows, channels)
    # only the table's gradient when the weights need none
    table = torch.randn(10, 4, requires_grad=True)
    weights = torch.rand(3, 12)
    plane_gather(torch.zeros(3, 12, dtype=torch.int32), weights, table).sum().backward()
    assert torch.allclose(table.grad[0], weights.sum().expand(4)) and table.grad[1:].abs().sum() == 0
    with pytest.raises(ValueError, match="atomic_semantics must be one of relaxed, acq_rel"):
        plane_gather(torch.zeros(3, 12, dtype=torch.int32), weights, table, atomic_semantics="seq_cst")
    torch.use_deterministic_algorithms(True)
    with pytest.raises(RuntimeError, match="not deterministic"):
        plane_gather(torch.zeros(3, 12, dtype=torch.int32), weights, table)
    with torch.no_grad():  # no table gradient, no atomic adds: deterministic
        plane_gather(torch.zeros(3, 12, dtype=torch.int32), weights, table)
    torch.use_deterministic_algorithms(True, warn_only=True)
    with pytest.warns(UserWarning, match="not deterministic"):
        plane_gather(torch.zeros(3, 12, dtype=torch.int32), weights, table)
    print("ok")
    """
)

FIELD_CHECK = textwrap.dedent(
    """
    import torch

    from pix2nerf import Pix2NeRF, Pix2NeRFConfig
    from pix2nerf.kernels import runner as runners
    from pix2nerf.fields.triplane import embedding_bag_gather
    from pix2nerf.kernels.plane_gather import plane_gather

    torch.manual_seed(0)
    model = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny_triplane"))
    field = model.field
    z = model.sample_latents(2)
    points = ((torch.rand(2, 50, 3) - 0.5) * 2.4 * field.half_size).requires_grad_()  # some outside the box
    directions = torch.nn.functional.normalize(torch.randn(2, 50, 3), dim=-1)
    results = []
    for gather in (plane_gather, embedding_bag_gather):
        field.zero_grad()
        points.grad = None
        (planes,) = field.latent_codes(z)  # the synthesis network's parameters get gradients too
        rgb, sigma = field.forward_with(points, directions, planes, gather=gather)
        (rgb.square().sum() + sigma.sum()).backward()
        results.append([rgb, sigma, points.grad, *(p.grad for p in field.parameters() if p.grad is not None)])
    assert len(results[0]) == len(results[1]) > 3
    for got, want in zip(*results):
        assert torch.allclose(got, want, atol=1e-4, rtol=1e-4), (got - want).abs().max()

    # the runner takes the gather for kernels "triton" and "auto" (CUDA stood in for by the interpreter)
    runners.triton_available = lambda device: True
    assert runners.resolve_kernels("auto", field, field.device) == "triton"
    runner = runners.FieldRunner(field, "triton")
    assert runner.kernels == "triton" and runner.fused is None and not runner.training_kernels
    assert runner.field_forward.keywords["gather"] is plane_gather
    # compiled around the gather (a graph break at it), as the runner compiles it; aot_eager: no C++ compiler here
    compiled = torch.compile(runner.field_forward, dynamic=True, backend="aot_eager")
    for forward in (compiled, field.forward):
        field.zero_grad()
        points.grad = None
        (planes,) = field.latent_codes(z)
        rgb, sigma = forward(points, directions, planes)
        (rgb.square().sum() + sigma.sum()).backward()
        results.append([rgb, sigma, points.grad, *(p.grad for p in field.parameters() if p.grad is not None)])
    assert len(results[2]) == len(results[3]) == len(results[1])
    for got, want in zip(results[2], results[3]):
        assert torch.allclose(got, want, atol=1e-4, rtol=1e-4), (got - want).abs().max()
    print("ok")
    """
)


def test_plane_gather_matches_embedding_bag_values_and_gradients():
    run_interpreted(GATHER_CHECK)


def test_triplane_field_with_the_triton_gather_matches_its_reference_and_the_runner_takes_it_for_triton():
    run_interpreted(FIELD_CHECK)
