"""Which backends exist: the built-ins by name, plus third-party backends found through the
entry-point group ``backprop_crosscheck.backends`` — an installed package adds a backend with
no edit of this repository:

    [project.entry-points."backprop_crosscheck.backends"]
    mybackend = "my_package.crosscheck_backend:MyBackend"
"""

import importlib
import os

from backprop_crosscheck.backends.interface import Backend, printable

ENTRY_POINT_GROUP = "backprop_crosscheck.backends"

BUILTIN = {
    "numpy": "backprop_crosscheck.backends.numpy.reference:NumpyBackend",
    "fd": "backprop_crosscheck.backends.numpy.differences:FiniteDifferenceBackend",
    "torch": "backprop_crosscheck.backends.torch.backend:TorchBackend",
    "torch-func": "backprop_crosscheck.backends.torch.func:TorchFuncBackend",
    "jax": "backprop_crosscheck.backends.jax.backend:JaxBackend",
    "jax-fwd": "backprop_crosscheck.backends.jax.forward:JaxForwardBackend",
    "autograd": "backprop_crosscheck.backends.autograd.backend:AutogradBackend",
    "tensorflow": "backprop_crosscheck.backends.tensorflow.backend:TensorFlowBackend",
    "torch-compile": "backprop_crosscheck.backends.torch.compile:TorchCompileBackend",
    "keras-jax": "backprop_crosscheck.backends.keras.jax:KerasJaxBackend",
    "keras-torch": "backprop_crosscheck.backends.keras.torch:KerasTorchBackend",
    "keras-tensorflow": "backprop_crosscheck.backends.keras.tensorflow:KerasTensorFlowBackend",
    "mlx": "backprop_crosscheck.backends.mlx.backend:MlxBackend",
    "tinygrad": "backprop_crosscheck.backends.tinygrad.backend:TinygradBackend",
    "paddle": "backprop_crosscheck.backends.paddle.backend:PaddleBackend",
}


# A backend's own tolerance may be looser than the default, never looser than this: past it a
# comparison checks nothing (docs/tolerances.md). A floor also needs its reason.
TOLERANCE_CEILING = 1e-2


class UnknownBackend(ValueError):
    pass


def declaration_problem(backend: Backend) -> str | None:
    """What is wrong with what a backend declares (its capabilities, its own tolerances), in
    one line; None when nothing is."""
    from backprop_crosscheck.backends.interface import Capabilities

    caps = backend.capabilities
    if not isinstance(caps, Capabilities):
        return f"its capabilities are a {type(caps).__name__}, not a Capabilities"
    for field in ("tolerance", "hvp_tolerance"):
        floors = getattr(caps, field)
        if not isinstance(floors, dict):
            return f"Capabilities.{field} is a {type(floors).__name__}, not a dict"
        for dtype, pair in floors.items():
            problem = _floor_problem(pair)
            if problem:
                return f"Capabilities.{field}[{dtype!r}] {problem}"
        reason = caps.tolerance_reason
        if floors and not (isinstance(reason, str) and reason.strip()):
            return f"Capabilities.{field} is looser than the default with no tolerance_reason"
    return None


def _floor_problem(pair) -> str | None:
    ok = isinstance(pair, tuple | list) and len(pair) == 2
    if not ok or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in pair):
        return f"= {pair!r}: expected (rtol, atol), two numbers"
    if not all(0 <= x <= TOLERANCE_CEILING for x in pair):  # NaN and inf fail here too
        return f"= {pair!r}: each must be a finite number from 0 to {TOLERANCE_CEILING:g}"
    return None


class BrokenPlugin(Backend):
    """A plugin whose entry point failed to load: listed, and reported as an error when run."""

    def __init__(self, name: str, target: str, error: Exception):
        self.name, self.target, self.error = name, target, error
        self.install_hint = f"broken: entry point {target!r} failed to load: {error!r}"[:200]

    def available(self) -> bool:
        return False

    def version(self):
        return None

    def skip_reason(self, dtype, device):
        return None  # never a skip: a broken plugin is an error wherever it is asked to run

    def run(self, case, dtype, device="cpu"):
        raise RuntimeError(f"plugin {self.target} failed to load: {self.error!r}")


def entry_points() -> dict:
    """{name: importlib.metadata.EntryPoint} of the plugins installed (importlib.metadata is
    imported here: 15 ms of every worker's start otherwise)."""
    import importlib.metadata

    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def backend_names() -> list[str]:
    """Built-ins first (in their fixed order), then plugins sorted by name."""
    return list(BUILTIN) + sorted(n for n in entry_points() if n not in BUILTIN)


def get_backend(name: str) -> Backend:
    """A built-in or an entry point by name, an adapter class named directly —
    ``path/to/file.py:ClassName`` or ``module:ClassName`` (for trying one before packaging) —
    or a learner's file, ``path/to/mine.py`` defining ``backprop(case, params, X, Y)``."""
    if ":" in name and name not in BUILTIN:
        return from_spec(name)
    if name.endswith(".py") and name not in BUILTIN:
        return learner(name)
    if name in BUILTIN:
        module, _, cls = BUILTIN[name].partition(":")
        return getattr(importlib.import_module(module), cls)()
    plugins = entry_points()
    if name not in plugins:
        raise UnknownBackend(f"unknown backend {name!r} (known: {', '.join(backend_names())})")
    return from_entry_point(*entry_point_of(plugins[name]))


