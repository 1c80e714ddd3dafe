"""Backend adapters: a folder per engine (backends/torch/, backends/jax/, …, the NumPy
reference's own in backends/numpy/), each with the same file names (backend.py, layers.py,
optim.py, …); the interface in interface.py, the framework base in framework.py, the registry
in registry.py. The adapters' old flat paths still import, with a warning
(backprop_crosscheck/moved.py).

Importing this package imports no framework; an adapter imports its framework when it runs.
"""

if __name__ != "backprop_crosscheck.backends":  # one import name, inside the checkout and out
    raise ImportError(
        f"import backprop_crosscheck.backends, not {__name__}: backends/ is a subpackage of "
        "backprop_crosscheck (a second import name would load its classes twice)"
    )


from backprop_crosscheck.backends.framework import FrameworkBackend
from backprop_crosscheck.backends.interface import (
    API_VERSION,
    Backend,
    BackendUnavailable,
    Capabilities,
    Convention,
    SameAs,
    Unsupported,
)
from backprop_crosscheck.backends.registry import (
    UnknownBackend,
    all_backends,
    backend_names,
    get_backend,
)

__all__ = [
    "API_VERSION",
    "Backend",
    "BackendUnavailable",
    "Capabilities",
    "Convention",
    "FrameworkBackend",
    "SameAs",
    "UnknownBackend",
    "Unsupported",
    "all_backends",
    "backend_names",
    "get_backend",
]
