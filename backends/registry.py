"""Which backends exist: the built-ins by name, plus third-party backends found through the
entry-point group ``backprop_crosscheck.backends`` — an installed package adds a backend with
no edit of this repository:

    [project.entry-points."backprop_crosscheck.backends"]
    mybackend = "my_package.crosscheck_backend:MyBackend"
"""

import importlib
import importlib.metadata

from backprop_crosscheck.backends.interface import Backend

ENTRY_POINT_GROUP = "backprop_crosscheck.backends"

BUILTIN = {
    "numpy": "backprop_crosscheck.backends.numpy_reference:NumpyBackend",
    "fd": "backprop_crosscheck.backends.finite_differences:FiniteDifferenceBackend",
    "torch": "backprop_crosscheck.backends.torch_autograd:TorchBackend",
    "torch-func": "backprop_crosscheck.backends.torch_func:TorchFuncBackend",
    "jax": "backprop_crosscheck.backends.jax_grad:JaxBackend",
    "jax-fwd": "backprop_crosscheck.backends.jax_forward:JaxForwardBackend",
    "autograd": "backprop_crosscheck.backends.autograd_hips:AutogradBackend",
    "tensorflow": "backprop_crosscheck.backends.tensorflow_tape:TensorFlowBackend",
}


class UnknownBackend(ValueError):
    pass


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


def _plugins() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def backend_names() -> list[str]:
    """Built-ins first (in their fixed order), then plugins sorted by name."""
    return list(BUILTIN) + sorted(n for n in _plugins() if n not in BUILTIN)


def get_backend(name: str) -> Backend:
    if name in BUILTIN:
        module, _, cls = BUILTIN[name].partition(":")
        return getattr(importlib.import_module(module), cls)()
    plugins = _plugins()
    if name not in plugins:
        raise UnknownBackend(f"unknown backend {name!r} (known: {', '.join(backend_names())})")
    ep = plugins[name]
    try:
        obj = ep.load()
        backend = obj() if isinstance(obj, type) else obj
        if not isinstance(backend, Backend):
            raise TypeError(f"{ep.value} is not a backprop_crosscheck.Backend")
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - a broken plugin (even sys.exit) is its own error
        return BrokenPlugin(name, ep.value, e)
    backend.name = name
    if backend.distribution is None and backend.module is None and getattr(ep, "dist", None):
        backend.distribution = ep.dist.name  # the version shown is the plugin's own
    return backend


def all_backends() -> list[Backend]:
    return [get_backend(name) for name in backend_names()]


IN_PROCESS = ("numpy", "fd")  # the reference's own backends: NumPy only, and ours


def runs_in_process(backend: Backend) -> bool:
    """The reference's own backends run in the harness's process; everything else — every
    plugin, every framework — in a worker process it cannot take down."""
    return backend.name in IN_PROCESS and type(backend) is type(get_backend(backend.name))
