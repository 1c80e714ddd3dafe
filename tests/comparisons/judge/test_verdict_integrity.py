"""The verdict is computed where no backend can touch it (issue #25): what a backend returns is
numbers or an ERROR naming what it was, one request gets one answer, and judging happens in
the process that writes the report — every fault below a report written whole, no traceback."""

import json

import pytest
from support.cli import report_json, run
from support.paths import TESTS

NOT_NUMBERS = {
    "complex-gradient": ("ComplexGradient", "gradients W1 is complex (complex128)"),
    "complex-loss": ("ComplexLoss", "loss is complex (complex128)"),
    "bool-gradient": ("BoolGradient", "gradients W2 is boolean (bool)"),
    "integer-update": ("IntegerUpdate", "updated W1 is integer (int64)"),
    "object-gradient": ("ObjectGradient", "gradients W1 is a ndarray of Python objects (object)"),
    "string-loss": ("StringLoss", "loss is a str of text (<U6)"),
}


DOORS = [(fault, "in-process") for fault in NOT_NUMBERS] + [
    ("complex-gradient", "worker"),
    ("object-gradient", "worker"),  # and across the wire
]


@pytest.mark.parametrize(("fault", "where"), DOORS, ids=[f"{f}-{w}" for f, w in DOORS])
def test_a_value_that_is_not_real_numbers_is_an_error_naming_it(capsys, register, fault, where):
    cls, said = NOT_NUMBERS[fault]
    register({fault: f"support.fake_backends:{cls}"})
    argv = ["--backends", f"numpy,{fault}"] + (["--in-process"] if where == "in-process" else [])
    code, doc = report_json(capsys, *argv)
    rows = {r["backend"]: r for r in doc["runs"][0]["backends"]}
    assert code == 1 and rows["numpy"]["status"] == "pass"
    assert rows[fault]["status"] == "error"
    assert said in rows[fault]["message"], rows[fault]["message"]
    assert "ComplexWarning" not in capsys.readouterr().err


def test_a_backend_that_forks_and_answers_twice_is_an_error(capsys, register):
    """Alone, its child's answer (w3 off by 1e-3) would fail it, its worker's pass it: both
    arrive for one request — never a PASS."""
    register({"forks": "support.fake_backends:ForksAndLies"})
    code, out, err = run(capsys, "report", "--backends", "numpy,forks", "--format", "json")
    rows = {r["backend"]: r for r in json.loads(out)["runs"][0]["backends"]}
    assert code == 1 and "Traceback" not in err
    assert rows["forks"]["status"] == "error"
    assert "answered twice" in rows["forks"]["message"]


def test_in_a_sweep_every_answer_of_a_forking_backend_is_an_error(capsys, register, tmp_path):
    """A sweep tallies each case as soon as it is settled (Workers.attempt_stream): a second
    answer must still reach the case it belongs to, the last one included — never a PASS."""
    register({"forks": "support.fake_backends:ForksAndLies"})
    code, out, err = run(
        capsys,
        "sweep",
        "--cases",
        "3",
        "--backends",
        "numpy,forks",
        "--dtype",
        "float64",
        "--format",
        "json",
        "--shrink",
        "0",
        "--save-failures",
        str(tmp_path),
    )
    rows = {(r["backend"], r["dtype"]): r for r in json.loads(out)["rows"]}
    forks = rows["forks", "float64"]
    assert code == 1 and "Traceback" not in err
    assert forks["pass"] == 0 and forks["error"] + forks["skip"] == 3, forks


def test_a_backend_cannot_judge_itself(capsys, register):
    """numpy.isclose replaced in its own process changes nothing: judging is in the parent."""
    register({"judges-itself": "support.fake_backends:JudgesItself"})
    code, doc = report_json(capsys, "--backends", "numpy,judges-itself")
    rows = {r["backend"]: r for r in doc["runs"][0]["backends"]}
    assert code == 1 and rows["judges-itself"]["status"] == "fail"


def test_the_conformance_kit_cannot_be_judged_by_the_backend_either(capsys, register):
    register({"judges-itself": "support.fake_backends:JudgesItself"})
    code, out, _ = run(capsys, "conformance", "judges-itself", "--cases", "0", "--dtype", "float64")
    assert code == 1
    assert "✗" in out


