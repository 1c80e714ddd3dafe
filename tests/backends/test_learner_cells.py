"""`crosscheck check` with a learner's recurrent layer in CS231n's signatures (issue #35, point
7; backends/numpy/learner_cells.py): the example file's RNN and LSTM pass where CS231n's
conventions hold, a case beyond them is n/a saying which convention, a forgotten carry is named,
and a file without the pair, or with another signature, is one line, exit 2."""

import json

import pytest
from support.cli import run
from support.paths import ROOT

EXAMPLE = str(ROOT / "examples" / "learner" / "cs231n_rnn.py")
LSTM_CASE = str(ROOT / "examples" / "learner" / "cs231n_lstm.toml")


def check_json(capsys, *argv):
    code, out, err = run(capsys, "check", *argv, "--format", "json", "--in-process")
    return code, json.loads(out), err


def test_the_cs231n_layers_pass_in_a_network_in_both_dtypes(capsys):
    code, doc, _ = check_json(capsys, EXAMPLE, "rnn", LSTM_CASE, "--dtype", "all")
    statuses = [(r["case"], r["dtype"], b["status"]) for r in doc["runs"] for b in r["backends"]]
    assert code == 0 and all(s == "pass" for *_, s in statuses), statuses
    assert len(statuses) == 4


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("lstm", "gates = 'ifgo' (CS231n's lstm: 'ifog')"),
        ("rnn_truncated", "truncate = 2"),
        ("gru", "no rnn or lstm layer"),
    ],
)
def test_a_case_beyond_cs231ns_conventions_is_na_saying_which(capsys, case, said):
    _, doc, _ = check_json(capsys, EXAMPLE, case)
    (backend,) = doc["runs"][0]["backends"]
    assert backend["status"] == "unsupported" and said in backend["message"], backend


def test_a_forgotten_carry_is_named(capsys, tmp_path):
    text = open(EXAMPLE, encoding="utf-8").read()
    wrong = text.replace("        carried = da @ Wh.T", "        carried = 0 * (da @ Wh.T)")
    assert wrong != text
    (tmp_path / "mine.py").write_text(wrong, encoding="utf-8")
    code, doc, _ = check_json(capsys, str(tmp_path / "mine.py"), "rnn")
    (backend,) = doc["runs"][0]["backends"]
    assert code == 1 and backend["status"] == "fail"
    assert backend["diagnosis"]["mistake"] == "bptt_no_carry", backend["diagnosis"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("def rnn_forward(x, h0, Wx, Wh, b):\n    pass\n", "defines no function rnn_backward"),
        (
            "def rnn_forward(x, h0, Wx, Wh):\n    pass\ndef rnn_backward(dh, cache):\n    pass\n",
            "rnn_forward(x, h0, Wx, Wh) must take (x, h0, Wx, Wh, b)",
        ),
        ("x = 1\n", "nor CS231n's rnn_forward/rnn_backward"),
    ],
    ids=["half-a-pair", "a-signature", "nothing"],
)
def test_a_file_without_a_whole_pair_is_one_line(capsys, tmp_path, text, said):
    path = tmp_path / "mine.py"
    path.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "check", str(path), "rnn")
    assert code == 2 and err.count("\n") == 1 and said in err, err
