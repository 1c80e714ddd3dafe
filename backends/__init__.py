"""Backend adapters: one file each, the interface in interface.py, the registry in registry.py.

Importing this package imports no framework; an adapter imports its framework when it runs.
"""

from backprop_crosscheck.backends.interface import (
    Backend,
    BackendUnavailable,
    Capabilities,
    FrameworkBackend,
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
    "FrameworkBackend",
    "UnknownBackend",
    "all_backends",
    "backend_names",
    "get_backend",
]
