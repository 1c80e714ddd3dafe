"""A plugin as the judging process knows it: one frozen snapshot of what it declares, read in a
worker process — never its module, never its methods (issue #39).

A plugin (an entry point, ``file.py:Class``, ``module:Class``) is imported only in a worker.
There ``declaration`` reads, once, everything the parent needs of it — its name, version,
capabilities, whether it is installed, why it would skip each dtype and device — as plain data
(comparisons.isolate.wire); the parent validates that once (``DeclaredBackend``: every field of
the type it must be, a tolerance two plain floats within the ceiling, whatever type it arrived
as) and judges only from it. A plugin whose import or declaration raises is that backend's
error row. What travels to a worker is the declaration (plain data and the plugin's source);
the worker's own functions (attempt.plain_attempts, the kit's ``ask``) take the real backend
from it there (``running``) — a sweep's shard process, which judges, never does. The
built-ins, the harness's own code, are read in place.

With ``--in-process`` the user asks for the plugin's code here: a DeclaredBackend then loads
the real backend in this process and hands it every call (docs/reliability.md says what that
gives up).
"""

import functools
import numbers
from dataclasses import fields

import numpy as np
from backprop_crosscheck.backends.interface import DTYPES, Backend, Capabilities
from backprop_crosscheck.backends.registry import (
    BUILTIN,
    UnknownBackend,
    declaration_problem,
    entry_point_of,
    entry_points,
    from_entry_point,
    get_backend,
    printable,
)

DEVICES = ("cpu", "cuda")


class Undeclared(ValueError):
    """What a plugin declares is not of the form the parent takes: one line naming the field."""


def is_plugin(name: str) -> bool:
    """Whether ``name`` is someone else's code: an entry point, a ``file.py:Class`` or
    ``module:Class`` spec. A built-in and a learner's file (run by the harness's own
    LearnerBackend, its file loaded only inside ``run``) are not."""
    return name not in BUILTIN and not (name.endswith(".py") and ":" not in name)


def plugin_source(name: str):
    """What loads plugin ``name`` in a worker — its spec, or an entry point's (name, target,
    distribution), read from metadata — or None for a built-in, a learner's file or a name
    that is no backend."""
    if not is_plugin(name):
        return None
    if ":" in name:
        return name
    found = entry_points().get(name)
    return None if found is None else entry_point_of(found)


# -- in the worker ------------------------------------------------------------------------------


def _load(source) -> Backend:
    """A plugin from its source: a spec, or an entry point's (name, target, distribution)."""
    return get_backend(source) if isinstance(source, str) else from_entry_point(*source)


READ = {}  # in a worker: the backend its declaration was read from, by source, to run it


@functools.cache
def loaded(source, name: str) -> Backend:
    """The real backend of ``source``, in the process that runs it, under the parent's name:
    the one already read here when this worker declared it (its module imported once)."""
    backend = READ.pop(_key(source), None) or _load(source)
    backend.name = name
    return backend


def _key(source) -> str:
    return source if isinstance(source, str) else "\0".join(map(str, source))


def declaration(source) -> dict:
    """Everything the parent reads of a plugin, as plain data (in its worker); {"broken": why}
    when loading it or reading it raised, {"refused": why} for a spec that names nothing."""
    try:
        backend = READ[_key(source)] = _load(source)
    except UnknownBackend as e:
        return {"refused": str(e).removeprefix(f"{source!r}: ")}
    except BaseException as e:  # noqa: BLE001 - their code: its error, in one line
        return {"broken": f"failed to load: {type(e).__name__}: {e}"}
    step = "reading it"
    try:
        step = "version()"
        version = backend.version()
        version = None if version is None else str(version)
        step = "available()"
        available = bool(backend.available())
        step = "skip_reason()"
        skips = {f"{d}/{v}": backend.skip_reason(d, v) for d in DTYPES for v in DEVICES}
        step = "its capabilities"
        caps = backend.capabilities
        capabilities = {f.name: _plain(getattr(caps, f.name)) for f in fields(Capabilities)}
        return {
            "name": str(backend.name),
            "version": version,
            "available": available,
            "skips": skips,
            "capabilities": capabilities,
            "module": backend.module if isinstance(backend.module, str) else None,
            "install_hint": str(backend.install_hint),
            "layer_kinds": _plain(backend.layer_kinds),
            "on_request": bool(backend.on_request),
            "share_worker": bool(backend.share_worker),
        }
    except BaseException as e:  # noqa: BLE001 - SystemExit too: that plugin's error row
        return {"broken": f"{step} raised {type(e).__name__}: {e}"}


def _plain(value):
    """Tuples, lists and dicts of plain values, as lists and dicts (JSON's forms); a number as
    Python's own (a NumPy float in a tolerance is a float: it was accepted before, in place)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, bool | numbers.Number) and not isinstance(value, bool | int | float):
        return _number(value)
    return value


def _number(value):
    """A NumPy (or other) bool, integer or real as Python's; anything else as it is."""
    for kind, plain in ((np.bool_, bool), (numbers.Integral, int), (numbers.Real, float)):
        if isinstance(value, kind):
            return plain(value)
    return value


KINDS = {  # what each field of Capabilities must be, once read back as plain data
    "dtypes": "names",
    "devices": "names",
    "mode": "text",
    "tolerance": "floors",
    "tolerance_reason": "text",
    "max_parameters": "count or None",
    "hvp": "text or None",
    "hvp_tolerance": "floors",
    "jvp": "text or None",
    "input_gradient": "bool",
    "activations": "names or None",
    "losses": "names or None",
    "optimizers": "names",
    "weight_decay": "names",
    "layers": "names or None",
    "mixed": "names",
}


