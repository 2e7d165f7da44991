"""The sampler and compositor's compiled form (pix2nerf.rendering.ray_stages) against the reference stages on the CPU:
each stage traced as one graph (torch.compile's "aot_eager" backend: the same forward and backward graphs that
inductor fuses on a GPU), same values and gradients from the same generator, deterministic and stochastic."""

import dataclasses

import pytest
import torch

from pix2nerf import Pix2NeRF, Pix2NeRFConfig
from pix2nerf.rendering.ray_stages import REFERENCE_RAY_STAGES, compiled_ray_stages
from pix2nerf.rendering.volume import RaySamplingSettings, render_rays

BASE = RaySamplingSettings(near=0.7, far=1.3, num_steps=8)
SETTINGS = {
    "deterministic": BASE,
    "stochastic": dataclasses.replace(BASE, deterministic=False, noise_std=0.5),
    "last_sample": dataclasses.replace(BASE, deterministic=False, background="last_sample"),
    "coarse_only": dataclasses.replace(BASE, hierarchical=False, deterministic=False, noise_std=0.5),
}


class BlobField(torch.nn.Module):
    """A density blob at the origin with learnable colour and density maps: gradients reach both passes."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.color = torch.nn.Linear(6, 3)
        self.density = torch.nn.Linear(3, 1)

    def forward(self, points, directions):
        rgb = torch.sigmoid(self.color(torch.cat([points * 4, directions], -1)))
        sigma = 60 * (0.25 - points.norm(dim=-1)) + 5 * self.density(points)[..., 0]
        return rgb, sigma


def rays(batch=2, num_rays=12):
    generator = torch.Generator().manual_seed(3)
    origins = torch.nn.functional.normalize(torch.randn(batch, 3, generator=generator), dim=-1)
    jitter = 0.15 * torch.randn(batch, num_rays, 3, generator=generator)
    return origins, torch.nn.functional.normalize(jitter - origins[:, None, :], dim=-1)


def render_with_gradients(stages, settings):
    field = BlobField()
    origins, directions = rays()
    outputs = render_rays(
        field, origins, directions, settings, generator=torch.Generator().manual_seed(1), stages=stages
    )
    loss = sum((out * torch.linspace(0.5, 1.5, out.numel()).view_as(out)).sum() for out in outputs)
    loss.backward()
    return outputs, [p.grad for p in field.parameters()]


@pytest.mark.parametrize("name", SETTINGS)
def test_compiled_stages_match_reference(name):
    settings = SETTINGS[name]
    outputs, grads = render_with_gradients(REFERENCE_RAY_STAGES, settings)
    compiled_outputs, compiled_grads = render_with_gradients(compiled_ray_stages("aot_eager"), settings)
    if settings.background == "white":  # rays that miss and rays that hit the blob
        assert outputs[2].min() < 0.05 < 0.95 < outputs[2].max()
    for got, expected in zip(compiled_outputs + tuple(compiled_grads), outputs + tuple(grads)):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_model_renders_through_the_runners_stages():
    config = Pix2NeRFConfig.from_preset("tiny")
    model = Pix2NeRF(config, kernels="reference").eval()
    runner = model.field_runner()
    assert runner.ray_stages is REFERENCE_RAY_STAGES  # on the CPU the reference path runs
    codes = model.field.latent_codes(model.sample_latents(2, torch.Generator().manual_seed(0)))
    yaw, pitch = torch.tensor([30.0, -60.0]), torch.tensor([10.0, 20.0])
    settings = SETTINGS["stochastic"]

    def render(stages):
        runner.ray_stages = stages
        generator = torch.Generator().manual_seed(2)
        return model.render_codes(codes, yaw, pitch, 16, settings, generator=generator, field=runner)

    reference, compiled = render(REFERENCE_RAY_STAGES), render(compiled_ray_stages("aot_eager"))
    for name in ("rgb", "depth", "opacity"):
        torch.testing.assert_close(getattr(compiled, name), getattr(reference, name), rtol=1e-5, atol=1e-6)


def test_every_inductor_graph_takes_the_projects_options(monkeypatch, tiny_model):
    """The ray stages and a FieldRunner's field compile with INDUCTOR_OPTIONS (no padded matrix-product shapes: with
    them, a dynamic-shape graph first compiled at 64 px failed at 128 px on a GPU)."""
    from pix2nerf.kernels import runner
    from pix2nerf.rendering.ray_stages import INDUCTOR_OPTIONS

    calls = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: calls.append(kwargs) or fn)
    compiled_ray_stages.__wrapped__("inductor")
    assert len(calls) == 3 and all(call["options"] == INDUCTOR_OPTIONS for call in calls)
    monkeypatch.setattr(runner, "triton_available", lambda device: True)
    monkeypatch.setattr(runner, "compiled_ray_stages", lambda: REFERENCE_RAY_STAGES)
    runner.FieldRunner(tiny_model.field, "compile", graphs=False)
    assert calls[-1] == {"dynamic": True, "options": INDUCTOR_OPTIONS} and INDUCTOR_OPTIONS == {"shape_padding": False}