@pytest.mark.xdist_group("conformance-jax-float64")
def test_a_corrupt_jax_cache_changes_nothing_in_the_report(capsys, tmp_path, monkeypatch):
    """Every entry of JAX's persistent cache and of the programs kept beside it
    (backends/jax/kept.py) overwritten with garbage: compiled afresh, and the report is the one
    a clean cache gives — no warning in the backend's row."""
    pytest.importorskip("jax", reason="jax is not installed: pip install jax (or make test)")
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path))
    argv = ("--backends", "numpy,jax")
    clean = report_json(capsys, *argv)
    entries = [entry for entry in tmp_path.rglob("*") if entry.is_file()]
    for entry in entries:
        entry.write_bytes(b"garbage")
    assert any("crosscheck-programs" in e.parts for e in entries)
    again = report_json(capsys, *argv)
    assert again == clean and {r["output"] for r in again[1]["runs"][0]["backends"]} == {""}


def test_a_worker_that_exits_while_its_child_holds_the_socket_is_seen_at_once(
    capsys, register, tmp_path, monkeypatch
):
    """Seen by its exit (a pidfd), not at the deadline; and the child it forked is killed
    with its process group when the report is done."""
    import os
    import time

    pidfile = tmp_path / "child.pid"
    pidfile.write_text("")
    monkeypatch.setenv("CROSSCHECK_TEST_PIDFILE", str(pidfile))
    register({"forks-then-exits": "support.fake_backends:ForksAChildThenExits"})
    start = time.monotonic()
    code, doc = report_json(capsys, "--backends", "numpy,forks-then-exits", "--timeout", "120")
    rows = {r["backend"]: r for r in doc["runs"][0]["backends"]}
    assert code == 1 and time.monotonic() - start < 30
    assert "died while running it (exit status 3)" in rows["forks-then-exits"]["message"]
    child = int(pidfile.read_text())
    for _ in range(100):  # reaped by init shortly after its group's SIGKILL
        if not os.path.exists(f"/proc/{child}") or " Z " in open(f"/proc/{child}/stat").read():
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the forked child {child} outlived the report")


def test_two_plugins_of_one_module_do_not_share_a_process(capsys, register):
    """The first changes its process (numpy.exp replaced); the second, on a case whose softmax
    and gelu need exp, still computes in a clean process: one worker per backend unless a
    built-in says it may share."""
    register(
        {
            "configures": "support.fake_backends:ConfiguresItsProcess",
            "same": "support.fake_backends:SameModule",
        }
    )
    code, doc = report_json(capsys, "classification", "--backends", "numpy,configures,same")
    rows = {r["backend"]: r["status"] for r in doc["runs"][0]["backends"]}
    assert code == 0 and rows == {"numpy": "pass", "configures": "pass", "same": "pass"}


HANGING_FORK = """
import importlib.metadata, sys
from backprop_crosscheck.backends import registry
from backprop_crosscheck.comparisons.cli import main
point = importlib.metadata.EntryPoint("forks", "support.fake_backends:ForksAChildThenHangs",
                                      registry.ENTRY_POINT_GROUP)
registry.importlib.metadata.entry_points = lambda group: [point]
sys.exit(main(["report", "--backends", "numpy,forks"]))
"""


def test_a_child_forked_by_a_backend_dies_when_crosscheck_is_killed(tmp_path):
    """SIGKILL to crosscheck while its worker hangs and a child the backend forked sleeps: the
    worker takes its whole group down with it, the child too."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    pidfile = tmp_path / "child.pid"
    pidfile.write_text("")
    env = {
        **os.environ,
        "CROSSCHECK_TEST_PIDFILE": str(pidfile),
        "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", HANGING_FORK],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        if pidfile.read_text():
            break
        time.sleep(0.05)
    child = int(pidfile.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for _ in range(100):
        if not os.path.exists(f"/proc/{child}") or " Z " in Path(f"/proc/{child}/stat").read_text():
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    raise AssertionError(f"the forked child {child} outlived crosscheck")
