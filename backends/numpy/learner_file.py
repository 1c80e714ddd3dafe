"""`crosscheck check FILE`: the file is read, never run, before anything else — it must define
``backprop(case, params, X, Y)`` (backends/numpy/learner.py runs it, in a worker).

Read as Python reads it (``tokenize.open``: a UTF-8 byte-order mark, a coding declaration),
the function found wherever Python would define it at import: at the top, or under an
``if``/``try``/``with`` there.
"""

import ast
import tokenize

from backprop_crosscheck.backends.numpy.learner import FUNCTION
from backprop_crosscheck.reference.cases.file import quoted

ARGUMENTS = ("case", "params", "X", "Y")


class LearnerError(ValueError):
    """The file does not define the function as documented: one line, exit status 2."""


def check_file(path: str) -> None:
    """Read (never run) the file: it must define ``backprop(case, params, X, Y)``."""
    where = quoted(path)
    try:
        with tokenize.open(path) as f:
            tree = ast.parse(f.read(), filename=path)
    except SyntaxError as e:
        raise LearnerError(f"{where}: line {e.lineno}: {e.msg}") from None
    except (OSError, UnicodeDecodeError, LookupError) as e:
        raise LearnerError(f"{where}: cannot read it: {e}") from None
    except RecursionError:
        raise LearnerError(f"{where}: nested too deeply to read") from None
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    found = [n for n in top_level(tree.body) if isinstance(n, functions) and n.name == FUNCTION]
    if not found:
        raise LearnerError(f"{where}: defines no function {FUNCTION}(case, params, X, Y)")
    problem = signature_problem(found[-1].args)
    if problem:
        raise LearnerError(f"{where}: {FUNCTION}{problem} must take (case, params, X, Y)")


def top_level(body: list) -> list:
    """The statements run at import: the module's, and those under its if/try/with blocks."""
    found = []
    for node in body:
        found.append(node)
        if isinstance(node, ast.If | ast.Try | ast.With):
            for field in ("body", "orelse", "finalbody"):
                found += top_level(getattr(node, field, []))
            for handler in getattr(node, "handlers", []):
                found += top_level(handler.body)
    return found


def signature_problem(args: ast.arguments) -> str | None:
    """Why four positional arguments cannot be passed (or None when they can)."""
    positional = [a.arg for a in args.posonlyargs + args.args]
    shown = f"({', '.join(positional + [f'*, {a.arg}' for a in args.kwonlyargs])})"
    required = len(positional) - len(args.defaults)
    if required > len(ARGUMENTS) or (args.vararg is None and len(positional) < len(ARGUMENTS)):
        return shown
    if any(default is None for default in args.kw_defaults):  # a keyword-only without default
        return shown
    return None
