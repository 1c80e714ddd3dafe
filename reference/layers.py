"""The layers a layer-stack case (reference/stack.py, docs/layers.md) is built from, forward
and backward by hand (NumPy only); each row is held to central differences of its own forward
pass and to torch (tests/test_layers_reference.py).

Every row is a pair: ``forward(x, params) -> (y, saved)`` and ``backward(dy, saved, params) ->
(dx, {name: dE/dname})`` — the VJP: given dE/dy, the chain rule's factors for dE/dx and for
each parameter, one per line, with the derivation beside it. Images are NCHW (samples,
channels, height, width), as torch and cuDNN lay them out.
"""

import functools
import math
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# --- what each forward keeps for its backward, by name --------------------------------------


class ConvSaved(NamedTuple):
    padded_shape: tuple  # the zero-padded input's (N, C, H + 2p, W + 2p)
    cols: np.ndarray  # the im2col matrix the forward multiplied
    stride: int
    padding: int


class MaxPoolSaved(NamedTuple):
    shape: tuple  # the input's
    windows: np.ndarray  # (N, C, Ho, Wo, k, k): every window, a view
    y: np.ndarray  # each window's maximum
    stride: int


class AvgPoolSaved(NamedTuple):
    shape: tuple  # the input's
    window_shape: tuple
    stride: int


class NormSaved(NamedTuple):
    x: np.ndarray
    mu: np.ndarray
    var: np.ndarray
    xhat: np.ndarray
    axes: tuple  # the axes normalized over
    eps: float


class DropoutSaved(NamedTuple):
    mask: np.ndarray
    p: float


def windows(x, kh: int, kw: int, stride: int):
    """Every kh×kw window of x (N, C, H, W) at the stride: (N, C, Ho, Wo, kh, kw), a view."""
    return sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]


def scatter_windows(dwin, shape, stride: int):
    """The adjoint of windows: each window's gradient added back where it was read from (a
    pixel in two windows gets both): (N, C, Ho, Wo, kh, kw) -> (N, C, H, W)."""
    dx = np.zeros(shape, dtype=dwin.dtype)
    _, _, ho, wo, kh, kw = dwin.shape
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride] += dwin[..., i, j]
    return dx


# --- dense: the article's layer, z = x·W + b (its activation a row of its own) ------------


def dense_forward(x, params):
    z = x @ params["W"]
    return (z + params["b"] if "b" in params else z), x  # a bias is optional


def dense_backward(dy, saved, params):
    x = saved
    grads = {"W": x.T @ dy}  # dz/dW = xᵀ (per sample)
    if "b" in params:
        grads["b"] = dy.sum(axis=0)  # dz/db = 1
    return dy @ params["W"].T, grads  # dz/dx = W (the OLD W)


# --- conv2d: cross-correlation, as every engine computes it --------------------------------
#   y[n, f, a, b] = Σ_c Σ_i Σ_j x_pad[n, c, s·a + i, s·b + j] · K[f, c, i, j] + bias[f]
# In matrix form (im2col): row (c, i, j) of ``cols`` holds what K[f, c, i, j] meets at every
# output place (n, a, b) — the strided slice x_pad[n, c, i::s, j::s] — so that y = K·cols, one
# matrix product (BLAS), with K as F rows of C·kh·kw.


def zero_padded(x, p: int):
    """x with p zeros around each image (np.pad's constant mode, which costs ~50 µs of Python a
    call — most of finite differences' time on a small conv net)."""
    if p == 0:
        return x
    n, c, h, w = x.shape
    out = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=x.dtype)
    out[:, :, p : p + h, p : p + w] = x
    return out


