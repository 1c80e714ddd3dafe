"""Backend adapters: one file each, the interface in interface.py, the registry in registry.py.

Importing this package imports no framework; an adapter imports its framework when it runs.
"""

if __name__ != "backprop_crosscheck.backends":  # one import name, inside the checkout and out
    raise ImportError(
        f"import backprop_crosscheck.backends, not {__name__}: backends/ is a subpackage of "
        "backprop_crosscheck (a second import name would load its classes twice)"
    )


from backprop_crosscheck.backends.framework import FrameworkBackend
from backprop_crosscheck.backends.interface import (
    Backend,
    BackendUnavailable,
    Capabilities,
    Convention,
    SameAs,
)
from backprop_crosscheck.backends.registry import (
    UnknownBackend,
    all_backends,
    backend_names,
    get_backend,
)

__all__ = [
    "Backend",
    "BackendUnavailable",
    "Capabilities",
    "Convention",
    "FrameworkBackend",
    "SameAs",
    "UnknownBackend",
    "all_backends",
    "backend_names",
    "get_backend",
]
