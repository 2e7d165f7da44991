"""The Triton kernels, run on the CPU by Triton's interpreter (TRITON_INTERPRET=1, in a subprocess since the flag is
read when a kernel is defined): the fused inference kernel against a float64 emulation of the fp16 path's numerics,
the training FiLM-sine kernels against the reference layer's gradients."""

import importlib.util
import textwrap

import pytest
from triton_interpreter import run_interpreted

pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")

CHECK = textwrap.dedent(
    """
    import torch
    from pix2nerf import Pix2NeRFConfig
    from pix2nerf.fields.siren import FREQUENCY_OFFSET, FREQUENCY_SCALE, SirenField
    from pix2nerf.kernels.fused_siren import FusedSirenField

    def fp16_numerics(field, points, directions, frequencies, phase_shifts):
        # float64, with the hidden and colour matmuls' operands rounded to float16 as on the tensor cores
        hidden = field.hidden_dim
        gammas = (FREQUENCY_SCALE * frequencies.double() + FREQUENCY_OFFSET).split(hidden, -1)
        betas = phase_shifts.double().split(hidden, -1)
        half = lambda t: t.half().double()
        film = lambda pre, i: torch.sin(gammas[i][:, None] * pre + betas[i][:, None])
        first = field.film_layers[0].linear
        h = film(points.double() * field.input_scale @ first.weight.double().T + first.bias.double(), 0)
        for i, layer in enumerate(field.film_layers[1:], start=1):
            h = film(half(h) @ half(layer.linear.weight).T + layer.linear.bias.double(), i)
        sigma = (h @ field.density_head.weight.double().T + field.density_head.bias.double())[..., 0]
        color = field.color_film.linear
        weight = color.weight.double()
        pre = half(h) @ half(weight[:, 3:]).T + directions.double() @ weight[:, :3].T + color.bias.double()
        head = field.color_head
        rgb = torch.sigmoid(film(pre, len(gammas) - 1) @ head.weight.double().T + head.bias.double())
        return rgb, sigma

    torch.manual_seed(0)
    config = Pix2NeRFConfig.from_preset("carla", hidden_dim=32, mapping_hidden_dim=32, z_dim=16, num_siren_layers=4)
    field = SirenField(config).eval()
    with torch.no_grad():  # densities of tens and saturated colours, as a trained field has
        field.density_head.weight.mul_(30)
        field.color_head.weight.mul_(10)
    fused = FusedSirenField(field)
    for batch, num_points in [(2, 100), (1, 64), (3, 1)]:  # partial and whole blocks, several latents
        points = torch.rand(batch, num_points, 3) * 0.3 - 0.15
        directions = torch.nn.functional.normalize(torch.randn(batch, num_points, 3), dim=-1)
        codes = field.latent_codes(torch.rand(batch, 16) * 2 - 1)
        with torch.no_grad():
            rgb, sigma = fused(points, directions, *codes)
            rgb_ref, sigma_ref = fp16_numerics(field, points, directions, *codes)
            rgb_fp32, sigma_fp32 = field(points, directions, *codes)
        assert rgb.shape == (batch, num_points, 3) and sigma.shape == (batch, num_points)
        assert torch.isfinite(rgb).all() and torch.isfinite(sigma).all()
        # the same function: most outputs agree to float32 rounding; a float16 rounding that falls the other
        # way moves a few by up to about one float16 step through the later layers
        assert (sigma - sigma_ref).abs().median() < 1e-5, (sigma - sigma_ref).abs().median()
        assert (rgb - rgb_ref).abs().median() < 1e-6
        assert (sigma - sigma_ref).abs().max() < 0.05 and (rgb - rgb_ref).abs().max() < 5e-3
        # and within float16 rounding of the float32 field
        assert (sigma - sigma_fp32).abs().max() < 0.05 and (rgb - rgb_fp32).abs().max() < 5e-3

    # changed weights are repacked
    with torch.no_grad():
        field.density_head.bias.add_(1.0)
        moved = fused(points, directions, *codes)[1]
    assert torch.allclose(moved, sigma + 1.0, atol=1e-5)
    rgb, sigma = fused(torch.zeros(3, 0, 3), torch.zeros(3, 0, 3), *codes)
    assert rgb.shape == (3, 0, 3) and sigma.shape == (3, 0)
    print("ok")
    """
)


