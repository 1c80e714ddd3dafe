"""The program of one worker process:
``python -m backprop_crosscheck.comparisons.isolate.worker FD PARENT_PID MEMORY_MIB``.

It reads ``(id, function, args)`` requests from the connection on file descriptor FD — a
module-level function such as ``attempt.plain_attempts`` and its arguments, pickled by its
parent — and answers each with bytes (comparisons.isolate.wire): ``{"id", "pid", "ok",
"answer" or "why", "forked"}``, the answer plain data, never an object. The request's id and
this process's pid go with every answer, so that an answer from another process, or a second
one, is seen for what it is; a backend that forks while it runs makes a copy of this loop,
which exits instead of answering, and the worker's answer says it forked. Its stdout and
stderr are a file its parent reads; the attempt captures what each backend prints. It leads a
process group of its own, which it takes down with it when its parent dies, and it caps its
own memory before any framework is imported.
"""

import os
import signal
import sys
from multiprocessing.connection import Connection


def serve(fd: int, parent_pid: int, memory_mib: int) -> None:
    from backprop_crosscheck.comparisons.isolate.guard import cap_memory, die_with_parent
    from backprop_crosscheck.comparisons.isolate.wire import encode

    die_with_parent(parent_pid)
    cap_memory(memory_mib)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent reports it, quietly here
    conn = Connection(fd)
    sys.path[:] = conn.recv()  # the parent's, so its plugins unpickle here
    forks = []  # a backend that forks (os.fork) makes a copy of this loop: it must not answer
    os.register_at_fork(
        after_in_parent=lambda: forks.append("parent"), after_in_child=lambda: forks.append("child")
    )
    while True:
        try:
            request = conn.recv()
        except EOFError:  # the parent is done with us
            return
        except Exception as e:  # noqa: BLE001 - e.g. a plugin class this process cannot import
            why = f"could not receive the backend: {type(e).__name__}: {e}"
            conn.send_bytes(encode({"id": None, "pid": os.getpid(), "ok": False, "why": why}))
            continue
        ident, function, args = request
        answer = function(*args)
        if "child" in forks:  # the copy a fork made: the worker itself answers, and says so
            os._exit(0)
        forked, forks[:] = bool(forks), []
        try:
            reply = encode(
                {"id": ident, "pid": os.getpid(), "ok": True, "answer": answer, "forked": forked}
            )
        except Exception as e:  # noqa: BLE001 - an answer that is not plain data
            why = f"could not send its answer back: {type(e).__name__}: {e}"
            reply = encode({"id": ident, "pid": os.getpid(), "ok": False, "why": why})
        conn.send_bytes(reply)


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
