"""The conformance suite: every registered backend × case × dtype against the reference.

One test per check and combination, e.g. ``test_gradients[torch-article-float32]``. To run it
against your own adapter only:  ``pytest tests/test_conformance.py --backend NAME``.

Each combination is judged once, by the same judge as ``crosscheck report``
(comparisons.judge): the same skips, the same tolerances, NaN never passes. The expected
values are the hand-derived reference's in float64 (reference/, itself held to the article and
to finite differences).
"""

import functools

import numpy as np
import pytest
from fake_backends import NaNGradient

from backprop_crosscheck.backends import UnknownBackend, get_backend
from backprop_crosscheck.comparisons.judge import Check, judge
from backprop_crosscheck.reference import load_case, train
from backprop_crosscheck.reference.hvp import direction, hvp
from backprop_crosscheck.reference.random_cases import family_case

# the article and 7 shape families of 3 random cases each: a compiling engine (JAX) compiles
# once per family, and the xdist group of a backend and a family shares one worker
CASES = ["article"] + [f"random-{family}.{member}" for family in range(7) for member in range(3)]
DTYPES = ["float64", "float32"]
HVP_CASES = CASES[:5]  # the article and 4 random cases of 2 families
TIMEOUT_S = 300  # per backend and check: a backend that hangs fails its tests, not the suite


@functools.cache
def case_named(name):
    if name.startswith("random-"):
        return family_case(*map(int, name.removeprefix("random-").split(".")))
    return load_case(name)


@functools.cache
def check_for(case_name, dtype):
    case = case_named(case_name)
    if case_name not in HVP_CASES:
        return Check(case, train(case), dtype, timeout=TIMEOUT_S)
    v = direction(case, seed=1)
    return Check(
        case, train(case), dtype, hvp_direction=v, hvp_reference=hvp(case, v), timeout=TIMEOUT_S
    )


@functools.cache
def judged(backend_name, case_name, dtype, order=1):
    """The Comparison of one combination; a backend that is not registered is a skip."""
    try:
        backend = get_backend(backend_name)
    except UnknownBackend as e:
        pytest.skip(str(e))
    return judge(backend, check_for(case_name, dtype), order)


def assert_agrees(comparison, quantity: str) -> None:
    """``quantity`` of a judged backend agrees with the reference (skips say why)."""
    if comparison.status in ("skip", "unsupported"):
        pytest.skip(comparison.message)
    assert comparison.status != "error", comparison.message
    bad = [m for m in comparison.agreement.mismatches if m.quantity == quantity]
    assert not bad, "; ".join(
        f"{m.label} = {m.got!r} vs {m.expected!r} (up to {m.allowed:.3g} allowed)" for m in bad[:5]
    )


def test_loss(combination):
    assert_agrees(judged(*combination), "loss")


def test_gradients(combination):
    assert_agrees(judged(*combination), "gradients")


def test_updated(combination):
    assert_agrees(judged(*combination), "updated")


def test_final(combination):
    assert_agrees(judged(*combination), "final")


def test_result_is_in_the_requested_dtype(combination):
    comparison = judged(*combination)
    if comparison.status == "skip":
        pytest.skip(comparison.message)
    dtype = np.dtype(combination[2])
    assert comparison.result.gradients["W1"].dtype == dtype
    assert comparison.result.final["W1"].dtype == dtype


def test_hvp(hvp_combination):
    assert_agrees(judged(*hvp_combination, order=2), "hvp")


def test_a_nan_gradient_fails_the_suite():
    """NaN never passes (np.testing.assert_allclose would have let NaN equal NaN)."""
    comparison = judge(NaNGradient(), check_for("article", "float64"))
    assert comparison.status == "fail"
    with pytest.raises(AssertionError, match="nan"):
        assert_agrees(comparison, "gradients")
