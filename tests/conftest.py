"""Shared test set-up and helpers. The conformance suite takes the kit's options (its pytest
plugin):

pytest --crosscheck-backend NAME [--crosscheck-backend NAME …]   these backends only
CROSSCHECK_BACKENDS=torch,jax pytest                             the same through the environment
"""

import os
from pathlib import Path

import pytest

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


# The conformance door's engines in `make test`: every backend but these, whose door runs in
# `make test-engines` with the other engines (tox -e engines names them): jax-fwd's forward-mode
# matrix is JAX's second pass over every case (~30 s of the suite's ~180 s of work, measured
# in BENCHMARKS.md). --crosscheck-backend or CROSSCHECK_BACKENDS choosing them runs them here.
# The divergence reproducers (each a fresh process importing its engine: ~12 s) run there too,
# with every engine installed (tox -e engines, tensorflow, paddle name their file).
ENGINES_STAGE = ("jax-fwd",)
DOOR = "tests/comparisons/kit/test_conformance.py::"
REPRODUCERS = "tests/comparisons/kit/test_divergence_writeups.py::test_each_reproducer"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("CROSSCHECK_ENGINES_STAGE"):  # tox -e engines, tensorflow, paddle
        return
    if config.getoption("crosscheck_backend", default=None) or "CROSSCHECK_BACKENDS" in os.environ:
        return  # one's own choice of engines: run what it asks
    staged = [
        item
        for item in items
        if item.nodeid.startswith(REPRODUCERS)
        or item.nodeid.startswith(DOOR)
        and any(f"[{name}-" in item.nodeid or f"[{name}]" in item.nodeid for name in ENGINES_STAGE)
    ]
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
