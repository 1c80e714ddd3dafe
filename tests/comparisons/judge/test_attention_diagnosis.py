"""The classic mistakes of attention's backward (issue #36), each made by an independent engine
(torch composing attention from its own ops, one line broken, tests/support/attention_mutants.py),
caught on a built-in attention case and named by the diagnosis; the mutant without a bug and
torch's own kernel get no diagnosis."""

import pytest
from backprop_crosscheck.comparisons.run import run_case

pytest.importorskip("torch", reason="the mutants are torch engines: pip install torch==2.13.0")
from support.attention_mutants import ATTENTION_BUGS, AttentionMutant  # noqa: E402

from backprop_crosscheck import get_backend, load_case

CASES_OF = {  # the built-in cases each mistake shows on
    "softmax_jacobian_diagonal": ("attention", "mha", "padded"),
    "attention_scale_forgotten": ("attention", "mha", "cross"),
    "mask_after_softmax": ("mha", "padded"),
    "causal_off_by_one": ("mha", "cross"),
    "dv_unnormalized": ("attention", "mha", "padded"),
    "heads_reshaped": ("mha",),  # 2 heads; one head splits alike either way
}
RUNS = [(bug, case) for bug in ATTENTION_BUGS for case in CASES_OF[bug]]


@pytest.mark.parametrize(("bug", "case"), RUNS, ids=[f"{b}-{c}" for b, c in RUNS])
def test_every_attention_mistake_is_caught_and_named(bug, case):
    c = run_case(load_case(case), [AttentionMutant(bug)], "float64").comparisons[0]
    assert c.status == "fail", c.message
    d = c.diagnosis
    assert d.mistake == bug or bug in d.also, d.summary()


@pytest.mark.parametrize("case", ["attention", "mha", "padded", "cross"])
def test_the_mutant_engine_without_a_bug_and_torch_get_no_diagnosis(case):
    engines = [AttentionMutant("none"), get_backend("torch")]
    run = run_case(load_case(case), engines, "float64")
    assert [(c.status, c.diagnosis) for c in run.comparisons] == [("pass", None)] * 2