def capabilities_of(plain) -> Capabilities:
    """A Capabilities from its plain form, every field checked; Undeclared naming the first
    that is not what it must be."""
    if not isinstance(plain, dict) or set(plain) != set(KINDS):
        raise Undeclared("its capabilities are not a Capabilities")
    return Capabilities(**{name: _field(name, plain[name]) for name in KINDS})


def _field(name: str, value):
    kind = KINDS[name]
    if value is None and kind.endswith("or None"):
        return None
    kind = kind.removesuffix(" or None")
    if kind == "text" and isinstance(value, str):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "count" and type(value) is int and value >= 0:
        return value
    if kind == "names" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if kind == "floors" and isinstance(value, dict):
        return {str(d): _floor(name, d, pair) for d, pair in value.items()}
    raise Undeclared(f"Capabilities.{name} is {_shown(value)}, not {KINDS[name]}")


def _floor(name: str, dtype: str, pair) -> tuple[float, float]:
    if isinstance(pair, list) and len(pair) == 2:
        if all(type(x) in (int, float) for x in pair):
            return float(pair[0]), float(pair[1])
    raise Undeclared(f"Capabilities.{name}[{dtype!r}] = {_shown(pair)}: expected (rtol, atol)")


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class DeclaredBackend(Backend):
    """A plugin in the parent: its declarations, read once in its worker and checked here; no
    method of it runs here. Sent to a worker, it becomes the real backend there (``loaded``)."""

    def __init__(self, source, snapshot: dict):
        self.source, self.problem = source, snapshot.get("broken")
        spec = source if isinstance(source, str) else source[0]  # an entry point: its name
        if self.problem:
            self.name = printable(spec.rpartition(":")[2] or spec)
            self.install_hint = f"broken: {self.problem}"[:200]
            self._version, self._available, self.skips = None, False, {}
            return
        self.name = _name(spec, snapshot.get("name"))
        self.capabilities = capabilities_of(snapshot.get("capabilities"))
        problem = declaration_problem(self)
        if problem:
            raise Undeclared(problem)
        self._version = _text_or_none(snapshot.get("version"), "version()")
        self._available = _typed(snapshot.get("available"), bool, "available()")
        self.skips = {k: _text_or_none(v, "skip_reason()") for k, v in _dict(snapshot, "skips")}
        self.module = _text_or_none(snapshot.get("module"), "module")
        self.install_hint = _typed(snapshot.get("install_hint"), str, "install_hint")
        self.layer_kinds = _field("layers", snapshot.get("layer_kinds")) or ()
        self.on_request = _typed(snapshot.get("on_request"), bool, "on_request")
        # never a worker shared with a built-in of the same module: a plugin's own process
        _typed(snapshot.get("share_worker"), bool, "share_worker")
        self.share_worker = False

    @classmethod
    def broken(cls, source, why: str) -> "DeclaredBackend":
        return cls(source, {"broken": why})

    def version(self):
        return self._version

    def available(self) -> bool:
        return self._available

    def missing(self):
        return None if self._available else (self.module or self.name)

    def skip_reason(self, dtype: str, device: str):
        if self.problem:
            return None  # never a skip: a broken plugin is an error wherever it is asked to run
        if f"{dtype}/{device}" in self.skips:
            return self.skips[f"{dtype}/{device}"]
        return super().skip_reason(dtype, device)

    def unsupported(self, case):
        return None if self.problem else super().unsupported(case)

    def real(self) -> Backend:
        """The plugin itself, loaded in this process (``--in-process`` only)."""
        if self.problem:
            return Broken(self.name, self.problem)
        return loaded(self.source, self.name)

    def run(self, case, dtype, device="cpu"):
        return self.real().run(case, dtype, device)

    def hvp(self, case, v, dtype, device="cpu"):
        return self.real().hvp(case, v, dtype, device)

    def loss_value(self, case, dtype, device="cpu"):
        return self.real().loss_value(case, dtype, device)

    def directional_derivative(self, case, v, dtype, device="cpu"):
        return self.real().directional_derivative(case, v, dtype, device)

    def stepper(self, case, dtype, device="cpu"):
        return self.real().stepper(case, dtype, device)


def running(backend: Backend) -> Backend:
    """The backend a worker runs: a plugin's real one, loaded here (this is its worker), for a
    DeclaredBackend; any other as it is. Only the functions a worker runs for a backend call
    this — a sweep's shard, which judges, keeps the declaration."""
    return backend.real() if isinstance(backend, DeclaredBackend) else backend


class Broken(Backend):
    """A plugin whose loading or declarations raised: an error wherever it is asked to run."""

    def __init__(self, name: str, problem: str):
        self.name, self.problem = name, problem

    def run(self, case, dtype, device="cpu"):
        raise PluginBroken(self.problem)

    hvp = run


class PluginBroken(RuntimeError):
    """What a broken plugin's every run raises: why it is broken."""


def _name(spec: str, declared) -> str:
    """The row's name: an entry point's registered one; a spec's class's own, never a
    built-in's (registry.from_spec's rule, applied again here to what came back)."""
    if ":" not in spec:
        return printable(spec)
    where, _, attr = spec.rpartition(":")
    name = printable(declared if isinstance(declared, str) and declared else attr)
    if name in BUILTIN:
        name = f"{name} ({where.replace(chr(92), '/').rpartition('/')[2]}:{attr})"
    return name


def _typed(value, kind: type, what: str):
    if not isinstance(value, kind):
        raise Undeclared(f"its {what} is {_shown(value)}, not a {kind.__name__}")
    return value


def _text_or_none(value, what: str):
    return None if value is None else _typed(value, str, what)


def _dict(snapshot: dict, key: str):
    value = snapshot.get(key)
    return _typed(value, dict, key).items()
