"""The fd witness near relu's kink: its step shrinks instead of measuring the kink."""

import numpy as np
from backprop_crosscheck.backends import get_backend
from backprop_crosscheck.reference import parse_case, train


def test_fd_step_shrinks_near_a_relu_kink():
    # z = 2·w = 2e-7 > 0: a step of ±6e-6 on w would cross the kink at 0
    case = parse_case(
        {
            "layers": [1, 1],
            "activation": "relu",
            "learning_rate": 0.1,
            "inputs": [[2.0]],
            "targets": [[1.0]],
            "weights": [[[1e-7]]],
        }
    )
    # dE/dw = (relu(z) − t)·relu'(z)·x = (2e-7 − 1)·1·2, by hand
    expected = (2e-7 - 1) * 2
    np.testing.assert_allclose(train(case).gradients["W1"], [[expected]], rtol=1e-12)
    result = get_backend("fd").run(case, "float64")
    np.testing.assert_allclose(result.gradients["W1"], [[expected]], rtol=1e-6)
