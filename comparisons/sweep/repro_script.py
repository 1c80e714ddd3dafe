"""A standalone script that reproduces a disagreement, for an upstream bug report: NumPy, the
standard library and the one framework, no harness import.

The script is made of the harness's own source, copied as it is, less its imports of itself
(``bundle``): the disagreeing engine's adapter (backends/<engine>/) with the framework base and
the interface it builds on, and the hand-derived reference (reference/) — so it computes what
the harness computed, for every built-in engine and every layer kind, and cannot drift from
either. Then the case, written out as its stack of layers (``case_source``), and a comparison
of what the harness compares: the loss at every step, the first step's gradients and updated
parameters, the final parameters, with the harness's tolerance (for Adam, without the
allowance the harness adds where a gradient is within its rounding of zero). Exit status 1 and
one line per disagreeing tensor when they disagree.

Written for the built-in backends; a plugin's source is not the harness's to copy, so it gets
the shrunk case file alone.
"""

import ast
import functools
import importlib
import inspect

import numpy as np
from backprop_crosscheck.backends.registry import BUILTIN
from backprop_crosscheck.reference.cases.case import Case

PROJECT = "backprop_crosscheck"
NUMPY_ONLY = (
    "numpy",
    "fd",
)  # the reference itself, and its differences: nothing to report upstream

HEAD = '''#!/usr/bin/env python3
"""{title}

Made by backprop-crosscheck from the case {case} (shrunk: {shape}). Needs numpy and {module}
only. Below: the harness's own source, copied as it is (less its imports of itself) — the {name}
adapter and what it builds on, and the hand-derived NumPy reference — then the case and the
comparison the harness makes, with its tolerance (for Adam, without the allowance it adds where
a gradient is within its rounding of zero). Exit status 1 when they disagree.
"""

import sys

import numpy as np

DTYPE = {dtype!r}
RTOL, ATOL = {rtol!r}, {atol!r}
FRAMEWORK = {name!r}
'''

MAIN = """

# ---- the comparison ------------------------------------------------------------------------
def main():
    case = in_precision(CASE, DTYPE)  # bfloat16, float16: its numbers as such an engine gets them
    want, got = train(case), BACKEND().run(case, DTYPE)
    bad = 0
    for quantity in ("loss", "gradients", "updated", "final"):
        tensors = {"loss": want.loss} if quantity == "loss" else getattr(want, quantity)
        theirs = {"loss": got.loss} if quantity == "loss" else getattr(got, quantity)
        for name, expected in tensors.items():
            actual = np.asarray(theirs[name], dtype=np.float64)
            off = ~np.isclose(actual, expected, rtol=RTOL, atol=ATOL)
            if off.any():
                i = np.unravel_index(np.argmax(np.abs(actual - expected) * off), off.shape)
                print(f"{quantity} {name}: {off.sum()}/{off.size} disagree; at {list(map(int, i))} "
                      f"{FRAMEWORK} {actual[i]:.10g} vs numpy {expected[i]:.10g} "
                      f"(off by {abs(actual[i] - expected[i]):.3g}, "
                      f"allowed {ATOL + RTOL * abs(expected[i]):.3g})")
                bad += 1
    verdict = "disagrees" if bad else "agrees"
    print(f"{FRAMEWORK} {DTYPE}: {verdict} with the NumPy reference")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
"""


@functools.cache
def _imported_modules(name: str) -> list[str]:
    """The project's modules that module ``name`` imports — at the top or inside a function —
    each name resolved to the module that defines it (``from backprop_crosscheck import
    FrameworkBackend`` is backends/framework.py)."""
    found = []
    for node in ast.walk(_parsed(name)[1]):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PROJECT):
            base = importlib.import_module(node.module)
            for alias in node.names:
                thing = getattr(base, alias.name)
                defined = getattr(thing, "__module__", None) if callable(thing) else None
                if inspect.ismodule(thing):
                    defined = thing.__name__
                elif defined is None and hasattr(base, "__path__"):  # a package's constant
                    defined = _source_of(node.module, alias.name)
                found.append(defined or node.module)
    return [m for m in dict.fromkeys(found) if m != name]


def _source_of(package: str, name: str) -> str:
    """The module a package's ``__init__`` imports ``name`` from (DTYPES from
    reference/precision.py), else the package itself."""
    for node in ast.walk(ast.parse(inspect.getsource(importlib.import_module(package)))):
        if isinstance(node, ast.ImportFrom) and any(a.name == name for a in node.names):
            return node.module
    return package


