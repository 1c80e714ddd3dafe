"""docs/divergences/ stays true: every reproducer in a write-up runs and still shows its
divergence (each asserts it, and says "fixed" when upstream fixed it), wherever its engine is
installed (`tox -e engines`, `tox -e tensorflow`; elsewhere a skip naming the engine). And every
known-divergences file is well formed, its reasons cite the upstream source, and its engine has
a write-up."""

import ast
import importlib.util
import re
import subprocess
import sys

import pytest
from backprop_crosscheck.backends.registry import BUILTIN
from backprop_crosscheck.comparisons.kit.conformance import load_xfail
from support.paths import ROOT

WRITEUPS = sorted((ROOT / "docs" / "divergences").glob("*.md"))
KNOWN = sorted((ROOT / "tests" / "known-divergences").glob("*.toml"))
SOURCE = re.compile(r"\b[\w-]+(/[\w.-]+)+\.(py|cpp|h)\b")  # keras/src/backend/torch/numpy.py


def reproducers():
    for page in WRITEUPS:
        blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
        for i, code in enumerate(blocks, start=1):
            yield pytest.param(code, id=f"{page.stem}-{i}")


@pytest.mark.parametrize("code", list(reproducers()))
def test_each_reproducer_still_shows_its_divergence(code):
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.ImportFrom)
    }
    missing = sorted(m for m in imported if importlib.util.find_spec(m) is None)
    if missing:
        pytest.skip(f"needs {', '.join(missing)}: tox -e engines, tensorflow or paddle")
    for why in unusable(imported):  # installed, but not able to run here (tinygrad without clang)
        pytest.skip(why)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def unusable(modules: set[str]) -> list[str]:
    """Why an imported module's built-in engines cannot run here, where none of them can, as
    their backends say (skip_reason on the CPU, in float64): tinygrad without clang. (keras
    runs while keras-jax can, whatever keras-tensorflow lacks.)"""
    from backprop_crosscheck.backends.registry import get_backend

    engines = [get_backend(name) for name in BUILTIN]
    found = []
    for module in sorted(modules):
        reasons = [e.skip_reason("float64", "cpu") for e in engines if e.module == module]
        if reasons and all(reasons):
            found.append(reasons[0])
    return found


@pytest.mark.parametrize("path", KNOWN, ids=[p.stem for p in KNOWN])
def test_each_known_divergence_names_its_source_and_has_a_write_up(path):
    entries = load_xfail(str(path))
    assert path.stem in BUILTIN, f"{path.name}: no built-in backend {path.stem}"
    if not entries:  # an engine with none says so, and what was measured
        assert "none" in path.read_text(encoding="utf-8").split("\n")[0], path.name
        return
    for pattern, reason, _ in entries:
        assert f"[{path.stem}-" in pattern, f"{path.name}: {pattern} is another backend's"
        assert SOURCE.search(reason), f"{path.name}: {pattern}'s reason cites no source file"
    assert (ROOT / "docs" / "divergences" / f"{path.stem}.md").is_file()