def conv2d_forward(x, params, stride: int = 1, padding: int = 0):
    p, kernel = padding, params["kernel"]
    x_pad = zero_padded(x, p)
    f, c, kh, kw = kernel.shape
    n, h, w = x_pad.shape[0], x_pad.shape[2], x_pad.shape[3]
    ho, wo = (h - kh) // stride + 1, (w - kw) // stride + 1
    cols = np.empty((c, kh, kw, n, ho, wo), dtype=x_pad.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = x_pad[
                :, :, i : i + stride * ho : stride, j : j + stride * wo : stride
            ].transpose(1, 0, 2, 3)
    cols = cols.reshape(c * kh * kw, n * ho * wo)
    y = kernel.reshape(f, -1) @ cols  # (F, N·Ho·Wo)
    if "bias" in params:  # a bias is optional
        y = y + params["bias"][:, None]
    return y.reshape(f, n, ho, wo).transpose(1, 0, 2, 3), ConvSaved(x_pad.shape, cols, stride, p)


def conv2d_backward(dy, saved, params):
    shape, cols, stride, p = saved
    kernel = params["kernel"]
    f, c, kh, kw = kernel.shape
    n, _, ho, wo = dy.shape
    d_y = dy.transpose(1, 0, 2, 3).reshape(f, -1)  # dE/dy: F rows, one column per output place
    d_kernel = (d_y @ cols.T).reshape(kernel.shape)  # dy/dK[f,c,i,j] = x_pad[n,c,s·a+i,s·b+j]
    grads = {"kernel": d_kernel}
    if "bias" in params:
        grads["bias"] = d_y.sum(axis=1)  # dy/dbias[f] = 1 at every position
    # dy/dx_pad[n, c, s·a + i, s·b + j] = K[f, c, i, j]: row (c, i, j) of d_cols, per place
    d_cols = (kernel.reshape(f, -1).T @ d_y).reshape(c, kh, kw, n, ho, wo)
    # each window's share added back where it came from: correlation of dy with the flipped
    # kernel, the "full" convolution
    dx_pad = np.zeros(shape, dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i, i + stride * ho, stride)  # the inputs K[:, :, i, j] met
            columns = slice(j, j + stride * wo, stride)
            dx_pad[:, :, rows, columns] += d_cols[:, i, j].transpose(1, 0, 2, 3)
    dx = dx_pad[:, :, p : shape[2] - p, p : shape[3] - p]  # the padding has no gradient
    return dx, grads


# --- max_pool2d: the gradient goes to the window's maximum ---------------------------------
# Ties: to the first maximum in the window's row-major order (torch's CPU kernel keeps the
# first, `val > maxval`; XLA's select_and_scatter with `ge` keeps the selected first one).


def max_pool2d_forward(x, params, size: int = 2, stride: int = 2):
    win = windows(x, size, size, stride)  # (N, C, Ho, Wo, k, k), a view
    y = functools.reduce(np.maximum, (win[..., i, j] for i in range(size) for j in range(size)))
    return y, MaxPoolSaved(x.shape, win, y, stride)


def first_maximum(win, y) -> list:
    """For each entry k of the windows (row-major), where it is its window's first maximum."""
    taken, places = np.zeros(y.shape, dtype=bool), []
    for i in range(win.shape[4]):
        for j in range(win.shape[5]):
            at = (win[..., i, j] == y) & ~taken  # a maximum no earlier entry already was
            taken |= at
            places.append(at)
    return places


def max_pool2d_backward(dy, saved, params):
    shape, win, y, stride = saved
    (_, _, ho, wo, _, size), dx = win.shape, np.zeros(shape, dtype=dy.dtype)
    for k, at in enumerate(first_maximum(win, y)):
        i, j = divmod(k, size)  # dy/dx = 1 at the window's (first) maximum, 0 elsewhere
        place = dx[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride]
        if stride >= size:  # windows apart: each input is in one window at most
            np.multiply(dy, at, out=place)
        else:  # overlapping windows: an input's shares from each are added
            place += dy * at
    return dx, {}


# --- avg_pool2d: each of the window's k² inputs gets 1/k² of it ------------------------------


def avg_pool2d_forward(x, params, size: int = 2, stride: int = 2):
    win = windows(x, size, size, stride)
    return win.mean(axis=(-2, -1)), AvgPoolSaved(x.shape, win.shape, stride)


def avg_pool2d_backward(dy, saved, params):
    shape, win_shape, stride = saved
    k2 = win_shape[4] * win_shape[5]
    d_win = np.broadcast_to((dy / k2)[..., None, None], win_shape)  # dy/dx = 1/k² in the window
    return scatter_windows(d_win, shape, stride), {}


# --- flatten ---------------------------------------------------------------------------------


def flatten_forward(x, params):
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dy, saved, params):
    return dy.reshape(saved), {}  # a reshape: every entry's gradient is its own


