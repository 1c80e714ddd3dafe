"""Normalization: batch_norm (over the batch) and layer_norm (over a sample's features).

    μ = mean(x), σ² = mean((x − μ)²) (biased, as training mode uses), x̂ = (x − μ)/√(σ² + ε),
    y = γ·x̂ + β — the backward runs through μ and σ², not around them.

Along v (hvp.py), with s = √(σ² + ε): R{x − μ} = R{x} − mean(R{x}), R{σ²} = mean(2·(x − μ)·
R{x − μ}), R{s} = R{σ²}/2s, R{x̂} = R{x − μ}/s − (x − μ)·R{s}/s², R{y} = V_γ·x̂ + γ·R{x̂} + V_β;
the backward dx = (g − mean(g) − x̂·mean(g·x̂))/s with g = γ·dy, differentiated term by term.
"""

import math
from typing import NamedTuple

import numpy as np
from backprop_crosscheck.reference.layers.kind import Kind


class NormSaved(NamedTuple):
    x: np.ndarray
    mu: np.ndarray
    var: np.ndarray
    xhat: np.ndarray
    axes: tuple  # the axes normalized over
    eps: float


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


# --- along v: the R-operator -----------------------------------------------------------------


def batch_geometry(x):
    """(the axes its statistics run over, its parameters' broadcast shape, the axes a
    parameter's gradient sums over): per feature, or per channel of an image."""
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    return axes, (1, -1) if x.ndim == 2 else (1, -1, 1, 1), axes


def layer_geometry(x):
    """The same for layer_norm: over each sample's last axis."""
    return (x.ndim - 1,), (-1,), tuple(range(x.ndim - 1))


def _moved(axes, eps, x, r_x):
    """s, x̂ and their R{·}: the normalization along v."""
    c = x - x.mean(axis=axes, keepdims=True)  # x − μ
    s = np.sqrt((c * c).mean(axis=axes, keepdims=True) + eps)  # s = √(σ² + ε)
    r_c = r_x - r_x.mean(axis=axes, keepdims=True)  # R{x − μ} = R{x} − mean(R{x})
    r_s = (c * r_c).mean(axis=axes, keepdims=True) / s  # R{σ²}/2s, R{σ²} = mean(2c·R{c})
    return s, c / s, r_s, r_c / s - c * r_s / (s * s)  # R{x̂} = R{c}/s − c·R{s}/s²


def r_operator(geometry):
    """The R-operator of a normalization over ``geometry``'s axes."""

    def r_forward(x, r_x, params, v, saved, eps):
        axes, shape, _ = geometry(x)
        _, xhat, _, r_xhat = _moved(axes, eps, x, r_x)
        gamma, v_gamma, v_beta = (
            t.reshape(shape) for t in (params["gamma"], v["gamma"], v["beta"])
        )
        return v_gamma * xhat + gamma * r_xhat + v_beta  # R{γ·x̂ + β}

    def r_backward(x, r_x, dy, r_dy, saved, params, v, eps):
        axes, shape, summed = geometry(x)
        s, xhat, r_s, r_xhat = _moved(axes, eps, x, r_x)

        def mean(t):
            return t.mean(axis=axes, keepdims=True)

        gamma, v_gamma = params["gamma"].reshape(shape), v["gamma"].reshape(shape)
        g, r_g = dy * gamma, r_dy * gamma + dy * v_gamma  # dE/dx̂ = γ·dy, and its R{·}
        inner = g - mean(g) - xhat * mean(g * xhat)  # dx = inner/s
        r_inner = r_g - mean(r_g) - r_xhat * mean(g * xhat) - xhat * mean(r_g * xhat + g * r_xhat)
        r_dx = r_inner / s - inner * r_s / (s * s)
        hv = {
            "gamma": (r_dy * xhat + dy * r_xhat).sum(axis=summed).reshape(-1),  # R{Σ dy·x̂}
            "beta": r_dy.sum(axis=summed).reshape(-1),  # R{Σ dy}
        }
        return r_dx, hv

    return {"r_forward": r_forward, "r_backward": r_backward}


BATCH_NORM = Kind(
    "batch_norm",
    says="gamma·(x − μ_batch)/√(σ²_batch + eps) + beta (σ² biased: ÷ n)",
    dx_says="through x̂, the batch mean and the variance",
    parameters={"gamma": "Σ dE/dy ⊙ x̂", "beta": "Σ dE/dy"},
    forward=batch_norm_forward,
    backward=batch_norm_backward,
    **r_operator(batch_geometry),
    settings={"eps": 1e-5},
    couples_samples=True,
)
LAYER_NORM = Kind(
    "layer_norm",
    says="gamma·(x − μ_sample)/√(σ²_sample + eps) + beta",
    dx_says="through x̂, the sample's mean and variance",
    parameters={"gamma": "Σ dE/dy ⊙ x̂", "beta": "Σ dE/dy"},
    forward=layer_norm_forward,
    backward=layer_norm_backward,
    **r_operator(layer_geometry),
    settings={"eps": 1e-5},
)
