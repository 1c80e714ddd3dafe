"""Every built-in case's float64 reference numbers and ``explain`` words, held bit for bit to a
store written before the dense network and the layer stack became one representation (commit
5b0b0e0, when a dense case had its own forward, backward and R-operator): the merge changed no
number and no word. A case added later is stored as it was introduced (the recurrent ones with
issue #35, their numbers also held to the CS231n values and to every engine elsewhere), so that
no later change moves one of its numbers unnoticed. Floats are stored as ``float.hex`` (exact)."""

import json

import numpy as np
import pytest
from backprop_crosscheck.comparisons.explain.walkthrough import explain
from backprop_crosscheck.reference import train  # a mixed-precision case: its scaled loop
from backprop_crosscheck.reference.cases.file import builtin_case_names, load_case
from backprop_crosscheck.reference.hvp import direction, hvp
from support.paths import TESTS

STORED = json.loads((TESTS / "data" / "builtin_reference.json").read_text())


def hexes(values) -> list[str]:
    return [float(x).hex() for x in np.ravel(values)]


def test_the_store_holds_every_built_in_case():
    assert sorted(STORED) == sorted(builtin_case_names())


@pytest.mark.parametrize("name", sorted(STORED))
def test_the_reference_numbers_are_the_stored_ones(name):
    case, stored = load_case(name), STORED[name]
    result = train(case)
    assert hexes(result.loss) == stored["loss"]
    for what in ("gradients", "updated", "final"):
        got = {n: hexes(v) for n, v in getattr(result, what).items()}
        assert got == stored[what], what
    if "hvp" in stored:  # a dense network's H·v (a stack's dense rows sum in another order)
        assert {n: hexes(v) for n, v in hvp(case, direction(case)).items()} == stored["hvp"]


@pytest.mark.parametrize("name", sorted(STORED))
def test_explain_says_the_stored_words(name):
    assert explain(load_case(name)) == STORED[name]["explain"]
