"""Activation functions and their derivatives, derived by hand.

Each derivative is written in terms of the pre-activation ``z`` and the activation ``a = f(z)``,
whichever makes the calculus shortest.
"""

from typing import NamedTuple

import numpy as np


class Activation(NamedTuple):
    forward: object  # f(z)
    derivative: object  # f'(z), given (z, a)


def _sigmoid(z):
    # 1 / (1 + e^-z) written through tanh: the same function, no overflow for large |z|
    return 0.5 * (1.0 + np.tanh(0.5 * z))


ACTIVATIONS = {
    "identity": Activation(lambda z: z, lambda z, a: np.ones_like(z)),
    # d sigmoid/dz = s·(1 − s)
    "sigmoid": Activation(_sigmoid, lambda z, a: a * (1 - a)),
    # d tanh/dz = 1 − tanh²
    "tanh": Activation(np.tanh, lambda z, a: 1 - a * a),
    # d relu/dz = 1 where z > 0, else 0 (0 at the kink, as PyTorch and JAX define it)
    "relu": Activation(lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(z.dtype)),
}
