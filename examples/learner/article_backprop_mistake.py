"""The same, with the mistake the article warns about: the output weights are updated first,
and the hidden layer's gradients then use the NEW w5, w6.

    crosscheck check examples/learner/article_backprop_mistake.py

fails, names the first wrong quantity and the mistake (the README shows its output).
"""


def backprop(case, params, X, Y):
    (w1, w3), (w2, w4) = params["W1"]
    (w5,), (w6,) = params["W2"]
    i1, i2 = X[0]
    (actual,) = Y[0]
    a = case.learning_rate

    h1 = i1 * w1 + i2 * w2
    h2 = i1 * w3 + i2 * w4
    prediction = h1 * w5 + h2 * w6
    error = 0.5 * (prediction - actual) ** 2
    delta = prediction - actual

    dw6 = delta * h2
    dw5 = delta * h1
    w5 = w5 - a * dw5  # updated here …
    w6 = w6 - a * dw6
    dw4 = delta * w6 * i2  # … and used here: the hidden layer sees the NEW w5, w6
    dw3 = delta * w6 * i1
    dw2 = delta * w5 * i2
    dw1 = delta * w5 * i1

    return {
        "loss": error,
        # the backward chain, for the diagnosis: dE/dprediction, δ2, then dE/dh = δ2·W2ᵀ
        "intermediates": {"delta2": [[delta]], "dE/da1": [[delta * w5, delta * w6]]},
        "gradients": {"W1": [[dw1, dw3], [dw2, dw4]], "W2": [[dw5], [dw6]]},
        "updated": {
            "W1": [[w1 - a * dw1, w3 - a * dw3], [w2 - a * dw2, w4 - a * dw4]],
            "W2": [[w5], [w6]],
        },
    }
