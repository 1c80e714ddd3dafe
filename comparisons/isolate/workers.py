"""Every plugin and framework backend in a worker process, so that nothing a backend does —
exit, segfault, hang, print, allocate without bound — can end, stall or corrupt the process
that writes the report.

What ``crosscheck report`` and ``sweep`` do unless told ``--in-process``. Each backend gets a
worker of its own, kept for the whole command, so a framework is imported once however many
cases and dtypes are checked; built-ins that declare ``share_worker`` share one per module
(torch with torch-func, jax with jax-fwd). A worker's backends run one at a time, so a crash or
a hang names its backend; then its worker is killed and the next gets a fresh one. Workers run
side by side. What comes back is plain numbers, one answer per request (``Worker.answer``).
Only the reference's own backends (``numpy``, ``fd``; a sweep's, ``numpy`` alone: its finite
differences are heavy enough to want a core of their own) and backends that will be skipped
run here. Rows are yielded as they settle (``Settling``), so a sweep tallies each case while the
workers go on. Each worker is a plain ``python -m
backprop_crosscheck.comparisons.isolate.worker`` subprocess talking over a socket pair
(no fork: CUDA and XLA do not survive one); it is killed with its parent, and its memory is
capped (RLIMIT_DATA).
"""

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection, wait

from backprop_crosscheck.backends.registry import IN_PROCESS, runs_in_process
from backprop_crosscheck.comparisons.isolate.attempt import (
    attempts,
    from_plain_attempts,
    plain_attempts,
)
from backprop_crosscheck.comparisons.isolate.guard import cut
from backprop_crosscheck.comparisons.isolate.wire import answer_limit, decode

import backprop_crosscheck

GRACE_S = 2.0  # past the judge's own time limit, the parent kills a worker that did not answer
# the folder holding the backprop_crosscheck package, for a worker started from anywhere
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(backprop_crosscheck.__file__)))


class WorkerLost(Exception):
    """A worker did not answer: it died, timed out, or could not take the request."""


class Misbehaved(WorkerLost):
    """A worker broke the protocol: an answer from another process (a child the backend
    forked), a second answer, or one that is not numbers. ``stray``: the request id an answer
    named, when it named an earlier one."""

    def __init__(self, why: str, stray: int | None = None):
        super().__init__(why)
        self.stray = stray


