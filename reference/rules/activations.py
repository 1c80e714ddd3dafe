"""Activation functions with their first and second derivatives, derived by hand: one row each.

Each derivative is written in terms of the pre-activation ``z`` and the activation ``a = f(z)``,
whichever makes the calculus shortest. f″ is what the Hessian-vector product needs.
``activation(name, leaky_slope)`` is the row a case uses (leaky_relu's slope is the case's).
"""

import math
from typing import NamedTuple

import numpy as np
from backprop_crosscheck.reference.rules.erf import erf


class Activation(NamedTuple):
    f: object  # f(z)
    fprime: object  # f′(z), given (z, a)
    fsecond: object  # f″(z), given (z, a)


LEAKY_SLOPE = 0.01  # leaky_relu's slope for z < 0 where a case names none (torch's, JAX's)
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
GELU_TANH_K = 0.044715  # the tanh approximation's cubic coefficient (Hendrycks & Gimpel 2016)


def sigmoid(z, xp=np):
    """1 / (1 + e^-z) written through tanh: the same function, no overflow for large |z|.
    ``xp``: the array namespace (a framework backend passes its own)."""
    return 0.5 * (1.0 + xp.tanh(0.5 * z))


def gelu_tanh(z, xp=np):
    """½·z·(1 + tanh(√(2/π)·(z + k·z³))), PyTorch's approximate="tanh" (k = GELU_TANH_K)."""
    return 0.5 * z * (1 + xp.tanh(SQRT_2_OVER_PI * (z + GELU_TANH_K * z * z * z)))


def _zeros(z, a):
    return np.zeros_like(z)


def _Phi(z):  # the standard normal's distribution function Φ(z) = ½·(1 + erf(z/√2))
    return 0.5 * (1.0 + erf(z / math.sqrt(2)))  # erf: reference/rules/erf.py (NumPy has none)


def _phi(z):  # its density φ(z) = e^(−z²/2) / √(2π) = Φ′(z)
    return np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _gelu_tanh_parts(z):
    """u = √(2/π)·(z + k·z³), t = tanh u, u′ = √(2/π)·(1 + 3k·z²), u″ = √(2/π)·6k·z."""
    u = SQRT_2_OVER_PI * (z + GELU_TANH_K * z**3)
    du = SQRT_2_OVER_PI * (1 + 3 * GELU_TANH_K * z * z)
    return np.tanh(u), du, SQRT_2_OVER_PI * 6 * GELU_TANH_K * z


def _gelu_tanh_fprime(z, a):
    # f = ½·z·(1 + t):  f′ = ½·(1 + t) + ½·z·(1 − t²)·u′
    t, du, _ = _gelu_tanh_parts(z)
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * du


def _gelu_tanh_fsecond(z, a):
    # d/dz ½(1 + t) = ½(1 − t²)u′;  d/dz ½·z·(1 − t²)·u′ = ½(1 − t²)u′ + ½·z·(1 − t²)(u″ − 2t·u′²)
    t, du, d2u = _gelu_tanh_parts(z)
    return (1 - t * t) * du + 0.5 * z * (1 - t * t) * (d2u - 2 * t * du * du)


def leaky_relu(slope: float) -> Activation:
    # f = z for z > 0, slope·z otherwise;  f′ = 1 or slope (slope at the kink z = 0, as torch
    # defines it; JAX's jax.nn.leaky_relu takes 1 there);  f″ = 0
    return Activation(
        lambda z: np.where(z > 0, z, slope * z),
        lambda z, a: np.where(z > 0, 1.0, slope).astype(z.dtype),
        _zeros,
    )


ACTIVATIONS = {
    "identity": Activation(lambda z: z, lambda z, a: np.ones_like(z), _zeros),
    # σ′ = σ·(1 − σ);   σ″ = d/dz [σ(1 − σ)] = σ(1 − σ)(1 − 2σ)
    "sigmoid": Activation(
        sigmoid, lambda z, a: a * (1 - a), lambda z, a: a * (1 - a) * (1 - 2 * a)
    ),
    # tanh′ = 1 − tanh²;   tanh″ = d/dz [1 − t²] = −2t(1 − t²)
    "tanh": Activation(np.tanh, lambda z, a: 1 - a * a, lambda z, a: -2 * a * (1 - a * a)),
    # relu′ = 1 where z > 0, else 0 (0 at the kink, as PyTorch and JAX define it);  relu″ = 0
    "relu": Activation(lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(z.dtype), _zeros),
    "leaky_relu": leaky_relu(LEAKY_SLOPE),  # the case's own slope: activation(name, slope)
    # softplus = log(1 + e^z), as logaddexp(0, z): no overflow;  softplus′ = σ(z);  ″ = σ(1 − σ)
    "softplus": Activation(
        lambda z: np.logaddexp(0.0, z),
        lambda z, a: sigmoid(z),
        lambda z, a: sigmoid(z) * (1 - sigmoid(z)),
    ),
    # gelu = z·Φ(z);  gelu′ = Φ(z) + z·φ(z);  gelu″ = φ + d/dz[z·φ] = φ + φ·(1 − z²) = φ·(2 − z²)
    "gelu": Activation(
        lambda z: z * _Phi(z),
        lambda z, a: _Phi(z) + z * _phi(z),
        lambda z, a: _phi(z) * (2 - z * z),
    ),
    # gelu_tanh = ½·z·(1 + tanh(√(2/π)·(z + 0.044715·z³))), PyTorch's approximate="tanh"
    "gelu_tanh": Activation(gelu_tanh, _gelu_tanh_fprime, _gelu_tanh_fsecond),
}
KINKED = ("relu", "leaky_relu")  # not differentiable at z = 0


def activation(name: str, leaky_slope: float = LEAKY_SLOPE) -> Activation:
    """The row of ``name``; leaky_relu's with the case's slope."""
    return leaky_relu(leaky_slope) if name == "leaky_relu" else ACTIVATIONS[name]
