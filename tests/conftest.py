"""Shared test set-up and helpers. The conformance suite takes the kit's options (its pytest
plugin):

pytest --crosscheck-backend NAME [--crosscheck-backend NAME …]   these backends only
CROSSCHECK_BACKENDS=torch,jax pytest                             the same through the environment
"""

import os
from pathlib import Path

import pytest
from backprop_crosscheck.comparisons.kit import suites

# JAX's persistent compilation cache, in the checkout (ignored by git): the suite compiles the
# same ~80 small XLA programs every run (one per architecture, dtype and step/loss/jvp/H·v);
# from the second run on they load instead (~81 s → ~59 s here). The key holds the program and
# the jax/jaxlib versions, so a cached executable is the one a fresh compile would give. Set
# before JAX is imported; worker processes inherit it. JAX_COMPILATION_CACHE_DIR= turns it off.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(__file__).parent.parent / ".jax-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # two workers on two cores: one thread each, or BLAS/XLA/torch pools oversubscribe the
    # machine (set before any of them is imported; results are per-op identical for our sizes)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault(
        "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    )


# The checkout's own modules compiled once, here, for every process the suite starts (its xdist
# workers, the backends' worker processes, every `crosscheck` it runs): with
# PYTHONDONTWRITEBYTECODE set (as on this project's machines) Python writes no bytecode, and
# each of those ~200 processes compiled every module it imported from source again. compileall
# writes __pycache__/ (ignored by git) beside the sources, as Python itself does when the
# variable is unset, and skips a module whose bytecode is up to date.
COMPILED_FOLDERS = (
    "backprop_crosscheck",
    "backends",
    "comparisons",
    "reference",
    "tests",
    "examples",
)


def pytest_configure(config):
    import sys

    if os.environ.get("PYTEST_XDIST_WORKER") or not sys.dont_write_bytecode:
        return
    import compileall

    root = Path(__file__).parent.parent
    for folder in COMPILED_FOLDERS:
        compileall.compile_dir(root / folder, quiet=2)


@pytest.hookimpl(wrapper=True)
def pytest_collection(session):
    """The test modules' bytecode kept too: pytest rewrites the asserts of each test module (and
    of the harness's own, a pytest plugin's distribution) as it imports it, and caches the result
    in __pycache__ only where bytecode may be written — with PYTHONDONTWRITEBYTECODE set, every
    worker parsed and rewrote ~130 modules each run (collection 3.8 → 2.3 s a process). Writing
    is allowed while the suite collects, as Python's default is."""
    import sys

    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, False
    try:
        return (yield)
    finally:
        sys.dont_write_bytecode = saved


# What `make test` leaves to `make test-engines`, where tox sets CROSSCHECK_ENGINES_STAGE and
# nothing is left out (tox -e tensorflow runs the whole suite, every engine's door in full):
# - jax-fwd's door: JAX's forward-mode second pass over every case (~30 s of the suite's work);
# - the door's slow engines on the sequence, attention and mixed-precision built-ins, but for
#   FIRST_STAGE_CASES — a recurrent case, each of JAX's three attention paths (is_causal, key
#   lengths, a mask: mha, padded, masked_row) and a mixed one: JAX traces and lowers ~7 XLA
#   programs a case and dtype (~12 s of its 25 s door on the others), fd nudges a layer stack
#   entry by entry (gpt alone, 3.4 s). Every other engine runs every built-in case here, and
#   these two the dense and layer-stack ones and the random case;
# - the divergence reproducers (each a fresh process importing its engine: ~12 s), which need
#   the other engines anyway (tox -e engines, tensorflow, paddle name their file).
# --crosscheck-backend or CROSSCHECK_BACKENDS choosing engines runs all of theirs here.
ENGINES_STAGE = ("jax-fwd",)
SLOW_DOOR = ("jax", "fd")
FIRST_STAGE_CASES = (
    *suites.DENSE,
    *suites.STACKS,
    "lstm",
    "mha",
    "padded",
    "masked_row",
    "mixed_float16",
)
DOOR = "tests/comparisons/kit/test_conformance.py::"
REPRODUCERS = "tests/comparisons/kit/test_divergence_writeups.py::test_each_reproducer"


def engines_stage(nodeid: str) -> bool:
    """Whether a test runs in `make test-engines` alone (above)."""
    if nodeid.startswith(REPRODUCERS):
        return True
    if not nodeid.startswith(DOOR) or "[" not in nodeid:
        return False
    backend_case = nodeid.split("[", 1)[1].split("]", 1)[0]  # e.g. jax-gpt-float64
    engines = (*ENGINES_STAGE, *SLOW_DOOR)  # jax-fwd before jax: the first match is the one
    name = next((n for n in engines if f"{backend_case}-".startswith(f"{n}-")), None)
    if name is None or name in ENGINES_STAGE:
        return name is not None
    case = backend_case.removeprefix(f"{name}-").rsplit("-", 1)[0]
    return case in suites.suite(None).builtin and case not in FIRST_STAGE_CASES


def pytest_collection_modifyitems(config, items):
    if os.environ.get("CROSSCHECK_ENGINES_STAGE"):  # tox -e engines, tensorflow, paddle
        return
    if config.getoption("crosscheck_backend", default=None) or "CROSSCHECK_BACKENDS" in os.environ:
        return  # one's own choice of engines: run what it asks
    staged = [item for item in items if engines_stage(item.nodeid)]
    if staged:
        config.hook.pytest_deselected(items=staged)
        gone = set(staged)
        items[:] = [item for item in items if item not in gone]


@pytest.fixture
def register(monkeypatch):
    """``register({"name": "module:Class", …})``: these plugins, and only these, are what the
    entry points offer for the rest of the test."""
    import importlib.metadata

    from backprop_crosscheck.backends import registry

    def plugins(targets: dict[str, str]) -> None:
        points = [
            importlib.metadata.EntryPoint(name, target, registry.ENTRY_POINT_GROUP)
            for name, target in targets.items()
        ]
        monkeypatch.setattr(registry.importlib.metadata, "entry_points", lambda group: points)

    return plugins