class Worker:
    """One worker process, the leader of a process group of its own, and its connection."""

    max_bytes: int | None = None  # the most its next answer may take (wire.answer_limit)

    def __init__(self, group: str, memory_mib: int, env: dict | None = None):
        self.group, self.output = group, tempfile.TemporaryFile()
        self.memory_mib, self.env = memory_mib or None, env  # what it was started with
        ours, theirs = socket.socketpair()
        env = {
            **os.environ,
            **(env or {}),
            "PYTHONPATH": os.pathsep.join(
                [PACKAGE_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }
        argv = [
            sys.executable,
            "-m",
            "backprop_crosscheck.comparisons.isolate.worker",
            str(theirs.fileno()),
            str(os.getpid()),
            str(memory_mib),
        ]
        self.process = subprocess.Popen(
            argv,
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=self.output,
            stderr=self.output,
            env=env,
            start_new_session=True,
        )
        theirs.close()
        self.conn = Connection(ours.detach())
        self.conn.send(sys.path)
        self.exited = process_fd(self.process.pid)  # readable once it exits (None: no pidfd)
        self.job = None  # (index, deadline) of the backend it is running
        self.sent, self.waiting_for = {}, None  # request id -> job; the one it must answer
        self._stopping = threading.Lock()  # a sweep's Ctrl-C and its shard's thread both stop it
        self.stopped = False

    def ask(self, function, args: tuple, job=None, max_bytes: int | None = None) -> None:
        """Send a request; its answer may take at most ``max_bytes`` (None: no cap)."""
        ident = len(self.sent) + 1
        self.conn.send((ident, function, args))
        self.sent[ident], self.waiting_for, self.max_bytes = job, ident, max_bytes

    def waitables(self) -> list:
        return [self.conn] + ([self.exited] if self.exited is not None else [])

    def answer(self):
        """The answer to the request it was asked last; WorkerLost (or Misbehaved) if none."""
        try:
            if not self.conn.poll(0):  # it exited (its pidfd woke us) with nothing to say
                raise EOFError
            raw = self.conn.recv_bytes(self.max_bytes)
        except OSError as e:
            if "bad message length" not in str(e):  # a dead socket, not an answer too long
                raise WorkerLost(self.why_dead()) from None
            raise Misbehaved(
                f"its answer was over {self.max_bytes:,} bytes, more than the "
                "case's shapes allow: refused unread"
            ) from None
        except EOFError:
            raise WorkerLost(self.why_dead()) from None
        try:
            message = decode(raw)
            ident, pid, ok = message["id"], message["pid"], message["ok"]
        except Exception:  # noqa: BLE001 - whatever it is, it is not an answer
            raise Misbehaved("its worker answered something that is not numbers") from None
        # a request id it named (not necessarily an int: a forked child writes what it likes)
        named = ident if type(ident) is int and ident in self.sent else None
        if pid != self.process.pid:  # the request it named is charged too, when it was another
            earlier = named if named != self.waiting_for else None
            raise Misbehaved(
                f"process {pid}, not its worker ({self.process.pid}), answered: "
                "a child the backend forked? (answered twice)",
                earlier,
            )
        if ident != self.waiting_for:
            raise Misbehaved("its worker answered twice", named)
        self.waiting_for = None
        if not ok:
            raise WorkerLost(f"its worker process failed: {message.get('why')}")
        if message.get("forked"):
            raise Misbehaved(
                "it forked its worker process while it ran (os.fork): the copy "
                "carries on and could have answered twice"
            )
        return message.get("answer")

    def said_more(self) -> bool:
        """Whether anything waits on its socket after its last answer (a second one)."""
        try:
            return self.conn.poll(0) and bool(self.conn.recv_bytes())
        except (EOFError, OSError):  # it exited after answering: it said nothing more
            return False

    def stop(self) -> None:
        """Kill its whole process group (a child it forked too), then reap it. Twice is once,
        also from two threads at the same time (closing a descriptor twice could close one
        that another thread has just opened)."""
        with self._stopping:
            if self.stopped:
                return
            self.stopped = True
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.conn.close()
            self.output.close()
            if self.exited is not None:
                os.close(self.exited)
                self.exited = None

    def why_dead(self) -> str:
        """Its exit, and the tail of what it printed, as one line."""
        self.process.wait()
        code = self.process.returncode
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        self.output.seek(0)
        printed = cut(self.output.read().decode("utf-8", "replace").replace("\n", " ⏎ "))
        said = f"; it printed: {printed[-300:]}" if printed else ""
        return f"its worker process ({self.group}) died while running it ({how}){said}"


def process_fd(pid: int) -> int | None:
    """A file descriptor that becomes readable when process ``pid`` exits (Linux's pidfd), so
    that a worker's exit is seen at once even while a child it forked holds its socket."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def one_thread_each() -> dict[str, str]:
    """The environment of processes run side by side — a sweep's backends and shards,
    conformance's lanes of dtypes: each computes on one thread (OpenMP, MKL, OpenBLAS, XLA's
    CPU), for threads of one tiny network's matmul fighting over the same cores cost more than
    they give (torch's step ~10× slower on a busy 2-core machine; conformance torch 7.5 s in one
    lane, 10–11 s in two lanes of every core's threads, 5 s of one). Variables the user set are
    left alone."""
    env = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return {k: v for k, v in env.items() if k not in os.environ}


class Workers:
    """Use as a context manager; ``attempt_stream(backends, checks)`` yields every backend's
    attempts (comparisons.isolate.attempt) at every check: numbers and messages, judged by the
    caller."""

    def __init__(self, memory_mib: int = 0, env: dict | None = None, here=IN_PROCESS, lanes=None):
        self.memory_mib, self.env = memory_mib, env  # env: added to each worker's environment
        # here: the reference's own backends that run in this process; lanes: backend name ->
        # workers its checks are dealt out to (1)
        self.here, self.lanes = here, lanes or {}
        self._workers: dict[str, Worker] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.terminate()

    def terminate(self) -> None:
        for worker in self._workers.values():
            worker.stop()
        self._workers.clear()

    def group(self, backend, check=None) -> str | None:
        """The worker a backend runs in, or None for this process: a worker of its own,
        unless it declares it may share one with the others of its module (``share_worker``:
        the built-ins torch and torch-func, jax and jax-fwd)."""
        skipped = check and backend.skip_reason(check.dtype, check.device)
        if runs_in_process(backend, self.here) or skipped:
            return None
        if backend.module and getattr(backend, "share_worker", False):
            return backend.module
        return f"backend {backend.name}"

    def attempt_stream(self, backends, checks: list):
        """``attempts(b, c)`` for every check c and backend b: [answers in the backends' order]
        per check, in the checks' order, each row yielded once settled (``Settling``). Each
        worker works through its queue (its backends × every check) at its own pace while this
        process runs the in-process backends: none waits for the slowest between checks."""
        queues, self._answer_limits = {}, [answer_limit(check.case) for check in checks]
        for k, check in enumerate(checks):
            for i, b in enumerate(backends):
                group = dealt(self.group(b, check), self.lanes.get(b.name, 1), k)
                queues.setdefault(group, []).append((k, i))
        here, rows = queues.pop(None, []), Settling(queues, len(checks), len(backends))
        answers = rows.answers
        try:
            for group in queues:
                self._next(group, queues, backends, checks, answers)
            for k, i in here:  # while the workers run; each one that finished gets its next
                answers[k, i] = attempts(backends[i], checks[k])
                self._collect(queues, backends, checks, answers, block=False)
                yield from rows.finished()
            while any(w.job for w in self._busy(queues)):
                self._collect(queues, backends, checks, answers)
                yield from rows.finished()
            for group in rows.said_twice(self._workers, backends, checks):
                self._drop(group)
        except BaseException:  # Ctrl-C: stop the workers now rather than wait for them
            self.terminate()
            raise
        yield from rows.finished(end=True)

    def call(self, backend, function, args: tuple, limit: float | None, max_bytes=None):
        """``function(*args)`` — plain data in, plain data out — in the backend's worker
        (here, for the reference's own backends), waiting at most ``limit`` seconds for an
        answer of at most ``max_bytes``; raises WorkerLost saying why not."""
        group = self.group(backend)
        if group is None:
            return function(*args)
        worker = self.start(group)
        try:
            worker.ask(function, args, max_bytes=max_bytes)
            ready = wait(worker.waitables(), limit)
        except (OSError, ValueError) as e:
            self._drop(group)
            raise WorkerLost(f"its worker failed: {e}") from None
        if not ready:
            self._drop(group)
            raise WorkerLost(f"timed out after {limit:g} s; its worker was killed")
        try:
            return one_answer(worker)
        except WorkerLost:
            self._drop(group)
            raise

    def _busy(self, queues) -> list[Worker]:
        return [self._workers[g] for g in queues if g in self._workers]

    def _next(self, group, queues, backends, checks, answers) -> None:
        """Send the group's next (check, backend) to its worker (a fresh one if it has none)."""
        while queues[group]:
            k, i = queues[group].pop(0)
            check = checks[k]
            try:
                worker = self.start(group)
                worker.ask(*request(backends[i], check), (k, i), self._answer_limits[k])
            except (OSError, ValueError) as e:
                answers[k, i] = attempts(backends[i], check, died=f"its worker failed: {e}")
                self._drop(group)
                continue
            orders = 1 if check.hvp_direction is None else 2
            limit = None if check.timeout is None else orders * check.timeout + GRACE_S
            worker.job = ((k, i), None if limit is None else time.monotonic() + limit)
            return

    def start(self, group: str) -> Worker:
        """The group's worker, started now if it has none (a sweep starts its workers before it
        draws its cases, so that they start while it does)."""
        if group not in self._workers:
            self._workers[group] = worker_for(group, self.memory_mib, self.env)
        return self._workers[group]

    def _drop(self, group: str) -> None:
        worker = self._workers.pop(group, None)
        if worker is not None:
            worker.stop()

    def _collect(self, queues, backends, checks, answers, block: bool = True) -> None:
        """Wait for the next answers (or deadline; not at all unless ``block``), record them,
        and hand each worker that answered its next job."""
        busy = {w.group: w for w in self._busy(queues) if w.job}
        woken = {x: w for w in busy.values() for x in w.waitables()}
        deadlines = [w.job[1] for w in busy.values() if w.job[1] is not None]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        ready = {woken[x].group: woken[x] for x in wait(list(woken), timeout if block else 0)}
        for worker in ready.values():
            (k, i), _ = worker.job
            worker.job = None
            try:
                answers[k, i] = from_plain_attempts(one_answer(worker))
            except WorkerLost as e:
                answers[k, i] = attempts(backends[i], checks[k], died=str(e))
                stray = worker.sent.get(getattr(e, "stray", None))
                if stray is not None and stray != (k, i):  # an earlier answer was one of two
                    answers[stray] = attempts(backends[stray[1]], checks[stray[0]], died=str(e))
                self._drop(worker.group)
            self._next(worker.group, queues, backends, checks, answers)
        for worker in list(busy.values()):
            if worker.job and worker.job[1] is not None and time.monotonic() > worker.job[1]:
                (k, i), _ = worker.job
                timeout = checks[k].timeout
                why = f"timed out after {timeout:g} s (--timeout); its worker was killed"
                answers[k, i] = attempts(backends[i], checks[k], died=why)
                self._drop(worker.group)
                self._next(worker.group, queues, backends, checks, answers)


def one_answer(worker: Worker):
    """Its answer, and no second one: an answer already waiting behind it is a fault."""
    answer = worker.answer()
    if worker.conn.poll(0):
        raise Misbehaved("its worker answered twice")
    return answer


def request(backend, check) -> tuple:
    """What a worker is asked for a backend's attempts at a check: the case and how to run it,
    never the reference's numbers (Check.for_backends)."""
    return plain_attempts, (backend, check.for_backends())


def dealt(group: str | None, lanes: int, k: int) -> str | None:
    """The group of the k-th check of a backend given several lanes (the sweep's fd, its
    heaviest work and the last to finish): its checks dealt out to that many workers."""
    return group if group is None or lanes == 1 else f"{group} (lane {k % lanes + 1})"


def worker_for(group: str, memory_mib: int, env: dict | None) -> Worker:
    """A fresh worker for the group — or, for a plugin's group, the worker that declared it
    (comparisons.isolate.declared: its module is imported there already)."""
    name = group.removeprefix("backend ") if group.startswith("backend ") else None
    spare = name and take_spare(name, memory_mib, env)
    if spare:
        spare.group = group
        return spare
    return Worker(group, memory_mib, env)


class Settling:
    """The answers of one attempt_stream, by (check, backend), and which rows are settled: an
    answer is settled once its worker has answered its next job too (for its last job: once
    every worker is done and nothing more waits on its socket) — so a second answer to it, a
    forked copy of the worker answering too, makes it an error before anything is judged."""

    def __init__(self, queues: dict, checks: int, backends: int):
        self.answers, self.ready, self.size = {}, 0, (checks, backends)
        self.after = {
            job: later
            for jobs in queues.values()
            for job, later in zip(jobs, [*jobs[1:], None], strict=True)
        }
        self.last = {jobs[-1]: group for group, jobs in queues.items()}

    def settled(self, job, end: bool) -> bool:
        if job not in self.answers:
            return False
        return job not in self.after or self.after[job] in self.answers or end

    def said_twice(self, workers: dict, backends, checks) -> list[str]:
        """The groups whose worker said more after its last answer; that answer an error."""
        twice = [
            (job, g) for job, g in self.last.items() if g in workers and workers[g].said_more()
        ]
        for (k, i), _ in twice:
            self.answers[k, i] = attempts(backends[i], checks[k], died="its worker answered twice")
        return [g for _, g in twice]

    def finished(self, end: bool = False):
        """The rows settled since the last call, in order."""
        checks, backends = self.size
        while self.ready < checks and all(
            self.settled((self.ready, i), end) for i in range(backends)
        ):
            yield [self.answers[self.ready, i] for i in range(backends)]
            self.ready += 1


# -- the spares: a declared plugin's worker, kept for its runs (declaring.py) ----------------

SPARES = {}  # in the parent: a declared plugin's worker, by its name, until a run takes it


def take_spare(name: str, memory_mib: int, env) -> object:
    """The worker that declared plugin ``name``, for a pool of workers of this memory cap and
    environment; None when there is none or it does not fit (then it is stopped)."""
    worker = SPARES.pop(name, None)
    if worker is None or (worker.memory_mib, worker.env) == (memory_mib or None, env):
        return worker
    worker.stop()
    return None


@atexit.register
def stop_spares() -> None:
    """The declaring workers no run took."""
    while SPARES:
        SPARES.popitem()[1].stop()
