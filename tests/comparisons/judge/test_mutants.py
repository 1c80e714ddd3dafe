"""Sensitivity: every mutant (a real backprop bug) is caught by the report on at least one
built-in case, and the report names a parameter the bug actually touches."""

import json

import numpy as np
import pytest
from backprop_crosscheck.comparisons.cli import main
from backprop_crosscheck.reference import load_case
from support.mutants import BUGS
from support.paths import TESTS

MOMENTUM = str(TESTS / "cases" / "momentum.toml")
CASES = ["article", "batch", "deep", "kink", "classification", "adam", MOMENTUM]


@pytest.fixture
def mutants_registered(register):
    register({f"mutant-{bug}": f"support.mutants:{bug}" for bug in BUGS})


def tensor_of(case, label: str) -> str:
    """'w3' -> 'W1', 'W2[0,1]' -> 'W2', 'X[0,1]' -> 'X', 'loss[step 2]' -> 'loss'."""
    return case.aliases.get(label, label).split("[")[0]


@pytest.mark.parametrize("bug", BUGS, ids=BUGS)
def test_mutant_is_caught_and_named(mutants_registered, capsys, bug):
    caught = []
    for name in CASES:
        argv = ["report", name, "--backends", f"mutant-{bug}", "--format", "json", "--in-process"]
        code = main(
            argv
        )  # in-process: isolation is tests/comparisons/isolate/test_workers.py's subject
        doc = json.loads(capsys.readouterr().out)
        (entry,) = doc["runs"][0]["backends"]
        if code == 1:
            assert entry["status"] == "fail", entry["message"]
            case = load_case(name)
            caught.append((name, tensor_of(case, entry["worst"]), BUGS[bug][1](case)))
            if caught[-1][1] in caught[-1][2]:
                break  # caught and named: the cases left could only add more of the same
    assert caught, f"{bug} ({BUGS[bug][0]}) passed every built-in case"
    assert any(tensor in touched for _, tensor, touched in caught), caught


def test_the_bug_free_mutant_engine_passes(capsys):
    """The mutants' own engine with no bug agrees: so each failure above is its bug's doing."""
    from backprop_crosscheck.comparisons.run import run_case
    from support.mutants import MutantBackend

    for name in CASES:
        run = run_case(load_case(name), [MutantBackend("none")], "float64")
        assert run.comparisons[0].status == "pass", run.comparisons[0].message


SATURATED = """\
# binary cross-entropy where the logits saturate the sigmoid: σ(±40) is 1 or 0 in float64
layers = [1, 2]
activation = "identity"
loss = "binary_cross_entropy"
learning_rate = 0.1
inputs = [[1.0]]
targets = [[0.0, 1.0]]
weights = [[[40.0, -40.0]]]
"""


def test_bce_from_probabilities_turns_to_nan_at_saturation_and_is_caught(tmp_path):
    """The reference computes from the logits (log(1 + e^z) − t·z): finite, the loss (40 + 40)/2
    = 40 and dE/dW = (σ(±40) − t)/2 = ±½. A backend that takes the probability first gets
    log(1 − 1) = −inf and 0/0 = NaN, and fails; the same engine from the logits passes."""
    from backprop_crosscheck.comparisons.run import run_case
    from support.mutants import MutantBackend

    case_file = tmp_path / "saturated.toml"
    case_file.write_text(SATURATED)
    engines = [MutantBackend("none"), MutantBackend("bce_from_probabilities")]
    run = run_case(load_case(str(case_file)), engines)
    assert run.reference.loss[0] == pytest.approx(40.0, rel=1e-12)
    np.testing.assert_allclose(run.reference.gradients["W1"], [[0.5, -0.5]], rtol=1e-12)
    right, wrong = run.comparisons
    assert right.status == "pass", right.message
    assert wrong.status == "fail"
    assert np.isinf(wrong.result.loss[0]) and np.isnan(wrong.result.gradients["W1"][0, 0])
