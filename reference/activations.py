"""Activation functions with their first and second derivatives, derived by hand: one row each.

Each derivative is written in terms of the pre-activation ``z`` and the activation ``a = f(z)``,
whichever makes the calculus shortest. f″ is what the Hessian-vector product needs.
"""

from typing import NamedTuple

import numpy as np


class Activation(NamedTuple):
    f: object  # f(z)
    fprime: object  # f′(z), given (z, a)
    fsecond: object  # f″(z), given (z, a)


def _sigmoid(z):
    # 1 / (1 + e^-z) written through tanh: the same function, no overflow for large |z|
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _zeros(z, a):
    return np.zeros_like(z)


ACTIVATIONS = {
    "identity": Activation(lambda z: z, lambda z, a: np.ones_like(z), _zeros),
    # σ′ = σ·(1 − σ);   σ″ = d/dz [σ(1 − σ)] = σ(1 − σ)(1 − 2σ)
    "sigmoid": Activation(
        _sigmoid, lambda z, a: a * (1 - a), lambda z, a: a * (1 - a) * (1 - 2 * a)
    ),
    # tanh′ = 1 − tanh²;   tanh″ = d/dz [1 − t²] = −2t(1 − t²)
    "tanh": Activation(np.tanh, lambda z, a: 1 - a * a, lambda z, a: -2 * a * (1 - a * a)),
    # relu′ = 1 where z > 0, else 0 (0 at the kink, as PyTorch and JAX define it);  relu″ = 0
    "relu": Activation(lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(z.dtype), _zeros),
}
