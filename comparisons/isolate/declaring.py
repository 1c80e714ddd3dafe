"""The parent's side of a plugin's isolation: each plugin named is declared in a worker of
its own (started side by side), and the parent holds its declaration — a DeclaredBackend
(declared.py) — for judging; the declaring worker is kept as a spare that the plugin's runs
take over (workers.take_spare), its module imported once."""

from dataclasses import dataclass
from multiprocessing.connection import wait

from backprop_crosscheck.backends.interface import Backend
from backprop_crosscheck.backends.registry import UnknownBackend, backend_names, get_backend
from backprop_crosscheck.comparisons.isolate.declared import (
    DeclaredBackend,
    Undeclared,
    declaration,
    plugin_source,
)
from backprop_crosscheck.comparisons.isolate.guard import default_memory_mib
from backprop_crosscheck.comparisons.isolate.workers import SPARES, Worker, WorkerLost

DECLARE_TIMEOUT_S = 60.0  # to import a plugin and read what it declares, in its worker


@dataclass(frozen=True)
class Isolation:
    """The workers a command runs its plugins in: a declaring worker is started as they are,
    so that the run takes it over (its memory cap; its environment: a sweep's one thread)."""

    memory_mib: int = 0  # 0: the default, half this machine's memory
    env: dict | None = None


ISOLATED = Isolation()


def backend_named(name: str, isolation: Isolation | None = ISOLATED, started=None) -> Backend:
    """The backend the parent holds for ``name``: a built-in or learner as it is, a plugin as
    its declaration (a DeclaredBackend) — or, with no ``isolation`` (``--in-process``: the user
    asks for every backend's code in this process), as it is too. UnknownBackend, one line,
    for a name that is none. ``started``: its (source, declaring worker), already asked."""
    source = plugin_source(name) if isolation is not None else None
    if source is None:
        return get_backend(name)  # a built-in, a learner's file; or UnknownBackend saying so
    started = started or (source, start_declaring(source, isolation))
    snapshot, worker = declared_in_worker(*started)
    if "refused" in snapshot:
        raise UnknownBackend(f"{name!r}: {snapshot['refused']}")
    try:
        backend = DeclaredBackend(source, snapshot)
    except Undeclared as e:
        worker.stop()
        if ":" in name:  # named directly: the user's bad input, refused before anything runs
            raise UnknownBackend(f"{name!r}: refused: {e}") from None
        return DeclaredBackend.broken(source, f"refused: {e}")
    if worker is not None:
        older = SPARES.pop(backend.name, None)  # a name declared twice: the older one goes
        if older is not None:
            older.stop()
        SPARES[backend.name] = worker
    return backend


def backends_named(names: list[str], isolation: Isolation | None = ISOLATED) -> list[Backend]:
    """``backend_named`` for each name, the plugins' declaring workers started side by side."""
    sources = {n: plugin_source(n) for n in names} if isolation is not None else {}
    started = {n: (s, start_declaring(s, isolation)) for n, s in sources.items() if s is not None}
    try:
        return [backend_named(n, isolation, started.get(n)) for n in names]
    finally:  # those not reached (an earlier name refused): stopped
        for _, worker in started.values():
            if worker not in SPARES.values():
                worker.stop()


def default_backends(isolation: Isolation | None = ISOLATED) -> list[Backend]:
    """What a run that names no backend runs: every backend but those run on request only."""
    return [b for b in backends_named(backend_names(), isolation) if not b.on_request]


def start_declaring(source, isolation: Isolation = ISOLATED):
    """A worker of its own for the plugin, asked its ``declaration`` (answered later)."""
    memory = isolation.memory_mib or default_memory_mib()
    worker = Worker("declaring a plugin", memory, isolation.env)
    try:
        worker.ask(declaration, (source,))
    except BaseException:
        worker.stop()
        raise
    return worker


def declared_in_worker(source, worker) -> tuple[dict, object]:
    """The declaring ``worker``'s answer: (the snapshot, the worker — kept for the plugin's
    runs, its module imported once — or None when it is of no further use)."""
    try:
        if not wait(worker.waitables(), DECLARE_TIMEOUT_S):
            snapshot = {"broken": f"loading it took over {DECLARE_TIMEOUT_S:g} s"}
        else:
            snapshot = worker.answer()
    except WorkerLost as e:
        snapshot = {"broken": f"loading it failed: {e}"}
    except BaseException:  # the command's own time limit, Ctrl-C: the worker goes too
        worker.stop()
        raise
    if not isinstance(snapshot, dict):
        snapshot = {"broken": "its worker answered nonsense"}
    if "broken" in snapshot or "refused" in snapshot:
        worker.stop()
        return snapshot, None
    return snapshot, worker
