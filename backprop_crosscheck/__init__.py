"""backprop-crosscheck: hand-derived backpropagation, cross-checked against autodiff engines.

The one import an adapter needs (docs/adapters.md)::

    from backprop_crosscheck import Capabilities, FrameworkBackend

The code lives in the repository's top-level folders — reference/ (the hand-derived math),
backends/ (the adapters), comparisons/ (judging, reports, the CLI) — installed as this
package's subpackages ``backprop_crosscheck.reference``, ``.backends`` and ``.comparisons``, so
an installed copy never collides with another project's ``backends`` or ``reference``.
Importing it imports no framework.
"""

from backprop_crosscheck.backends import (
    Backend,
    BackendUnavailable,
    Capabilities,
    FrameworkBackend,
    UnknownBackend,
    backend_names,
    get_backend,
)
from backprop_crosscheck.reference import (
    Case,
    CaseError,
    Result,
    backward,
    builtin_case_names,
    forward,
    load_case,
    parse_case,
    sgd_step,
    train,
)

__all__ = [
    "Backend",
    "BackendUnavailable",
    "Capabilities",
    "Case",
    "CaseError",
    "FrameworkBackend",
    "Result",
    "UnknownBackend",
    "backend_names",
    "backward",
    "builtin_case_names",
    "forward",
    "get_backend",
    "load_case",
    "parse_case",
    "sgd_step",
    "train",
]
