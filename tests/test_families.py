"""Shape families: random cases that share an architecture and differ in weights, data and
learning rate — so an engine that compiles (JAX) compiles once per family."""

import numpy as np
import pytest

from backprop_crosscheck.backends import get_backend
from backprop_crosscheck.reference.random_cases import family_case


def test_members_share_the_architecture_and_differ_in_numbers():
    a, b = family_case(3, 0), family_case(3, 1)
    same = ("layers", "activations", "loss", "frozen", "steps")
    assert all(getattr(a, k) == getattr(b, k) for k in same)
    assert a.inputs.shape == b.inputs.shape and (a.biases is None) == (b.biases is None)
    assert not np.array_equal(a.weights[0], b.weights[0])
    assert not np.array_equal(a.inputs, b.inputs)
    assert a.learning_rate != b.learning_rate


@pytest.mark.parametrize("name", ["jax", "jax-fwd"])
def test_jax_compiles_once_per_family(name):
    backend = get_backend(name)
    if not backend.available():
        pytest.skip(f"{name}: jax is not installed: pip install jax (or make test)")
    from backprop_crosscheck.backends import jax_grad

    family = 100  # none the conformance suite runs: its cache holds this test's runs alone
    for member in range(3):
        backend.run(family_case(family, member), "float64")
    case = family_case(family, 0)
    key = (type(backend), "step", case.activations, case.loss, case.frozen, case.biases is None,
           case.leaky_slope)  # fmt: skip
    assert jax_grad.COMPILED[key]._cache_size() == 1  # three runs, one executable