TRAINING_CHECK = textwrap.dedent(
    """
    import torch
    from pix2nerf import Pix2NeRFConfig
    from pix2nerf.fields.siren import SirenField, recomputed_film_sine
    from pix2nerf.kernels.siren_layers import TritonFiLMSine

    torch.manual_seed(0)
    # one layer: forward and every gradient against the float32 reference, for several latents and partial blocks,
    # a width that is not a multiple of 8 (35) and one multiplied without tensor cores (3)
    for num_points, width, dtype in [
        (70, 32, torch.float32), (600, 32, torch.float32), (33, 32, torch.float16), (50, 35, torch.float16),
        (40, 3, torch.float32),
    ]:
        x = torch.randn(2, num_points, width).to(dtype).requires_grad_()
        weight = (torch.randn(16, width) * 0.1).to(dtype).requires_grad_()
        bias = (torch.randn(16) * 0.1).requires_grad_()
        gamma = (torch.rand(2, 16) * 20 + 20).requires_grad_()
        beta = torch.randn(2, 16).requires_grad_()
        grad_out = torch.randn(2, num_points, 16)
        outputs = []
        for function in (recomputed_film_sine, TritonFiLMSine.apply):
            out = function(x, weight, bias, gamma, beta, torch.float32)
            grads = torch.autograd.grad(out, (x, weight, bias, gamma, beta), grad_out)
            outputs.append((out, *grads))
        tolerance = 1e-4 if dtype == torch.float32 else 2e-2
        for name, ref, got in zip(["out", "x", "weight", "bias", "gamma", "beta"], *outputs):
            error = ((got.float() - ref.float()).norm() / ref.float().norm()).item()
            assert error < tolerance, (name, width, dtype, error)

    # a whole field: the kernels inside give the reference's gradients
    config = Pix2NeRFConfig.from_preset("carla", hidden_dim=32, mapping_hidden_dim=32, z_dim=16, num_siren_layers=3)
    field = SirenField(config)
    points = torch.rand(2, 50, 3) * 0.3 - 0.15
    directions = torch.nn.functional.normalize(torch.randn(2, 50, 3), dim=-1)
    z = torch.rand(2, 16) * 2 - 1
    results = []
    # the reference, then the kernels on the colour input as it is (35 channels) and built 40 wide
    for function, alignment in [(None, 1), (TritonFiLMSine.apply, 1), (TritonFiLMSine.apply, 8)]:
        field.zero_grad()
        if function is None:
            rgb, sigma = field(points, directions, *field.latent_codes(z))
        else:
            codes = field.latent_codes(z)
            rgb, sigma = field.forward_with(points, directions, *codes, film_sine=function, input_alignment=alignment)
        (rgb.square().sum() + sigma.sum()).backward()
        results.append([p.grad.clone() for p in field.parameters()])
    for got_results in results[1:]:
        for ref, got in zip(results[0], got_results):
            assert ((got - ref).norm() / ref.norm().clamp_min(1e-12)).item() < 1e-4
    print("ok")
    """
)


def test_training_kernels_match_the_reference_gradients():
    run_interpreted(TRAINING_CHECK)


def test_fused_kernel_matches_fp16_numerics():
    run_interpreted(CHECK)


