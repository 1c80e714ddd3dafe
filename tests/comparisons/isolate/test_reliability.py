"""No PASS that was not earned, no process left behind, files written as promised."""

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest
from backprop_crosscheck.backends import get_backend
from backprop_crosscheck.comparisons.cli import main
from support.cli import report_json
from support.paths import TESTS

# --- the verdict ------------------------------------------------------------------------------


def test_nothing_compared_is_never_a_pass(capsys, register):
    register({"notinstalled": "support.fake_backends:NotInstalled"})
    code, doc = report_json(capsys, "--backends", "notinstalled")
    assert code == 1 and doc["verdict"] == "fail"
    assert doc["warnings"] == ["nothing was compared: every backend was skipped or errored"]


def test_a_device_no_chosen_backend_can_use_is_bad_usage(capsys):
    code = main(["report", "--backends", "numpy,fd", "--device", "cuda"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--device cuda: no backend chosen can use it (numpy, fd" in err


def test_a_lone_compared_backend_is_said_loudly_and_fails_under_require(capsys):
    code, doc = report_json(capsys, "--backends", "numpy")
    assert code == 0 and "only one backend (numpy)" in doc["warnings"][0]
    code, doc = report_json(capsys, "--backends", "numpy", "--require")
    assert code == 1 and doc["verdict"] == "fail"
    code, doc = report_json(capsys, "--backends", "numpy,fd")
    assert code == 0 and doc["warnings"] == []


def test_max_rel_error_against_a_zero_reference_is_inf_not_a_huge_number(capsys, tmp_path):
    from support.fake_backends import _Reference

    class OffAtZero(_Reference):
        def twist(self, case, r):
            r.gradients["X"][0, 0] += 1e-3  # X's gradient is 0 here: w5 = 0 kills it
            return r

    case = tmp_path / "zero.toml"
    case.write_text(
        "layers = [1, 1, 1]\nlearning_rate = 0.1\ninputs = [[1.0]]\ntargets = [[1.0]]\n"
        "weights = [[[1.0]], [[0.0]]]\n"
    )
    from backprop_crosscheck.comparisons.run import run_case
    from backprop_crosscheck.reference import load_case

    run = run_case(load_case(str(case)), [OffAtZero()], "float64")
    assert run.comparisons[0].agreement.max_rel_error["gradients"] == float("inf")


# --- plugins in `crosscheck list` -------------------------------------------------------------


@pytest.fixture
def listed(register):
    register({"broken": "no_such_module:Nothing", "anon": "support.fake_backends:OffW3"})


def test_list_shows_a_broken_plugin_as_unavailable_and_no_borrowed_version(capsys, listed):
    assert main(["list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line}
    assert rows["broken"].split()[1] == "no" and "failed to load" in rows["broken"]
    assert rows["anon"].split()[1:3] == ["yes", "-"]  # not NumPy's version as its own
    assert get_backend("broken").version() is None


# --- files ------------------------------------------------------------------------------------


def write_report(tmp_path, target, capsys):
    code = main(["report", "--backends", "numpy", "--format", "json", "--output", str(target)])
    capsys.readouterr()
    assert code == 0
    assert not [p for p in tmp_path.rglob("*.tmp")], "a temporary file was left behind"


def test_output_gets_the_umasks_mode_and_keeps_an_existing_files_mode(tmp_path, capsys):
    old = os.umask(0o027)
    try:
        write_report(tmp_path, tmp_path / "new.json", capsys)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640
    existing = tmp_path / "existing.json"
    existing.write_text("old")
    existing.chmod(0o604)
    write_report(tmp_path, existing, capsys)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o604
    assert json.loads(existing.read_text())["verdict"] == "pass"


def test_output_onto_a_symbolic_link_writes_its_target(tmp_path, capsys):
    target, link = tmp_path / "real.json", tmp_path / "link.json"
    target.write_text("old")
    link.symlink_to(target)
    write_report(tmp_path, link, capsys)
    assert link.is_symlink() and json.loads(target.read_text())["verdict"] == "pass"


def test_output_into_a_pipe_is_written_directly(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "backprop_crosscheck",
        "report",
        "--backends",
        "numpy",
        "--format",
        "json",
        "--output",
        "/dev/stdout",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout)["verdict"] == "pass"


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    from backprop_crosscheck.comparisons.report import output_files

    def full_disk(f):
        raise OSError(28, "No space left on device")

    with pytest.raises(output_files.OutputError, match="No space left on device"):
        output_files.write_file(str(tmp_path / "r.json"), "--output", full_disk)
    assert list(tmp_path.iterdir()) == []


# --- processes --------------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


HANGING_REPORT = """
import importlib.metadata, sys
from backprop_crosscheck.backends import registry
from backprop_crosscheck.comparisons.cli import main
point = importlib.metadata.EntryPoint("hangs", "support.fake_backends:Hangs",
                                      registry.ENTRY_POINT_GROUP)
registry.importlib.metadata.entry_points = lambda group: [point]
sys.exit(main(["report", "--backends", "numpy,hangs"]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc: Linux only")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_die_with_crosscheck_and_release_the_callers_pipes(how, tmp_path):
    """Killed while a worker is busy (a plugin that never returns): the worker dies too, and
    a caller reading crosscheck's output is not left waiting on pipes a worker still holds."""
    hanging = tmp_path / "hanging"  # the plugin creates it as it enters its endless loop
    env = {**os.environ, "PYTHONPATH": str(TESTS), "CROSSCHECK_TEST_HANGING": str(hanging)}
    cmd = [sys.executable, "-c", HANGING_REPORT]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 30
    while not hanging.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = children_of(proc.pid)
    assert hanging.exists() and workers, "no worker process entered the plugin's loop"
    proc.send_signal(how)
    proc.wait(timeout=10)
    started = time.monotonic()
    proc.stdout.read()  # returns only when no process holds the pipe any more
    proc.stderr.read()
    assert time.monotonic() - started < 5
    assert not [p for p in workers if alive(p)], "a worker outlived crosscheck"


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is dead)."""
    for _ in range(30):
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        if state == "Z":
            return False
        time.sleep(0.1)
    return True
