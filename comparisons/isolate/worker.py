"""The program of one worker process:
``python -m backprop_crosscheck.comparisons.isolate.worker FD PARENT_PID MEMORY_MIB``.

It reads ``(function, args)`` requests from the connection on file descriptor FD — a
module-level function such as ``attempt.attempts`` and its arguments — and answers each with
``("ok", function(*args))`` or ``("failed", why)``. Its stdout and
stderr are a file its parent reads; the judge captures what each backend prints. It dies with
its parent and caps its own memory before any framework is imported.
"""

import signal
import sys
from multiprocessing.connection import Connection


def serve(fd: int, parent_pid: int, memory_mib: int) -> None:
    from backprop_crosscheck.comparisons.isolate.guard import cap_memory, die_with_parent

    die_with_parent(parent_pid)
    cap_memory(memory_mib)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent reports it, quietly here
    conn = Connection(fd)
    sys.path[:] = conn.recv()  # the parent's, so its plugins unpickle here
    while True:
        try:
            request = conn.recv()
        except EOFError:  # the parent is done with us
            return
        except Exception as e:  # noqa: BLE001 - e.g. a plugin class this process cannot import
            conn.send(("failed", f"could not receive the backend: {type(e).__name__}: {e}"))
            continue
        function, args = request
        answer = function(*args)
        try:
            conn.send(("ok", answer))
        except Exception as e:  # noqa: BLE001 - an answer that cannot be pickled
            conn.send(("failed", f"could not send its answer back: {type(e).__name__}: {e}"))


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
