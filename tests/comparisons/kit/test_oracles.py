"""Each oracle of the conformance kit catches the broken engine made for it — and passes a
correct one (the reference's own backend, and the mutants' engine with no bug)."""

import pytest
from backprop_crosscheck.comparisons.kit.conformance import evaluate
from support.fake_backends import (
    BatchOff,
    Float64Inside,
    FrozenMoves,
    HvpAsymmetric,
    Jittery,
    JvpOff,
    TapeLossOff,
)
from support.mutants import ACT, MutantBackend

from backprop_crosscheck import get_backend


class ReluKinkOne(MutantBackend):
    """relu′(0) = 1: the other convention."""

    act = {**ACT, "relu": (ACT["relu"][0], lambda z, a: (z >= 0) * 1.0)}


class ReluKinkTwo(MutantBackend):
    """relu′(0) = 2: outside the one-sided difference quotients."""

    act = {**ACT, "relu": (ACT["relu"][0], lambda z, a: (z > 0) * 1.0 + (z == 0) * 2.0)}


# oracle -> (the engine that breaks it, a case and dtype where it shows)
BROKEN = {
    "forward-reverse": (JvpOff(), "article", "float64"),
    "untracked-loss": (TapeLossOff(), "article", "float64"),
    "batch-sum": (BatchOff(), "batch", "float64"),
    "determinism": (Jittery(), "deep", "float64"),
    "dtype-honest": (Float64Inside(), "deep", "float32"),
    "frozen": (FrozenMoves(), "deep", "float64"),
    "relu-kink": (ReluKinkTwo("none"), "kink", "float64"),
    "hvp-symmetry": (HvpAsymmetric(), "deep", "float64"),
    "gradients": (ReluKinkOne("none"), "kink", "float32"),  # relu′(0) ≠ the reference's 0
}


@pytest.mark.parametrize("check", BROKEN)
def test_the_oracle_catches_its_broken_engine(check):
    backend, case, dtype = BROKEN[check]
    outcome = evaluate(backend, case, dtype)[check]
    assert outcome.status == "fail", outcome


@pytest.mark.parametrize("check", BROKEN)
def test_the_oracle_passes_a_correct_engine(check):
    _, case, dtype = BROKEN[check]
    for backend in (get_backend("numpy"), MutantBackend("none")):
        outcome = evaluate(backend, case, dtype)[check]
        assert outcome.status in ("pass", "skip"), (backend.name, outcome)


def test_the_quiet_ones_pass_every_accuracy_check():
    """Jittery and Float64Inside are accurate: only their oracle tells them apart."""
    for backend, case, dtype in [
        (Jittery(), "deep", "float64"),
        (Float64Inside(), "deep", "float32"),
    ]:
        outcomes = evaluate(backend, case, dtype)
        assert all(outcomes[q].status == "pass" for q in ("loss", "gradients", "updated", "final"))


def test_the_float32_inside_float64_mutant_still_fails():
    outcome = evaluate(MutantBackend("float32_inside"), "article", "float64")["gradients"]
    assert outcome.status == "fail"


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_a_low_precision_run_computed_in_float32_and_cast_is_told_apart(dtype):
    """Accurate to its precision's tolerance, so only dtype-honest tells it: every gradient is
    float32's rounded once. torch computes in the precision (float32 accumulation inside its
    products, every layer's output rounded): it is not flagged."""
    from support.fake_backends import Float32Inside

    outcomes = evaluate(Float32Inside(), "deep", dtype)
    assert all(outcomes[q].status == "pass" for q in ("loss", "gradients", "updated", "final"))
    assert outcomes["dtype-honest"].status == "fail", outcomes["dtype-honest"]
    assert "float32" in outcomes["dtype-honest"].message
    pytest.importorskip("torch", reason="pip install torch==2.13.0 (or: make test)")
    assert evaluate(get_backend("torch"), "deep", dtype)["dtype-honest"].status == "pass"
