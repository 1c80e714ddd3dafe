"""Losses with dE/dprediction and the curvature d²E/dprediction²·v, derived by hand: one row each.

A value sums over the last two axes (samples, outputs), so a stack of predictions (finite
differences nudge every weight at once) gets a stack of losses.

The cross-entropy losses take the network's output as logits z (its last activation is the
identity): the softmax or the sigmoid is part of the loss, computed stably from z.
"""

from typing import NamedTuple

import numpy as np
from backprop_crosscheck.reference.rules.activations import sigmoid

CROSS_ENTROPY = ("softmax_cross_entropy", "binary_cross_entropy")


class Loss(NamedTuple):
    value: object  # E(prediction, target)
    gradient: object  # dE/dprediction
    curvature: object  # d²E/dprediction² applied to v: (prediction, target, v) -> H_p·v
    gradient_text: str = ""  # dE/dprediction in words (Y the targets), for explain and diagnosis


def softmax(z):
    """s_j = e^(z_j) / Σ_k e^(z_k), per row; shifted by the row's max: no overflow."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def logsumexp(z):
    """log Σ_k e^(z_k) per row, = m + log Σ_k e^(z_k − m) with m the row's max."""
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


def _softmax_ce(z, t):
    # E = (1/n)·Σ_samples [−Σ_k t_k·log s_k] = (1/n)·Σ_samples [logsumexp(z) − Σ_k t_k·z_k]
    # (log s_k = z_k − logsumexp(z), and Σ_k t_k = 1)
    n = z.shape[-2]
    return np.sum(logsumexp(z) - np.sum(t * z, axis=-1), axis=-1) / n


def _softmax_ce_curvature(z, t, v):
    # dE/dz = (s − t)/n; d/dz of s: ∂s_j/∂z_k = s_j·(δ_jk − s_k), so per sample
    # H·v = (s ⊙ v − s·(s·v)) / n
    s = softmax(z)
    return (s * v - s * np.sum(s * v, axis=-1, keepdims=True)) / z.shape[-2]


def _bce(z, t):
    # E = mean over every entry of −[t·log σ(z) + (1 − t)·log(1 − σ(z))]
    #   = mean of log(1 + e^z) − t·z   (log σ(z) = z − log(1 + e^z), log(1 − σ(z)) = −log(1 + e^z))
    # with log(1 + e^z) as logaddexp(0, z): finite for any z (no log(0) at saturation)
    return np.mean(np.logaddexp(0.0, z) - t * z, axis=(-2, -1))


LOSSES = {
    # the article's Error = ½·Σ (prediction − actual)²;  dE/dp = p − actual = Δ;  d²E/dp² = 1
    "half_sse": Loss(
        lambda p, t: 0.5 * ((p - t) ** 2).sum(axis=(-2, -1)),
        lambda p, t: p - t,
        lambda p, t, v: v,
        "Δ = prediction − Y",
    ),
    # mean over outputs and samples of (p − target)²;  dE/dp = 2·(p − t)/count;  d²E/dp² = 2/count
    "mse": Loss(
        lambda p, t: np.mean((p - t) ** 2, axis=(-2, -1)),
        lambda p, t: 2 * (p - t) / p.size,
        lambda p, t, v: 2.0 * v / p.size,
        "2·(prediction − Y)/count",
    ),
    # softmax over each sample's outputs (logits z), cross-entropy against its target row (one-hot,
    # from a class index or given), mean over samples;  dE/dz = (softmax(z) − t)/n
    "softmax_cross_entropy": Loss(
        _softmax_ce,
        lambda z, t: (softmax(z) - t) / z.shape[-2],
        _softmax_ce_curvature,
        "(softmax(z_L) − Y)/samples, per row",
    ),
    # sigmoid of each output (logit z), binary cross-entropy against t in [0, 1], mean over every
    # entry;  dE/dz = (σ(z) − t)/count;  d²E/dz² = σ(z)·(1 − σ(z))/count, entry by entry
    "binary_cross_entropy": Loss(
        _bce,
        lambda z, t: (sigmoid(z) - t) / z.size,
        lambda z, t, v: sigmoid(z) * (1 - sigmoid(z)) * v / z.size,
        "(σ(z_L) − Y)/count",
    ),
}
