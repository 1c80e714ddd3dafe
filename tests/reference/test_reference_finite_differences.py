"""The hand-derived gradients against central finite differences on seeded random cases.

The finite differences here use only the reference's forward pass (the loss), so they share no
code path with the backward pass they check.
"""

import hashlib

import numpy as np
import pytest
from backprop_crosscheck.comparisons.explain.walkthrough import explain
from backprop_crosscheck.reference import load_case, train
from backprop_crosscheck.reference.families.draw import random_case
from backprop_crosscheck.reference.finite_differences import gradients
from backprop_crosscheck.reference.network import forward, loss_value
from backprop_crosscheck.reference.rules.activations import ACTIVATIONS, LEAKY_SLOPE
from backprop_crosscheck.reference.rules.losses import LOSSES
from backprop_crosscheck.reference.rules.optimizers import Optimizer

SEEDS = range(60)
H = 1e-6  # relative step: truncation ~h², rounding ~eps/h, both ≪ the 1e-6 tolerance below


def central_difference(case, params, name):
    X, Y = case.inputs.copy(), case.targets.copy()
    base = X if name == "X" else params[name]
    grad = np.zeros_like(base)
    for index in np.ndindex(base.shape):
        old = base[index]
        h = H * max(1.0, abs(old))
        base[index] = old + h
        up = loss_value(case, params, X, Y)
        base[index] = old - h
        down = loss_value(case, params, X, Y)
        base[index] = old
        grad[index] = (up - down) / (2 * h)
    return grad


def _case_id(seed):
    c = random_case(seed)
    bias = "b" if c.biases is not None else "nob"
    return f"seed{seed}-{'-'.join(map(str, c.layers))}-{'.'.join(c.activations)}-{c.loss}-{bias}"


@pytest.mark.parametrize("seed", SEEDS, ids=_case_id)
def test_gradients_match_central_differences(seed):
    case = random_case(seed)
    result = train(case)
    params = case.parameters()
    for name, grad in result.gradients.items():
        fd = central_difference(case, params, name)
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8, err_msg=f"{case.name} {name}")


def test_random_cases_cover_every_feature():
    cases = [random_case(seed) for seed in SEEDS]
    assert {a for c in cases for a in c.activations} == set(ACTIVATIONS)
    assert {c.loss for c in cases} == set(LOSSES)
    assert any(c.biases is not None for c in cases) and any(c.biases is None for c in cases)
    assert any(c.inputs.shape[0] > 1 for c in cases)
    assert any(c.frozen for c in cases)
    assert any(c.steps > 1 for c in cases)


@pytest.mark.parametrize("seed", [s for s in SEEDS if random_case(s).frozen][:8])
def test_frozen_parameters_are_differentiated_but_not_updated(seed):
    case = random_case(seed)
    result, unfrozen = train(case), train(case.replace(frozen=frozenset()))
    initial = case.parameters()
    for name in case.frozen:  # its gradient is the one it has when trained (a dead relu: 0)
        np.testing.assert_array_equal(result.gradients[name], unfrozen.gradients[name])
        np.testing.assert_array_equal(result.final[name], initial[name])
        assert not np.array_equal(unfrozen.final[name], initial[name]) or not np.any(
            unfrozen.gradients[name]
        ), name


def test_one_sgd_step_is_p_minus_lr_grad():
    case = random_case(7).replace(optimizer=Optimizer(), frozen=frozenset())  # SGD, stated
    result = train(case)
    for name, p in case.parameters().items():
        expected = p - case.learning_rate * result.gradients[name]
        np.testing.assert_allclose(result.updated[name], expected, rtol=1e-15)


def test_trajectory_has_a_loss_before_every_step_and_after_the_last():
    case = random_case(11).replace(steps=4)
    result = train(case)
    assert result.loss.shape == (5,)
    assert loss_value(case, result.final) == pytest.approx(result.loss[-1], rel=1e-15)


def test_random_case_is_deterministic():
    """Seed 5 is the same case in every process, on every machine and NumPy: its digest is
    pinned (a change to the generator, or to NumPy's streams, shows here first)."""
    c = random_case(5)
    h = hashlib.sha256()
    for a in (c.inputs, c.targets, *c.weights, *(c.biases or ())):
        h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
    shape = (c.layers, c.activations, c.loss, c.learning_rate, c.steps, sorted(c.frozen))
    # the rule and the settings it reads (not every field: a new one, unused, changes nothing)
    h.update(repr((*shape, c.optimizer.name, c.optimizer.settings())).encode())
    assert h.hexdigest() == "a9f1ec8de081e2621984bb7b44bcd9afe9feffa10524c13f54632e5d760d6ff6"


