"""Say why, not only where: the first wrong quantity of the chain, and the classic mistake —
checked on independent buggy engines (tests/support/mutants.py), on a learner's own files, and on
backends that pass (which must get no diagnosis)."""

import json
import subprocess
import sys

import pytest
from backprop_crosscheck.comparisons.cli import main
from backprop_crosscheck.comparisons.run import run_case
from support.fake_backends import OffW3
from support.mutants import BUGS, MutantBackend
from support.paths import ROOT, TESTS

from backprop_crosscheck import get_backend, load_case, train

MOMENTUM = str(TESTS / "cases" / "momentum.toml")
CASES = ["article", "batch", "deep", "kink", "classification", "adam", MOMENTUM]
LEARNER = ROOT / "examples" / "learner"


@pytest.mark.parametrize("bug", BUGS)
def test_every_mutant_is_diagnosed_by_name(bug):
    named = []
    for name in CASES:
        c = run_case(load_case(name), [MutantBackend(bug)], "float64").comparisons[0]
        if c.status == "fail":
            d = c.diagnosis
            named.append(d.mistake == bug or bug in d.also)
            if d.mistake is not None:
                assert d.residual <= 1, d  # a match is a match within the tolerance only
            if named[-1]:
                break
    assert any(named), f"{bug} was never named"


@pytest.mark.parametrize("name", ["numpy", "fd"])
@pytest.mark.parametrize("case", CASES)
def test_a_passing_backend_gets_no_diagnosis(name, case):
    c = run_case(load_case(case), [get_backend(name)], "float64").comparisons[0]
    assert c.status == "pass" and c.diagnosis is None


def test_the_bug_free_engine_gets_no_diagnosis():
    for case in CASES:
        c = run_case(load_case(case), [MutantBackend("none")], "float64").comparisons[0]
        assert c.status == "pass" and c.diagnosis is None


def test_no_exact_match_is_claimed_where_none_is():
    """w3's gradient off by 1e-3 is no classic mistake: the closest is named, not matched."""
    d = run_case(load_case("article"), [OffW3()], "float64").comparisons[0].diagnosis
    assert d.mistake is None and d.residual > 1
    assert d.first_wrong == "dE/dW1" and "finer localization needs intermediates" in d.summary()
    assert d.verdict().startswith("no known mistake matches (closest: ")


def test_localized_to_the_layer_nearest_the_output():
    d = run_case(load_case("deep"), [MutantBackend("sign_flip")], "float64").comparisons[0]
    assert d.diagnosis.first_wrong == "dE/dW3"  # the output layer's, not W1's


