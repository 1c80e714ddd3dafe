"""The hand-derived reference: NumPy only, no autodiff, no framework imports.

case  = load_case("article")            # a built-in name or a .toml path
r     = train(case)                     # loss trajectory, gradients, updated/final params
"""

if __name__ != "backprop_crosscheck.reference":  # one import name, inside the checkout and out
    raise ImportError(
        f"import backprop_crosscheck.reference, not {__name__}: reference/ is a subpackage of "
        "backprop_crosscheck (a second import name would load its classes twice)"
    )


from backprop_crosscheck.reference.cases.case import Case, CaseError
from backprop_crosscheck.reference.cases.file import builtin_case_names, load_case, parse_case
from backprop_crosscheck.reference.mixed import train  # a mixed-precision case's loop too
from backprop_crosscheck.reference.network import backward, forward
from backprop_crosscheck.reference.result import Result
from backprop_crosscheck.reference.rules.optimizers import Optimizer

__all__ = [
    "Case",
    "CaseError",
    "Optimizer",
    "Result",
    "backward",
    "builtin_case_names",
    "forward",
    "load_case",
    "parse_case",
    "train",
]
