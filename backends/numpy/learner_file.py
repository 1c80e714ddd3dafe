"""`crosscheck check FILE`: the file is read, never run, before anything else — it must define
``backprop(case, params, X, Y)`` (backends/numpy/learner.py runs it, in a worker), or a
recurrent layer in CS231n's signatures: ``rnn_forward``/``rnn_backward``,
``lstm_forward``/``lstm_backward`` (backends/numpy/learner_cells.py).

Read as Python reads it (``tokenize.open``: a UTF-8 byte-order mark, a coding declaration),
the function found wherever Python would define it at import: at the top, or under an
``if``/``try``/``with`` there.
"""

import ast
import tokenize

from backprop_crosscheck.backends.numpy.learner import FUNCTION
from backprop_crosscheck.backends.numpy.learner_cells import SIGNATURES
from backprop_crosscheck.reference.cases.file import quoted

ARGUMENTS = ("case", "params", "X", "Y")


class LearnerError(ValueError):
    """The file does not define the function as documented: one line, exit status 2."""


def check_file(path: str) -> list[str]:
    """Read (never run) the file: it must define ``backprop(case, params, X, Y)``, or a
    recurrent layer's forward and backward in CS231n's signatures. Returns those layers' kinds
    ([] for ``backprop``)."""
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
    defined = {n.name: n for n in top_level(tree.body) if isinstance(n, functions)}
    if FUNCTION in defined:
        problem = signature_problem(defined[FUNCTION].args, ARGUMENTS)
        if problem:
            raise LearnerError(f"{where}: {FUNCTION}{problem} must take (case, params, X, Y)")
        return []
    kinds = [k for k, pair in SIGNATURES.items() if any(name in defined for name, _ in pair)]
    if not kinds:
        raise LearnerError(
            f"{where}: defines no function {FUNCTION}(case, params, X, Y) (nor CS231n's "
            "rnn_forward/rnn_backward or lstm_forward/lstm_backward)"
        )
    for kind in kinds:
        for name, arguments in SIGNATURES[kind]:
            if name not in defined:
                other = " and ".join(n for n, _ in SIGNATURES[kind])
                raise LearnerError(
                    f"{where}: defines no function {name}: CS231n's {kind} is {other}"
                )
            problem = signature_problem(defined[name].args, arguments)
            if problem:
                raise LearnerError(f"{where}: {name}{problem} must take ({', '.join(arguments)})")
    return kinds


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


def signature_problem(args: ast.arguments, wanted=ARGUMENTS) -> str | None:
    """Why ``wanted``'s positional arguments cannot be passed (or None when they can)."""
    positional = [a.arg for a in args.posonlyargs + args.args]
    shown = f"({', '.join(positional + [f'*, {a.arg}' for a in args.kwonlyargs])})"
    required = len(positional) - len(args.defaults)
    if required > len(wanted) or (args.vararg is None and len(positional) < len(wanted)):
        return shown
    if any(default is None for default in args.kw_defaults):  # a keyword-only without default
        return shown
    return None
