"""The conformance kit as a pytest plugin (entry point ``pytest11``), for an engine author's own
repository::

    pytest --crosscheck-backend NAME [--crosscheck-cases N] [--crosscheck-seed S]
           [--crosscheck-xfail FILE]

collects ``test_gradients[NAME-article-float32]`` and the rest of the kit's checks (from
``conformance_tests.py`` beside this file) next to the author's own tests. NAME is a registered
backend, ``path/to/file.py:ClassName`` or ``module:ClassName``.
"""

import argparse
import importlib
from pathlib import Path

import pytest

TESTS = Path(__file__).with_name("conformance_tests.py")
MODULE = "backprop_crosscheck.comparisons.kit.conformance_tests"


def pytest_addoption(parser):
    from backprop_crosscheck.comparisons.cli.parser import dtype_list, whole_number
    from backprop_crosscheck.comparisons.kit.suites import LATEST, SUITES

    group = parser.getgroup("backprop-crosscheck", "backprop-crosscheck conformance kit")
    group.addoption(
        "--crosscheck-backend",
        action="append",
        default=[],
        metavar="NAME",
        help="run the conformance kit against this backend (repeatable)",
    )
    group.addoption(
        "--crosscheck-cases",
        type=random_cases,
        default=6,
        metavar="N",
        help="random cases besides the built-in ones (default 6)",
    )
    group.addoption(
        "--crosscheck-seed",
        type=whole_number,
        default=0,
        metavar="S",
        help="the first random shape family (default 0)",
    )
    group.addoption(
        "--crosscheck-suite",
        choices=list(SUITES),
        default=LATEST,
        metavar="VERSION",
        help=f"the pinned suite of cases: {', '.join(SUITES)} (default {LATEST}, the newest)",
    )
    group.addoption(
        "--crosscheck-dtype",
        type=dtype_list,
        default="all",
        metavar="DTYPES",
        help="the precisions, comma-separated: float64, float32, bfloat16, float16, or all "
        "(float64 and float32; the default)",
    )
    group.addoption(
        "--crosscheck-xfail",
        action="append",
        default=[],
        metavar="FILE",
        help="expected failures: TOML, [[xfail]] check/reason entries (repeatable)",
    )


def random_cases(text: str) -> int:
    """``--crosscheck-cases``: what `crosscheck conformance --cases` takes, less case files."""
    from backprop_crosscheck.comparisons.cli.parser import case_count

    value = case_count(text)
    if isinstance(value, str):
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 10,000, got {text!r}")
    return value


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "xdist_group(name): keep a framework's tests on one pytest-xdist worker"
    )
    for path in config.getoption("crosscheck_xfail") or ():
        from backprop_crosscheck.comparisons.kit.conformance import XfailError, load_xfail
        from backprop_crosscheck.reference import CaseError

        try:  # read once here: a bad file is one line, before any test runs
            load_xfail(path)
        except (XfailError, CaseError) as e:  # CaseError: the file cannot be read
            raise pytest.UsageError(f"--crosscheck-xfail: {e}") from None
    if config.getoption("crosscheck_backend") and str(TESTS) not in config.args:
        config.args.append(str(TESTS))


class KitModule(pytest.Module):
    """The kit's test file, imported by its one module name: from a source checkout pytest would
    derive ``comparisons.kit.conformance_tests`` from the folders, a name that does not import."""

    def _getobj(self):
        return importlib.import_module(MODULE)


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path, parent):
    """The folders above the kit's test file are collected as plain folders, never imported
    as packages by a name pytest would make up from them."""
    if path in TESTS.parents and (path / "__init__.py").is_file():
        return pytest.Dir.from_parent(parent, path=path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path, parent):
    if module_path == TESTS:
        return KitModule.from_parent(parent, path=module_path)
    return None
