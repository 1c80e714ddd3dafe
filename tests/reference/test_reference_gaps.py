"""What the mutation run over reference/'s math found untested (docs/testing.md): each test here
was written to fail on a change the others let through. Expected values are worked out here —
by hand from the rule, or from the reference's forward pass and gradient alone."""

import numpy as np
import pytest
from backprop_crosscheck.reference import load_case, train
from backprop_crosscheck.reference.conditioning import adam_allowance
from backprop_crosscheck.reference.finite_differences import hvp_by_differences
from backprop_crosscheck.reference.hvp import direction, hvp
from backprop_crosscheck.reference.mistakes import train_with
from backprop_crosscheck.reference.network import backward, forward
from backprop_crosscheck.reference.rules.optimizers import Optimizer


def test_fd_hvp_on_a_kink_differentiates_on_the_side_that_stays():
    """The built-in kink case (a relu pre-activation exactly 0): differences of the gradient
    along v cross the kink on one side; fd takes the other side, as relu″(0) = 0 says."""
    case = load_case("kink")
    for seed in range(4):
        v = direction(case, seed)
        exact, approx = hvp(case, v), hvp_by_differences(case, v)
        for name in exact:
            np.testing.assert_allclose(approx[name], exact[name], rtol=1e-6, atol=1e-8)


def g(x) -> str:
    return f"{x:g}"


def test_the_update_formulas_with_their_numbers():
    """Written by hand from each rule, with β₁ 0.9, β₂ 0.999, ε 1e-8, μ 0.9, d 0.25, a 0.05."""
    adam = Optimizer("adam", epsilon_placement="before_correction")
    assert adam.formula(show=g, learning_rate=0.05) == (
        "m = 0.9·m + 0.1·g, v = 0.999·v + 0.001·g², m̂ = m/(1 − 0.9^t), v̂ = v/(1 − 0.999^t), "
        "p* = p − 0.05·√(1 − 0.999^t)/(1 − 0.9^t)·m/(√v + 1e-08)"
    )
    momentum = Optimizer("momentum", dampening=0.25, learning_rate_on="velocity")
    assert momentum.formula("w5", show=g, learning_rate=0.05, ascii=True) == (
        "v = 0.9·v - 0.05·0.75·dE/dw5, w5* = w5 + v"
    )
    assert Optimizer().formula("w1") == "w1* = w1 − a·dE/dw1"


def test_adams_loss_allowance_is_each_gradient_times_its_parameters_allowance():
    """At step 2 the loss may differ by Σ |dE/dp| · (p's allowance after step 1), the gradient
    taken at the parameters after step 1."""
    case = load_case("adam")
    allowance = adam_allowance(case, 1e-9, 1e-11)
    after_one = train(case.replace(steps=1)).final
    grads = backward(
        case, after_one, forward(case, after_one, case.inputs, case.targets), case.targets
    )
    expected = sum(float(np.sum(np.abs(grads[n]) * allowance["updated"][n])) for n in after_one)
    assert allowance["loss"][1] == pytest.approx(expected, rel=1e-12)
    assert allowance["loss"][0] == 0.0
    last = train(case).final  # after the last step: its gradient times the final allowance
    grads = backward(case, last, forward(case, last, case.inputs, case.targets), case.targets)
    expected = sum(float(np.sum(np.abs(grads[n]) * allowance["final"][n])) for n in last)
    assert allowance["loss"][-1] == pytest.approx(expected, rel=1e-12)


def test_the_batch_mean_sum_mistake_on_mse_multiplies_by_the_batch():
    """mse's gradient divides by the count; mistaking the batch mean for its sum multiplies
    the first step's gradients by the batch size n."""
    case = load_case("batch").replace(loss="mse")
    n = case.inputs.shape[0]
    right, wrong = train(case), train_with(case, "batch_mean_sum")
    for name, grad in right.gradients.items():
        np.testing.assert_allclose(wrong.gradients[name], n * grad, rtol=1e-12)


def test_the_layer_shift_mistake_moves_every_fitting_gradient_one_layer_up():
    case = load_case("deep")
    shapes = [w.shape for w in case.weights]
    right, wrong = train(case), train_with(case, "layer_shift")
    for layer in range(2, case.depth + 1):
        fits = shapes[layer - 2] == shapes[layer - 1]
        source = f"W{layer - 1}" if fits else f"W{layer}"
        np.testing.assert_array_equal(wrong.gradients[f"W{layer}"], right.gradients[source])
    assert any(shapes[i] == shapes[i + 1] for i in range(len(shapes) - 1))


def test_a_mistake_of_the_learning_rate_under_adam_is_that_mistake_alone():
    """ "The learning rate applied twice" under Adam is Adam's trajectory with a² for a — not
    that and a missing bias correction besides."""
    case = load_case("adam")
    a = case.learning_rate
    wrong, expected = train_with(case, "lr_twice"), train(case.replace(learning_rate=a * a))
    for name, p in expected.final.items():
        np.testing.assert_allclose(wrong.final[name], p, rtol=1e-12)


def test_the_default_direction_is_seed_0():
    case = load_case("article")
    for name, d in direction(case).items():
        np.testing.assert_array_equal(d, direction(case, 0)[name])


def test_fd_hvp_where_both_sides_cross_a_kink_takes_the_central_difference():
    """Two relu units exactly at their kinks, and a direction that moves them oppositely:
    +h sends one across, −h the other, so no side stays put — the central difference of the
    hand-derived gradient along v, worked out here, is what fd must give."""
    case = load_case("kink").replace(
        weights=(np.array([[0.5, -0.5], [-0.25, 0.25]]), np.array([[0.7], [-0.4]])),
    )
    v = {"W1": np.array([[1.0, -1.0], [0.0, 0.0]]), "W2": np.zeros((2, 1))}
    params = case.parameters()
    step = np.finfo(np.float64).eps ** (1 / 3) * max(
        1.0, max(np.abs(p).max() for p in params.values())
    )

    def gradient_at(t):
        moved = {n: p + t * v[n] for n, p in params.items()}
        return backward(case, moved, forward(case, moved, case.inputs, case.targets), case.targets)

    up, down = gradient_at(step), gradient_at(-step)
    approx = hvp_by_differences(case, v)
    for name in params:
        np.testing.assert_allclose(approx[name], (up[name] - down[name]) / (2 * step), rtol=1e-9)
    assert np.any(approx["W2"] != 0)


def test_fd_takes_the_near_kink_route_only_where_a_step_crosses_a_kink(monkeypatch):
    """Every relu pre-activation between 0.15 and 0.7, far beyond a step of ~6e-6: central
    differences throughout; the near-kink route (steps shrunk tenfold) never runs."""
    import backprop_crosscheck.reference.finite_differences as fd

    case = load_case("kink").replace(
        weights=(np.array([[1.0, 0.25, 0.3], [-0.25, -0.05, 0.2]]), load_case("kink").weights[1])
    )
    z = forward(case, case.parameters(), case.inputs, case.targets).z[0]
    assert np.all((z > 0.1) & (z < 1))

    def never(*args):
        raise AssertionError("the near-kink route ran where no step crosses a kink")

    monkeypatch.setattr(fd, "_near_kink", never)
    grads = fd.gradients(case, case.parameters())
    np.testing.assert_allclose(grads["W1"], train(case).gradients["W1"], rtol=1e-6, atol=1e-8)
