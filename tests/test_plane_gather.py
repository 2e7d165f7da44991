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


FUSED_CHECK = textwrap.dedent(
    """
    import pytest
    import torch

    from pix2nerf import Pix2NeRFConfig
    from pix2nerf.fields.triplane import BLOB_DENSITY, BLOB_RADIUS, TriplaneField, embedding_bag_gather
    from pix2nerf.kernels import runner as runners
    from pix2nerf.kernels.fused_triplane import FusedTriplaneField, supports

    def fp16_numerics(field, points, planes):
        # float64, the decoder's operands and hidden outputs rounded to float16 as under fp16 autocast
        half = lambda t: t.half().double()  # noqa: E731
        linears = [m for m in field.decoder if isinstance(m, torch.nn.Linear)]
        h = half(field._features(points, planes, embedding_bag_gather).double())
        for layer in linears[:-1]:
            h = half(torch.relu(h @ half(layer.weight).T + layer.bias.double()))
        out = h @ half(linears[-1].weight).T + linears[-1].bias.double()
        p = points.double()
        bump = BLOB_DENSITY * ((p * p).sum(-1) * (-1 / (BLOB_RADIUS * field.half_size) ** 2) + 1).relu()
        inside = (p.abs() <= field.half_size).all(-1)
        m = field.colour_margin
        return torch.sigmoid(out[..., 1:]) * (1 + 2 * m) - m, torch.where(inside, out[..., 0] + bump, 0.0)

    torch.manual_seed(0)
    assert not supports(TriplaneField(Pix2NeRFConfig.from_preset("tiny_triplane")))  # 8 channels: no tiles
    for layers, margin in ((2, 0.0), (3, 0.05)):  # no hidden layer, one; a colour margin
        config = Pix2NeRFConfig.from_preset(
            "tiny_triplane", triplane_channels=16, triplane_decoder_dim=32, triplane_decoder_layers=layers,
            triplane_colour_margin=margin,
        )
        field = TriplaneField(config).eval()
        with torch.no_grad():  # densities of tens, as a trained field has
            field.decoder[-1].weight.mul_(20)
        fused = FusedTriplaneField(field)
        # several programs with a ragged end; one point; one latent's planes expanded over the batch
        for batch, count, shared in ((2, 150, False), (3, 1, True), (1, 128, False)):
            with torch.no_grad():
                (planes,) = field.latent_codes(torch.randn(1 if shared else batch, config.z_dim))
                planes = (planes * 3).expand(batch, -1, -1, -1, -1)
                points = (torch.rand(batch, count, 3) - 0.5) * 2.4 * field.half_size  # some outside the box
                rgb, sigma = fused(points, points, planes)
                rgb_ref, sigma_ref = fp16_numerics(field, points, planes)
            assert rgb.shape == (batch, count, 3) and sigma.shape == (batch, count)
            assert (sigma[~(points.abs() <= field.half_size).all(-1)] == 0).all()
            # float32 sums in another order: where a float16 rounding of a hidden unit falls the other way, a
            # density of tens moves by up to about 1e-2
            assert (sigma - sigma_ref).abs().max() < 2e-2 and (rgb - rgb_ref).abs().max() < 1e-3
            assert (sigma - sigma_ref).abs().median() < 1e-5

    # the runner takes it for kernels "triton" where the sizes allow (CUDA stood in for by the interpreter)
    runners.triton_available = lambda device: True
    runner = runners.FieldRunner(field, "triton")
    assert isinstance(runner.fused, FusedTriplaneField)
    assert runner._graph_weights() == tuple(field.parameters())
    assert runners.FieldRunner(TriplaneField(Pix2NeRFConfig.from_preset("tiny_triplane")), "triton").fused is None
    with pytest.raises(ValueError, match="powers of two from 16 to 256"):
        FusedTriplaneField(TriplaneField(Pix2NeRFConfig.from_preset("tiny_triplane")))
    print("ok")
    """
)


def test_fused_triplane_kernel_matches_the_fp16_path_and_the_runner_takes_it():
    run_interpreted(FUSED_CHECK)
