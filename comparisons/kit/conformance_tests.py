"""The conformance kit's tests: one per check and backend × case × dtype, with ids like
``test_gradients[tape-article-float32]``. Collected by the pytest plugin (``pytest
--crosscheck-backend NAME``) or imported by a test module of one's own (this repository's
tests/comparisons/kit/test_conformance.py does). Backends: --crosscheck-backend, else
$CROSSCHECK_BACKENDS (comma-separated), else every registered backend. Each combination is
evaluated once and its tests share the result: keep them on one xdist worker with --dist
loadgroup.
"""

import functools
import os

import pytest
from backprop_crosscheck.comparisons.kit import conformance

TIMEOUT_S = 300  # per backend and check: a backend that hangs fails its tests, not the run


def backends_of(config) -> list[str]:
    from backprop_crosscheck.backends.registry import backend_names

    chosen = config.getoption("crosscheck_backend", default=None) or [
        n for n in os.environ.get("CROSSCHECK_BACKENDS", "").split(",") if n
    ]
    return chosen or [n for n in backend_names() if not _on_request(n)]


def _on_request(name: str) -> bool:
    backend, _ = _backend(name)
    return backend is not None and backend.on_request


def pytest_generate_tests(metafunc):
    """A check's tests: every available backend × case × dtype the check means something on
    (test_available says why a backend is missing, once)."""
    config = metafunc.config
    if "backend_name" in metafunc.fixturenames:
        names = backends_of(config)
        metafunc.parametrize("backend_name", names, ids=[_name(n) for n in names])
    if "combination" not in metafunc.fixturenames:
        return
    check = metafunc.function.__name__.removeprefix("test_").replace("_", "-")
    cases = conformance.case_names(
        config.getoption("crosscheck_cases", default=6),
        config.getoption("crosscheck_seed", default=0),
        config.getoption("crosscheck_suite", default=None),
    )
    combos = [
        (b, c, d)
        for b in backends_of(config)
        if _available(b)
        for c in cases
        for d in _dtypes(config)
        if conformance.applies(check, c, d)
    ]
    # one xdist group per framework and dtype: a framework's programs for one dtype are
    # compiled on one worker (each framework's import costs seconds a process), while its
    # float64 and float32 programs — different programs anyway — may go to both
    params = [
        pytest.param(c, marks=pytest.mark.xdist_group(f"conformance-{_framework(c[0])}-{c[2]}"))
        for c in combos
    ]
    metafunc.parametrize(
        "combination", params, ids=["-".join((_name(b), c, d)) for b, c, d in combos]
    )


def _dtypes(config) -> list[str]:
    """--crosscheck-dtype's precisions (float64 and float32 unless it names others)."""
    chosen = config.getoption("crosscheck_dtype", default=None) or "all"
    if isinstance(chosen, str):  # its default, unconverted
        from backprop_crosscheck.comparisons.cli.parser import dtype_list

        return dtype_list(chosen)
    return chosen


def _name(spec: str) -> str:
    """The backend's own name, as the command line reports it (a path.py:Class spec's path
    never reaches a test id: one id scheme for both doors, and no '/' in pytest's node ids)."""
    backend, _ = _backend(spec)
    return backend.name if backend is not None else spec


def _framework(name: str) -> str:
    """The import a backend needs (torch for torch and torch-func), else its name."""
    backend, _ = _backend(name)
    return getattr(backend, "module", None) or name


@functools.cache
def _backend(name):
    """The backend as the parent holds it: a plugin as its declaration, read in a worker."""
    from backprop_crosscheck.backends import UnknownBackend
    from backprop_crosscheck.comparisons.isolate.declaring import backend_named

    try:
        return backend_named(name), None
    except UnknownBackend as e:
        return None, str(e)


def _available(name: str) -> bool:
    backend, _ = _backend(name)
    return backend is not None and backend.available()


def test_available(backend_name):
    """Each backend asked for is there (else: why not, and how to install it)."""
    backend, problem = _backend(backend_name)
    if backend is None:
        pytest.fail(problem, pytrace=False)
    if not backend.available():
        pytest.skip(backend.skip_reason("float64", "cpu"))


@functools.cache
def _evaluated(name, case, dtype):
    """A plugin's combination asked in its worker and judged here (no plugin code runs in the
    process that judges); a built-in's, the harness's own code, here."""
    from backprop_crosscheck.comparisons.isolate.declared import DeclaredBackend
    from backprop_crosscheck.comparisons.kit.conformance_run import evaluated

    backend, problem = _backend(name)
    if backend is None:
        return None, problem
    in_process = not isinstance(backend, DeclaredBackend)
    return evaluated(_workers(), backend, case, dtype, TIMEOUT_S, in_process), None


@functools.cache
def _workers():
    """The plugins' workers, one per plugin for the whole session; stopped when it ends."""
    import atexit

    from backprop_crosscheck.comparisons.isolate.guard import default_memory_mib
    from backprop_crosscheck.comparisons.isolate.workers import Workers

    workers = Workers(
        default_memory_mib()
    )  # as the command line's: a plugin's declaring worker fits
    atexit.register(workers.terminate)
    return workers


@functools.cache
def _xfail(paths: tuple):
    return conformance.load_xfail(*paths)


def expect(request, combination, check: str) -> None:
    """The outcome of ``check`` on this combination, as pytest sees it."""
    outcomes, problem = _evaluated(*combination)
    if outcomes is None:
        pytest.fail(problem, pytrace=False)
    xfail = _xfail(tuple(request.config.getoption("crosscheck_xfail", default=None) or ()))
    name, case, dtype = combination
    identifier = conformance.check_id(check, _name(name), case, dtype)
    outcome = conformance.expected(outcomes[check], identifier, xfail, conformance.case_named(case))
    if outcome.status == "skip":
        pytest.skip(outcome.message)
    if outcome.status == "xfail":
        pytest.xfail(outcome.message)
    if outcome.status != "pass":
        pytest.fail(f"{outcome.status}: {outcome.message}", pytrace=False)


def test_loss(request, combination):
    expect(request, combination, "loss")


def test_gradients(request, combination):
    expect(request, combination, "gradients")


def test_updated(request, combination):
    expect(request, combination, "updated")


def test_final(request, combination):
    expect(request, combination, "final")


def test_dtype(request, combination):
    expect(request, combination, "dtype")


def test_hvp(request, combination):
    expect(request, combination, "hvp")


def test_forward_reverse(request, combination):
    expect(request, combination, "forward-reverse")


def test_untracked_loss(request, combination):
    expect(request, combination, "untracked-loss")


def test_batch_sum(request, combination):
    expect(request, combination, "batch-sum")


def test_determinism(request, combination):
    expect(request, combination, "determinism")


def test_dtype_honest(request, combination):
    expect(request, combination, "dtype-honest")


def test_frozen(request, combination):
    expect(request, combination, "frozen")


def test_relu_kink(request, combination):
    expect(request, combination, "relu-kink")


def test_hvp_symmetry(request, combination):
    expect(request, combination, "hvp-symmetry")


def test_causality(request, combination):
    expect(request, combination, "causality")


def test_permutation(request, combination):
    expect(request, combination, "permutation")
