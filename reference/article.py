"""The article's 2-2-1 network, written exactly as "Backpropagation Step by Step" writes it.

No activation, no biases, Error = ½·(prediction − actual)², one SGD step with learning rate a.
Two forms: the six scalar update formulas, and the matrix form. Both use the OLD w5, w6 for the
hidden layer's update.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ArticleStep:
    h1: float
    h2: float
    prediction: float
    error: float
    delta: float
    gradients: dict[str, float]  # dE/dw1 … dE/dw6
    updated: dict[str, float]  # w1* … w6*


def scalar_step(i1, i2, actual, w, a) -> ArticleStep:
    """The article's scalar formulas; ``w`` maps "w1" … "w6" to values."""
    w1, w2, w3, w4, w5, w6 = (w[f"w{k}"] for k in range(1, 7))
    h1 = i1 * w1 + i2 * w2
    h2 = i1 * w3 + i2 * w4
    prediction = h1 * w5 + h2 * w6
    error = 0.5 * (prediction - actual) ** 2
    delta = prediction - actual  # dError/dprediction
    gradients = {
        "w6": h2 * delta,  # dE/dw6 = Δ · dprediction/dw6 = Δ·h2
        "w5": h1 * delta,  # dE/dw5 = Δ·h1
        "w4": i2 * delta * w6,  # dE/dw4 = Δ · dprediction/dh2 · dh2/dw4 = Δ·w6·i2
        "w3": i1 * delta * w6,  # dE/dw3 = Δ·w6·i1
        "w2": i2 * delta * w5,  # dE/dw2 = Δ·w5·i2
        "w1": i1 * delta * w5,  # dE/dw1 = Δ·w5·i1
    }
    updated = {name: w[name] - a * gradients[name] for name in sorted(w)}
    return ArticleStep(h1, h2, prediction, error, delta, dict(sorted(gradients.items())), updated)


def matrix_step(i, actual, W1, W2, a):
    """The article's matrix form.

    ``i`` = [i1, i2];  W1 = [[w1, w3], [w2, w4]] (rows inputs, columns hidden);  W2 = [w5, w6].
    Returns (h, prediction, delta, W1*, W2*).
    """
    i, W1, W2 = np.asarray(i, float), np.asarray(W1, float), np.asarray(W2, float)
    h = i @ W1  # [h1, h2]
    prediction = h @ W2
    delta = prediction - actual
    W2_new = W2 - a * delta * h  # [w5; w6] − aΔ[h1; h2]
    W1_new = W1 - a * delta * np.outer(i, W2)  # [[w1 w3];[w2 w4]] − aΔ[i1; i2]·[w5 w6] (OLD)
    return h, prediction, delta, W1_new, W2_new