def bundle(*roots: str) -> list[str]:
    """``roots`` and every project module they need, each after what it needs (the project's
    imports have no circle: tests/repository/test_code_shape.py)."""
    order, seen = [], set()

    def visit(name):
        if name not in seen:
            seen.add(name)
            for needed in _imported_modules(name):
                visit(needed)
            order.append(name)

    for root in roots:
        visit(root)
    return order


@functools.cache
def module_source(name: str) -> str:
    """The module's source as it is, its imports of the project blanked (the script holds every
    module they name), under a line naming its file. Read once a process (a sweep writes many
    scripts)."""
    source, tree = _parsed(name)
    lines = source.splitlines()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PROJECT):
            indent = " " * node.col_offset
            gone = range(node.lineno - 1, node.end_lineno)
            lines[gone.start : gone.stop] = [f"{indent}pass"] + [""] * (len(gone) - 1)
    path = importlib.import_module(name).__file__.rsplit(f"{_folder(name)}/", 1)[-1]
    rule = f"# ---- {_folder(name)}/{path} "
    return rule + "-" * max(4, 96 - len(rule)) + "\n" + "\n".join(lines).strip() + "\n"


@functools.cache
def _parsed(name: str) -> tuple[str, ast.Module]:
    """A project module's source and its syntax tree, read and parsed once a process (what it
    imports and its text with those imports blanked are both read from them)."""
    source = inspect.getsource(importlib.import_module(name))
    return source, ast.parse(source)


def _folder(name: str) -> str:
    return name.removeprefix(f"{PROJECT}.").split(".")[0]


def array_source(a: np.ndarray) -> str:
    """An array as Python that makes it again, exactly (repr round-trips a float)."""
    return f"np.array({a.tolist()!r}, dtype={a.dtype.name!r})"


def layer_source(layer, indent: str = "    ") -> str:
    inner = indent + "    "
    parts = [f"{layer.kind!r}", f"{layer.label!r}", f"settings={layer.settings!r}"]
    initial = ", ".join(f"{k!r}: {array_source(v)}" for k, v in layer.initial.items())
    parts.append(f"initial={{{initial}}}")
    if layer.mask is not None:
        parts.append(f"mask={array_source(layer.mask)}")
    if layer.block:
        block = "".join(f"{inner}    {layer_source(b, inner + '    ')},\n" for b in layer.block)
        parts.append(f"block=(\n{block}{inner})")
    return "Layer(\n" + "".join(f"{inner}{p},\n" for p in parts) + f"{indent})"


def case_source(case: Case) -> str:
    """The case as Python: its numbers written out, its network as its stack of layers."""
    stack = "".join(f"        {layer_source(layer, '        ')},\n" for layer in case.stack)
    optimizer = {"name": case.optimizer.name, **case.optimizer.settings()}
    return (
        "\n\n# ---- the case "
        + "-" * 81
        + f"\nCASE = Case(\n    name={case.name!r},\n    loss={case.loss!r},\n"
        f"    learning_rate={case.learning_rate!r},\n    steps={case.steps!r},\n"
        f"    leaky_slope={case.leaky_slope!r},\n    inputs={array_source(case.inputs)},\n"
        f"    targets={array_source(case.targets)},\n    stack=(\n{stack}    ),\n"
        f"    frozen=frozenset({sorted(case.frozen)!r}),\n"
        f"    optimizer=Optimizer(**{optimizer!r}),\n)\n"
    )


def repro_script(case: Case, backend: str, dtype: str, rtol: float, atol: float) -> str | None:
    """The script's text; None where the backend is not a built-in framework's."""
    framework = framework_of(backend)
    if framework is None:
        return None
    module, cls = BUILTIN[backend].split(":")
    head = HEAD.format(
        title=f"{backend} vs the hand-derived NumPy reference, {dtype}: a reproducer.",
        case=case.name,
        shape=f"{case.architecture}, {case.inputs.shape[0]} samples, {case.steps} steps",
        module=framework,
        name=backend,
        dtype=dtype,
        rtol=rtol,
        atol=atol,
    )
    roots = (module, f"{PROJECT}.reference.network", f"{PROJECT}.reference.precision")
    sources = [module_source(m) for m in bundle(*roots)]
    return head + "\n\n" + "\n\n".join(sources) + case_source(case) + f"\nBACKEND = {cls}\n" + MAIN


def framework_of(backend: str) -> str | None:
    """The framework a built-in backend's script imports (torch, keras, …); None for another."""
    if backend not in BUILTIN or backend in NUMPY_ONLY:
        return None
    module, cls = BUILTIN[backend].split(":")
    return importlib.import_module(module).__dict__[cls].module
