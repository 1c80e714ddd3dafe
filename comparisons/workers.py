"""Each framework's backends in a worker process of their own, side by side.

What ``crosscheck report`` and ``sweep`` do unless told ``--in-process``. A backend that takes its
interpreter down — a segfault in an engine's C code, a CUDA abort, an ``os._exit`` — is then
that backend's error while the others still run. The frameworks also run side by side, each on a
core; on this project's 2-core machines that is about speed-neutral (torch's import plus the
``torch._dynamo`` import of torch.func is the critical path: BENCHMARKS.md).

Backends are grouped by the module they import (``Backend.module``): one worker per framework,
kept for the whole command, so a framework is imported once however many cases and dtypes are
checked. A group's backends run one at a time, so a crash names its backend. Backends that need
only NumPy (``module`` None), and those whose framework is not installed (a skip), run here: a
worker would cost more than they do. Workers are started with ``spawn`` (never ``fork``: CUDA
and XLA do not survive a fork). concurrent.futures and multiprocessing are imported only when a
worker is needed: ``report --backends numpy,fd`` stays as quick to start as NumPy allows.
"""

from comparisons.judge import check_backend


class Workers:
    """Use as a context manager; ``check(backends, check)`` returns ``judge.check_backend``'s
    answers in the backends' order. From a script of your own, create
    it under ``if __name__ == "__main__":`` — spawned workers import the main module."""

    def __init__(self):
        self._pools = {}  # framework -> a one-process concurrent.futures.ProcessPoolExecutor

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        for pool in self._pools.values():
            pool.shutdown(cancel_futures=True)
        self._pools.clear()

    @staticmethod
    def framework(backend) -> str | None:
        """The worker a backend runs in, or None for this process."""
        return backend.module if backend.module and backend.available() else None

    def check(self, backends, check) -> list:
        groups: dict[str | None, list] = {}
        for b in backends:
            groups.setdefault(self.framework(b), []).append(b)
        here = groups.pop(None, [])
        if not groups:
            return [check_backend(b, check) for b in here]
        from concurrent.futures import ThreadPoolExecutor

        results = {}
        threads = ThreadPoolExecutor(len(groups))
        try:
            waiting = [threads.submit(self._check_group, k, g, check) for k, g in groups.items()]
            for b in here:  # while the workers run
                results[id(b)] = check_backend(b, check)
            for future in waiting:
                results.update(future.result())
        except BaseException:  # Ctrl-C: stop the workers now rather than wait for them
            self.terminate()
            raise
        finally:
            threads.shutdown()
        return [results[id(b)] for b in backends]

    def terminate(self) -> None:
        for pool in self._pools.values():
            if hasattr(pool, "terminate_workers"):  # Python 3.14+
                pool.terminate_workers()
            else:
                for process in list(getattr(pool, "_processes", {}).values()):
                    process.terminate()
                pool.shutdown(wait=False, cancel_futures=True)
        self._pools.clear()

    def _check_group(self, framework, group, check) -> dict:
        from concurrent.futures.process import BrokenProcessPool

        results = {}
        for b in group:
            try:
                results[id(b)] = self._pool(framework).submit(check_backend, b, check).result()
            except BrokenProcessPool:
                broken = self._pools.pop(framework, None)  # the next backend gets a fresh one
                if broken is not None:
                    broken.shutdown()
                why = f"its worker process ({framework}) died while running it (crashed or killed)"
                results[id(b)] = check_backend(b, check, died=why)
            except Exception as e:  # noqa: BLE001 - e.g. a result that cannot be sent back
                why = f"its worker process ({framework}) failed: {e!r}"
                results[id(b)] = check_backend(b, check, died=why)
        return results

    def _pool(self, framework: str):
        if framework not in self._pools:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(1, mp_context=context, initializer=_quiet_on_ctrl_c)
            self._pools[framework] = pool
        return self._pools[framework]


def _quiet_on_ctrl_c() -> None:
    """A worker ends at Ctrl-C without a traceback of its own; this process reports it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
