"""The article's network, backpropagated by hand in plain Python, as a learner writes it.

    crosscheck check examples/learner/article_backprop.py

checks every number against the hand-derived reference (exit 0: all agree).
"""


def backprop(case, params, X, Y):
    """One step of the article: 2 inputs, 2 hidden neurons, 1 output, no activation."""
    (w1, w3), (w2, w4) = params["W1"]  # rows: inputs i1, i2; columns: hidden h1, h2
    (w5,), (w6,) = params["W2"]
    i1, i2 = X[0]
    (actual,) = Y[0]
    a = case.learning_rate

    h1 = i1 * w1 + i2 * w2
    h2 = i1 * w3 + i2 * w4
    prediction = h1 * w5 + h2 * w6
    error = 0.5 * (prediction - actual) ** 2
    delta = prediction - actual  # dError/dprediction

    # every gradient uses the OLD weights
    dw6 = delta * h2
    dw5 = delta * h1
    dw4 = delta * w6 * i2
    dw3 = delta * w6 * i1
    dw2 = delta * w5 * i2
    dw1 = delta * w5 * i1

    return {
        "loss": error,
        "gradients": {"W1": [[dw1, dw3], [dw2, dw4]], "W2": [[dw5], [dw6]]},
        "updated": {
            "W1": [[w1 - a * dw1, w3 - a * dw3], [w2 - a * dw2, w4 - a * dw4]],
            "W2": [[w5 - a * dw5], [w6 - a * dw6]],
        },
    }
