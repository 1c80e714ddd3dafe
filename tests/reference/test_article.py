"""The reference against the article's own numbers (README.md: a 2-2-1 network, inputs
[2, 3], target 1, w1..w6 = .11 .21 .12 .08 .14 .15, learning rate 0.05).

Every expected number here is the article's, or computed by hand from its formulas; none is
read back from the code under test.
"""

import numpy as np
import pytest
from backprop_crosscheck.reference import load_case, train
from backprop_crosscheck.reference.article import matrix_step, scalar_step
from backprop_crosscheck.reference.network import forward

W0 = {"w1": 0.11, "w2": 0.21, "w3": 0.12, "w4": 0.08, "w5": 0.14, "w6": 0.15}
UPDATED = {
    "w1": 0.121326,
    "w2": 0.226989,
    "w3": 0.132135,
    "w4": 0.0982025,
    "w5": 0.1743825,
    "w6": 0.169416,
}
PRINTED = {"w1": 0.12, "w2": 0.23, "w3": 0.13, "w4": 0.10, "w5": 0.17, "w6": 0.17}


@pytest.fixture(scope="module")
def step():
    return scalar_step(2.0, 3.0, 1.0, W0, 0.05)


def test_hidden_values(step):
    assert (step.h1, step.h2) == pytest.approx((0.85, 0.48), abs=1e-15)


def test_prediction(step):
    assert step.prediction == pytest.approx(0.191, abs=1e-15)


def test_error(step):
    assert step.error == pytest.approx(0.3272405, abs=1e-15)
    assert round(step.error, 3) == 0.327


def test_delta(step):
    assert step.delta == pytest.approx(-0.809, abs=1e-15)


@pytest.mark.parametrize("name", sorted(UPDATED))
def test_updated_weight(step, name):
    assert step.updated[name] == pytest.approx(UPDATED[name], abs=1e-15)


@pytest.mark.parametrize("name", sorted(PRINTED))
def test_updated_weight_as_printed(step, name):
    assert round(step.updated[name], 2) == PRINTED[name]


def test_next_prediction(step):
    w = step.updated
    h1 = 2 * w["w1"] + 3 * w["w2"]
    h2 = 2 * w["w3"] + 3 * w["w4"]
    assert h1 * w["w5"] + h2 * w["w6"] == pytest.approx(0.2557457808, abs=1e-10)
    assert round(h1 * w["w5"] + h2 * w["w6"], 2) == 0.26


def test_matrix_form_agrees_with_scalar_form(step):
    W1 = [[W0["w1"], W0["w3"]], [W0["w2"], W0["w4"]]]
    h, prediction, delta, W1_new, W2_new = matrix_step([2, 3], 1.0, W1, [W0["w5"], W0["w6"]], 0.05)
    u = step.updated
    np.testing.assert_allclose(h, [step.h1, step.h2], rtol=1e-15)
    assert prediction == pytest.approx(step.prediction, rel=1e-15)
    assert delta == pytest.approx(step.delta, rel=1e-15)
    np.testing.assert_allclose(W1_new, [[u["w1"], u["w3"]], [u["w2"], u["w4"]]], rtol=1e-15)
    np.testing.assert_allclose(W2_new, [u["w5"], u["w6"]], rtol=1e-15)


def test_matrix_form_uses_old_output_weights():
    """Updating W1 with the NEW w5, w6 (a classic slip) must give different numbers."""
    W1 = np.array([[0.11, 0.12], [0.21, 0.08]])
    _, _, _, W1_new, W2_new = matrix_step([2, 3], 1.0, W1, [0.14, 0.15], 0.05)
    slip = W1 - 0.05 * -0.809 * np.outer([2, 3], W2_new)
    assert not np.allclose(W1_new, slip, rtol=1e-4)


@pytest.fixture(scope="module")
def general():
    return train(load_case("article"))


def test_general_network_loss_matches_article(general):
    np.testing.assert_allclose(general.loss, [0.3272405, 0.5 * (0.2557457808 - 1) ** 2], rtol=1e-9)


def test_general_network_hidden_values():
    case = load_case("article")
    fwd = forward(case, case.parameters(), case.inputs, case.targets)
    np.testing.assert_allclose(fwd.a[1], [[0.85, 0.48]], rtol=1e-15)
    np.testing.assert_allclose(fwd.prediction, [[0.191]], rtol=1e-15)


def test_general_network_updated_weights_match_article(general):
    u = UPDATED
    np.testing.assert_allclose(
        general.updated["W1"], [[u["w1"], u["w3"]], [u["w2"], u["w4"]]], rtol=1e-14
    )
    np.testing.assert_allclose(general.updated["W2"], [[u["w5"]], [u["w6"]]], rtol=1e-14)


def test_general_network_gradients_match_scalar_form(general, step):
    g = step.gradients
    np.testing.assert_allclose(general.gradients["W1"], [[g["w1"], g["w3"]], [g["w2"], g["w4"]]])
    np.testing.assert_allclose(general.gradients["W2"], [[g["w5"]], [g["w6"]]])


def test_input_gradient_by_hand(general):
    # dE/di1 = Δ·(w5·w1 + w6·w3),  dE/di2 = Δ·(w5·w2 + w6·w4)
    d = -0.809
    expected = [[d * (0.14 * 0.11 + 0.15 * 0.12), d * (0.14 * 0.21 + 0.15 * 0.08)]]
    np.testing.assert_allclose(general.gradients["X"], expected, rtol=1e-14)


def test_article_aliases_name_the_articles_weights():
    case = load_case("article")
    labels = [case.scalar_label("W1", (i, j)) for i in range(2) for j in range(2)]
    assert labels == ["w1", "w3", "w2", "w4"]
    assert [case.scalar_label("W2", (i, 0)) for i in range(2)] == ["w5", "w6"]
