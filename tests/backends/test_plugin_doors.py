"""Plugins through every door (issue #25): loaded under the fences they run under, refused in
one line when what they declare would make a comparison meaningless, never a second row of a
built-in's name, never a PASS when nothing of them was checked — the report written whole."""

import json

import pytest
from support.cli import run
from support.paths import ROOT, TESTS

HOSTILE = TESTS / "corpus" / "plugins" / "hostile.py"


def spec(cls: str) -> str:
    return f"{HOSTILE}:{cls}"


REFUSED = {
    "InfiniteTolerance": "tolerance['float64'] = (inf, inf): each must be a finite number",
    "HugeTolerance": "each must be a finite number from 0 to 0.01",
    "TextTolerance": "expected (rtol, atol), two numbers",
    "UnreasonedTolerance": "looser than the default with no tolerance_reason",
    "StringCapabilities": "its capabilities are a str, not a Capabilities",
    "NoCapabilities": "its capabilities are a NoneType, not a Capabilities",
    "ExitsInInit": "ExitsInInit() failed: SystemExit: 0",
}


# every door reads a plugin through comparisons.isolate.declared: each refusal through the
# report, and one through each other command
DOORS = [(cls, "report") for cls in REFUSED] + [
    ("TextTolerance", "conformance"),
    ("ExitsInInit", "bench"),
]


@pytest.mark.parametrize("cls, command", DOORS, ids=[f"{c}-{d}" for c, d in DOORS])
def test_a_plugin_that_declares_nonsense_is_refused_in_one_line(capsys, cls, command):
    argv = {
        "report": ["report", "--backends", f"numpy,{spec(cls)}"],
        "conformance": ["conformance", spec(cls), "--cases", "0"],
        "bench": ["bench", "--quick", "--backends", spec(cls)],
    }[command]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and REFUSED[cls] in err, err


def test_what_a_plugin_prints_as_it_loads_never_reaches_the_json(capsys):
    code, out, _ = run(
        capsys, "report", "--backends", f"numpy,{spec('_Right')}", "--format", "json"
    )
    assert code == 0 and json.loads(out)["verdict"] == "pass"


def test_a_plugin_named_like_a_built_in_gets_a_name_of_its_own(capsys):
    code, out, err = run(
        capsys, "report", "--backends", f"numpy,{spec('Builtin')}", "--format", "json"
    )
    names = [r["backend"] for r in json.loads(out)["runs"][0]["backends"]]
    assert code == 0 and names == ["numpy", "numpy (hostile.py:Builtin)"]
    assert "only one backend" not in err


def test_control_characters_in_a_name_reach_no_terminal(capsys):
    code, out, _ = run(capsys, "report", "--backends", f"numpy,{spec('Escapes')}")
    assert code == 0 and "\x1b" not in out and "evil\\nname\\x1b[31m" in out


def test_a_plugin_that_changes_folder_does_not_move_the_output(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, _ = run(
        capsys, "report", "--backends", f"numpy,{spec('Changes')}", "--output", "report.txt"
    )
    assert code == 0 and "verdict: PASS" in (tmp_path / "report.txt").read_text()


def test_a_backend_asked_for_that_checked_nothing_is_never_a_pass(capsys):
    code, out, _ = run(capsys, "conformance", spec("NeverChecked"), "--cases", "0")
    assert code == 1 and "nothing was checked" in out and "verdict: FAIL" in out
    code, _, err = run(capsys, "report", "--backends", f"numpy,fd,{spec('NeverChecked')}")
    assert "NeverChecked was asked for and checked nothing: " in err
    code, _, _ = run(
        capsys, "report", "--backends", f"numpy,fd,{spec('NeverChecked')}", "--require"
    )
    assert code == 1


def test_a_raising_backend_keeps_its_whole_message_and_where_it_raised(capsys, register):
    register({"raising": "support.fake_backends:Raising"})
    code, out, _ = run(capsys, "report", "--backends", "numpy,raising", "--format", "json")
    (row,) = [r for r in json.loads(out)["runs"][0]["backends"] if r["backend"] == "raising"]
    assert row["message"].startswith(
        "raised RuntimeError: engine exploded ⏎ second line of the traceback text (at "
        "fake_backends.py:"
    )
    assert (
        "fake_backends.py" in row["traceback"] and 'raise RuntimeError("engine' in row["traceback"]
    )
    code, out, _ = run(capsys, "report", "--backends", "numpy,raising", "--verbose")
    assert "raising: where it raised:" in out and "fake_backends.py" in out


def test_the_pytest_door_reports_a_plugin_that_exits_as_a_failure(tmp_path):
    """`pytest --crosscheck-backend path.py:Class` with a class that calls sys.exit in its
    __init__: a failing test that says so, no INTERNALERROR (from any folder)."""
    import subprocess
    import sys

    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "--crosscheck-backend",
        spec("ExitsInInit"),
        "--crosscheck-cases",
        "0",
    ]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "INTERNALERROR" not in proc.stdout + proc.stderr
    assert "ExitsInInit() failed: SystemExit: 0" in proc.stdout


def test_bench_measures_a_plugin_named_by_its_file(capsys):
    tape = ROOT / "examples" / "tape-autodiff" / "crosscheck_tape.py"
    code, out, _ = run(
        capsys,
        "bench",
        "--quick",
        "--time-per-size",
        "0",
        "--dtype",
        "float64",
        "--backends",
        f"{tape}:TapeBackend",
        "--format",
        "json",
    )
    rows = json.loads(out)["rows"]
    assert code == 0 and rows and all(not r.get("skip") for r in rows[:2]), rows[:2]


def test_conformance_names_its_own_argument_in_errors(capsys):
    code, _, err = run(capsys, "conformance", "numpy", "numpy")
    assert code == 2 and "NAME names a backend twice" in err and "--backends" not in err


def test_both_doors_name_a_plugin_by_its_name_in_ids_and_expected_failures(tmp_path):
    """`pytest --crosscheck-backend path.py:Class` ids say the backend's name, as the command
    line's check ids do — so one expected-failure file serves both doors — and hold no '/'."""
    import subprocess
    import sys

    xfail = tmp_path / "xfail.toml"
    xfail.write_text('[[xfail]]\ncheck = "gradients[OffW3-article-*]"\nreason = "by design"\n')
    fakes = TESTS / "support" / "fake_backends.py"
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "--crosscheck-backend",
        f"{fakes}:OffW3",
        "--crosscheck-cases",
        "0",
        "--crosscheck-xfail",
        str(xfail),
        "-k",
        "gradients and article",
        "-rx",
    ]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "XFAIL ::test_gradients[OffW3-article-float64]" in proc.stdout, proc.stdout
    assert proc.returncode == 0
