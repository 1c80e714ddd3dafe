"""The classic mistakes of backpropagation through time (issue #35), each made by an
independent engine (torch stepping each cell in its own ops, one gradient broken by detach(),
tests/support/recurrent_mutants.py), caught on a built-in recurrent case and named by the
diagnosis; torch's own cells, right, get no diagnosis."""

import pytest
from backprop_crosscheck.comparisons.kit.conformance import evaluate
from backprop_crosscheck.comparisons.run import run_case

pytest.importorskip("torch", reason="the mutants are torch engines: pip install torch==2.13.0")
from support.recurrent_mutants import (  # noqa: E402
    RECURRENT_BUGS,
    UNLISTED_BUGS,
    RecurrentMutant,
)

from backprop_crosscheck import get_backend, load_case

CASES_OF = {  # the built-in cases each mistake shows on
    "bptt_no_carry": ("rnn", "lstm", "gru"),
    "wh_last_step_only": ("rnn", "gru"),
    "tanh_prime_of_preactivation": ("rnn", "lstm"),
    "gates_wrong_order": ("lstm", "gru"),
    "lstm_no_forget_gate": ("lstm", "char_lstm"),
    "gru_reset_wrong_side": ("gru",),
}
RUNS = [(bug, case) for bug in RECURRENT_BUGS for case in CASES_OF[bug]]


@pytest.mark.parametrize(("bug", "case"), RUNS, ids=[f"{b}-{c}" for b, c in RUNS])
def test_every_bptt_mistake_is_caught_and_named(bug, case):
    c = run_case(load_case(case), [RecurrentMutant(bug)], "float64").comparisons[0]
    assert c.status == "fail", c.message
    d = c.diagnosis
    assert d.mistake == bug or bug in d.also, d.summary()


GENERATED = {  # each unlisted mistake: the cases it shows on, and the change that names it
    "wh_gradient_with_h_t": (("rnn", "lstm", "char_lstm"), ("with h_t", "where h_{t−1} belongs")),
    "loss_last_step_only": (("rnn", "gru", "char_lstm"), ("without the loss at step t",)),
    "cell_state_not_carried": (("lstm", "char_lstm"), ("without step t+1's carried dE/dc",)),
}
UNLISTED = [(bug, case) for bug in UNLISTED_BUGS for case in GENERATED[bug][0]]


@pytest.mark.parametrize(("bug", "case"), UNLISTED, ids=[f"{b}-{c}" for b, c in UNLISTED])
def test_a_mistake_no_list_names_is_found_by_the_generated_changes(bug, case):
    """No listed mistake matches these; the diagnosis names them by the one change to the
    reference's backward through time that gives the engine's numbers (perturb_time.py)."""
    c = run_case(load_case(case), [RecurrentMutant(bug)], "float64").comparisons[0]
    assert c.status == "fail", c.message
    d = c.diagnosis
    assert d.mistake is None, d.summary()
    assert d.change.startswith("it is "), d.change  # one change, not a tie
    assert all(words in d.change for words in GENERATED[bug][1]), d.change


@pytest.mark.parametrize("case", ["rnn", "lstm", "gru", "char_lstm", "rnn_truncated"])
def test_the_mutant_engine_without_a_bug_and_torch_get_no_diagnosis(case):
    engines = [RecurrentMutant("none"), get_backend("torch")]
    run = run_case(load_case(case), engines, "float64")
    assert [(c.status, c.diagnosis) for c in run.comparisons] == [("pass", None)] * 2


@pytest.mark.parametrize("case", ["rnn", "gru", "rnn_truncated"])
def test_causality_catches_an_input_gradient_sent_to_a_later_step(case):
    """The kit's causality oracle: the loss of steps 0 … t has exactly zero gradient with
    respect to the inputs after t — an engine whose backward sends dE/dx_t to x_{t+1} breaks it
    (its gradients are off too); torch's own cells and the mutant without the bug keep it."""
    broken = evaluate(RecurrentMutant("input_gradient_one_step_late"), case, "float64")
    assert broken["causality"].status == "fail", broken["causality"]
    assert "exactly 0" in broken["causality"].message
    for engine in (RecurrentMutant("none"), get_backend("torch")):
        assert evaluate(engine, case, "float64")["causality"].status == "pass"