@pytest.mark.parametrize("seed", [1, 9, 17, 26, 40, 58, 66, 90])  # depth 1-4, biases, relu, mse
def test_the_fd_witness_nudging_every_entry_at_once_is_the_one_at_a_time_loop(seed):
    """reference/finite_differences.py computes each nudge from the unperturbed forward pass
    (one column of z_l, one sample of X); the plain loop above re-runs the whole forward pass.
    They differ only by rounding: ~eps·|E|/h."""
    from backprop_crosscheck.comparisons.sweep.shards import sweep_case
    from backprop_crosscheck.reference.finite_differences import gradients

    case = sweep_case(seed)
    params = case.parameters()
    witness = gradients(case, params)
    for name, grad in witness.items():
        loop = central_difference(case, params, name)
        scale = max(1.0, loss_value(case, params))
        np.testing.assert_allclose(grad, loop, rtol=1e-6, atol=1e-8 * scale, err_msg=name)


# --- the gaps a mutation run over reference/ left (docs/testing.md) --------------------------


def two_kinks(activation: str, out=(0.7, -0.4)):
    """Two hidden units whose pre-activations are exactly 0 and move oppositely with x1: +h
    sends the first across its kink, −h the second."""
    return load_case("kink").replace(
        activations=(activation, "identity"),
        leaky_slope=0.1,
        weights=(np.array([[0.5, -0.5], [-0.25, 0.25]]), np.array([[out[0]], [out[1]]])),
    )


def test_fd_steps_back_from_a_leaky_relu_kink_as_from_relus():
    """leaky_relu is kinked too: fd must route it as relu's (one-sided where the other side
    crosses). Were it treated as smooth, the central difference across the kink would give
    a slope between 1 and the leak — here −1.11 where the reference says −2.0."""
    case = load_case("kink").replace(activations=("leaky_relu", "identity"), leaky_slope=0.1)
    fd, ref = gradients(case, case.parameters()), train(case).gradients
    for name in ("W1", "X"):
        np.testing.assert_allclose(fd[name], ref[name], rtol=1e-6, atol=1e-7)


def test_fd_takes_the_kinks_own_slope_where_both_sides_cross():
    """x1 ± h each send one of two relu units across: no side stays put at any step, so fd
    falls back on the central difference — the kink's own slope, worked out here from the
    loss at x1 ± h (a straight line through the kink: E is quadratic in the output)."""
    case = two_kinks("relu")
    X, Y = case.inputs.astype(float), case.targets
    h = 1e-7

    def loss_at(x1):
        moved = X.copy()
        moved[0, 0] = x1
        return loss_value(case, case.parameters(), moved, Y)

    slope = (loss_at(X[0, 0] + h) - loss_at(X[0, 0] - h)) / (2 * h)
    assert abs(slope) > 0.1  # unequal output weights: the kink has a slope of its own
    got = gradients(case, case.parameters())["X"][0, 0]
    assert got == pytest.approx(slope, rel=1e-6)


def test_defaults_are_the_frameworks_own():
    """Where a case says nothing: leaky_relu's slope 0.01 (torch's negative_slope, jax.nn's),
    plain SGD (the article's), momentum 0.9 (optax's and autograd's mass), Adam's β₁ 0.9,
    β₂ 0.999 and ε 1e-8 after the correction (torch.optim.Adam's and optax.adam's)."""
    assert LEAKY_SLOPE == 0.01 and load_case("article").leaky_slope == 0.01
    opt = Optimizer()
    assert (opt.name, opt.momentum, opt.dampening, opt.learning_rate_on) == (
        "sgd",
        0.9,
        0.0,
        "step",
    )
    assert (opt.beta1, opt.beta2, opt.epsilon) == (0.9, 0.999, 1e-8)
    assert opt.epsilon_placement == "after_correction"


def test_a_one_sample_softmax_walkthrough_shows_each_rows_softmax():
    """explain on one sample with softmax cross-entropy: the probabilities are each row's
    (softmax over the outputs, worked out here), not the columns'."""
    case = load_case("classification")
    one = case.replace(inputs=case.inputs[:1], targets=case.targets[:1])
    z = forward(one, one.parameters(), one.inputs, one.targets).z[-1][0]
    probabilities = np.exp(z) / np.exp(z).sum()
    text = explain(one)
    for p in probabilities:
        assert f"{p:.10g}"[:8] in text
