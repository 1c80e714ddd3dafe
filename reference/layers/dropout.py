"""dropout with a given mask (inverted: kept entries scaled by 1/(1 − p))."""

from typing import NamedTuple

import numpy as np
from backprop_crosscheck.reference.layers.kind import Kind, linear


class DropoutSaved(NamedTuple):
    mask: np.ndarray
    p: float


def dropout_forward(x, params, mask, p: float):
    return x * mask / (1 - p), DropoutSaved(mask, p)


def dropout_backward(dy, saved, params):
    mask, p = saved
    return dy * mask / (1 - p), {}  # dy/dx = mask/(1 − p): the rescale is in the backward too


DROPOUT = Kind(
    "dropout",
    says="x ⊙ mask/(1 − p)",
    dx_says="dE/dy ⊙ mask/(1 − p)",
    parameters={},
    forward=dropout_forward,
    backward=dropout_backward,
    **linear(dropout_forward, dropout_backward),
    settings={"p": 0.5},
)