def learner(capsys, *argv):
    code = main(["check", *argv, "--format", "json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else None), err


def test_the_learners_article_passes(capsys):
    code, doc, _ = learner(capsys, str(LEARNER / "article_backprop.py"))
    assert code == 0 and doc["verdict"] == "pass" and doc["warnings"] == []


def test_the_learners_mistake_is_named_at_its_line(capsys):
    code, doc, _ = learner(capsys, str(LEARNER / "article_backprop_mistake.py"))
    (row,) = doc["runs"][0]["backends"]
    d = row["diagnosis"]
    assert code == 1 and row["status"] == "fail"
    assert d["first_wrong"] == "dE/da1" and d["finer"] == ""  # its intermediates localize it
    assert d["mistake"] == "new_output_weights" and d["residual"] == 0


BAD_FILES = {
    "no-function": ("def forward(x):\n    return x\n", "defines no function backprop"),
    "wrong-parameters": ("def backprop(params, X):\n    return {}\n", "must take (case, params"),
    "syntax": ("def backprop(case, params, X, Y)\n", "line 1"),
    "keyword-only-extra": (
        "def backprop(case, params, X, Y, *, scale):\n    return {}\n",
        "backprop(case, params, X, Y, *, scale) must take (case, params, X, Y)",
    ),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_a_file_without_the_function_is_one_line(capsys, tmp_path, name):
    text, phrase = BAD_FILES[name]
    path = tmp_path / "mine.py"
    path.write_text(text)
    code, out, err = learner(capsys, str(path))
    assert code == 2 and out is None and err.count("\n") == 1 and phrase in err


RUNTIME = {
    "raises": (  # where, in the learner's own file
        "def backprop(case, params, X, Y):\n    return 1 / 0\n",
        "raised ZeroDivisionError: division by zero (at mine.py:2: return 1 / 0)",
    ),
    "wrong-shape": (
        "import numpy as np\ndef backprop(case, params, X, Y):\n"
        "    return {n: np.zeros((3, 3)) for n in params}\n",
        "backprop returned dE/dW1 of shape (3, 3); W1 is (2, 2)",
    ),
    "missing-gradient": (
        "def backprop(case, params, X, Y):\n    return {'W1': params['W1']}\n",
        "backprop returned no gradient for W2",
    ),
}


ARTICLE = (
    "import numpy as np\n"
    "def backprop(case, params, X, Y):\n"
    "    a1 = X @ params['W1']\n"
    "    d2 = a1 @ params['W2'] - Y\n"
    "    return {'W1': X.T @ (d2 @ params['W2'].T), 'W2': a1.T @ d2}\n"
)
VALID_PYTHON = {  # what Python accepts, the pre-check accepts
    "utf8-bom": b"\xef\xbb\xbf" + ARTICLE.encode(),
    "coding-latin-1": b"# -*- coding: latin-1 -*-\n# \xe9t\xe9\n" + ARTICLE.encode(),
    "defined-under-if": (
        "if True:\n" + "".join(f"    {line}\n" for line in ARTICLE.splitlines())
    ).encode(),
}


@pytest.mark.parametrize("name", VALID_PYTHON)
def test_the_pre_check_accepts_what_python_accepts(capsys, tmp_path, name):
    path = tmp_path / "mine.py"
    path.write_bytes(VALID_PYTHON[name])
    code, doc, err = learner(capsys, str(path), "--in-process")
    assert code == 0 and doc["verdict"] == "pass", err


@pytest.mark.parametrize("name", RUNTIME)
def test_a_function_that_fails_is_an_error_row(capsys, tmp_path, name):
    text, phrase = RUNTIME[name]
    path = tmp_path / "mine.py"
    path.write_text(text)
    code, doc, _ = learner(capsys, str(path), "--in-process")
    (row,) = doc["runs"][0]["backends"]
    assert code == 1 and row["status"] == "error" and phrase in row["message"]


def test_the_console_script_shows_the_diagnosis(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "backprop_crosscheck",
        "check",
        str(LEARNER / "article_backprop_mistake.py"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "diagnosis: first wrong: dE/da1" in proc.stdout


def test_torch_reports_its_chain_and_is_localized_to_the_quantity():
    """torch hands the diagnosis its intermediates (retain_grad): a sigmoid whose backward
    forgets σ′ is named at δ1, where dE/da1 is still right."""
    torch_backend = get_backend("torch")
    if not torch_backend.available():
        pytest.skip("needs torch: pip install torch==2.13.0 (or make test)")
    import torch

    class NoDerivative(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            return torch.sigmoid(z)

        @staticmethod
        def backward(ctx, grad):
            return grad  # δ = dE/da: σ′(z) forgotten

    class ForgetfulTorch(type(torch_backend)):
        name = "forgetful-torch"

        def activation(self, name):
            return NoDerivative.apply if name == "sigmoid" else super().activation(name)

    c = run_case(load_case("batch"), [ForgetfulTorch()], "float64").comparisons[0]
    d = c.diagnosis
    assert c.status == "fail" and d.first_wrong == "δ1" and d.finer == ""
    assert d.mistake == "no_activation_derivative"


def test_a_small_difference_is_printed_with_the_digits_that_show_it():
    # an engine whose dE/dW1 is off by 3e-9 relative: at 6 digits both sides would read alike
    from backprop_crosscheck.comparisons.judge.diagnosis import localize
    from backprop_crosscheck.reference.result import Result

    case = load_case("batch")
    ref = train(case)
    grads = {n: g.copy() for n, g in ref.gradients.items()}
    grads["W1"][0, 1] *= 1 + 3e-9
    got = Result(ref.loss, grads, ref.updated, ref.final)
    tol = run_case(case, [get_backend("numpy")], "float64").tolerance
    where = localize(case, ref, got, tol)
    assert where.name == "dE/dW1"
    detail = where.detail
    ours, yours = detail.split("; yours ")
    assert ours.split(" = ")[-1] != yours.split(" (largest")[0]  # the printed numbers differ
    assert "largest difference" in detail and "at [0, 1]" in detail
