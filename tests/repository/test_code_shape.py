"""Limits the codebase keeps: every built-in adapter at most 70 statements, no function over 40
statements and no class over 120 in reference/, backends/ and comparisons/, and the table of
optimizer conventions in docs/optimizers.md made from the adapters' declarations.

Sizes are counted in statements (ast), not physical lines (issue #34): a line rule was met by
packing lines (``# fmt: skip``), which a statement count does not reward — the formatter may
lay a unit out as it likes."""

import ast
import re

import pytest
from backprop_crosscheck.backends.registry import BUILTIN, conventions_table
from support.paths import ROOT

ADAPTER_STATEMENTS, FUNCTION_STATEMENTS, CLASS_STATEMENTS = 70, 40, 120


def statements(node: ast.AST) -> int:
    """The statements inside a unit (a module, a class, a function), nested ones included."""
    return sum(isinstance(n, ast.stmt) for n in ast.walk(node)) - (not isinstance(node, ast.Module))


def units():
    """(where, kind, statements) of every function and class of the three folders."""
    for folder in ("reference", "backends", "comparisons"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    kind = "class" if isinstance(node, ast.ClassDef) else "function"
                    where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                    yield where, kind, statements(node)


def test_statement_counts_measure_code_not_layout():
    packed = ast.parse("def f(x):\n    a = 1; b = 2\n    return a + b")
    spread = ast.parse("def f(x):\n    a = 1\n\n    b = (\n        2\n    )\n    return a + b")
    assert statements(packed.body[0]) == statements(spread.body[0]) == 3


def test_no_function_over_40_statements_and_no_class_over_120():
    limit = {"function": FUNCTION_STATEMENTS, "class": CLASS_STATEMENTS}
    too_big = [f"{where} ({kind}, {n} statements)" for where, kind, n in units() if n > limit[kind]]
    assert too_big == []


ADAPTERS = {name: target.partition(":")[0] for name, target in BUILTIN.items()}
ADAPTERS["learner"] = "backprop_crosscheck.backends.numpy.learner"  # `crosscheck check`'s backend


def adapter_statements(module: str) -> int:
    path = ROOT / (module.removeprefix("backprop_crosscheck.").replace(".", "/") + ".py")
    return statements(ast.parse(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_every_built_in_adapter_is_at_most_70_statements(name):
    assert adapter_statements(ADAPTERS[name]) <= ADAPTER_STATEMENTS, ADAPTERS[name]


def test_the_conventions_table_in_the_docs_is_the_adapters_own():
    assert conventions_table() in (ROOT / "docs" / "optimizers.md").read_text(encoding="utf-8")


def test_the_adapter_guides_line_counts_are_true():
    """docs/adapters.md names the example's sizes: they are the files' own."""
    guide = (ROOT / "docs" / "adapters.md").read_text(encoding="utf-8")
    example = "examples/tape-autodiff"
    for path, said in [
        (f"{example}/crosscheck_tape.py", r"(\d+) lines, is the"),
        (f"{example}/tape_autodiff/engine.py", r"a (\d+)-line"),
    ]:
        lines = len((ROOT / path).read_text(encoding="utf-8").splitlines())
        assert int(re.search(said, guide).group(1)) == lines, path
    sizes = [adapter_statements(m) for m in ADAPTERS.values()]
    low, high = map(int, re.search(r"are (\d+)–(\d+) statements each", guide).groups())
    assert (low, high) == (min(sizes), ADAPTER_STATEMENTS) and max(sizes) <= high


def project_imports() -> dict[str, set[str]]:
    """Module -> the project's modules it imports, at the top or inside a function (a lazy
    import hides a circle from Python, not from a reader)."""
    modules = {}
    for folder in ("reference", "backends", "comparisons", "backprop_crosscheck"):
        prefix = ["backprop_crosscheck"] + ([folder] if folder != "backprop_crosscheck" else [])
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            modules[".".join(prefix + [p for p in parts if p != "__init__"])] = path
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in modules:
                found.add(node.module)
            if isinstance(node, ast.ImportFrom) and node.module:
                found |= {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
        graph[name] = found - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: every module that reaches itself, with the way back (a DFS)."""
    found, state = [], {}

    def visit(module, path):
        state[module] = "open"
        for nxt in sorted(graph[module]):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_through_others():
    """Issue #34: rooms whose modules need each other one way only — the case and its layers'
    fields, the plugins' declarations and their workers were circles held open by lazy
    imports."""
    assert circles(project_imports()) == []
