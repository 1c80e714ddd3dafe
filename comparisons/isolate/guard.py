"""What a backend can do to the process that runs it, and the fences against it: a time limit,
captured output, a memory cap, and a worker that dies with its parent.

Used by the judge (time limit, captured output: in-process and inside a worker alike) and by
the worker processes (memory cap, death with the parent). Nothing here imports a framework.
"""

import contextlib
import io
import os
import signal
import sys
import tempfile
import threading

OUTPUT_LIMIT = 2000  # characters of a backend's captured output kept for the report


class TimedOut(BaseException):  # noqa: N818 - not an Exception: a backend's `except Exception` must not swallow it
    """A backend ran past its time limit."""


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Raise TimedOut in this thread after ``seconds`` (main thread only: SIGALRM; elsewhere,
    and for code stuck in C, the worker's parent is the backstop)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum, frame):
        raise TimedOut(seconds)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Captured:
    text: str = ""


@contextlib.contextmanager
def captured_output():
    """Everything written to stdout and stderr inside — by Python or by C code writing to file
    descriptors 1 and 2 — is kept in ``.text`` (cut short), never shown."""
    holder, python = Captured(), io.StringIO()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with tempfile.TemporaryFile() as sink:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(python), contextlib.redirect_stderr(python):
                yield holder
        finally:
            with contextlib.suppress(Exception):
                sys.__stdout__.flush()
                sys.__stderr__.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            raw = sink.read(4 * OUTPUT_LIMIT).decode("utf-8", "replace")
            holder.text = cut(python.getvalue() + raw)


def cut(text: str) -> str:
    text = text.strip()
    return text if len(text) <= OUTPUT_LIMIT else text[:OUTPUT_LIMIT] + " …(cut)"


def die_with_parent(parent_pid: int) -> None:
    """Linux: when the parent dies, however it dies (SIGKILL too), this process gets SIGTERM
    and takes its whole process group down — itself and any child a backend forked. Elsewhere
    the worker still ends at the parent's exit, when its pipe closes."""

    def take_the_group_down(signum, frame):
        if os.getpgrp() == os.getpid():  # only a group of our own (never the caller's shell's)
            with contextlib.suppress(OSError):
                os.killpg(os.getpgrp(), signal.SIGKILL)
        os._exit(1)

    signal.signal(signal.SIGTERM, take_the_group_down)
    with contextlib.suppress(Exception):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        take_the_group_down(None, None)


def cap_memory(mib: int) -> None:
    """Cap this process's data (heap and private writable mappings; not CUDA's address-space
    reservations) at ``mib``: an allocation past it fails with MemoryError."""
    if not mib:
        return
    with contextlib.suppress(Exception):
        import resource

        limit = mib * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def default_memory_mib() -> int:
    """Half of this machine's memory, per worker."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (2 * 1024 * 1024)
    except (ValueError, OSError, AttributeError):
        return 0
