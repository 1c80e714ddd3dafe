"""Deliberately wrong layers, in another engine: torch with one layer's backward broken the way
people break it — an independent implementation of each classic layer mistake (the reference's
own versions are in reference/mistakes.py), so that a test can hold the diagnosis to
naming it. Each is torch's own op forward; its backward changed by detach() or a Function."""

import torch
import torch.nn.functional as F
from backprop_crosscheck.backends.torch.backend import TorchBackend
from backprop_crosscheck.backends.torch.layers import torch_layers


class _ConvNoFlip(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kernel, bias, stride, padding):
        ctx.save_for_backward(x, kernel)
        ctx.conf, ctx.no_bias = (stride, padding), bias is None
        return F.conv2d(x, kernel, bias, stride, padding)

    @staticmethod
    def backward(ctx, g):
        x, kernel = ctx.saved_tensors
        stride, padding = ctx.conf
        dx = torch.nn.grad.conv2d_input(x.shape, kernel.flip(-1, -2), g, stride, padding)
        dk = torch.nn.grad.conv2d_weight(x, kernel.shape, g, stride, padding)
        return dx, dk, None if ctx.no_bias else g.sum((0, 2, 3)), None, None


class _Overwrite(torch.autograd.Function):
    @staticmethod
    def forward(ctx, indices, table):
        ctx.save_for_backward(indices)
        ctx.rows = table.shape
        return table[indices]

    @staticmethod
    def backward(ctx, g):
        (indices,) = ctx.saved_tensors
        d = g.new_zeros(ctx.rows)
        d[indices.reshape(-1)] = g.reshape(-1, ctx.rows[1])  # the last write wins
        return None, d


def _pooled_as(kind):
    """max-pool forward; backward of avg-pool (averaged) or of k²·avg-pool (to every entry)."""

    def op(x, p, layer):
        k, s = layer.settings["size"], layer.settings["stride"]
        avg = F.avg_pool2d(x, k, s) * (k * k if kind == "all" else 1)
        return (F.max_pool2d(x, k, s) - avg).detach() + avg

    return op


def _bn(x, p, layer, constant=False, unbiased=False):
    dims = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    mu = x.mean(dims, keepdim=True)
    var = x.var(dims, keepdim=True, unbiased=unbiased)
    if constant:
        mu, var = mu.detach(), var.detach()
    xhat = (x - mu) / torch.sqrt(var + layer.settings["eps"])
    return p["gamma"].reshape(shape) * xhat + p["beta"].reshape(shape)


BROKEN = {
    "conv_no_flip": {
        "conv2d": lambda x, p, layer: _ConvNoFlip.apply(
            x, p["kernel"], p.get("bias"), layer.settings["stride"], layer.settings["padding"]
        )
    },
    "maxpool_to_all": {"max_pool2d": _pooled_as("all")},
    "maxpool_averaged": {"max_pool2d": _pooled_as("average")},
    "bn_constant_stats": {"batch_norm": lambda x, p, layer: _bn(x, p, layer, constant=True)},
    "bn_unbiased_variance": {"batch_norm": lambda x, p, layer: _bn(x, p, layer, unbiased=True)},
    "embedding_overwrite": {"embedding": lambda x, p, layer: _Overwrite.apply(x, p["table"])},
}
# the two that are not an op of their own: dropout and the residual's sum
BROKEN_IN_THE_STACK = ("dropout_no_rescale", "residual_no_identity")


class StackMutant(TorchBackend):
    share_worker = False

    def __init__(self, bug: str):
        self.bug, self.name = bug, f"torch-{bug}"

    def setup(self, dtype, device):
        super().setup(dtype, device)
        self.layer_ops = {**torch_layers(torch), **BROKEN.get(self.bug, {})}

    def dropout(self, x, p, layer):
        y = super().dropout(x, p, layer)
        if self.bug != "dropout_no_rescale":
            return y
        kept = x * self.constant(layer.mask, x)
        return (y - kept).detach() + kept  # the forward rescaled, the backward not

    def layers(self, case, stack, params, x):
        if self.bug != "residual_no_identity" or not any(k.kind == "residual" for k in stack):
            return super().layers(case, stack, params, x)
        for layer in stack:  # the residual's identity path cut from the backward
            if layer.kind == "residual":
                x = x.detach() + super().layers(case, layer.block, params, x)
            else:
                x = super().layers(case, [layer], params, x)
        return x


STACK_BUGS = [*BROKEN, *BROKEN_IN_THE_STACK]
