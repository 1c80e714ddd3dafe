"""Versioned conformance suites (issue #40, point 2): an engine's CI pins one and moves when it
chooses; a version never changes once published."""

import json

import pytest
from backprop_crosscheck.comparisons.cli import main
from backprop_crosscheck.comparisons.kit.conformance import case_named, case_names
from backprop_crosscheck.comparisons.kit.suites import LATEST, NOT_CONFORMANCE, SUITES
from backprop_crosscheck.reference import builtin_case_names
from backprop_crosscheck.reference.stack import walk

# what each published version runs, written out here: a change to a version is a test failure
DENSE = "adam adam_before_correction adam_inside_sqrt adam_l2 adamw article batch classification"
PUBLISHED = {
    "1": [*DENSE.split(), "deep", "kink", "momentum", "momentum_dampened", "momentum_decoupled"],
}
PUBLISHED["2"] = [*PUBLISHED["1"], "conv", "conv_bn", "dropout", "embedding", "norm", "residual"]
PUBLISHED["2"].append("ties")
PUBLISHED["3"] = [*PUBLISHED["2"], "char_lstm", "gru", "gru_before", "lstm", "rnn"]
PUBLISHED["3"].append("rnn_truncated")
PUBLISHED["4"] = [*PUBLISHED["3"], "attention", "cross", "gpt", "masked_row", "mha", "padded"]
PUBLISHED["5"] = [*PUBLISHED["4"], "mixed_bfloat16", "mixed_float16"]


@pytest.mark.parametrize("version", SUITES)
def test_a_published_suite_runs_what_it_ran(version):
    assert case_names(0, 0, version) == PUBLISHED[version]


def test_the_newest_suite_runs_every_built_in_case():
    """A new built-in case comes in a new version: it cannot slip into a published one."""
    assert sorted(case_names(0, 0, LATEST)) == sorted(
        n for n in builtin_case_names() if n not in NOT_CONFORMANCE
    )


def test_suite_1_draws_dense_random_families_only_and_2_draws_stacks_too():
    dense_only = case_names(15, 0, "1")[len(PUBLISHED["1"]) :]
    assert len(dense_only) == 15 and all(case_named(n).dense for n in dense_only)
    with_stacks = case_names(15, 0, "2")[len(PUBLISHED["2"]) :]
    assert any(not case_named(n).dense for n in with_stacks)


def test_suite_3_draws_what_2_draws_and_sequences_on_top():
    drawn = case_names(6, 0, "3")[len(PUBLISHED["3"]) :]
    assert drawn[:6] == case_names(6, 0, "2")[len(PUBLISHED["2"]) :]
    assert drawn[6:] == ["sequence-0.0", "sequence-0.1", "sequence-0.2"]
    assert {layer.kind for layer in case_named("sequence-0.0").stack} & {"rnn", "lstm", "gru"}
    assert not any(n.startswith("sequence-") for n in case_names(12, 0, "2"))


def test_suite_4_draws_what_3_draws_and_attention_on_top():
    drawn = case_names(6, 0, "4")[len(PUBLISHED["4"]) :]
    assert drawn[:9] == case_names(6, 0, "3")[len(PUBLISHED["3"]) :]
    assert drawn[9:] == ["attention-0.0", "attention-0.1", "attention-0.2"]
    assert any(layer.kind == "attention" for layer in walk(case_named("attention-0.0").stack))
    assert not any(n.startswith("attention-") for n in case_names(12, 0, "3"))


def test_the_command_line_runs_a_pinned_suite(capsys):
    argv = ["conformance", "numpy", "--suite", "1", "--cases", "0", "--dtype", "float64"]
    assert main([*argv, "--in-process", "--format", "json"]) == 0
    cases = {r["case"] for r in json.loads(capsys.readouterr().out)["results"]}
    assert sorted(cases) == sorted(PUBLISHED["1"])


def test_an_unknown_suite_is_one_line(capsys):
    assert main(["conformance", "numpy", "--suite", "9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--suite" in err and "'9'" in err
