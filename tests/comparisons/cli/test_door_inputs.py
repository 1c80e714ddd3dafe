"""Bad input at every door is one line, never a traceback, and nothing stalls (issue #39): the
pytest door checks its options as `conformance` does; an expected-failure file of 70,000
wildcard entries is read and matched in linear time (a 65,536-entry cache of compiled patterns
thrashed past that: minutes); scripts/reproducer says its usage; a sweep says when a backend it
was asked for checked nothing, as the report does."""

import argparse
import re
import subprocess
import sys

import pytest
from backprop_crosscheck.comparisons.kit.conformance import Expected
from support.cli import run
from support.paths import ROOT, TESTS

NEVER = f"{TESTS / 'corpus' / 'plugins' / 'hostile.py'}:NeverChecked"

OPTIONS = {  # id: (option, value, what the one line says) — the types the door parses with
    "negative-cases": ("--crosscheck-cases", "-3", "must be a whole number ≥ 0, got '-3'"),
    "too-many-cases": ("--crosscheck-cases", "20000", "must be at most 10,000, got '20000'"),
    "a-case-file": ("--crosscheck-cases", "x.toml", "from 0 to 10,000, got 'x.toml'"),
    "negative-seed": ("--crosscheck-seed", "-1", "must be a whole number ≥ 0, got '-1'"),
}


@pytest.mark.parametrize("name", OPTIONS)
def test_the_pytest_door_parses_its_numbers_as_conformance_does(name):
    from backprop_crosscheck.comparisons.kit import pytest_plugin

    option, value, phrase = OPTIONS[name]
    parser = argparse.ArgumentParser(exit_on_error=False)
    pytest_plugin.pytest_addoption(Group(parser))
    with pytest.raises(argparse.ArgumentError, match=re.escape(phrase)):
        parser.parse_args([option, value])


class Group:
    """pytest's option group, as far as pytest_addoption uses it: argparse underneath."""

    def __init__(self, parser):
        self.parser = parser

    def getgroup(self, *names):
        return self

    def addoption(self, *flags, **settings):
        self.parser.add_argument(*flags, **settings)


class Config:
    """What pytest_configure reads of pytest's config."""

    def __init__(self, **options):
        self.options, self.args = options, []

    def getoption(self, name, default=None):
        return self.options.get(name, default)

    def addinivalue_line(self, *line):
        pass


@pytest.mark.parametrize(
    "text, phrase",
    [(None, "missing.toml: no such file"), ("[[xfail]\n", "invalid TOML")],
    ids=["missing", "malformed"],
)
def test_the_pytest_door_refuses_a_bad_expected_failure_file_in_one_line(tmp_path, text, phrase):
    from backprop_crosscheck.comparisons.kit import pytest_plugin

    path = tmp_path / "missing.toml"
    if text is not None:
        path.write_text(text)
    config = Config(crosscheck_xfail=[str(path)], crosscheck_backend=["numpy"])
    with pytest.raises(pytest.UsageError, match=re.escape(phrase)) as raised:
        pytest_plugin.pytest_configure(config)
    assert str(raised.value).startswith("--crosscheck-xfail: ") and "\n" not in str(raised.value)


def test_the_pytest_door_says_so_as_a_usage_error(tmp_path):
    """Once through pytest itself: its exit status for bad usage, one line, no traceback."""
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "--crosscheck-backend",
        "numpy",
        "--crosscheck-xfail",
        "missing.toml",
    ]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 4 and "missing.toml: no such file" in said, said
    assert "Traceback" not in said and "INTERNALERROR" not in said


def test_seventy_thousand_wildcard_entries_match_in_file_order():
    entries = [(f"gradients[nope{i}-*-float64]", f"reason {i}") for i in range(70_000)]
    entries += [("gradients[*-article-float64]", "the last"), ("gradients[numpy-*]", "later")]
    expected = Expected(entries)
    assert expected.reason("gradients[nope69999-article-float64]") == "reason 69999"
    assert expected.reason("gradients[numpy-article-float64]") == "the last"
    assert expected.reason("gradients[numpy-article-float32]") == "later"
    assert expected.reason("loss[numpy-article-float64]") is None
    assert len(expected.unmatched()) == 69_999


def test_the_reproducer_without_arguments_says_its_usage():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "reproducer")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("usage: scripts/reproducer CASE ")
    assert proc.stderr.count("\n") == 1


def test_a_sweep_says_when_a_backend_it_was_asked_for_checked_nothing(capsys):
    code, _, err = run(
        capsys,
        "sweep",
        "--cases",
        "2",
        "--dtype",
        "float64",
        "--backends",
        f"numpy,{NEVER}",
        "--in-process",
    )
    assert code == 0 and "warning: NeverChecked was asked for and checked nothing: " in err
    assert "float64 is not supported (only float16)" in err
