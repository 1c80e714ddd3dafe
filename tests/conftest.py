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
