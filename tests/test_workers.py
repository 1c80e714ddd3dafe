"""`crosscheck report` runs each framework in a worker process: same report, crashes isolated."""

import importlib.metadata
import json

import pytest

from backends import backend_names, get_backend, registry
from comparisons.cli import main
from comparisons.workers import Workers

FAKES = {"segfault": "fake_backends:Segfault", "right": "fake_backends:RightInWorker"}


@pytest.fixture
def fakes(monkeypatch):
    points = [
        importlib.metadata.EntryPoint(n, v, registry.ENTRY_POINT_GROUP) for n, v in FAKES.items()
    ]
    monkeypatch.setattr(registry.importlib.metadata, "entry_points", lambda group: points)


def report(capsys, *argv):
    code = main(["report", "--format", "json", *argv])
    return code, capsys.readouterr().out


def test_workers_give_the_in_process_report_byte_for_byte(capsys):
    # NumPy-only backends here, torch (with H·v), autograd and tape in workers; JAX and the
    # second backend of a framework would add imports and compiles to the suite, not paths
    chosen = ["numpy", "fd", "torch", "autograd", "tape"]
    installed = [n for n in chosen if n in backend_names() and get_backend(n).available()]
    argv = ["--backends", ",".join(installed), "--dtype", "all", "--hvp"]
    code, in_workers = report(capsys, *argv)
    assert (code, in_workers) == report(capsys, *argv, "--in-process")
    rows = json.loads(in_workers)["runs"][0]["backends"]
    assert {r["backend"]: r["status"] for r in rows} == dict.fromkeys(installed, "pass")


def test_a_backend_that_kills_its_interpreter_is_its_error_alone(capsys, fakes):
    code, out = report(capsys, "--backends", "numpy,segfault,right", "--hvp")
    assert code == 1
    doc = json.loads(out)["runs"][0]
    first = {r["backend"]: (r["status"], r["message"]) for r in doc["backends"]}
    assert first["numpy"] == ("pass", "")
    assert first["segfault"] == (
        "error",
        "its worker process (json) died while running it (crashed or killed)",
    )
    assert first["right"] == ("pass", "")  # after the crash, in a fresh worker
    second = {r["backend"]: r["status"] for r in doc["hvp"]["backends"]}
    assert second == {"numpy": "pass", "segfault": "unsupported", "right": "unsupported"}


def test_only_installed_frameworks_get_a_worker():
    assert Workers.framework(get_backend("numpy")) is None
    assert Workers.framework(get_backend("fd")) is None

    class NotInstalled(type(get_backend("numpy"))):
        module = "a_framework_that_is_not_installed"

    assert Workers.framework(NotInstalled()) is None  # its skip is decided here, no worker


def test_sweep_counts_a_crash_as_an_error_and_goes_on(capsys, fakes, tmp_path):
    argv = ["sweep", "--cases", "2", "--seed", "23", "--dtype", "float64"]
    code = main([*argv, "--backends", "numpy,segfault,right", "--save-failures", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    rows = {line.split()[0]: line.split()[2:7] for line in out.splitlines()[3:6]}
    # cases, pass, fail, error, skip
    assert rows == {
        "numpy": ["2", "2", "0", "0", "0"],
        "segfault": ["2", "0", "0", "2", "0"],
        "right": ["2", "2", "0", "0", "0"],
    }
    assert "died while running it" in out
