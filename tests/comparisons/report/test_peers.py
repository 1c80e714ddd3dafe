"""`crosscheck bench --peers` (issue #38, point 3): the harness's verdict beside
torch.autograd.gradcheck on a hand-written backward with one listed mistake. Which tool catches
what is held here on the article's network, where the answers are known by hand: a flipped
output gradient is a wrong derivative (both see it); a learning rate applied twice leaves every
gradient right (gradcheck cannot see it; the harness's trajectory does); a tanh mistake on a
network without tanh changes nothing (no row)."""

import importlib.util

import numpy as np
import pytest
from backprop_crosscheck.comparisons.judge.diagnosis import _side_by_side
from backprop_crosscheck.comparisons.peers import has_effect, peer_rows, render
from backprop_crosscheck.reference import load_case

needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="gradcheck is torch's: make test installs it"
)


def test_a_mistake_that_changes_nothing_of_the_case_has_no_row():
    article = load_case("article")  # identity activations: no tanh, no f′ at all
    assert not has_effect(article, "tanh_prime_of_z")
    assert has_effect(article, "sign_flip") and has_effect(article, "lr_twice")


@needs_torch
def test_each_tool_catches_what_it_can_see_on_the_article():
    asked = ["sign_flip", "lr_twice", "tanh_prime_of_z"]
    rows = {r["mistake"]: r for r in peer_rows(["article"], mistakes=asked)}
    assert "tanh_prime_of_z" not in rows
    flipped, twice = rows["sign_flip"], rows["lr_twice"]
    assert flipped["gradcheck_caught"] and flipped["harness_caught"] and flipped["harness_named"]
    assert not twice["gradcheck_caught"] and twice["harness_caught"] and twice["harness_named"]
    if flipped["check_grads_s"] is not None:  # JAX installed: check_grads sees what gradcheck sees
        assert flipped["check_grads_caught"] and not twice["check_grads_caught"]
    text = render(list(rows.values()))
    assert "caught by a peer and missed by the harness: none" in text and "lr_twice" in text


def test_a_difference_against_nan_is_the_largest_not_a_crash():
    """Found by the peers bench: a run whose values all turned NaN made the diagnosis raise
    (numpy's nanargmax of an all-NaN difference), so no mistake was named."""
    ours, yours, off = _side_by_side(np.array([1.0, 2.0]), np.array([np.nan, np.nan]))
    assert off == "largest difference inf at [0]" and "nan" in yours


def test_the_peers_run_on_every_built_in_case_with_a_float64_run():
    """Found in session 18: the mixed-precision built-ins (float32 masters: float64 is n/a) came
    into the peers' cases and their every mistake showed as caught by a peer and missed by the
    harness — which had judged nothing there."""
    from backprop_crosscheck.comparisons.peers import peer_cases
    from backprop_crosscheck.reference.cases.file import builtin_case_names

    mixed = {n for n in builtin_case_names() if load_case(n).mixed is not None}
    assert mixed >= {"mixed_bfloat16", "mixed_float16"}
    assert set(peer_cases()) == set(builtin_case_names()) - mixed
