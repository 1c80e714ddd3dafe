"""Property-based tests (hypothesis) over random architectures and data.

Bounded (30 examples each, small networks) so CI stays fast; on a failure hypothesis shrinks
to a minimal network and data and prints it. Derandomized, so CI sees the same examples every
run (no flakes); to explore further, raise max_examples or drop derandomize locally.
"""

import numpy as np
import pytest
from backprop_crosscheck.backends import get_backend
from backprop_crosscheck.comparisons.judge.compare import agreement
from backprop_crosscheck.comparisons.judge.tolerance import tolerance_for
from backprop_crosscheck.reference import parse_case, train
from backprop_crosscheck.reference.network import forward, loss_value
from backprop_crosscheck.reference.rules.activations import ACTIVATIONS, KINKED
from backprop_crosscheck.reference.rules.losses import CROSS_ENTROPY, LOSSES
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
values = st.floats(-2, 2, allow_nan=False, allow_subnormal=False).map(lambda x: round(x, 3))


@st.composite
def cases(draw):
    layers = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4))
    depth, batch = len(layers) - 1, draw(st.integers(1, 3))

    def matrix(rows, cols):
        return draw(
            st.lists(st.lists(values, min_size=cols, max_size=cols), min_size=rows, max_size=rows)
        )

    data = {
        "layers": layers,
        "activation": draw(
            st.lists(st.sampled_from(list(ACTIVATIONS)), min_size=depth, max_size=depth)
        ),
        "loss": draw(st.sampled_from(list(LOSSES))),
        "learning_rate": draw(st.sampled_from([0.01, 0.05, 0.1])),
        "steps": draw(st.integers(1, 3)),
        "inputs": matrix(batch, layers[0]),
        "targets": matrix(batch, layers[-1]),
        "weights": [matrix(m, n) for m, n in zip(layers, layers[1:], strict=False)],
    }
    if data["loss"] in CROSS_ENTROPY:  # logits out; class indices or 0/1 labels in
        data["activation"][-1] = "identity"
        if data["loss"] == "softmax_cross_entropy":
            layers[-1] = max(layers[-1], 2)
            data["weights"][-1] = matrix(layers[-2], layers[-1])
            data["targets"] = draw(
                st.lists(st.integers(0, layers[-1] - 1), min_size=batch, max_size=batch)
            )
        else:
            data["targets"] = [[float(x > 0) for x in row] for row in data["targets"]]
    if draw(st.booleans()):
        data["biases"] = [matrix(1, n)[0] for n in layers[1:]]
    return parse_case(data, source="hypothesis", name="hypothesis")


def away_from_relu_kinks(case) -> bool:
    """Central differences straddling a (leaky) relu's kink are not a derivative: keep
    |z| > 1e-3."""
    fwd = forward(case, case.parameters(), case.inputs, case.targets)
    return all(
        act not in KINKED or np.min(np.abs(z)) > 1e-3
        for act, z in zip(case.activations, fwd.z, strict=True)
    )


@SETTINGS
@given(cases())
def test_reference_gradient_matches_central_differences(case):
    assume(away_from_relu_kinks(case))
    params = case.parameters()
    grads = train(case).gradients
    for name, p in params.items():
        for index in np.ndindex(p.shape):
            old, h = p[index], 1e-6
            p[index] = old + h
            up = loss_value(case, params)
            p[index] = old - h
            down = loss_value(case, params)
            p[index] = old
            assert grads[name][index] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-7)


@SETTINGS
@given(cases())
def test_float32_reference_stays_within_the_float32_tolerance(case):
    assume(away_from_relu_kinks(case))
    ref = train(case)
    assert agreement(case, ref, train(case, np.float32), tolerance_for("float32")).passed


@pytest.mark.parametrize("backend_name", ["torch", "jax"])
def test_framework_agrees_on_random_architectures(backend_name):
    backend = get_backend(backend_name)
    if not backend.available():
        pytest.skip(backend.skip_reason("float64", "cpu"))

    @settings(max_examples=6, deadline=None, derandomize=True)
    @given(cases())
    def check(case):
        ref = train(case)
        result = backend.run(case, "float64")
        agree = agreement(case, ref, result, tolerance_for("float64", backend))
        assert agree.passed, agree.summary()

    check()
