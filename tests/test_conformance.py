"""The conformance suite: every registered backend × case × dtype against the reference.

One test per check and combination, e.g. ``test_gradients[torch-article-float32]``. To run it
against your own adapter only:  ``pytest tests/test_conformance.py --backend NAME``.

The expected values are the hand-derived reference's in float64 (reference/, itself held to the
article and to finite differences); tolerances come from comparisons/tolerance.py.
"""

import functools

import numpy as np
import pytest

from backends import BackendUnavailable, UnknownBackend, get_backend
from comparisons.tolerance import tolerance_for
from reference import load_case, train
from reference.hvp import direction, hvp
from reference.random_cases import random_case

CASES = ["article"] + [f"random-{seed}" for seed in range(20)]
DTYPES = ["float64", "float32"]


@functools.cache
def case_named(name):
    return (
        random_case(int(name.removeprefix("random-")))
        if name.startswith("random-")
        else load_case(name)
    )


@functools.cache
def reference_result(case_name):
    return train(case_named(case_name))


@functools.cache
def backend_result(backend_name, case_name, dtype):
    """(result, None), or (None, why it was skipped); a backend's crash fails the test."""
    try:
        backend = get_backend(backend_name)
    except UnknownBackend as e:
        return None, str(e)
    reason = backend.skip_reason(dtype, "cpu")
    if reason:
        return None, reason
    try:
        return backend.run(case_named(case_name), dtype, "cpu"), None
    except BackendUnavailable as e:
        return None, str(e)


@pytest.fixture
def outcome(combination):
    backend_name, case_name, dtype = combination
    result, skipped = backend_result(backend_name, case_name, dtype)
    if skipped:
        pytest.skip(skipped)
    tol = tolerance_for(dtype, get_backend(backend_name))
    return result, reference_result(case_name), tol


def assert_tensors_close(got: dict, expected: dict, tol, what):
    assert set(got) == set(expected), f"{what}: tensors {sorted(got)} != {sorted(expected)}"
    for name in expected:
        np.testing.assert_allclose(
            np.asarray(got[name], dtype=np.float64),
            expected[name],
            rtol=tol.rtol,
            atol=tol.atol,
            err_msg=f"{what} {name}",
        )


def test_loss(outcome):
    result, ref, tol = outcome
    np.testing.assert_allclose(
        np.asarray(result.loss, float), ref.loss, rtol=tol.rtol, atol=tol.atol
    )


def test_gradients(outcome):
    result, ref, tol = outcome
    assert_tensors_close(result.gradients, ref.gradients, tol, "gradients")


def test_updated(outcome):
    result, ref, tol = outcome
    assert_tensors_close(result.updated, ref.updated, tol, "updated")


def test_final(outcome):
    result, ref, tol = outcome
    assert_tensors_close(result.final, ref.final, tol, "final")


def test_result_is_in_the_requested_dtype(outcome, combination):
    result, _, _ = outcome
    dtype = combination[2]
    assert result.gradients["W1"].dtype == np.dtype(dtype)
    assert result.final["W1"].dtype == np.dtype(dtype)


# H·v: the article and the first 4 random cases (each JAX H·v compiles once: ~0.4 s)
HVP_CASES = CASES[:5]


@functools.cache
def hvp_outcome(backend_name, case_name, dtype):
    """(H·v, reference H·v, tolerance), or a skip reason."""
    backend = get_backend(backend_name)
    if not backend.capabilities.hvp:
        return None, f"{backend_name} does not compute Hessian-vector products (Capabilities.hvp)"
    reason = backend.skip_reason(dtype, "cpu")
    if reason:
        return None, reason
    case = case_named(case_name)
    v = direction(case, seed=1)
    tol = tolerance_for(dtype, backend, order=2)
    return (backend.hvp(case, v, dtype, "cpu"), hvp(case, v), tol), None


def test_hvp(hvp_combination):
    outcome, skipped = hvp_outcome(*hvp_combination)
    if skipped:
        pytest.skip(skipped)
    got, expected, tol = outcome
    assert_tensors_close(got, expected, tol, "H·v")
