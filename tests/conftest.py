"""Shared test options.

pytest --backend NAME [--backend NAME …]     run the conformance suite for these backends only
CROSSCHECK_BACKENDS=torch,jax pytest          the same through the environment
"""

import os

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # two workers on two cores: one thread each, or BLAS/XLA/torch pools oversubscribe the
    # machine (set before any of them is imported; results are per-op identical for our sizes)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault(
        "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    )


def pytest_addoption(parser):
    parser.addoption(
        "--backend",
        action="append",
        default=[],
        help="run the conformance suite against this backend only (repeatable); "
        "default: every registered backend (also: CROSSCHECK_BACKENDS=a,b)",
    )


def selected_backends(config) -> list[str]:
    from backprop_crosscheck.backends import backend_names

    chosen = config.getoption("--backend") or [
        n for n in os.environ.get("CROSSCHECK_BACKENDS", "").split(",") if n
    ]
    return chosen or backend_names()


def pytest_generate_tests(metafunc):
    """Tests that take ``combination`` run once per backend × case × dtype of their module
    (its CASES and DTYPES), with ids like ``torch-article-float32``; ``hvp_combination``
    likewise over its HVP_CASES."""
    for fixture, cases in [("combination", "CASES"), ("hvp_combination", "HVP_CASES")]:
        if fixture not in metafunc.fixturenames:
            continue
        combos = [
            (b, c, d)
            for b in selected_backends(metafunc.config)
            for c in getattr(metafunc.module, cases)
            for d in metafunc.module.DTYPES
        ]
        # one xdist group per backend and shape family (random-3.1 -> random-3): its runs are
        # cached and its compiles shared, so its tests share a worker
        params = [
            pytest.param(c, marks=pytest.mark.xdist_group(f"{c[0]}-{c[1].split('.')[0]}"))
            for c in combos
        ]
        metafunc.parametrize(fixture, params, ids=["-".join(c) for c in combos])


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
