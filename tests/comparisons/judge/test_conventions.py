"""Weight decay in both conventions (L2 and decoupled, AdamW) held against each engine's own
optimizer, and the diagnosis saying which documented convention a disagreeing run follows."""

import dataclasses
import json

import numpy as np
import pytest
from backprop_crosscheck.comparisons.cli import main
from backprop_crosscheck.comparisons.judge.diagnosis import diagnose
from backprop_crosscheck.comparisons.judge.tolerance import tolerance_for
from backprop_crosscheck.comparisons.run import run_case

from backprop_crosscheck import get_backend, load_case, train

NET = """layers = [2, 3, 2]
activation = ["tanh", "identity"]
loss = "mse"
learning_rate = 0.1
steps = 3
inputs = [[0.5, -1.0], [1.5, 0.3]]
targets = [[0.2, -0.4], [0.1, 0.9]]
weights = [ [[0.3, -0.2, 0.5], [0.1, 0.4, -0.6]], [[0.7, -0.3], [0.2, 0.5], [-0.4, 0.6]] ]
biases = [[0.1, -0.1, 0.05], [0.0, 0.2]]
"""


def decayed(tmp_path, rule, mode, decay=0.3):
    path = tmp_path / f"{rule}-{mode}.toml"
    path.write_text(
        NET + f'optimizer = "{rule}"\nweight_decay = {decay}\nweight_decay_mode = "{mode}"\n'
    )
    return path


def test_decoupled_and_l2_adam_are_different_rules_and_plain_sgds_are_one(tmp_path):
    final = {
        (rule, mode): train(load_case(str(decayed(tmp_path, rule, mode)))).final["W1"]
        for rule in ("adam", "sgd")
        for mode in ("l2", "decoupled")
    }
    assert not np.allclose(final["adam", "l2"], final["adam", "decoupled"], rtol=1e-6)
    np.testing.assert_allclose(final["sgd", "l2"], final["sgd", "decoupled"], rtol=1e-14)


def test_decoupled_decay_by_hand_at_the_first_step(tmp_path):
    # Adam's first step is a·g/(|g| + ε) whatever g; decoupled decay then takes a·λ·p more
    case = load_case(str(decayed(tmp_path, "adam", "decoupled")))
    p, g = case.parameters()["W2"], train(case).gradients["W2"]
    a, lam, eps = case.learning_rate, 0.3, case.optimizer.epsilon
    np.testing.assert_allclose(
        train(case).updated["W2"], p - a * g / (np.abs(g) + eps) - a * lam * p, rtol=1e-12
    )


def test_each_engines_own_weight_decay_agrees_or_is_na_with_its_reason(capsys, tmp_path):
    pytest.importorskip("torch", reason="pip install torch==2.13.0 (or make test)")
    pytest.importorskip("optax", reason="pip install optax (or make test)")
    paths = [
        str(decayed(tmp_path, rule, mode))
        for rule in ("sgd", "momentum", "adam")
        for mode in ("l2", "decoupled")
    ]
    code = main(
        [
            "report",
            *paths,
            "--backends",
            "numpy,torch,jax,autograd",
            "--dtype",
            "all",
            "--in-process",
            "--format",
            "json",
        ]
    )
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert code == 0 and len(runs) == 12
    for run in runs:
        status = {b["backend"]: b["status"] for b in run["backends"]}
        torch_na = run["case"] == "momentum-decoupled"  # torch has no decoupled SGD
        want = {
            "numpy": "pass",
            "torch": "unsupported" if torch_na else "pass",
            "jax": "pass",
            "autograd": "unsupported",
        }  # autograd's optimizers have no weight decay
        assert status == want, (run["case"], status)


def test_a_bad_weight_decay_is_one_line(capsys, tmp_path):
    bad = (
        ("weight_decay = -1\n", "weight_decay"),
        ('weight_decay_mode = "decoupled"\n', "weight_decay_mode"),
        ('weight_decay = 0.1\nweight_decay_mode = "adamw"\n', "weight_decay_mode"),
    )
    for text, field in bad:
        path = tmp_path / "bad.toml"
        path.write_text(NET + 'optimizer = "adam"\n' + text)
        assert main(["report", str(path), "--backends", "numpy"]) == 2
        err = capsys.readouterr().err
        assert f"{path}: {field} " in err and err.count("\n") == 1, err


def follows(case, changed):
    """The diagnosis of a run that is the reference under ``changed`` (a convention's variant)."""
    tol = tolerance_for("float64", get_backend("numpy"))
    return diagnose(case, train(case), train(changed), "float64", tol)


def test_a_run_that_follows_another_epsilon_placement_is_told_which():
    case = load_case("adam")
    before = dataclasses.replace(case.optimizer, epsilon_placement="before_correction")
    keras = case.replace(optimizer=before)
    assert follows(case, keras).convention == (
        "follows epsilon_placement = before_correction; the case asked epsilon_placement = "
        "after_correction"
    )


def test_a_run_with_l2_where_adamw_was_asked_is_told_so():
    case = load_case("adamw")
    l2 = case.replace(optimizer=dataclasses.replace(case.optimizer, weight_decay_mode="l2"))
    assert follows(case, l2).convention == (
        "follows weight_decay_mode = l2; the case asked weight_decay_mode = decoupled"
    )


def test_a_run_with_the_tanh_gelu_where_the_exact_one_was_asked_is_told_so():
    case = load_case("classification")
    assert "gelu" in case.activations
    k = case.activations.index("gelu")
    tanh = case.replace(
        activations=(*case.activations[:k], "gelu_tanh", *case.activations[k + 1 :])
    )
    assert follows(case, tanh).convention.startswith(f"follows gelu_tanh in layer {k + 1}")


def test_no_convention_is_claimed_for_an_unrelated_mistake():
    case = load_case("adam")
    wrong = case.replace(learning_rate=case.learning_rate * 1.5)
    assert follows(case, wrong).convention == ""


class _RunsAnother:
    """An engine that runs another case than it is given: one convention of a recurrent layer
    changed, as an engine that ignores the case's setting would."""

    def __init__(self, setting, value):
        from backprop_crosscheck.backends.numpy.reference import NumpyBackend

        self.inner, self.setting, self.value = NumpyBackend(), setting, value
        self.name = f"ignores-{setting}"

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def run(self, case, dtype, device="cpu"):
        layer = case.stack[0]
        settings = {**layer.settings, self.setting: self.value}
        moved = case.replace(stack=(dataclasses.replace(layer, settings=settings), *case.stack[1:]))
        return self.inner.run(moved, dtype, device)


@pytest.mark.parametrize(
    ("case", "setting", "value", "said"),
    [  # what the engine runs instead, and what the diagnosis says of it
        ("lstm", "gates", "ifog", "follows gates = ifog in lstm 1; the case asked gates = ifgo"),
        ("gru", "reset", "before", "follows reset = before in gru 1; the case asked reset = after"),
        (
            "rnn_truncated",
            "truncate",
            0,
            "follows truncate = 0 in rnn 1; the case asked truncate = 2",
        ),
    ],
)
def test_a_recurrent_convention_the_numbers_follow_is_said(case, setting, value, said):
    c = run_case(load_case(case), [_RunsAnother(setting, value)], "float64").comparisons[0]
    assert c.status == "fail" and c.diagnosis.convention == said, c.diagnosis
