"""The judge's agreement and the diagnosis's residual, on hand-made numbers: every count, error
and label below is worked out here entry by entry, by numpy.isclose's rule, not by the code under
test (which holds every value of every tensor in one flat vector)."""

import numpy as np
import pytest
from backprop_crosscheck.comparisons.judge.compare import agreement_of, residual
from backprop_crosscheck.comparisons.judge.tolerance import Tolerance
from backprop_crosscheck.comparisons.kit.conformance import case_named
from backprop_crosscheck.reference.result import Result

TOL = Tolerance(rtol=1e-3, atol=1e-6)
NAN = np.nan


@pytest.fixture(scope="module")
def judged():
    """The article's case (W1 2×2, W2 2×1) with an empty tensor beside them: a loss off at its
    second step, W1 off at [0, 1] and NaN where a number is expected at [1, 0], W2 off at both
    entries — by 0.5 at [0, 0] (the worst) — and an empty tensor that agrees."""
    pairs = [
        ("loss", {"loss": np.array([1.0, 2.0])}, {"loss": np.array([1.0, 2.01])}),
        (
            "gradients",
            {"W1": np.array([[1.0, 2.0], [3.0, NAN]]), "none": np.zeros((0, 2))},
            {"W1": np.array([[1.0, 2.1], [NAN, NAN]]), "none": np.zeros((0, 2))},
        ),
        ("updated", {"W2": np.array([[0.5], [-1.0]])}, {"W2": np.array([[1.0], [-1.1]])}),
    ]
    return agreement_of(case_named("article"), pairs, TOL)


def test_each_mismatch_in_order_with_its_label_and_allowance(judged):
    found = [(m.quantity, m.tensor, m.label, m.got, m.expected) for m in judged.mismatches]
    assert found[0] == ("loss", "loss", "loss[step 1]", 2.01, 2.0)
    assert found[1] == ("gradients", "W1", "w3", 2.1, 2.0)  # the article's w3 is W1[0, 1]
    assert found[2][:3] == ("gradients", "W1", "w2") and np.isnan(found[2][3])
    assert found[3:] == [("updated", "W2", "w5", 1.0, 0.5), ("updated", "W2", "w6", -1.1, -1.0)]
    assert judged.mismatches[1].allowed == pytest.approx(1e-6 + 1e-3 * 2.0)


def test_counts_and_errors_per_tensor_and_per_quantity(judged):
    assert judged.counts == {
        ("loss", "loss"): (1, 2),
        ("gradients", "W1"): (2, 4),  # NaN where NaN is expected agrees
        ("gradients", "none"): (0, 0),
        ("updated", "W2"): (2, 2),
    }
    assert judged.per_tensor[("gradients", "none")] == (0.0, 0.0)
    assert judged.per_tensor[("gradients", "W1")] == (np.inf, np.inf)  # a NaN is infinitely off
    assert judged.per_tensor[("updated", "W2")] == pytest.approx((0.5, 1.0))  # |1 − .5|/.5
    assert judged.max_abs_error["loss"] == pytest.approx(0.01)
    assert judged.max_rel_error["loss"] == pytest.approx(0.005)


def test_the_worst_is_the_largest_excess_and_a_nan_is_infinitely_off(judged):
    """W1[1, 0] is NaN where 3.0 is expected: infinitely off, so the worst — though W2[0, 0]
    is further off in numbers (0.5 where 1e-6 + 1e-3·0.5 is allowed)."""
    assert (judged.worst, judged.worst_quantity, judged.worst_ratio) == ("w2", "gradients", np.inf)
    assert not judged.passed


@pytest.mark.parametrize(
    "final_off, worst, where",
    [(0.01, "w1", "gradients"), (0.02, "w1", "final"), (0.0, "w1", "gradients")],
    ids=["a-tie-goes-to-the-first", "final-further-off", "final-agrees"],
)
def test_the_worst_is_the_largest_excess_of_any_tensor(final_off, worst, where):
    """gradients W1 off by 0.01 (its first entry) and 0.001, W2 by 0.005 (its last), final W1
    by ``final_off`` (its first): the worst is the largest excess; of equals, the first."""
    ones = np.ones((2, 2))
    pairs = [
        ("gradients", {"W1": ones}, {"W1": ones + [[0.01, 0.001], [0.0, 0.0]]}),
        ("updated", {"W2": np.ones((2, 1))}, {"W2": np.array([[1.0], [1.005]])}),
        ("final", {"W1": ones}, {"W1": ones + [[final_off, 0.0], [0.0, 0.0]]}),
    ]
    agreed = agreement_of(case_named("article"), pairs, TOL)
    assert (agreed.worst, agreed.worst_quantity) == (worst, where)
    assert agreed.worst_ratio == pytest.approx(max(0.01, final_off) / (1e-6 + 1e-3))


def test_an_agreement_without_values_passes_with_zero_errors():
    pairs = [("gradients", {}, {}), ("final", {"none": np.zeros(0)}, {"none": np.zeros(0)})]
    agreed = agreement_of(case_named("article"), pairs, TOL)
    assert agreed.passed and agreed.worst is None and agreed.worst_ratio == 0.0
    assert agreed.max_abs_error == {"gradients": 0.0, "final": 0.0}


def result(loss, W1, W2) -> Result:
    grads = {"W1": np.array(W1), "W2": np.array(W2)}
    return Result(loss=np.array(loss), gradients=grads, updated=grads, final=grads)


def test_residual_is_the_largest_error_in_tolerances_over_every_value():
    mine = result([1.0, 2.0], [[1.0, 2.0], [3.0, NAN]], [[0.5], [-1.0]])
    other = result([1.0, 2.0], [[1.0, 2.0], [3.0, NAN]], [[0.5], [-1.0 + 3e-3]])
    assert residual(mine, mine, TOL) == 0.0  # NaN where NaN is expected agrees
    by_hand = 3e-3 / (1e-6 + 1e-3 * abs(-1.0 + 3e-3))
    assert residual(mine, other, TOL) == pytest.approx(by_hand)
    off = result([1.0, 2.0], [[1.0, 2.0], [3.0, 4.0]], [[0.5], [-1.0]])
    assert residual(off, mine, TOL) == np.inf  # a number where NaN is expected
    assert residual(result([1.0], [[1.0]], [[0.5]]), mine, TOL) == np.inf  # another shape


def test_a_mistakes_run_is_kept_for_its_own_case_alone():
    """The diagnosis keeps a case's mistaken runs for its next diagnosis: the same case gets
    the very run again; a copy with other weights, though named alike, gets its own."""
    from backprop_crosscheck.comparisons.judge.diagnosis import mistaken_run
    from backprop_crosscheck.reference import load_case
    from backprop_crosscheck.reference.mistakes import train_with

    article = load_case("article")
    heavier = article.replace(weights=[w * 2 for w in article.weights])
    kept = mistaken_run(article, "lr_twice")
    assert mistaken_run(article, "lr_twice") is kept
    theirs = mistaken_run(heavier, "lr_twice")
    assert heavier.name == article.name and theirs is not kept
    fresh = train_with(heavier, "lr_twice")
    assert all(np.array_equal(theirs.final[n], fresh.final[n]) for n in fresh.final)
    assert not np.array_equal(theirs.final["W1"], kept.final["W1"])