def test_field_runner_kernel_choice_on_the_cpu():
    """The kernel choice belongs to the runner: on a CPU "auto" is the reference maths (same values as the field),
    the GPU kernels are refused with a clear error, two models keep their own choices, and a copied field (an EMA
    shadow) carries no runner state."""
    import copy

    import pytest
    import torch

    from pix2nerf import Pix2NeRF, Pix2NeRFConfig
    from pix2nerf.kernels.runner import FieldRunner, resolve_kernels

    config = Pix2NeRFConfig.from_preset("tiny")
    model, other = Pix2NeRF(config), Pix2NeRF(config, kernels="reference")
    runner = model.field_runner()
    assert runner.kernels == "reference" and runner.fused is None and runner.graphs is None
    assert "kernels='reference'" in repr(runner) and "kernels='auto'" in repr(model)
    points = torch.rand(1, 8, 3) - 0.5
    directions = torch.nn.functional.normalize(torch.randn(1, 8, 3), dim=-1)
    codes = model.field.latent_codes(model.sample_latents(1))
    with torch.no_grad():
        assert all(
            torch.equal(a, b)
            for a, b in zip(runner(points, directions, *codes), model.field(points, directions, *codes))
        )
        assert runner.render_graph_key(points, (1, 16)) is None
    for kernels in ("compile", "triton"):
        with pytest.raises(ValueError, match="needs CUDA and Triton"):
            resolve_kernels(kernels, model.field, torch.device("cpu"))
    with pytest.raises(ValueError, match="kernels must be one of"):
        FieldRunner(model.field, "fastest")
    model.use_kernels("reference", graphs=False)
    assert (model.kernels, other.kernels) == ("reference", "reference") and model.field_runner() is not runner
    other.use_kernels("auto")
    assert model.kernels == "reference"
    assert set(vars(copy.deepcopy(model.field))) == set(vars(model.field))


def test_field_runner_compiles_a_synthesis_network_and_gives_the_fields_codes(monkeypatch):
    """A compiling runner compiles a field's synthesis network (the tri-plane's; the SIREN has none) and its
    latent_codes are the field's: at psi 1 the codes built from the styles, truncated ones the field's own path; the
    reference runner calls the field."""
    import torch

    from pix2nerf import Pix2NeRF, Pix2NeRFConfig
    from pix2nerf.kernels import runner as runners

    torch.manual_seed(0)
    triplane = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny_triplane")).field
    z = torch.randn(2, triplane.z_dim)
    reference = runners.FieldRunner(triplane, "reference")
    assert reference.synthesis is None
    assert torch.equal(reference.latent_codes(z)[0], triplane.latent_codes(z)[0])
    monkeypatch.setattr(runners, "triton_available", lambda device: True)  # CUDA stood in for
    compiled = runners.FieldRunner(triplane, "compile")
    assert compiled.synthesis is not None
    assert runners.FieldRunner(Pix2NeRF(Pix2NeRFConfig.from_preset("tiny")).field, "compile").synthesis is None
    calls = []
    compiled.synthesis = lambda *styles: calls.append(styles) or triplane.codes_from_styles(*styles)  # no compiler
    with torch.no_grad():
        assert torch.equal(compiled.latent_codes(z)[0], triplane.latent_codes(z)[0]) and len(calls) == 1
        assert torch.equal(compiled.latent_codes(z, psi=0.7)[0], triplane.latent_codes(z, psi=0.7)[0])
    assert len(calls) == 1  # truncated: the field's own path


