"""conv2d: cross-correlation, as every engine computes it (NCHW)."""

from typing import NamedTuple

import numpy as np
from backprop_crosscheck.reference.layers.kind import Kind, bilinear


class ConvSaved(NamedTuple):
    padded_shape: tuple  # the zero-padded input's (N, C, H + 2p, W + 2p)
    cols: np.ndarray  # the im2col matrix the forward multiplied
    stride: int
    padding: int


# #   y[n, f, a, b] = Σ_c Σ_i Σ_j x_pad[n, c, s·a + i, s·b + j] · K[f, c, i, j] + bias[f]
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


CONV2D = Kind(
    "conv2d",
    says="y[n,f,a,b] = Σ_c,i,j x_pad[n,c,s·a+i,s·b+j]·kernel[f,c,i,j] + bias[f]",
    dx_says="dE/dy full-correlated with the flipped kernel",
    parameters={
        "kernel": "Σ over positions of the input window · dE/dy",
        "bias": "Σ over samples and positions of dE/dy",
    },
    forward=conv2d_forward,
    backward=conv2d_backward,
    **bilinear(conv2d_forward, conv2d_backward),
    settings={"stride": 1, "padding": 0},
    optional=("bias",),
)
