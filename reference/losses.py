"""Losses and dE/dprediction, derived by hand."""

from typing import NamedTuple

import numpy as np


class Loss(NamedTuple):
    value: object  # E(prediction, target)
    gradient: object  # dE/dprediction


LOSSES = {
    # the article's Error = ½·Σ (prediction − actual)²;  dE/dprediction = prediction − actual = Δ
    "half_sse": Loss(
        lambda p, t: 0.5 * np.sum((p - t) ** 2),
        lambda p, t: p - t,
    ),
    # mean over outputs and samples of (prediction − target)²;  dE/dp = 2·(p − t) / count
    "mse": Loss(
        lambda p, t: np.mean((p - t) ** 2),
        lambda p, t: 2 * (p - t) / p.size,
    ),
}
