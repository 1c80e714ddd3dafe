"""Layer-stack case files (docs/layers.md): every bad one is one line naming the file and the
field, exit 2; the good ones give the numbers a hand derivation gives."""

import json
import subprocess
import sys

import numpy as np
import pytest
from backprop_crosscheck.comparisons.cli import main
from backprop_crosscheck.reference import load_case, train
from support.paths import ROOT

HEAD = 'learning_rate = 0.1\nloss = "half_sse"\n'
IMAGE = "inputs = [[[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]]]]\ntargets = [[0.5]]\n"
K2 = "kernel = [[[[0.1, 0.2], [0.3, 0.4]]]]\nbias = [0.0]\n"
TAIL = (
    '[[stack]]\nkind = "flatten"\n[[stack]]\nkind = "dense"\n'
    "W = [[0.1], [0.2], [0.3], [0.4]]\nb = [0.0]\n"
)
CONV = f'[[stack]]\nkind = "conv2d"\n{K2}'


def dropout(p: str, mask: str) -> str:
    return (
        HEAD + "inputs = [[1.0, 2.0]]\ntargets = [[0.5]]\n" + '[[stack]]\nkind = "dropout"\n'
        f"p = {p}\nmask = {mask}\n" + '[[stack]]\nkind = "dense"\nW = [[0.1], [0.2]]\nb = [0.0]\n'
    )


