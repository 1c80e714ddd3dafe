"""The classic layer mistakes, each made by an independent engine (torch with that one
backward broken, tests/support/stack_mutants.py), caught on the built-in case that has the layer and
named by the diagnosis; the engines that are right get no diagnosis."""

import pytest
from backprop_crosscheck.comparisons.run import run_case

pytest.importorskip("torch", reason="the mutants are torch engines: pip install torch==2.13.0")
from backprop_crosscheck.reference.mistakes import MISTAKES  # noqa: E402
from support.stack_mutants import STACK_BUGS, StackMutant  # noqa: E402

from backprop_crosscheck import get_backend, load_case

CASE_OF = {
    "conv_no_flip": "conv",
    "maxpool_to_all": "conv",
    "maxpool_averaged": "conv",
    "bn_constant_stats": "norm",
    "bn_unbiased_variance": "conv_bn",
    "dropout_no_rescale": "dropout",
    "embedding_overwrite": "embedding",
    "residual_no_identity": "residual",
}


@pytest.mark.parametrize("bug", STACK_BUGS)
def test_every_layer_mistake_is_caught_and_named(bug):
    c = run_case(load_case(CASE_OF[bug]), [StackMutant(bug)], "float64").comparisons[0]
    assert c.status == "fail", c.message
    d = c.diagnosis
    assert d.mistake == bug or bug in d.also, d.summary()
    assert d.residual <= 1
    # torch reports each layer's dE/da: the first wrong quantity is the broken layer's own
    kind = MISTAKES[bug][0][0]
    assert d.first_wrong == "the forward pass" or f"({kind} " in d.detail, d.detail


@pytest.mark.parametrize("case", sorted(set(CASE_OF.values()) | {"ties"}))
def test_right_engines_get_no_diagnosis_on_a_layer_stack(case):
    run = run_case(load_case(case), [get_backend("numpy"), get_backend("torch")], "float64")
    assert [(c.status, c.diagnosis) for c in run.comparisons] == [("pass", None)] * 2
