"""Shards side by side (`--jobs`) and on a Dask cluster (`--dask`): the serial run's table, and a
lost shard retried once, then reported as ERROR with its seeds — nothing else lost."""

import json
import sys

import pytest
from backprop_crosscheck.comparisons.cli import main
from backprop_crosscheck.comparisons.sweep import jobs
from support.paths import TESTS

FAKES = TESTS / "support" / "fake_backends.py"
# seeds 6..9: the last two members of shape family 0 and the first two of family 1, one shard
# each with two jobs (shards end where families end)
ARGV = ["sweep", "--cases", "4", "--seed", "6", "--dtype", "float64", "--format", "json"]


def sweep_json(capsys, *argv) -> tuple[int, dict]:
    code = main([*ARGV, *argv])
    return code, json.loads(capsys.readouterr().out)


def rows(doc) -> dict:
    return {row["backend"]: row for row in doc["rows"]}


@pytest.fixture(scope="module")
def markers(tmp_path_factory):
    """Where a kill-once backend leaves its marker; set before the cluster's workers start."""
    folder = tmp_path_factory.mktemp("markers")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CROSSCHECK_TEST_MARKERS", str(folder))
        yield folder


@pytest.fixture(scope="module")
def local_cluster(markers):
    distributed = pytest.importorskip(
        "distributed", reason="--dask needs dask.distributed: pip install distributed"
    )
    import dask

    # a Dask worker that dies fails its task at once (KilledWorker) rather than after 3 tries:
    # the harness's own retry is what is under test; one task per worker at a time, so that a
    # worker killed by one shard holds no other shard's task
    settings = {
        "distributed.scheduler.allowed-failures": 0,
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with (
        dask.config.set(settings),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as local,
        distributed.Client(local) as client,
    ):
        yield local.scheduler_address, client


@pytest.fixture
def cluster(local_cluster) -> str:
    """The scheduler's address, once both workers are up (one a previous test killed restarts)."""
    address, client = local_cluster
    client.wait_for_workers(2, timeout=60)
    return address


@pytest.mark.xdist_group("dask-cluster")  # one cluster per test worker that needs one
def test_dask_gives_the_serial_table(capsys, cluster, tmp_path):
    argv = ["--backends", "numpy,fd", "--save-failures", str(tmp_path)]
    code, alone = sweep_json(capsys, *argv, "--jobs", "1")
    assert main([*ARGV, *argv, "--dask", cluster]) == code == 0
    assert json.loads(capsys.readouterr().out) == alone


KILLERS = {"jobs": "KillsItsShard", "dask": "KillsItsDaskWorker"}


def run_on(where, request) -> list[str]:
    """--jobs 2, or --dask with the module's cluster (started only for the tests that use it)."""
    return ["--jobs", "2"] if where == "jobs" else ["--dask", request.getfixturevalue("cluster")]


WHERE = ["jobs", pytest.param("dask", marks=pytest.mark.xdist_group("dask-cluster"))]


@pytest.mark.parametrize("where", ["jobs"])  # --dask reaches the same retry: see the next test
def test_a_shard_lost_once_is_run_again(capsys, markers, request, where):
    killer = f"{KILLERS[where]}Once"
    code, doc = sweep_json(capsys, "--backends", f"numpy,{FAKES}:{killer}", *run_on(where, request))
    assert (markers / killer).exists()  # it did kill a shard's host
    assert code == 0 and rows(doc)[killer]["pass"] == 4


@pytest.mark.parametrize("where", WHERE)
def test_a_shard_lost_twice_is_an_error_for_its_seeds_alone(capsys, markers, request, where):
    backends = f"numpy,{FAKES}:{KILLERS[where]}"
    code, doc = sweep_json(capsys, "--backends", backends, *run_on(where, request))
    assert code == 1
    for row in rows(doc).values():  # seeds 6..7 passed, for every backend; 8..9 are errors
        assert (row["cases"], row["pass"], row["error"]) == (4, 2, 2)
    [why] = set(doc["failures"])
    assert why.startswith("seeds 8..9: their shard was lost twice")


def test_an_unreachable_scheduler_is_one_line(capsys, monkeypatch):
    pytest.importorskip(
        "distributed", reason="--dask needs dask.distributed: pip install distributed"
    )
    monkeypatch.setattr(jobs, "CONNECT_TIMEOUT", "0.3s")
    code = main(["sweep", "--cases", "1", "--backends", "numpy", "--dask", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--dask tcp://127.0.0.1:9: no Dask scheduler answers there" in err


def test_dask_not_installed_is_one_line_with_the_install_hint(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed: ImportError
    code = main(["sweep", "--cases", "1", "--backends", "numpy", "--dask", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "pip install 'backprop-crosscheck[dask]'" in err


def test_a_silent_listener_is_one_line_within_the_connect_timeout(capsys, monkeypatch):
    """Something on the port accepts and says nothing: still one line, exit 2, in about the
    connect timeout (Client's own timeout alone waited 90 s and more)."""
    pytest.importorskip(
        "distributed", reason="--dask needs dask.distributed: pip install distributed"
    )
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts (the kernel does), never answers
    monkeypatch.setattr(jobs, "CONNECT_TIMEOUT", "0.3s")
    address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
    start = time.monotonic()
    try:
        code = main(["sweep", "--cases", "1", "--backends", "numpy", "--dask", address])
    finally:
        silent.close()
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and time.monotonic() - start < 5
    assert "no Dask scheduler answers there" in err


def test_an_interrupted_sweep_keeps_the_shards_that_finished(capsys, monkeypatch, tmp_path):
    """Ctrl-C after the first of two shards: its table (marked interrupted) is written, exit
    130."""
    finished = {}

    def gather(futures, submit, plan, parts, results, progress):
        first = next(iter(futures))
        k, *_ = futures.pop(first)
        results[k] = first.result()[1]
        finished["cases"] = parts[k][1]
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs, "_gather", gather)
    out = tmp_path / "sweep.json"
    code = main(
        [
            "sweep",
            "--cases",
            "16",
            "--backends",
            "numpy",
            "--dtype",
            "float64",
            "--jobs",
            "2",
            "--format",
            "json",
            "--output",
            str(out),
            "--save-failures",
            str(tmp_path / "f"),
        ]
    )
    doc = json.loads(out.read_text())
    assert code == 130 and doc["interrupted"] is True
    assert doc["rows"][0]["cases"] == finished["cases"] == 8
