"""The `crosscheck` CLI: formats, exit codes, bad input, isolation of broken backends."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from backprop_crosscheck.backends import backend_names, get_backend
from backprop_crosscheck.reference.cases.file import dump_case
from backprop_crosscheck.reference.families.draw import random_case
from support.cli import report_json, run

FAKES = {
    "raising": "support.fake_backends:Raising",
    "nan": "support.fake_backends:NaNGradient",
    "wrongshape": "support.fake_backends:WrongShape",
    "missing": "support.fake_backends:MissingTensor",
    "offw3": "support.fake_backends:OffW3",
    "notinstalled": "support.fake_backends:NotInstalled",
}


@pytest.fixture
def fakes(register):
    register(FAKES)


# every backend whose framework is installed here (all of them under `make test`)
INSTALLED = [n for n in backend_names() if get_backend(n).available()]


# --- formats ---------------------------------------------------------------------------------


def test_text_report_shows_the_articles_numbers(capsys):
    code, out, _ = run(capsys, "report", "--backends", "numpy,fd")
    assert code == 0
    article = ["0.85", "0.48", "0.191", "-0.809", "0.3272405", "-0.22652", "0.121326", "0.169416"]
    for number in article:
        assert number in out
    assert "verdict: PASS" in out
    assert out.index("w1 ") < out.index("w2 ") < out.index("w3 ")  # the article's order


def test_markdown_report(capsys):
    code, out, _ = run(capsys, "report", "--backends", "numpy", "--format", "markdown")
    assert code == 0
    assert out.startswith("## article · float64")
    assert "| w1 " in out and "|---" in out.replace(" ", "").replace(":", "")


def test_json_report_follows_the_schema(capsys):
    code, doc = report_json(capsys, "--backends", "numpy,fd")
    assert code == 0
    assert doc["schema"] == "backprop-crosscheck/report/1" and doc["verdict"] == "pass"
    (run_,) = doc["runs"]
    assert (run_["case"], run_["dtype"], run_["device"], run_["steps"]) == (
        "article",
        "float64",
        "cpu",
        1,
    )
    np.testing.assert_allclose(
        run_["reference"]["gradients"]["W1"], [[-0.22652, -0.2427], [-0.33978, -0.36405]]
    )
    assert [b["backend"] for b in run_["backends"]] == ["numpy", "fd"]
    fd = run_["backends"][1]
    assert fd["status"] == "pass"
    assert set(fd["max_abs_error"]) == {"loss", "gradients", "updated", "final"}
    np.testing.assert_allclose(fd["updated"]["W2"], [[0.1743825], [0.169416]], rtol=1e-9)


def test_json_is_byte_identical_across_runs(capsys):
    """The report's own JSON, run to run (each framework's determinism is the conformance
    suite's `determinism` check; bringing torch and JAX in here would import and compile them
    on a second worker): the NumPy backends and a plugin."""
    backends = ",".join(n for n in ("numpy", "fd", "tape") if n in INSTALLED)
    argv = ["--backends", backends, "--dtype", "all", "--in-process"]  # workers: test_workers.py
    first = run(capsys, "report", "--format", "json", *argv)[1]
    second = run(capsys, "report", "--format", "json", *argv)[1]
    assert first == second


def test_dtype_all_and_steps(capsys):
    code, doc = report_json(capsys, "--backends", "numpy", "--dtype", "all", "--steps", "3")
    assert code == 0
    assert [r["dtype"] for r in doc["runs"]] == ["float64", "float32"]
    assert all(r["steps"] == 3 and len(r["reference"]["loss"]) == 4 for r in doc["runs"])
    assert doc["runs"][1]["tolerance"] == {"rtol": 1e-4, "atol": 1e-5}


def test_rtol_atol_override(capsys):
    code, doc = report_json(capsys, "--backends", "fd", "--rtol", "0", "--atol", "1e-20")
    assert code == 1  # finite differences are not exact to 1e-20
    assert doc["runs"][0]["backends"][0]["tolerance"] == {"rtol": 0.0, "atol": 1e-20}


def test_output_file_is_written_and_stdout_is_empty(capsys, tmp_path):
    target = tmp_path / "report.json"
    code, out, _ = run(
        capsys, "report", "--backends", "numpy", "--format", "json", "--output", str(target)
    )
    assert code == 0 and out == ""
    assert json.loads(target.read_text())["verdict"] == "pass"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary left behind


def test_large_network_gets_one_row_per_tensor(capsys, tmp_path):
    case = random_case(1, max_width=12, max_depth=3)
    while case.parameter_count <= 64:
        case = random_case(case.parameter_count + 1000, max_width=12, max_depth=3)
    path = tmp_path / "big.toml"
    path.write_text(dump_case(case))
    code, out, _ = run(capsys, "report", str(path), "--backends", "numpy,fd")
    assert code == 0
    assert "abs / rel" in out and "W1[0,0]" not in out


def test_several_cases(capsys, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(dump_case(random_case(4)))
    code, doc = report_json(capsys, "article", str(path), "--backends", "numpy")
    assert code == 0 and [r["case"] for r in doc["runs"]] == ["article", "random-4"]


def test_list_shows_cases_and_backends(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for word in ["article", "numpy", "fd", "torch", "torch-func", "jax", "jax-fwd", "autograd"]:
        assert word in out


def test_list_shows_install_hint_for_a_missing_framework(capsys, fakes):
    code, out, _ = run(capsys, "list")
    assert code == 0 and "pip install a-framework" in out


def test_explain_walks_through_the_article(capsys):
    code, out, _ = run(capsys, "explain")
    assert code == 0
    for line in [
        "h1 = i1·w1 + i2·w2 = 2×0.11 + 3×0.21 = 0.85",
        "h2 = i1·w3 + i2·w4 = 2×0.12 + 3×0.08 = 0.48",
        "prediction = h1·w5 + h2·w6 = 0.85×0.14 + 0.48×0.15 = 0.191",
        "= 0.3272405",
        "Δ = dE/dprediction = prediction - actual = 0.191 - 1 = -0.809",
        "dE/dw1 = Δ·w5·i1 = (-0.809)×0.14×2 = -0.22652",
        "dE/dw6 = Δ·h2 = (-0.809)×0.48 = -0.38832",
        "w1* = w1 - a·dE/dw1 = 0.11 - 0.05×(-0.22652) = 0.121326",
        "prediction = h1·w5 + h2·w6 = 0.923619×0.1743825 + 0.5588775×0.169416 = 0.2557457808",
    ]:
        assert line in out


def test_explain_writes_adams_update_with_the_articles_numbers(capsys):
    """dE/dw1 = −0.22652 (the article): m = 0.1·g, v = 0.001·g², m̂ = g, v̂ = g², and
    w1* = 0.11 − 0.05·g/(|g| + 1e-8), computed here."""
    g = -0.809 * 0.14 * 2
    code, out, _ = run(capsys, "explain", "adam")
    assert code == 0
    for line in [
        "m = β1·m + (1 - β1)·g = 0.9×0 + 0.1×(-0.22652) = -0.022652",
        f"v = β2·v + (1 - β2)·g² = 0.999×0 + 0.001×(-0.22652)² = {0.001 * g * g:.10g}",
        "m̂ = m/(1 - β1^1) = -0.022652/0.1 = -0.22652",
        f"w1* = w1 - a·m̂/(√v̂ + ε) = 0.11 - 0.05×(-0.22652)/(0.22652 + 1e-08) = "
        f"{0.11 - 0.05 * g / (abs(g) + 1e-8):.10g}",
    ]:
        assert line in out, line


def test_explain_large_or_batched_case_uses_matrix_form(capsys, tmp_path):
    path = tmp_path / "batch.toml"
    case = random_case(2)
    while case.inputs.shape[0] < 2:
        case = random_case(case.inputs.size + 100)
    path.write_text(dump_case(case))
    code, out, _ = run(capsys, "explain", str(path))
    assert code == 0 and "dE/dW1 = a0ᵀ·δ1" in out


# --- broken backends are isolated ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fake", "status", "phrase"),
    [
        ("raising", "error", "raised RuntimeError: engine exploded"),
        ("nan", "fail", "w6 = nan"),
        ("wrongshape", "error", "gradients W1 has shape (2, 1) but the reference's is (2, 2)"),
        ("missing", "error", "updated: W2 is missing"),
    ],
)
def test_broken_backend_is_reported_and_the_others_still_run(capsys, fakes, fake, status, phrase):
    code, doc = report_json(capsys, "--backends", f"numpy,{fake},fd", "--in-process")
    assert code == 1 and doc["verdict"] == "fail"
    numpy_, broken, fd = doc["runs"][0]["backends"]
    assert (numpy_["status"], fd["status"]) == ("pass", "pass")
    assert broken["status"] == status
    assert phrase in broken["message"] and "\n" not in broken["message"]


def test_report_names_the_wrong_parameter(capsys, fakes):
    code, doc = report_json(capsys, "--backends", "numpy,offw3", "--in-process")
    assert code == 1
    off = doc["runs"][0]["backends"][1]
    assert off["status"] == "fail" and off["worst"] == "w3" and off["worst_quantity"] == "gradients"
    assert "gradients W1: 1/4 mismatched, worst w3" in off["message"]
    assert off["max_abs_error"]["gradients"] == pytest.approx(1e-3)


def test_text_report_marks_the_wrong_value(capsys, fakes):
    code, out, _ = run(capsys, "report", "--backends", "numpy,offw3", "--in-process")
    assert code == 1
    w3_row = next(line for line in out.splitlines() if line.startswith("w3 ") and "✗" in line)
    assert "-0.2417" in w3_row
    assert "FAIL" in out and "verdict: FAIL" in out


def test_missing_framework_is_a_skip_and_require_makes_it_an_error(capsys, fakes):
    code, doc = report_json(capsys, "--backends", "numpy,notinstalled")
    assert code == 0
    skipped = doc["runs"][0]["backends"][1]
    assert skipped["status"] == "skip" and "pip install a-framework" in skipped["message"]
    code, doc = report_json(capsys, "--backends", "numpy,notinstalled", "--require")
    assert code == 1 and doc["runs"][0]["backends"][1]["status"] == "error"


@pytest.mark.skipif(
    not all(get_backend(n).available() for n in ("torch", "jax")),
    reason="needs torch and jax installed: pip install -e '.[all]' (or make test)",
)
def test_cuda_without_a_gpu_is_a_skip_that_says_why(capsys):
    argv = ["--backends", "numpy,torch,jax", "--device", "cuda", "--in-process"]
    code, doc = report_json(capsys, *argv)
    assert code == 1  # every backend skipped: nothing was compared, never a PASS
    assert doc["verdict"] == "fail" and "nothing was compared" in doc["warnings"][0]
    statuses = {b["backend"]: (b["status"], b["message"]) for b in doc["runs"][0]["backends"]}
    assert statuses["numpy"] == ("skip", "numpy: device cuda is not supported (only cpu)")
    assert statuses["torch"][0] == "skip" and "no CUDA device" in statuses["torch"][1]
    assert statuses["jax"][0] == "skip" and "no gpu device" in statuses["jax"][1]


# --- bad input: one line on stderr, exit 2, never a traceback ---------------------------------

BAD_TOML = {
    "syntax": "layers = [2, 2\n",
    "shape": "layers = [2, 2, 1]\nlearning_rate = 0.1\ninputs = [[1.0, 2.0]]\ntargets = [[1.0]]\n"
    "weights = [[[1.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]]]\n",
    "missing-field": "layers = [2, 1]\nlearning_rate = 0.1\ninputs = [[1.0, 2.0]]\n",
    "activation": 'layers = [1, 1]\nactivation = "swish"\nlearning_rate = 0.1\ninputs = [[1.0]]\n'
    "targets = [[1.0]]\nweights = [[[1.0]]]\n",
    "nan-weight": "layers = [1, 1]\nlearning_rate = 0.1\ninputs = [[1.0]]\ntargets = [[1.0]]\n"
    "weights = [[[nan]]]\n",
}

BAD_ARGS = {
    "no-command": ([], "required: command"),
    "unknown-command": (["frobnicate"], "invalid choice"),
    "unknown-option": (["report", "--colour"], "unrecognized arguments: --colour"),
    "dtype": (["report", "--dtype", "float8"], "unknown dtype 'float8'"),
    "steps-zero": (["report", "--steps", "0"], "--steps"),
    "steps-word": (["report", "--steps", "many"], "--steps"),
    "rtol-negative": (["report", "--rtol", "-1"], "--rtol"),
    "rtol-word": (["report", "--rtol", "tight"], "--rtol"),
    "atol-nan": (["report", "--atol", "nan"], "--atol"),
    "format": (["report", "--format", "yaml"], "--format"),
    "device": (["report", "--device", "tpu"], "--device"),
    "unknown-backend": (["report", "--backends", "numpy,pytorch"], "unknown backend 'pytorch'"),
    "empty-backend": (["report", "--backends", "numpy,,torch"], "empty name"),
    "twice-backend": (["report", "--backends", "numpy,numpy"], "twice"),
    "unknown-case": (["report", "artcle"], "artcle: no built-in case"),
    "missing-file": (["report", "nope/missing.toml"], "nope/missing.toml: no such file"),
    "output-folder": (
        ["report", "--backends", "numpy", "--output", "/no/such/dir/r.json"],
        "--output",
    ),
    "explain-unknown": (["explain", "artcle"], "artcle: no built-in case"),
}


@pytest.mark.parametrize(("argv", "phrase"), BAD_ARGS.values(), ids=BAD_ARGS.keys())
def test_bad_arguments(capsys, argv, phrase):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and phrase in err and "Traceback" not in err


@pytest.mark.parametrize("text", BAD_TOML.values(), ids=BAD_TOML.keys())
@pytest.mark.parametrize("command", ["report", "explain"])
def test_bad_case_file(capsys, tmp_path, text, command):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, out, err = run(capsys, command, str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"crosscheck: {path}: ")


def test_console_script_exit_codes_and_stderr(tmp_path):
    """The installed entry point, as a user runs it: one line, exit 2, no traceback."""
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD_TOML["shape"])
    cmd = [sys.executable, "-m", "backprop_crosscheck", "report", str(bad)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == f"crosscheck: {bad}: weights[1] has shape (2, 2) but layers say (2, 1)\n"
    ok = subprocess.run([*cmd[:3], "report", "--backends", "numpy"], capture_output=True, text=True)
    assert ok.returncode == 0 and "verdict: PASS" in ok.stdout


def test_the_command_line_gives_jax_a_compilation_cache_unless_told_otherwise(
    monkeypatch, tmp_path
):
    """A folder in the user's cache by default (a second `crosscheck conformance jax` loads its
    programs: 24.2 s → 7.1 s, BENCHMARKS.md); an explicit JAX_COMPILATION_CACHE_DIR wins, empty
    included."""
    from backprop_crosscheck.comparisons.cli.commands import jax_compilation_cache

    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    jax_compilation_cache()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "backprop-crosscheck" / "jax")
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "")
    jax_compilation_cache()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == ""
