"""The radiance field's recomputing FiLM-sine layer and its precision policy."""

from __future__ import annotations

import torch

from pix2nerf.fields.siren import FiLMSirenLayer, _RecomputedFiLMSine


def test_recomputed_film_sine_gradients_match_float64_autograd():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    gamma = (torch.rand(2, 3, dtype=torch.float64) * 15 + 30).requires_grad_()
    beta = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)

    def film(x, weight, bias, gamma, beta):
        return _RecomputedFiLMSine.apply(x, weight, bias, gamma, beta)

    assert torch.autograd.gradcheck(film, (x, weight, bias, gamma, beta))


def test_layer_with_and_without_gradients_agree():
    torch.manual_seed(0)
    layer = FiLMSirenLayer(8, 6)
    x = torch.randn(2, 7, 8)
    gamma, beta = torch.rand(2, 6) * 15 + 30, torch.randn(2, 6)
    with torch.no_grad():
        plain = layer(x, gamma, beta)
    recomputed = layer(x.requires_grad_(), gamma, beta)
    assert torch.equal(plain, recomputed)
    reference = torch.sin(gamma[:, None] * layer.linear(x) + beta[:, None])
    recomputed.sum().backward()
    grad_recomputed = x.grad.clone()
    x.grad = None
    reference.sum().backward()
    torch.testing.assert_close(grad_recomputed, x.grad, rtol=1e-5, atol=1e-6)
