"""Worker processes: the same report as in-process, and no backend can end, stall or corrupt
the process that writes it — one test per fault a plugin can commit."""

import json

import pytest
from backprop_crosscheck.backends import backend_names, get_backend
from backprop_crosscheck.comparisons.cli import main
from backprop_crosscheck.comparisons.isolate import workers
from backprop_crosscheck.comparisons.isolate.workers import Workers
from backprop_crosscheck.comparisons.judge.judging import Check
from backprop_crosscheck.comparisons.sweep.shards import sweep_case
from backprop_crosscheck.reference import load_case, train

FAKES = {
    "segfault": "support.fake_backends:Segfault",
    "right": "support.fake_backends:RightInWorker",
    "exits": "support.fake_backends:Exits",
    "hardexit": "support.fake_backends:HardExit",
    "noisy": "support.fake_backends:Noisy",
    "hangs": "support.fake_backends:Hangs",
    "hangsdeaf": "support.fake_backends:HangsDeaf",
    "hog": "support.fake_backends:Hog",
    "none": "support.fake_backends:ReturnsNone",
    "segfaultplugin": "support.fake_backends:SegfaultPlugin",
    "copier": "support.fake_backends:CopiesTheReference",
}


@pytest.fixture
def fakes(register):
    register(FAKES)


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


