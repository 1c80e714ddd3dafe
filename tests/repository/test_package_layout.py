"""The package is what pyproject.toml says, and there is one import name for each module: no
symbolic links in git (a Windows checkout would get text files), every sub-package listed for
setuptools, and the top-level folders refuse a second import name."""

import importlib
import json
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
from backprop_crosscheck.comparisons.cli import main
from support.paths import ROOT

from backprop_crosscheck.moved import MOVED

FOLDERS = {"reference": "reference", "backends": "backends", "comparisons": "comparisons"}


def test_git_tracks_no_symbolic_link():
    staged = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True)
    links = [
        line.split("\t")[1] for line in staged.stdout.splitlines() if line.startswith("120000")
    ]
    assert links == []


def test_every_subpackage_is_listed_for_setuptools():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = setuptools["package-dir"]
    assert {k: v for k, v in dirs.items() if k != "backprop_crosscheck"} == {
        f"backprop_crosscheck.{name}": folder for name, folder in FOLDERS.items()
    }
    found = {"backprop_crosscheck", "backprop_crosscheck.reference.cases"}  # + the case files
    for name, folder in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join(["backprop_crosscheck", name, *parts]))
    assert sorted(setuptools["packages"]) == sorted(found)


def test_a_second_import_name_is_refused_inside_the_checkout():
    code = "import backends.interface"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "ImportError: import backprop_crosscheck.backends, not backends" in proc.stderr


def test_the_checkout_and_the_package_name_the_same_class():
    code = (
        "import backprop_crosscheck.backends.interface as i, backprop_crosscheck as b;"
        "print(i.Backend is b.Backend, i.__file__)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    same, path = proc.stdout.split()
    assert same == "True" and Path(path) == ROOT / "backends" / "interface.py"


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_path_still_imports_with_a_warning_naming_the_new(old):
    """Issue #34: backends/ by engine and reference/ in rooms; a plugin that subclasses a
    built-in adapter, or imports a reference module, by its old path keeps working for a
    release, told where the module is now."""
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])  # one module, one class
    (warning,) = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert f"has moved to {MOVED[old]}" in str(warning.message)


def test_a_plugin_subclassing_a_built_in_by_its_old_path_runs(capsys, tmp_path):
    plugin = tmp_path / "old_style.py"
    plugin.write_text(
        "from backprop_crosscheck.backends.numpy_reference import NumpyBackend\n\n\n"
        "class Mine(NumpyBackend):\n    name = 'mine'\n"
    )
    code = main(["report", "--backends", f"numpy,{plugin}:Mine", "--format", "json"])
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert code == 0 and {r["backend"]: r["status"] for r in runs[0]["backends"]} == {
        "numpy": "pass",
        "mine": "pass",
    }