BAD = {  # id: (case text, the field named, a word of the reason)
    "kernel-larger-than-input": (
        HEAD
        + IMAGE
        + '[[stack]]\nkind = "conv2d"\nkernel = [[['
        + ", ".join(["[0.1, 0.1, 0.1, 0.1]"] * 4)
        + "]]]\nbias = [0.0]\n"
        + TAIL,
        "stack[0].kernel",
        "larger",
    ),
    "stride-0": (HEAD + IMAGE + CONV + "stride = 0\n" + TAIL, "stack[0].stride", "from 1 to"),
    "negative-padding": (
        HEAD + IMAGE + CONV + "padding = -1\n" + TAIL,
        "stack[0].padding",
        "from 0 to",
    ),
    "kernel-channels": (
        HEAD + IMAGE + '[[stack]]\nkind = "conv2d"\nkernel = [[[[0.1]], '
        "[[0.2]]]]\nbias = [0.0]\n" + TAIL,
        "stack[0].kernel",
        "in-channels",
    ),
    "bias-size": (
        HEAD + IMAGE + CONV.replace("bias = [0.0]", "bias = [0.0, 1.0]") + TAIL,
        "stack[0].bias",
        "out-channels",
    ),
    "dense-on-images": (
        HEAD
        + IMAGE
        + CONV
        + TAIL.split('[[stack]]\nkind = "dense"')[0].replace('kind = "flatten"', 'kind = "relu"')
        + '[[stack]]\nkind = "dense"'
        "\nW = [[0.1]]\nb = [0.0]\n",
        "stack[2].kind",
        "flatten",
    ),
    "mask-shape": (dropout("0.5", "[[1, 0, 1]]"), "stack[0].mask", "shape"),
    "mask-not-0-1": (dropout("0.5", "[[1, 0.5]]"), "stack[0].mask", "0"),
    "p-1": (dropout("1.0", "[[1, 0]]"), "stack[0].p", "[0, 1)"),
    "index-out-of-range": (
        HEAD + "inputs = [[0, 5]]\ntargets = [[0.5]]\n" + "[[stack]]\nkind "
        '= "embedding"\ntable = [[0.1], [0.2], [0.3]]\n[[stack]]\nkind = '
        '"flatten"\n[[stack]]\nkind = "dense"\nW = [[0.1], [0.2]]\nb = [0.0]\n',
        "inputs[0][1]",
        "3 rows",
    ),
    "index-not-whole": (
        HEAD + "inputs = [[0, 1.5]]\ntargets = [[0.5]]\n" + "[[stack]]\nkind "
        '= "embedding"\ntable = [[0.1], [0.2], [0.3]]\n',
        "inputs[0][1]",
        "index",
    ),
    "embedding-not-first": (
        HEAD + "inputs = [[1.0]]\ntargets = [[0.5]]\n" + "[[stack]]\nkind "
        '= "relu"\n[[stack]]\nkind = "embedding"\ntable = [[0.1]]\n',
        "stack[1].kind",
        "first",
    ),
    "residual-changes-shape": (
        HEAD + "inputs = [[1.0, 2.0]]\ntargets = [[0.5]]\n" + "[[stack]]"
        '\nkind = "residual"\n[[stack.block]]\nkind = "dense"\nW = [[0.1],'
        " [0.2]]\nb = [0.0]\n",
        "stack[0].block",
        "same shape",
    ),
    "unknown-field": (
        HEAD + IMAGE + CONV + "dilation = 2\n" + TAIL,
        "stack[0].dilation",
        "not a field",
    ),
    "unknown-kind": (HEAD + IMAGE + '[[stack]]\nkind = "conv3d"\n', "stack[0].kind", "one of"),
    "missing-parameter": (
        HEAD + IMAGE + '[[stack]]\nkind = "conv2d"\nbias = [0.0]\n' + TAIL,
        "stack[0].kernel",
        "missing",
    ),
    "ragged-image": (
        HEAD + "inputs = [[[[0.1, 0.2], [0.3]]]]\ntargets = [[0.5]]\n" + CONV,
        "inputs[0][0][1]",
        "shape",
    ),
    "eps-0": (
        HEAD + "inputs = [[1.0, 2.0], [3.0, 1.0]]\ntargets = [[0.5], [0.1]]\n[[stack]]\n"
        'kind = "batch_norm"\neps = 0\ngamma = [1.0, 1.0]\nbeta = [0.0, 0.0]\n',
        "stack[0].eps",
        "> 0",
    ),
    "batch-norm-one-sample": (
        HEAD + "inputs = [[1.0, 2.0]]\ntargets = [[0.5, 0.1]]\n[[stack]]"
        '\nkind = "batch_norm"\ngamma = [1.0, 1.0]\nbeta = [0.0, 0.0]\n',
        "stack[0].kind",
        "at least 2",
    ),
    "ends-in-images": (HEAD + IMAGE + CONV, "stack", "samples × outputs"),
    "targets-width": (
        HEAD + IMAGE.replace("[[0.5]]", "[[0.5, 0.1]]") + CONV + TAIL,
        "targets",
        "output",
    ),
    "dense-field-too": (HEAD + IMAGE + "layers = [2, 1]\n" + CONV + TAIL, "layers", "dense case"),
}


def sequence(cell: str, head: str = "inputs = [[[0.1], [0.2], [0.3]]]\ntargets = [[0.5]]\n"):
    """A one-sample, 3-step sequence through ``cell`` (its table's fields) then a dense layer."""
    return HEAD + head + f"[[stack]]\n{cell}\n" + '[[stack]]\nkind = "dense"\nW = [[0.1]]\n'


