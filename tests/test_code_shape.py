"""Limits the codebase keeps (issue #24): every built-in adapter at most 80 lines, no function
over 50 lines and no class over 150 in reference/, backends/ and comparisons/, and the table
of optimizer conventions in docs/optimizers.md made from the adapters' declarations."""

import ast
import re
from pathlib import Path

import pytest
from backprop_crosscheck.backends.registry import BUILTIN, conventions_table

ROOT = Path(__file__).parent.parent
ADAPTER_LINES, FUNCTION_LINES, CLASS_LINES = 80, 50, 150


def units():
    """(where, kind, lines) of every function and class of the three folders."""
    for folder in ("reference", "backends", "comparisons"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    kind = "class" if isinstance(node, ast.ClassDef) else "function"
                    where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                    yield where, kind, node.end_lineno - node.lineno + 1


def test_no_function_over_50_lines_and_no_class_over_150():
    limit = {"function": FUNCTION_LINES, "class": CLASS_LINES}
    too_long = [f"{where} ({kind}, {n} lines)" for where, kind, n in units() if n > limit[kind]]
    assert too_long == []


ADAPTERS = {name: target.partition(":")[0] for name, target in BUILTIN.items()}
ADAPTERS["learner"] = "backprop_crosscheck.backends.learner"  # `crosscheck check`'s backend


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_every_built_in_adapter_is_at_most_80_lines(name):
    module = ADAPTERS[name].removeprefix("backprop_crosscheck.")
    path = ROOT / (module.replace(".", "/") + ".py")
    assert len(path.read_text(encoding="utf-8").splitlines()) <= ADAPTER_LINES, path


def test_the_conventions_table_in_the_docs_is_the_adapters_own():
    assert conventions_table() in (ROOT / "docs" / "optimizers.md").read_text(encoding="utf-8")


def test_the_adapter_guides_line_counts_are_true():
    """docs/adapters.md names the example's sizes: they are the files' own."""
    guide = (ROOT / "docs" / "adapters.md").read_text(encoding="utf-8")
    example = "examples/tape-autodiff"
    for path, said in [(f"{example}/crosscheck_tape.py", r"(\d+) lines, is the"),
                       (f"{example}/tape_autodiff/engine.py", r"a (\d+)-line")]:  # fmt: skip
        lines = len((ROOT / path).read_text(encoding="utf-8").splitlines())
        assert int(re.search(said, guide).group(1)) == lines, path
    sizes = [len((ROOT / f"backends/{m.rpartition('.')[2]}.py").read_text().splitlines())
             for m in ADAPTERS.values()]  # fmt: skip
    low, high = map(int, re.search(r"are (\d+)–(\d+) lines each", guide).groups())
    assert (low, high) == (min(sizes), ADAPTER_LINES) and max(sizes) <= high
