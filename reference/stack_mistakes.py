"""The classic mistakes in the layers of a layer stack (reference/stack.py), each one layer's
row (reference/layers.py) with one line changed — what a learner's derivation or an engine with
that mistake computes. reference/mistakes.py trains a case with them; the diagnosis names them.
"""

import math

import numpy as np
from backprop_crosscheck.reference import layers
from backprop_crosscheck.reference.stack import ROWS

# name -> (the layer kind it needs, what it is, as a learner would say it)
STACK_MISTAKES = {
    "conv_no_flip": (
        "conv2d",
        "the convolution's input gradient without the kernel flip: dE/dy "
        "correlated with K where the flipped K belongs",
    ),
    "maxpool_to_all": (
        "max_pool2d",
        "max-pool's gradient sent to every position of its window, not to the maximum alone",
    ),
    "maxpool_averaged": (
        "max_pool2d",
        "max-pool's gradient averaged over its window (avg-pool's backward)",
    ),
    "bn_constant_stats": (
        "batch_norm",
        "batch norm's backward treating the batch mean and "
        "variance as constants: dx = γ·dy/√(σ² + ε)",
    ),
    "bn_unbiased_variance": (
        "batch_norm",
        "batch norm's variance unbiased (÷ (n − 1)) in "
        "training mode, where the biased one (÷ n) belongs",
    ),
    "dropout_no_rescale": ("dropout", "dropout's rescale 1/(1 − p) missing from the backward"),
    "embedding_overwrite": (
        "embedding",
        "an embedding's gradient overwritten, not accumulated, for repeated indices",
    ),
    "residual_no_identity": (
        "residual",
        "a residual block's gradient missing its identity path (dx = d block/dx alone)",
    ),
}


def _conv_no_flip(dy, saved, params):
    unflipped = {**params, "kernel": params["kernel"][..., ::-1, ::-1]}  # undoes the flip
    dx, _ = layers.conv2d_backward(dy, saved, unflipped)
    return dx, layers.conv2d_backward(dy, saved, params)[1]  # the kernel's gradient is right


def _maxpool_to_all(dy, saved, params, share=1):
    shape, win, _, stride = saved
    d_win = np.broadcast_to((dy * share)[..., None, None], win.shape)  # to every position
    return layers.scatter_windows(d_win, shape, stride), {}


def _maxpool_averaged(dy, saved, params):
    kh, kw = saved.windows.shape[4:]
    return _maxpool_to_all(dy, saved, params, 1 / (kh * kw))


def _bn_constant_stats(dy, saved, params):
    x, mu, var, xhat, axes, eps = saved
    dx, grads = layers.batch_norm_backward(dy, saved, params)
    shape = (1, -1) if len(axes) == 1 else (1, -1, 1, 1)
    return dy * params["gamma"].reshape(shape) / np.sqrt(var + eps), grads  # μ, σ² held fixed


def _bn_unbiased_forward(x, params, eps=1e-5):
    """Training-mode batch norm with σ²_u = σ²·n/(n − 1): x̂_u = (x − μ)/√(σ²_u + ε)
    = c·(x − μ)/√(σ² + c²ε) with c = √((n − 1)/n) — the reference's row with ε·c² and γ·c."""
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    n = math.prod(x.shape[a] for a in axes)
    c = math.sqrt((n - 1) / n)
    y, saved = layers.batch_norm_forward(x, {**params, "gamma": params["gamma"] * c}, eps * c * c)
    return y, (saved, c)


def _bn_unbiased_backward(dy, saved, params):
    inner, c = saved
    dx, grads = layers.batch_norm_backward(dy, inner, {**params, "gamma": params["gamma"] * c})
    return dx, {**grads, "gamma": grads["gamma"] * c}  # dy/dγ = c·x̂ (the row's x̂ is c-free)


def _dropout_no_rescale(dy, saved, params):
    mask, p = saved
    return dy * mask, {}  # the 1/(1 − p) forgotten


def _embedding_overwrite(dy, saved, params):
    d_table = np.zeros_like(params["table"])
    d_table[saved] = dy  # assigned: a row picked twice keeps one of its gradients
    return None, {"table": d_table}


def _residual_no_identity(dy, saved, params, block_backward):
    return block_backward(dy, saved, params)  # dy + d_block was meant


CHANGED = {
    "conv_no_flip": {"conv2d": (layers.conv2d_forward, _conv_no_flip)},
    "maxpool_to_all": {"max_pool2d": (layers.max_pool2d_forward, _maxpool_to_all)},
    "maxpool_averaged": {"max_pool2d": (layers.max_pool2d_forward, _maxpool_averaged)},
    "bn_constant_stats": {"batch_norm": (layers.batch_norm_forward, _bn_constant_stats)},
    "bn_unbiased_variance": {"batch_norm": (_bn_unbiased_forward, _bn_unbiased_backward)},
    "dropout_no_rescale": {"dropout": (layers.dropout_forward, _dropout_no_rescale)},
    "embedding_overwrite": {"embedding": (layers.embedding_forward, _embedding_overwrite)},
    "residual_no_identity": {"residual": (layers.residual_forward, _residual_no_identity)},
}


def mistaken_rows(mistake: str) -> dict:
    """The rows a stack runs with ``mistake``: ROWS with one layer's changed."""
    return {**ROWS, **CHANGED.get(mistake, {})}