RNN_1 = 'kind = "rnn"\nWx = [[0.5]]\nWh = [[0.2]]\noutputs = "last"'
LSTM_1 = 'kind = "lstm"\nWx = [[0.1, 0.2, 0.3, 0.4]]\nWh = [[0.1, 0.2, 0.3, 0.4]]\noutputs = "last"'
BAD |= {  # the recurrent layers' fields (issue #35)
    "gates-not-a-permutation": (sequence(LSTM_1 + '\ngates = "iffo"'), "stack[0].gates", "ifgo"),
    "reset-unknown": (
        sequence(LSTM_1.replace("lstm", "gru").replace(", 0.4", "") + '\nreset = "middle"'),
        "stack[0].reset",
        "after, before",
    ),
    "truncate-negative": (sequence(RNN_1 + "\ntruncate = -1"), "stack[0].truncate", "whole"),
    "truncate-past-the-steps": (sequence(RNN_1 + "\ntruncate = 4"), "stack[0].truncate", "3 steps"),
    "outputs-unknown": (sequence(RNN_1.replace('"last"', '"all"')), "stack[0].outputs", "every"),
    "activation-not-a-cell-one": (
        sequence(RNN_1 + '\nactivation = "gelu"'),
        "stack[0].activation",
        "tanh, relu",
    ),
    "wh-not-gates-wide": (
        sequence(LSTM_1.replace("Wh = [[0.1, 0.2, 0.3, 0.4]]", "Wh = [[0.1]]")),
        "stack[0].Wh",
        "4·hidden",
    ),
    "wx-wrong-features": (
        sequence(RNN_1.replace("Wx = [[0.5]]", "Wx = [[0.5], [0.1]]")),
        "stack[0].Wx",
        "features",
    ),
    "h0-wrong-size": (sequence(RNN_1 + "\nh0 = [0.1, 0.2]"), "stack[0].h0", "1 values"),
    "rnn-on-rows": (
        sequence(RNN_1, "inputs = [[0.1, 0.2]]\ntargets = [[0.5]]\n"),
        "stack[0].kind",
        "sequences",
    ),
    "every-step-into-dense": (  # a dense layer at every step: the loss then needs a row each
        sequence(RNN_1.replace('"last"', '"every"')),
        "stack",
        "merge_time",
    ),
}


