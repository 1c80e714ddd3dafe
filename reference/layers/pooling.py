"""The pools: max_pool2d (the gradient to each window's first maximum) and avg_pool2d (1/k²
of it to each of the window's k² inputs), and the windows both read."""

import functools
from typing import NamedTuple

import numpy as np
from backprop_crosscheck.reference.layers.kind import Kind, linear
from numpy.lib.stride_tricks import sliding_window_view


class MaxPoolSaved(NamedTuple):
    shape: tuple  # the input's
    windows: np.ndarray  # (N, C, Ho, Wo, k, k): every window, a view
    y: np.ndarray  # each window's maximum
    stride: int


class AvgPoolSaved(NamedTuple):
    shape: tuple  # the input's
    window_shape: tuple
    stride: int


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


def max_pool2d_r_forward(x, r_x, params, v, saved, **settings):
    """R{y}: each window's first maximum — the entry the forward chose — moved along v."""
    _, win, y, stride = saved
    moved = windows(r_x, win.shape[4], win.shape[5], stride)
    kw = win.shape[5]
    return sum(
        np.where(at, moved[..., k // kw, k % kw], 0) for k, at in enumerate(first_maximum(win, y))
    )


MAX_POOL2D = Kind(
    "max_pool2d",
    says="the maximum of each window",
    dx_says="dE/dy routed to each window's first maximum",
    parameters={},
    forward=max_pool2d_forward,
    backward=max_pool2d_backward,
    r_forward=max_pool2d_r_forward,
    r_backward=linear(max_pool2d_forward, max_pool2d_backward)[
        "r_backward"
    ],  # its choice held fixed
    settings={"size": 2, "stride": 2},
)
AVG_POOL2D = Kind(
    "avg_pool2d",
    says="the mean of each window",
    dx_says="dE/dy / k² to every entry of its window",
    parameters={},
    forward=avg_pool2d_forward,
    backward=avg_pool2d_backward,
    **linear(avg_pool2d_forward, avg_pool2d_backward),
    settings={"size": 2, "stride": 2},
)
