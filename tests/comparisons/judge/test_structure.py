"""The shape of a difference (comparisons/judge/structure.py): an engine's numbers that are a
simple transformation of the reference's are said to be that — built here from the reference's
own Result, one transformation at a time, and run through the whole diagnosis."""

import numpy as np
import pytest
from backprop_crosscheck.comparisons.judge.diagnosis import diagnose
from backprop_crosscheck.comparisons.judge.tolerance import tolerance_for
from backprop_crosscheck.reference.result import Result

from backprop_crosscheck import get_backend, load_case, train


def yours(case, change):
    """The reference's Result with ``change(result)`` applied: what a wrong engine returns."""
    ref = train(case)
    got = Result(
        ref.loss.copy(),
        {n: g.copy() for n, g in ref.gradients.items()},
        {n: p.copy() for n, p in ref.updated.items()},
        {n: p.copy() for n, p in ref.final.items()},
    )
    change(got, ref)
    tol = tolerance_for("float64", get_backend("numpy"))
    return diagnose(case, ref, got, "float64", tol)


def scaled(name, c):
    def change(got, ref):
        got.gradients[name] *= c

    return change


CASES = {  # id: (case, the change, the sentence expected)
    "half": ("deep", scaled("W3", 0.5), "your dE/dW3 is exactly 1/2 (1/batch size) = ½ ×"),
    "negated": ("deep", scaled("W2", -1.0), "exactly −1 × the reference's"),
    "over-batch": ("batch", scaled("W2", 1 / 4), "exactly 1/4 (1/batch size) = ¼ ×"),
    "over-outputs": ("deep", scaled("W3", 1 / 3), "exactly 1/3 (1/outputs) × the reference's"),
    "zero": ("deep", scaled("b3", 0.0), "your dE/db3 is zero where the reference's is not"),
}


@pytest.mark.parametrize("case, change, said", CASES.values(), ids=CASES.keys())
def test_a_multiple_or_zero_is_said(case, change, said):
    d = yours(load_case(case), change)
    assert said in d.structure, d.summary()
    assert said in d.summary()


def test_a_transposed_gradient_is_said():
    def change(got, ref):
        got.gradients["W2"] = ref.gradients["W2"].T.copy()

    d = yours(load_case("deep"), change)  # W2 is 3×3 in deep
    assert d.structure == "your dE/dW2 is the reference's transposed"


def test_another_quantity_of_the_chain_is_named():
    def change(got, ref):  # W3's gradient reported for W2 (same shape in deep: 3×3)
        got.gradients["W3"] = ref.gradients["W2"].copy()

    d = yours(load_case("deep"), change)
    assert d.structure == "your dE/dW3 is the reference's dE/dW2"


def test_a_gradient_at_the_next_steps_parameters_is_said():
    case = load_case("deep")

    def change(got, ref):  # an engine that differentiated after its in-place update
        after = [ref.updated[f"{kind}{k}"] for kind in "Wb" for k in (1, 2, 3)]
        nxt = train(case.replace(weights=tuple(after[:3]), biases=tuple(after[3:])))
        got.gradients["W3"] = nxt.gradients["W3"]

    d = yours(case, change)
    assert d.structure == (
        "your dE/dW3 is the reference's dE/dW3 at the next step (evaluated "
        "at the once-updated parameters)"
    )


def test_a_lazy_engines_loss_one_step_late_is_said():
    def change(got, ref):  # every step reports the loss after its update
        got.loss[:-1] = ref.loss[1:]

    d = yours(load_case("deep"), change)
    assert d.first_wrong == "the forward pass"
    assert d.structure.startswith("your loss at each step is the reference's one step later")


def test_a_difference_confined_to_one_sample_is_said():
    def change(got, ref):
        got.gradients["X"][1, 0] += 0.5  # the second sample's input gradient alone

    d = yours(load_case("deep"), change)
    assert d.structure == "your dE/dX differs only in sample [1]; the rest agrees"


def test_a_step_scaled_by_the_learning_rate_is_said():
    case = load_case("article")

    def change(got, ref):  # p − a·a·g: the rate applied twice
        for n, p in case.parameters().items():
            got.updated[n] = p - case.learning_rate * (p - ref.updated[n])

    d = yours(case, change)
    assert "is exactly a = 0.05 (the learning rate) × the reference's" in d.structure


def test_nothing_is_claimed_where_the_difference_has_no_shape():
    rng = np.random.default_rng(0)

    def change(got, ref):
        got.gradients["W3"] += rng.normal(size=got.gradients["W3"].shape)

    assert yours(load_case("deep"), change).structure == ""