# --- normalization: batch_norm (over the batch) and layer_norm (over a sample's features) ---
#   μ = mean(x), σ² = mean((x − μ)²) (biased, as training mode uses), x̂ = (x − μ)/√(σ² + ε),
#   y = γ·x̂ + β — the backward runs through μ and σ², not around them.


def _normalize(x, gamma, beta, axes, eps, mean_error=0.0):
    # mean_error: the rounding of μ, in units of max|x| (reference/rounding.py); exact: 0
    mu = x.mean(axis=axes, keepdims=True) + mean_error * np.abs(x).max(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, NormSaved(x, mu, var, xhat, axes, eps)


def _normalize_backward(dy, saved, gamma, param_axes):
    x, mu, var, xhat, axes, eps = saved
    m = math.prod(x.shape[a] for a in axes)  # a Python int: it keeps float32 float32
    d_gamma = (dy * xhat).sum(axis=param_axes)  # dy/dγ = x̂
    d_beta = dy.sum(axis=param_axes)  # dy/dβ = 1
    d_xhat = dy * gamma  # dy/dx̂ = γ
    inv = 1 / np.sqrt(var + eps)
    d_var = np.sum(d_xhat * (x - mu) * -0.5 * inv**3, axis=axes, keepdims=True)  # dx̂/dσ²
    d_mu = np.sum(-d_xhat * inv, axis=axes, keepdims=True) + d_var * np.mean(
        -2 * (x - mu), axis=axes, keepdims=True
    )  # dx̂/dμ directly, and through σ² (dσ²/dμ = mean(−2(x − μ)), zero here but written)
    dx = d_xhat * inv + d_var * 2 * (x - mu) / m + d_mu / m  # dx̂/dx, dσ²/dx, dμ/dx = 1/m
    return dx, {"gamma": d_gamma, "beta": d_beta}


def batch_norm_forward(x, params, eps: float = 1e-5, mean_error=0.0):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)  # per feature, or per channel of an image
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    gamma, beta = params["gamma"].reshape(shape), params["beta"].reshape(shape)
    return _normalize(x, gamma, beta, axes, eps, mean_error)


def batch_norm_backward(dy, saved, params):
    axes = saved.axes
    shape = (1, -1) if len(axes) == 1 else (1, -1, 1, 1)
    return _normalize_backward(dy, saved, params["gamma"].reshape(shape), axes)


def layer_norm_forward(x, params, eps: float = 1e-5, mean_error=0.0):
    return _normalize(x, params["gamma"], params["beta"], (-1,), eps, mean_error)


def layer_norm_backward(dy, saved, params):
    return _normalize_backward(dy, saved, params["gamma"], tuple(range(dy.ndim - 1)))


# --- dropout with a given mask (inverted: kept entries scaled by 1/(1 − p)) ---------------


def dropout_forward(x, params, mask, p: float):
    return x * mask / (1 - p), DropoutSaved(mask, p)


def dropout_backward(dy, saved, params):
    mask, p = saved
    return dy * mask / (1 - p), {}  # dy/dx = mask/(1 − p): the rescale is in the backward too


# --- embedding: rows of a table by index; its gradient a scatter-add ----------------------


def embedding_forward(indices, params):
    return params["table"][indices], indices


def embedding_backward(dy, saved, params):
    d_table = np.zeros_like(params["table"])
    np.add.at(d_table, saved, dy)  # a row picked twice gets both gradients (added, not kept)
    return None, {"table": d_table}  # integer inputs: no gradient


# --- residual: y = x + block(x) -------------------------------------------------------------


def residual_forward(x, params, block_forward):
    out, saved = block_forward(x, params)
    return x + out, saved


def residual_backward(dy, saved, params, block_backward):
    d_block, grads = block_backward(dy, saved, params)
    return dy + d_block, grads  # dy/dx = 1 (the identity path) + d block/dx
