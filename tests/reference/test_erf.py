"""reference/rules/erf.py against math.erf (correctly rounded to within an ulp): every range of its
approximation, the edges between them, and the special values."""

import math

import numpy as np
import pytest
from backprop_crosscheck.reference.rules.erf import erf

EDGES = [0.84375, 1.25, 1 / 0.35, 6.0]


@pytest.mark.parametrize("scale", [1e-9, 0.3, 1.0, 2.0, 4.0, 8.0], ids=lambda s: f"scale={s}")
def test_within_an_ulp_of_math_erf(scale):
    x = np.random.default_rng(0).standard_normal(20_000) * scale
    x = np.concatenate([x, [e * f for e in EDGES for f in (1 - 1e-16, 1.0, 1 + 1e-16, -1.0)]])
    expected = np.array([math.erf(v) for v in x])
    ulps = np.abs(erf(x) - expected) / np.spacing(np.abs(expected))
    assert ulps.max() <= 1.0


def test_special_values_sign_and_dtype():
    x = np.array([0.0, -0.0, np.inf, -np.inf, 7.0, -30.0])
    got = erf(x)
    assert list(got) == [0.0, 0.0, 1.0, -1.0, 1.0, -1.0]
    assert math.copysign(1, got[1]) == -1  # erf(−0) = −0
    assert np.isnan(erf(np.array([np.nan])))[0]
    z = np.linspace(-3, 3, 7, dtype=np.float32).reshape(7, 1)
    assert erf(z).dtype == np.float32 and erf(z).shape == (7, 1)
    assert np.array_equal(erf(z), np.float32([[math.erf(float(v))] for v in z[:, 0]]))
