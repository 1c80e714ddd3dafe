"""Every plugin and framework backend in a worker process, so that nothing a backend does —
exit, segfault, hang, print, allocate without bound — can end, stall or corrupt the process
that writes the report.

What ``crosscheck report`` and ``sweep`` do unless told ``--in-process``. Backends are grouped
by the module they import (``Backend.module``; a plugin with none gets a worker of its own):
one worker per group, kept for the whole command, so a framework is imported once however many
cases and dtypes are checked. A group's backends run one at a time, so a crash or a hang names
its backend; then its worker is killed and the group's next backend gets a fresh one. Workers
of different groups run side by side. Only the reference's own backends (``numpy``, ``fd``)
and backends that will be skipped run here. Each worker is a plain ``python -m
backprop_crosscheck.comparisons.isolate.worker`` subprocess talking over a socket pair
(no fork: CUDA and XLA do not survive one); it is killed with its parent, and its memory is
capped (RLIMIT_DATA).
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection, wait

from backprop_crosscheck.backends.registry import runs_in_process
from backprop_crosscheck.comparisons.isolate.attempt import attempts
from backprop_crosscheck.comparisons.isolate.guard import cut

import backprop_crosscheck

GRACE_S = 2.0  # past the judge's own time limit, the parent kills a worker that did not answer
# the folder holding the backprop_crosscheck package, for a worker started from anywhere
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(backprop_crosscheck.__file__)))


class Worker:
    """One worker process and its connection."""

    def __init__(self, group: str, memory_mib: int, env: dict | None = None):
        self.group, self.output = group, tempfile.TemporaryFile()
        ours, theirs = socket.socketpair()
        env = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(
            [PACKAGE_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])])}  # fmt: skip
        argv = [sys.executable, "-m", "backprop_crosscheck.comparisons.isolate.worker",
                str(theirs.fileno()), str(os.getpid()), str(memory_mib)]  # fmt: skip
        self.process = subprocess.Popen(
            argv, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
            stdout=self.output, stderr=self.output, env=env,
        )  # fmt: skip
        theirs.close()
        self.conn = Connection(ours.detach())
        self.conn.send(sys.path)
        self.job = None  # (index, deadline) of the backend it is running

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.conn.close()
        self.output.close()

    def why_dead(self) -> str:
        """Its exit, and the tail of what it printed, as one line."""
        self.process.wait()
        code = self.process.returncode
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        self.output.seek(0)
        printed = cut(self.output.read().decode("utf-8", "replace").replace("\n", " ⏎ "))
        said = f"; it printed: {printed[-300:]}" if printed else ""
        return f"its worker process ({self.group}) died while running it ({how}){said}"


class WorkerLost(Exception):
    """A worker did not answer: it died, timed out, or could not take the request."""


class Workers:
    """Use as a context manager; ``attempt_many(backends, checks)`` returns every backend's
    attempts (comparisons.isolate.attempt) at every check: numbers and messages, judged by the
    caller."""

    def __init__(self, memory_mib: int = 0, env: dict | None = None):
        self.memory_mib, self.env = memory_mib, env  # env: added to each worker's environment
        self._workers: dict[str, Worker] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.terminate()

    def terminate(self) -> None:
        for worker in self._workers.values():
            worker.stop()
        self._workers.clear()

    @staticmethod
    def group(backend, check) -> str | None:
        """The worker a backend runs in, or None for this process."""
        if runs_in_process(backend) or backend.skip_reason(check.dtype, check.device):
            return None
        return backend.module or f"plugin {backend.name}"

    def attempt_many(self, backends, checks: list) -> list[list]:
        """``attempts(b, c)`` for every check c and backend b, as [answers in the backends'
        order] per check. Each worker works through its queue (its backends × every check) at
        its own pace while this process runs the in-process backends: no worker waits for the
        slowest backend between one check and the next."""
        answers, queues = {}, {}
        for k, check in enumerate(checks):
            for i, b in enumerate(backends):
                queues.setdefault(self.group(b, check), []).append((k, i))
        here = queues.pop(None, [])
        try:
            for group in queues:
                self._next(group, queues, backends, checks, answers)
            for k, i in here:  # while the workers run; each one that finished gets its next
                answers[k, i] = attempts(backends[i], checks[k])
                self._collect(queues, backends, checks, answers, block=False)
            while any(w.job for w in self._busy(queues)):
                self._collect(queues, backends, checks, answers)
        except BaseException:  # Ctrl-C: stop the workers now rather than wait for them
            self.terminate()
            raise
        return [[answers[k, i] for i in range(len(backends))] for k in range(len(checks))]

    def call(self, backend, function, args: tuple, limit: float | None):
        """``function(*args)`` in the backend's worker (here, for the reference's own
        backends), waiting at most ``limit`` seconds; raises WorkerLost saying why not."""
        group = None if runs_in_process(backend) else backend.module or f"plugin {backend.name}"
        if group is None:
            return function(*args)
        worker = self._workers.get(group) or self._start(group)
        try:
            worker.conn.send((function, args))
            ready = worker.conn.poll(limit)
        except (OSError, ValueError) as e:
            self._drop(group)
            raise WorkerLost(f"its worker failed: {e}") from None
        if not ready:
            self._drop(group)
            raise WorkerLost(f"timed out after {limit:g} s; its worker was killed")
        try:
            kind, payload = worker.conn.recv()
        except (EOFError, OSError):
            why = worker.why_dead()
            self._drop(group)
            raise WorkerLost(why) from None
        if kind != "ok":
            raise WorkerLost(f"its worker process failed: {payload}")
        return payload

    def _busy(self, queues) -> list[Worker]:
        return [self._workers[g] for g in queues if g in self._workers]

    def _next(self, group, queues, backends, checks, answers) -> None:
        """Send the group's next (check, backend) to its worker (a fresh one if it has none)."""
        while queues[group]:
            k, i = queues[group].pop(0)
            check = checks[k]
            try:
                worker = self._workers.get(group) or self._start(group)
                worker.conn.send((attempts, (backends[i], check)))
            except (OSError, ValueError) as e:
                answers[k, i] = attempts(backends[i], check, died=f"its worker failed: {e}")
                self._drop(group)
                continue
            orders = 1 if check.hvp_direction is None else 2
            limit = None if check.timeout is None else orders * check.timeout + GRACE_S
            worker.job = ((k, i), None if limit is None else time.monotonic() + limit)
            return

    def _start(self, group: str) -> Worker:
        self._workers[group] = Worker(group, self.memory_mib, self.env)
        return self._workers[group]

    def _drop(self, group: str) -> None:
        worker = self._workers.pop(group, None)
        if worker is not None:
            worker.stop()

    def _collect(self, queues, backends, checks, answers, block: bool = True) -> None:
        """Wait for the next answers (or deadline; not at all unless ``block``), record them,
        and hand each worker that answered its next job."""
        busy = {w.conn: w for w in self._busy(queues) if w.job}
        deadlines = [w.job[1] for w in busy.values() if w.job[1] is not None]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        for conn in wait(list(busy), timeout if block else 0):
            worker = busy[conn]
            (k, i), _ = worker.job
            worker.job = None
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                answers[k, i] = attempts(backends[i], checks[k], died=worker.why_dead())
                self._drop(worker.group)
            else:  # (the failure's text only for a failure: an answer's repr costs ~20 ms)
                answers[k, i] = (
                    payload
                    if kind == "ok"
                    else attempts(
                        backends[i], checks[k], died=f"its worker process failed: {payload}"
                    )
                )
            self._next(worker.group, queues, backends, checks, answers)
        for worker in list(busy.values()):
            if worker.job and worker.job[1] is not None and time.monotonic() > worker.job[1]:
                (k, i), _ = worker.job
                timeout = checks[k].timeout
                why = f"timed out after {timeout:g} s (--timeout); its worker was killed"
                answers[k, i] = attempts(backends[i], checks[k], died=why)
                self._drop(worker.group)
                self._next(worker.group, queues, backends, checks, answers)