def test_render_graphs_run_first_capture_second_then_replay():
    """RenderGraphs' bookkeeping on a CPU, with a stand-in for the CUDA graph that replays the captured function."""
    import torch

    from pix2nerf.kernels.render_graphs import RenderGraphs

    class StandInGraph:
        def __init__(self, render, inputs):
            self.render, self.inputs = render, inputs
            self.outputs = render(*inputs)

        def replay(self):
            for out, new in zip(self.outputs, self.render(*self.inputs)):
                out.copy_(new)

    class CPURenderGraphs(RenderGraphs):
        @staticmethod
        def _capture(render, static_inputs):
            graph = StandInGraph(render, static_inputs)
            return graph, graph.outputs

    calls = []

    def render(x):
        calls.append(x.clone())
        return (x * 2, x + 1)

    graphs = CPURenderGraphs(keep_alive=lambda: "weights")
    for value in [1.0, 2.0, 3.0, 4.0]:
        doubled, plus_one = graphs(("key",), render, torch.full((3,), value))
        assert torch.equal(doubled, torch.full((3,), 2 * value)) and torch.equal(plus_one, torch.full((3,), value + 1))
    assert list(graphs._graphs) == [("key", (False,))] and graphs._graphs["key", (False,)][3] == "weights"
    assert len(calls) == 5  # launched, captured (the capture runs it once) and replayed three times
    returned = graphs(("key",), render, torch.zeros(3))[0]
    returned += 1  # outputs are copies: the graph's buffers stay its own
    assert torch.equal(graphs(("key",), render, torch.zeros(3))[0], torch.zeros(3))
    for index in range(RenderGraphs.MAX_GRAPHS + 1):  # older graphs are dropped
        for _ in range(2):
            graphs((index,), render, torch.ones(1))
    assert len(graphs._graphs) == RenderGraphs.MAX_GRAPHS and ("key", (False,)) not in graphs._graphs

    # one row expanded over the batch (one latent's codes for every view) stays one row in the graph's buffer
    graphs, calls = CPURenderGraphs(), []
    for value in [1.0, 2.0, 3.0]:
        shared = torch.full((1, 3), value).expand(4, 3)
        assert torch.equal(graphs(("views",), render, shared)[0], torch.full((4, 3), 2 * value))
    (buffer,) = graphs._graphs["views", (True,)][2]
    assert buffer.stride(0) == 0 and len(calls) == 4
    own_rows = torch.arange(12.0).view(4, 3)  # rows of their own, the same shape: another graph, first launched
    assert torch.equal(graphs(("views",), render, own_rows)[0], 2 * own_rows) and len(graphs._graphs) == 1


def test_render_graph_keys_need_cuda_no_gradients_and_the_fused_kernel_where_a_field_has_one():
    """FieldRunner.render_graph_key's rule, with stand-ins for a CUDA tensor and the render graphs on a CPU: renders
    without gradients on CUDA get a key holding the autocast state and the weights' versions (a tri-plane with
    graphs="all"), and a SIREN's only where its fused kernel runs; graphs="all" needs compiled kernels."""
    from types import SimpleNamespace

    import pytest
    import torch

    from pix2nerf import Pix2NeRF, Pix2NeRFConfig
    from pix2nerf.kernels.runner import FieldRunner

    cuda_like = SimpleNamespace(device=torch.device("cuda"), is_cuda=True)
    triplane_field = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny_triplane")).field
    assert FieldRunner(triplane_field, "reference", graphs="all").graphs is None  # op by op: no graphs
    with pytest.raises(ValueError, match="graphs must be True, False or 'all', got 'always'"):
        FieldRunner(triplane_field, "reference", graphs="always")
    triplane = FieldRunner(triplane_field, "reference")
    triplane.graphs = "render graphs"  # as graphs="all" gives a compiled runner on CUDA
    with torch.no_grad():
        key = triplane.render_graph_key(cuda_like, (1, 16))
        assert key[:2] == (1, 16) and key[2] == (torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda"))
        assert len(key) == 3 + len(list(triplane.field.parameters()))
        assert triplane.render_graph_key(torch.zeros(1), (1, 16)) is None  # not on CUDA
    assert triplane.render_graph_key(cuda_like, (1, 16)) is None  # gradients on
    with torch.no_grad():
        next(triplane.field.parameters()).add_(1)
        changed = triplane.render_graph_key(cuda_like, (1, 16))
        assert changed != key  # changed weights: another graph
        head = triplane.field.decoder[-1]
        head.bias = torch.nn.Parameter(head.bias.detach().clone())  # the same values in a new parameter
        assert triplane.render_graph_key(cuda_like, (1, 16)) != changed  # replaced weights: another graph too
    assert triplane._graph_weights() == tuple(triplane.field.parameters())
    siren = Pix2NeRF(Pix2NeRFConfig.from_preset("tiny")).field_runner()
    siren.graphs, siren.fused = "render graphs", "fused kernel"
    with torch.no_grad():
        assert siren.render_graph_key(cuda_like, (1, 16)) is None  # fp32: the fused kernel does not run
