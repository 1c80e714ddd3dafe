"""Shared test options.

pytest --backend NAME [--backend NAME …]     run the conformance suite for these backends only
CROSSCHECK_BACKENDS=torch,jax pytest          the same through the environment
"""

import os


def pytest_addoption(parser):
    parser.addoption(
        "--backend",
        action="append",
        default=[],
        help="run the conformance suite against this backend only (repeatable); "
        "default: every registered backend (also: CROSSCHECK_BACKENDS=a,b)",
    )


def selected_backends(config) -> list[str]:
    from backends import backend_names

    chosen = config.getoption("--backend") or [
        n for n in os.environ.get("CROSSCHECK_BACKENDS", "").split(",") if n
    ]
    return chosen or backend_names()


def pytest_generate_tests(metafunc):
    """Tests that take ``combination`` run once per backend × case × dtype of their module
    (its CASES and DTYPES), with ids like ``torch-article-float32``."""
    if "combination" in metafunc.fixturenames:
        combos = [
            (b, c, d)
            for b in selected_backends(metafunc.config)
            for c in metafunc.module.CASES
            for d in metafunc.module.DTYPES
        ]
        metafunc.parametrize("combination", combos, ids=["-".join(c) for c in combos])
