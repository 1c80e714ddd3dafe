"""`crosscheck check FILE`: the file is read, never run, before anything else — it must define
``backprop(case, params, X, Y)`` (backends/learner.py runs it, in a worker)."""

import ast

from backprop_crosscheck.backends.learner import FUNCTION
from backprop_crosscheck.reference.case_file import quoted, read_text


class LearnerError(ValueError):
    """The file does not define the function as documented: one line, exit status 2."""


def check_file(path: str) -> None:
    """Read (never run) the file: it must define ``backprop(case, params, X, Y)``."""
    where = quoted(path)
    try:
        tree = ast.parse(read_text(path), filename=path)
    except SyntaxError as e:
        raise LearnerError(f"{where}: line {e.lineno}: {e.msg}") from None
    except RecursionError:
        raise LearnerError(f"{where}: nested too deeply to read") from None
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == FUNCTION]
    if not found:
        raise LearnerError(f"{where}: defines no function {FUNCTION}(case, params, X, Y)")
    args = found[-1].args
    positional = [a.arg for a in args.posonlyargs + args.args]
    if (
        args.vararg is None
        and len(positional) - len(args.defaults) > 4
        or (args.vararg is None and len(positional) < 4)
    ):
        raise LearnerError(
            f"{where}: {FUNCTION}({', '.join(positional)}) must take (case, params, X, Y)"
        )