# fault -> (status, what its message says), with numpy before and a right backend after it
FAULTS = {
    "segfault": (
        "error",
        "its worker process (backend segfault) died while running it (killed by SIGSEGV)",
    ),
    "segfaultplugin": ("error", "died while running it (killed by SIGSEGV)"),
    "exits": ("error", "raised SystemExit: 0"),
    "hardexit": ("error", "died while running it (exit status 0)"),
    "hangs": ("error", "timed out after 1 s (--timeout)"),
    "hangsdeaf": ("error", "timed out after 1 s (--timeout); its worker was killed"),
    "hog": ("error", "MemoryError"),
    "none": ("error", "returned a malformed result: it is None, not a Result"),
    "noisy": ("pass", ""),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_faulty_plugin_is_its_own_row_and_the_report_is_whole(capsys, fakes, fault, monkeypatch):
    monkeypatch.setattr(workers, "GRACE_S", 0.5)  # past --timeout, a deaf worker is killed
    argv = ["--backends", f"numpy,{fault},right", "--timeout", "1", "--memory-limit", "1024"]
    code, out = report(capsys, *argv)
    doc = json.loads(out)  # stdout is one JSON document, whatever the plugin printed
    status, phrase = FAULTS[fault]
    assert code == (0 if status == "pass" else 1)
    rows = {r["backend"]: r for r in doc["runs"][0]["backends"]}
    assert (rows["numpy"]["status"], rows["right"]["status"]) == ("pass", "pass")
    assert rows[fault]["status"] == status and phrase in rows[fault]["message"]
    assert "\n" not in rows[fault]["message"]
    assert doc["verdict"] == ("pass" if status == "pass" else "fail")


def test_a_plugin_in_its_worker_has_no_reference_to_copy(capsys, fakes):
    # in this process it finds the check and passes with the reference's numbers (what
    # --in-process does not fence); its worker is sent the case alone
    argv = ["--backends", "numpy,copier"]
    rows = {
        r["backend"]: r
        for r in json.loads(report(capsys, *argv, "--in-process")[1])["runs"][0]["backends"]
    }
    assert rows["copier"]["status"] == "pass"
    rows = {r["backend"]: r for r in json.loads(report(capsys, *argv)[1])["runs"][0]["backends"]}
    assert (rows["copier"]["status"], rows["copier"]["message"]) == ("skip", "nothing to copy")


def test_what_a_plugin_prints_is_captured_into_its_row(capsys, fakes):
    code, out = report(capsys, "--backends", "numpy,noisy")
    row = json.loads(out)["runs"][0]["backends"][1]
    assert code == 0
    for noise in ["noise on stdout {not json", "noise on stderr", "raw noise on fd 1"]:
        assert noise in row["output"]


@pytest.mark.parametrize("fault", ["exits", "none", "noisy", "hangs"])
def test_in_process_the_same_faults_are_rows_too(capsys, fakes, fault):
    """--in-process gives up isolation from crashes, not from these."""
    argv = ["--backends", f"numpy,{fault}", "--timeout", "1", "--in-process"]
    code, out = report(capsys, *argv)
    rows = {r["backend"]: r for r in json.loads(out)["runs"][0]["backends"]}
    status, phrase = FAULTS[fault]
    assert rows[fault]["status"] == status and phrase.split(";")[0] in rows[fault]["message"]
    assert code == (0 if status == "pass" else 1)


def test_only_the_references_own_backends_run_here():
    check = Check(case=load_case("article"), reference=train(load_case("article")))
    assert Workers().group(get_backend("numpy"), check) is None
    assert Workers().group(get_backend("fd"), check) is None
    sweeps = Workers(here=("numpy",))  # a sweep's: finite differences beside the frameworks
    assert sweeps.group(get_backend("fd"), check) == "backend fd"
    assert sweeps.group(get_backend("numpy"), check) is None

    class NotInstalled(type(get_backend("numpy"))):
        module = "a_framework_that_is_not_installed"

    assert Workers().group(NotInstalled(), check) is None  # its skip is decided here, no worker

    class Impostor(type(get_backend("numpy"))):  # calls itself numpy: still a plugin
        def run(self, case, dtype, device="cpu"):
            raise AssertionError("never here")

    assert Workers().group(Impostor(), check) == "backend numpy"


def test_sweep_counts_a_crash_as_an_error_and_goes_on(capsys, fakes, tmp_path):
    argv = ["sweep", "--cases", "2", "--seed", "7", "--dtype", "float64"]  # two dense families
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
    assert (
        f"random-0.7 ({sweep_case(7).architecture}) segfault float64: its worker process "
        "(backend segfault) died while running it" in out
    )


def test_stop_from_two_threads_at_once_closes_each_descriptor_once():
    # a sweep's Ctrl-C stops every shard's worker while the shard's own thread stops it too;
    # a descriptor closed twice can be one another thread has just been given (CI saw EBADF)
    import threading
    import time

    worker = workers.Worker("two stops", memory_mib=0)
    closes, close = [], worker.conn.close

    def slow_close():  # widen the window between "still open?" and "closed"
        closes.append(threading.get_ident())
        time.sleep(0.05)
        close()

    worker.conn.close = slow_close
    gate, errors = threading.Barrier(4), []

    def stop():
        gate.wait()
        try:
            worker.stop()
        except Exception as e:  # noqa: BLE001 - the failure this test looks for
            errors.append(e)

    threads = [threading.Thread(target=stop) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (errors, len(closes)) == ([], 1)
    assert worker.process.returncode is not None


def test_a_row_is_given_only_once_every_answer_in_it_is_settled():
    """Settling: an answer counts once its worker has answered its next job (or all are done),
    so a second answer that arrives meanwhile can still make it an error before it is judged."""
    from backprop_crosscheck.comparisons.isolate.workers import Settling

    # two checks × two backends: backend 0 in this process, backend 1 in worker "w"
    rows = Settling({"w": [(0, 1), (1, 1)]}, checks=2, backends=2)
    rows.answers.update({(0, 0): "here-0", (1, 0): "here-1", (0, 1): "w-0"})
    assert list(rows.finished()) == []  # w's first answer waits for its second
    rows.answers[0, 1] = "error: answered twice"  # what a stray second answer does meanwhile
    rows.answers[1, 1] = "w-1"
    assert list(rows.finished()) == [["here-0", "error: answered twice"]]
    assert list(rows.finished()) == []  # w's last answer waits for the end
    assert list(rows.finished(end=True)) == [["here-1", "w-1"]]


@pytest.mark.parametrize("other", [1, 0], ids=["another-process", "the-worker-itself"])
@pytest.mark.parametrize("ident", [1, [1], "1"], ids=["names-request-1", "a-list", "a-string"])
def test_an_answer_from_another_process_charges_the_request_it_names(ident, other):
    """A child forked past Python's at-fork hooks (libc's fork) answers request 1 while the
    worker is on request 2: request 1 is charged too (``stray``); and whatever it — or the
    worker itself — writes as an id, the answer is a misbehaviour, never a crash of the harness."""
    import os
    import socket
    from multiprocessing.connection import Connection
    from types import SimpleNamespace

    from backprop_crosscheck.comparisons.isolate.wire import encode

    ours, theirs = socket.socketpair()
    worker = object.__new__(workers.Worker)
    worker.conn, worker.process = Connection(ours.detach()), SimpleNamespace(pid=os.getpid())
    worker.sent, worker.waiting_for = {1: (0, 0), 2: (1, 0)}, 2
    child = Connection(theirs.detach())
    child.send_bytes(encode({"id": ident, "pid": os.getpid() + other, "ok": True, "answer": None}))
    with pytest.raises(workers.Misbehaved) as raised:
        worker.answer()
    assert "answered twice" in str(raised.value)
    assert raised.value.stray == (1 if ident == 1 else None)
    worker.conn.close()
    child.close()