@pytest.mark.parametrize("text, field, word", BAD.values(), ids=BAD.keys())
def test_a_bad_stack_case_is_one_line_naming_the_field(capsys, tmp_path, text, field, word):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["report", str(path), "--backends", "numpy"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert f"{path}: {field} " in err and word in err, err


def test_the_command_line_exits_2_without_a_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BAD["stride-0"][0])
    proc = subprocess.run(
        [sys.executable, "-m", "backprop_crosscheck.comparisons", "report", str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr


def test_max_pool_ties_send_the_gradient_to_the_first_maximum():
    # ties.toml by hand: pooled = [0.5, 0.2, 0.9, 0.7], prediction = 0.3·0.5 − 0.2·0.2 + 0.5·0.9
    # + 0.4·0.7 + 0.1 = 0.94, Δ = 0.94 − 0.5 = 0.44; dE/dX = Δ·w at each window's first
    # maximum (row-major), 0 elsewhere — also at the maxima that tie with it
    dX = train(load_case("ties")).gradients["X"][0, 0]
    want = np.zeros((4, 4))
    want[0, 0], want[0, 3], want[2, 0], want[2, 2] = 0.44 * 0.3, 0.44 * -0.2, 0.44 * 0.5, 0.44 * 0.4
    np.testing.assert_allclose(dX, want, atol=1e-15)


def test_an_embedding_adds_the_gradients_of_a_repeated_index():
    # embedding.toml: token 1 three times, token 3 twice, 2 and 4 never: their rows get nothing;
    # row 1's gradient is the sum over its three places of dE/d(that place's vector), which
    # the dense layer above gives as δ·Wᵀ per place (its rows 2t, 2t+1 for place t)
    case = load_case("embedding")
    g = train(case).gradients["table1"]
    assert not g[2].any() and not g[4].any()
    W, b = case.parameters()["W3"], case.parameters()["b3"]
    table = case.parameters()["table1"]
    x = table[case.inputs].reshape(2, -1)
    z = x @ W + b
    s = np.exp(z - z.max(1, keepdims=True))
    delta = (s / s.sum(1, keepdims=True) - case.targets) / 2  # softmax CE, mean over samples
    per_place = (delta @ W.T).reshape(2, 3, 2)
    want = sum(per_place[n, t] for n in range(2) for t in range(3) if case.inputs[n, t] == 1)
    np.testing.assert_allclose(g[1], want, rtol=1e-12)


def test_fd_skips_an_input_that_sits_on_a_max_pool_tie(capsys):
    assert (
        main(
            [
                "report",
                "ties",
                "--backends",
                "numpy,fd,autograd",
                "--format",
                "json",
                "--in-process",
            ]
        )
        == 0
    )
    rows = {b["backend"]: b for b in json.loads(capsys.readouterr().out)["runs"][0]["backends"]}
    assert (
        rows["fd"]["status"] == "skip" and "X[0, 0, 0, 0] sits on a kink" in rows["fd"]["message"]
    )
    assert rows["autograd"]["status"] in ("pass", "skip")  # skip: autograd not installed


def test_explain_walks_a_stack_layer_by_layer_with_its_numbers(capsys):
    # ties.toml by hand (above): the pooled values, the prediction 0.94, Error ½·0.44² = 0.0968
    assert main(["explain", "ties"]) == 0
    out = capsys.readouterr().out
    assert "a1 = max_pool2d (size 2, stride 2): the maximum of each window" in out
    assert "= 1×1×2×2: [0.5, 0.2, 0.9, 0.7]" in out and "= 1×1: [0.94]" in out
    assert "Error = half_sse(a3, Y) = 0.0968" in out
    assert "dE/dX = dE/da1 routed to each window's first maximum" in out


LEARNER = ROOT / "examples" / "learner" / "conv_backprop.py"


def test_a_learners_own_conv_backward_passes(capsys):
    assert main(["check", str(LEARNER), "conv", "--dtype", "all"]) == 0


def test_a_learners_max_pool_mistake_is_named_in_their_words(capsys, tmp_path):
    mine = tmp_path / "mine.py"
    right = "d_a[s, g, 2 * i + r, 2 * j + q] = d_pooled[s, g, i, j]"
    wrong = "d_a[s, g, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2] = d_pooled[s, g, i, j]"
    assert right in LEARNER.read_text()
    mine.write_text(LEARNER.read_text().replace(right, wrong))
    assert main(["check", str(mine), "conv", "--format", "json"]) == 1
    (row,) = json.loads(capsys.readouterr().out)["runs"][0]["backends"]
    assert row["diagnosis"]["mistake"] == "maxpool_to_all", row["diagnosis"]


@pytest.mark.parametrize(
    "name", ["conv", "embedding", "residual", "dropout", "ties", "random-24.1"]
)
def test_a_stacks_hand_derived_hvp_is_torchs_double_backward(name):
    torch = pytest.importorskip("torch", reason="pip install torch==2.13.0 (or make test)")
    del torch
    from backprop_crosscheck.backends import get_backend
    from backprop_crosscheck.reference.families.draw import family_case
    from backprop_crosscheck.reference.hvp import direction, hvp

    case = family_case(24, 1) if name.startswith("random") else load_case(name)
    v = direction(case, seed=5)
    mine, theirs = hvp(case, v), get_backend("torch").hvp(case, v, "float64")
    for n in mine:
        np.testing.assert_allclose(mine[n], theirs[n], rtol=1e-9, atol=1e-12, err_msg=n)


def test_a_layer_unpickled_without_its_parameter_names_works_them_out():
    """A Layer keeps its parameters' names (worked out once, ``Layer.names``); one unpickled
    from a state that lacks them — pickled by other code, as a worker on another version of the
    harness would — works them out again instead of failing at its first step."""
    import copyreg
    import pickle

    case = load_case("conv")
    layer = case.stack[0]
    state = {k: v for k, v in vars(layer).items() if k != "names"}

    class Elsewhere:  # pickles as that Layer with that state, as other code would have
        def __reduce__(self):
            return copyreg._reconstructor, (type(layer), object, None), state

    restored = pickle.loads(pickle.dumps(Elsewhere()))
    params = case.parameters()
    assert restored.own(params).keys() == {"kernel", "bias"}
    assert restored.own(params)["kernel"] is params["kernel1"]
    assert pickle.loads(pickle.dumps(layer)).names == {"kernel": "kernel1", "bias": "bias1"}
