"""backprop-crosscheck: hand-derived backpropagation, cross-checked against autodiff engines.

The one import an adapter needs (docs/adapters.md)::

    from backprop_crosscheck import Capabilities, FrameworkBackend

The code lives in the repository's top-level folders — reference/ (the hand-derived math),
backends/ (the adapters), comparisons/ (judging, isolation, reports, the CLI) — and is imported
only as this package's subpackages ``backprop_crosscheck.reference``, ``.backends`` and
``.comparisons``: an installed copy has them inside this folder (setuptools' package-dir in
pyproject.toml); a source checkout, run in place (``PYTHONPATH=.``, as scripts/gpu-check is),
finds them beside it through ``__path__`` below. There is no second import name: ``import
backends`` raises ImportError. Importing it imports no framework.
"""

from pathlib import Path as _Path

_HERE = _Path(__file__).resolve().parent
if not (_HERE / "reference").is_dir() and (_HERE.parent / "reference" / "__init__.py").is_file():
    __path__.append(str(_HERE.parent))  # a source checkout: the subpackages sit beside us

from backprop_crosscheck import moved as _moved

_moved.install()  # the module paths before issue #34, for a release (moved.py)

from backprop_crosscheck.backends import (
    API_VERSION,
    Backend,
    BackendUnavailable,
    Capabilities,
    Convention,
    FrameworkBackend,
    SameAs,
    UnknownBackend,
    Unsupported,
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
    train,
)
from backprop_crosscheck.reference.precision import DTYPES, LOW

__all__ = [
    "API_VERSION",
    "DTYPES",
    "LOW",
    "Backend",
    "BackendUnavailable",
    "Capabilities",
    "Case",
    "Convention",
    "CaseError",
    "FrameworkBackend",
    "Result",
    "SameAs",
    "UnknownBackend",
    "Unsupported",
    "backend_names",
    "backward",
    "builtin_case_names",
    "forward",
    "get_backend",
    "load_case",
    "parse_case",
    "train",
]
