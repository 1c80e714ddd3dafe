"""One layer kind, written together as one row (``Kind``): its parameters, as a case file
gives them, with each gradient in words; its settings and their defaults; its forward pass and
its backward (the VJP: given dE/dy, dE/dx and each parameter's gradient, one chain-rule factor
per line); its R-operator for H·v (reference/hvp.py); its forward in words. What a backward
keeps from its forward is a named tuple. Adding a kind is adding a row (layers/__init__.py).

The signatures every row keeps (``settings``: the layer's settings, and dropout's mask):

    forward(x, params, **settings) -> (y, saved)
    backward(dy, saved, params) -> (dx, {parameter: dE/dparameter})
    r_forward(x, r_x, params, v, saved, **settings) -> R{y}
    r_backward(x, r_x, dy, r_dy, saved, params, v, **settings) -> (R{dx}, {parameter: H·v})

R{t} is t's derivative along v (hvp.py): v's part for the layer's parameters is ``v``, R{x} its
input's. A layer linear in its input has R{y} = forward(R{x}) and R{dx} = backward(R{dy})
(``linear``); one bilinear in (x, its weights) is its row twice (``bilinear``).
"""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

BIASES = ("b", "bias")  # parameters added, not multiplied: a bilinear row's R{·} has one term


class Kind(NamedTuple):
    name: str
    says: str  # its forward pass in words
    dx_says: str  # dE/dx from dE/dy, in words
    parameters: dict  # parameter -> its gradient from dE/dy, in words, in case-file order
    forward: Callable
    backward: Callable
    r_forward: Callable | None = None  # None: the stack runs it (residual)
    r_backward: Callable | None = None
    settings: dict = {}  # setting -> its default
    optional: tuple = ()  # parameters a case may leave out (a bias before a batch norm)
    couples_samples: bool = False  # its output for one sample depends on the others


def linear(forward, backward) -> dict:
    """The R-operator of a layer linear in its input (and with no parameter): R{y} = f(R{x}),
    R{dx} = the backward of R{dy} (max-pool with its choice held fixed; pools, flatten,
    dropout)."""

    def r_forward(x, r_x, params, v, saved, **settings):
        return forward(r_x, params, **settings)[0]

    def r_backward(x, r_x, dy, r_dy, saved, params, v, **settings):
        return backward(r_dy, saved, params)

    return {"r_forward": r_forward, "r_backward": r_backward}


def bilinear(forward, backward) -> dict:
    """The R-operator of y = x∘W + b, bilinear in (x, W): R{y} = R{x}∘W + x∘V_W + V_b, the row
    twice; its backward likewise — R{dx}, R{dW} = row(R{dy}; x, W) + row(dy; R{x}, V)."""

    def r_forward(x, r_x, params, v, saved, **settings):
        no_bias = {k: np.zeros_like(p) if k in BIASES else p for k, p in params.items()}
        return forward(r_x, no_bias, **settings)[0] + forward(x, v, **settings)[0]

    def r_backward(x, r_x, dy, r_dy, saved, params, v, **settings):
        r_dx, g1 = backward(r_dy, saved, params)  # the row at (R{dy}; x, W)
        _, moved = forward(r_x, params, **settings)
        r_dx2, _ = backward(dy, saved, v)  # … plus at (dy; x, V) for dx
        _, g3 = backward(dy, moved, params)  # … and at (dy; R{x}, W) for dW
        return r_dx + r_dx2, {p: g1[p] + (0 if p in BIASES else g3[p]) for p in g1}

    return {"r_forward": r_forward, "r_backward": r_backward}
