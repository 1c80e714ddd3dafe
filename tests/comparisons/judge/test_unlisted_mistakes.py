"""Mistakes nobody listed (tests/support/mutants.py UNLISTED: none is in reference/mistakes.py),
each made by the independent mutant engine: the diagnosis names each by the shape of its
difference or by the one change to the reference's formula that reproduces it — and claims no
listed mistake for it. The counts are docs/learners.md's."""

import pytest
from backprop_crosscheck.comparisons.run import run_case
from support.mutants import BUGS, UNLISTED, MutantBackend
from support.paths import TESTS

from backprop_crosscheck import load_case

MOMENTUM = str(TESTS / "cases" / "momentum.toml")
CASES = ["batch", "deep", "classification", "article", "adam", MOMENTUM]


def diagnosis_of(bug):
    """The diagnosis on the first case where the mutant fails."""
    for name in CASES:
        c = run_case(load_case(name), [MutantBackend(bug)], "float64").comparisons[0]
        if c.status == "fail":
            return c.diagnosis
    raise AssertionError(f"{bug} never failed")


@pytest.mark.parametrize("bug", UNLISTED)
def test_a_mistake_nobody_listed_is_said_for_what_it_is(bug):
    d = diagnosis_of(bug)
    said = f"{d.structure} | {d.change}"
    assert UNLISTED[bug] in said, d.summary()
    assert d.mistake is None, d.summary()  # no listed mistake is claimed for it


def test_no_claim_on_the_listed_mistakes_contradicts_their_names():
    """Over the 22 listed mutants, whatever shape or change is said is said of the mistake
    itself: a multiple only for the scaling mistakes, a changed formula only for the chain's."""
    scaling = {
        "sign_flip",
        "forgot_half",
        "batch_mean_sum",
        "mse_per_sample",
        "lr_twice",
        "lr_missing",
        "bias_sign_flip",
        "float32_inside",
    }
    for bug in BUGS:
        d = diagnosis_of(bug)
        if "exactly" in d.structure:
            assert bug in scaling, (bug, d.structure)
