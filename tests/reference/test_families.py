"""Shape families: random cases that share an architecture and differ in weights, data and
learning rate — so an engine that compiles (JAX) compiles once per family."""

import numpy as np
import pytest
from backprop_crosscheck.backends import get_backend
from backprop_crosscheck.reference.families.draw import family_case


def test_members_share_the_architecture_and_differ_in_numbers():
    a, b = family_case(3, 0), family_case(3, 1)
    same = ("layers", "activations", "loss", "frozen", "steps")
    assert all(getattr(a, k) == getattr(b, k) for k in same)
    assert a.inputs.shape == b.inputs.shape and (a.biases is None) == (b.biases is None)
    assert not np.array_equal(a.weights[0], b.weights[0])
    assert not np.array_equal(a.inputs, b.inputs)
    assert a.learning_rate != b.learning_rate


@pytest.mark.parametrize("name", ["jax", "jax-fwd"])
@pytest.mark.parametrize("family", [100, 102, 103], ids=["sgd", "adam", "momentum"])
def test_jax_compiles_once_per_family(name, family):
    """Families none the conformance suite runs (its cache holds this test's runs alone); with
    optax, the members' own betas, epsilon and momentum are traced, not compiled in."""
    backend = get_backend(name)
    if not backend.available():
        pytest.skip(f"{name}: jax is not installed: pip install jax (or make test)")
    from backprop_crosscheck.backends import interface
    from backprop_crosscheck.backends.engine_layers import stack_key

    cases = [family_case(family, member) for member in range(3)]
    assert len({c.optimizer for c in cases}) == (1 if family == 100 else 3)
    for case in cases:
        backend.run(case, "float64")
    case = cases[0]
    what = "step" if case.optimizer.name == "sgd" else "optimize"
    key = (type(backend), what, ("float64", "cpu"), case.loss, case.leaky_slope, stack_key(case))
    key += (case.frozen, case.optimizer.structure())
    program = interface.COMPILED[key]
    kept = getattr(program, "executables", None)  # kept on disk (backends/jax/kept.py), or jit's
    assert (len(kept) if kept is not None else program.compiled._cache_size()) == 1  # 3 runs, 1


def test_a_program_traced_again_reads_the_calling_runs_state():
    """A compiled program is kept per architecture, across backend instances (a worker makes one
    per dtype); traced again for float32, it must read the float32 run's token indices, not the
    float64 run's that first compiled it. Regression: batch-sum on char_lstm read the whole
    batch's indices into a one-sample run ("incompatible shapes (4, 5), (8, 5)")."""
    if not get_backend("jax").available():
        pytest.skip("jax is not installed: pip install jax (or make test)")
    from backprop_crosscheck.reference.cases.file import load_case
    from backprop_crosscheck.reference.network import train
    from backprop_crosscheck.reference.stack import one_sample

    case = load_case("char_lstm")
    one = case.replace(
        inputs=case.inputs[1:], targets=case.targets[4:], steps=1, stack=one_sample(case.stack, 1)
    )
    first = get_backend("jax")
    first.run(one, "float64")  # one sample's program, compiled by this instance
    first.run(case, "float64")  # which then holds the whole batch's indices
    got = get_backend("jax").run(one, "float32")  # another instance: the program traced again
    want = train(one)
    for name, g in want.gradients.items():
        if name != "X":
            np.testing.assert_allclose(got.gradients[name], g, rtol=1e-4, atol=1e-5)