def entry_point_of(ep) -> tuple[str, str, str | None]:
    """(name, target, distribution) of an entry point: plain data, for the process that loads
    it (comparisons.isolate.declared: a plugin is imported in its worker only)."""
    dist = getattr(ep, "dist", None)
    return ep.name, ep.value, dist.name if dist is not None else None


def from_entry_point(name: str, target: str, distribution: str | None = None) -> Backend:
    """The backend an entry point names, loaded here; a BrokenPlugin when it cannot be."""
    import importlib.metadata

    ep = importlib.metadata.EntryPoint(name, target, ENTRY_POINT_GROUP)
    try:
        obj = ep.load()
        backend = obj() if isinstance(obj, type) else obj
        if not isinstance(backend, Backend):
            raise TypeError(f"{ep.value} is not a backprop_crosscheck.Backend")
        problem = declaration_problem(backend)
        if problem:
            raise ValueError(problem)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - a broken plugin (even sys.exit) is its own error
        return BrokenPlugin(name, ep.value, e)
    backend.name = printable(name)
    if backend.distribution is None and backend.module is None and distribution:
        backend.distribution = distribution  # the version shown is the plugin's own
    return backend


def from_spec(spec: str) -> Backend:
    """The Backend named by ``file.py:Class`` or ``module:Class``; UnknownBackend saying what
    is wrong with it otherwise."""
    where, _, attr = spec.rpartition(":")
    if not where or not attr.isidentifier():
        raise UnknownBackend(f"{spec!r}: expected path/to/file.py:ClassName or module:ClassName")
    try:
        module = _load_file(where) if where.endswith(".py") else importlib.import_module(where)
        cls = getattr(module, attr)
    except KeyboardInterrupt:
        raise
    except AttributeError:
        raise UnknownBackend(f"{spec!r}: {where} defines no {attr}") from None
    except BaseException as e:  # noqa: BLE001 - their code, their error: one line
        raise UnknownBackend(f"{spec!r}: cannot load {where}: {type(e).__name__}: {e}") from None
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise UnknownBackend(f"{spec!r}: {attr} is not a backprop_crosscheck.Backend subclass")
    try:
        backend = cls()
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - sys.exit in __init__ too: one line, never exit 0
        raise UnknownBackend(f"{spec!r}: {attr}() failed: {type(e).__name__}: {e}") from None
    problem = declaration_problem(backend)
    if problem:
        raise UnknownBackend(f"{spec!r}: refused: {problem}")
    name = printable(backend.name or attr)
    if name in BUILTIN:  # never a second row of a built-in's name
        name = f"{name} ({os.path.basename(where)}:{attr})"
    backend.name = name
    if where.endswith(".py"):  # not importable by name: a worker loads it from the file again
        cls.__reduce__ = lambda self: (from_spec, (f"{os.path.abspath(where)}:{attr}",))
    return backend


def learner(path: str) -> Backend:
    """The learner route's backend for a file, read (never run) first: UnknownBackend, one
    line, when it does not define the function as documented."""
    from backprop_crosscheck.backends.numpy.learner import LearnerBackend
    from backprop_crosscheck.backends.numpy.learner_file import LearnerError, check_file

    try:
        cells = check_file(path)
    except LearnerError as e:
        raise UnknownBackend(str(e)) from None
    return LearnerBackend(path, cells)


def _load_file(path: str):
    import importlib.util
    import sys

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file {path}")
    name = "crosscheck_adapter_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, os.path.abspath(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def default_backend_names() -> list[str]:
    """What a run that names no backend runs: every backend but those run on request only."""
    return [n for n in backend_names() if not get_backend(n).on_request]


def all_backends() -> list[Backend]:
    return [get_backend(name) for name in backend_names()]


IN_PROCESS = ("numpy", "fd")  # the reference's own backends: NumPy only, and ours


def runs_in_process(backend: Backend, names=IN_PROCESS) -> bool:
    """The reference's own backends (``names``, of IN_PROCESS) run in the harness's process;
    everything else — every plugin, every framework — in a worker process it cannot take down."""
    return backend.name in names and type(backend) is type(get_backend(backend.name))


def conventions_table() -> str:
    """docs/optimizers.md's table of the conventions each built-in backend's own optimizer
    follows, made from their ``conventions`` (tests/reference/test_optimizers.py holds the
    page to it)."""
    rows = ["| backend | rule | setting | it follows | because |", "|---|---|---|---|---|"]
    for name in BUILTIN:
        for c in get_backend(name).conventions:
            rows.append(f"| `{name}` | {c.rule} | `{c.setting}` | {c.follows()} | {c.why} |")
    return "\n".join(rows) + "\n"
