"""Losses with dE/dprediction and d²E/dprediction², derived by hand: one row each.

A value sums over the last two axes (samples, outputs), so a stack of predictions (finite
differences nudge every weight at once) gets a stack of losses."""

from typing import NamedTuple

import numpy as np


class Loss(NamedTuple):
    value: object  # E(prediction, target)
    gradient: object  # dE/dprediction
    curvature: object  # d²E/dprediction² (both losses: a multiple of the identity), given p


LOSSES = {
    # the article's Error = ½·Σ (prediction − actual)²;  dE/dp = p − actual = Δ;  d²E/dp² = 1
    "half_sse": Loss(
        lambda p, t: 0.5 * np.sum((p - t) ** 2, axis=(-2, -1)),
        lambda p, t: p - t,
        lambda p: 1.0,
    ),
    # mean over outputs and samples of (p − target)²;  dE/dp = 2·(p − t)/count;  d²E/dp² = 2/count
    "mse": Loss(
        lambda p, t: np.mean((p - t) ** 2, axis=(-2, -1)),
        lambda p, t: 2 * (p - t) / p.size,
        lambda p: 2.0 / p.size,
    ),
}
