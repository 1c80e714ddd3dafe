"""The conformance suite: this repository's own use of the kit every engine author gets
(``pytest --crosscheck-backend NAME``; comparisons/kit/conformance_tests.py): every registered
backend × the built-in cases and 3 random cases (addopts) × float64 and float32, one test per
check, e.g. ``test_gradients[torch-article-float32]``. Narrow it with ``--crosscheck-backend NAME``
or ``CROSSCHECK_BACKENDS=a,b``.
"""

import pytest
from backprop_crosscheck.comparisons.kit.conformance import evaluate
from backprop_crosscheck.comparisons.kit.conformance_tests import *  # noqa: F403 - the kit's tests
from backprop_crosscheck.comparisons.kit.conformance_tests import expect
from support.fake_backends import NaNGradient


def test_a_nan_gradient_fails_the_suite(request, register):
    """NaN never passes (np.testing.assert_allclose would have let NaN equal NaN)."""
    assert evaluate(NaNGradient(), "article", "float64")["gradients"].status == "fail"
    register({"nan-gradient": "support.fake_backends:NaNGradient"})
    with pytest.raises(pytest.fail.Exception, match=r"fail: 1 mismatched: w6 = nan vs"):
        expect(request, ("nan-gradient", "article", "float64"), "gradients")
