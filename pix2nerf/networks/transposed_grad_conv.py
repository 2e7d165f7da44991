"""A 2D convolution whose input gradient is built from a transposed convolution, for penalties on input gradients.

R1 differentiates D's gradient with respect to its input images once more. PyTorch's generic double backward of a
convolution obtains the weight's share of that second derivative with a convolution whose kernel is the whole output
gradient (batch and channels swapped, dilated by the stride), which cuDNN serves with a slow fallback kernel
(`implicit_convolve_sgemm`). Here the backward pass writes the input gradient as `conv_transpose2d(grad_out, weight)`,
so the second derivative is that transposed convolution's own backward: a standard weight gradient and a standard
convolution. Values and first and second derivatives are those of `F.conv2d` (groups 1, dilation 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class _TransposedGradConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride: int, padding: int, input_only_when_creating_graph: bool):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        ctx.input_only_when_creating_graph = input_only_when_creating_graph
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        stride, padding = ctx.stride, ctx.padding
        # a backward that builds a graph (create_graph) for an input-gradient penalty needs the input's gradient only
        parameters = not (ctx.input_only_when_creating_graph and torch.is_grad_enabled())
        grad_x = grad_weight = grad_bias = None
        with torch.autocast(grad_out.device.type, enabled=False):  # the forward's dtype, whatever the caller's autocast
            if ctx.needs_input_grad[0]:
                kernel = weight.shape[-2:]
                output_padding = [
                    size - ((out - 1) * stride - 2 * padding + k)
                    for size, out, k in zip(x.shape[-2:], grad_out.shape[-2:], kernel)
                ]
                grad_x = F.conv_transpose2d(grad_out, weight, None, stride, padding, output_padding)
            if ctx.needs_input_grad[1] and parameters:
                grad_weight = torch.nn.grad.conv2d_weight(x, weight.shape, grad_out, stride, padding)
            if ctx.has_bias and ctx.needs_input_grad[2] and parameters:
                grad_bias = grad_out.sum((0, 2, 3))
        return grad_x, grad_weight, grad_bias, None, None, None


def transposed_grad_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int = 1,
    padding: int = 0,
    *,
    input_only_when_creating_graph: bool = False,
) -> torch.Tensor:
    """`F.conv2d(x, weight, bias, stride, padding)`: x (B, C, H, W), weight (O, C, k, k) -> (B, O, H', W'); under
    autocast, in its dtype (the casts stay outside the function, so both backward passes see one dtype).

    input_only_when_creating_graph: a backward pass that builds a graph (`create_graph=True`, as R1's first one)
    returns no weight and bias gradients, which an input-gradient penalty discards (saves one weight-gradient
    convolution there); a plain backward returns them all."""
    device = x.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        x, weight = x.to(dtype), weight.to(dtype)
        bias = bias.to(dtype) if bias is not None else None
    with torch.autocast(device, enabled=False):
        return _TransposedGradConv2d.apply(x, weight, bias, stride, padding, input_only_when_creating_graph)
