"""The hand-derived gradients against central finite differences on seeded random cases.

The finite differences here use only the reference's forward pass (the loss), so they share no
code path with the backward pass they check.
"""

import numpy as np
import pytest
from backprop_crosscheck.reference import train
from backprop_crosscheck.reference.activations import ACTIVATIONS
from backprop_crosscheck.reference.losses import LOSSES
from backprop_crosscheck.reference.network import loss_value
from backprop_crosscheck.reference.random_cases import random_case

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
    case = random_case(7)
    result = train(case.replace(frozen=frozenset()))
    for name, p in case.parameters().items():
        expected = p - case.learning_rate * result.gradients[name]
        np.testing.assert_allclose(result.updated[name], expected, rtol=1e-15)


def test_trajectory_has_a_loss_before_every_step_and_after_the_last():
    case = random_case(11).replace(steps=4)
    result = train(case)
    assert result.loss.shape == (5,)
    assert loss_value(case, result.final) == pytest.approx(result.loss[-1], rel=1e-15)


def test_random_case_is_deterministic():
    a, b = random_case(5), random_case(5)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.weights[0], b.weights[0])


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
