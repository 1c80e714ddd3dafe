"""Which listed mistakes a precision's tolerance still catches
(docs/tolerances.md#sensitivity-which-mistakes-each-precision-still-catches).

A tolerance loose enough for bfloat16's rounding might pass a wrong derivative too. This holds
each mistake of reference/mistakes.py — computed exactly, in float64, on the case as an engine
in the precision is handed it — against the reference with that precision's tolerance and its
rounding floor, as a failing engine's run is judged: caught when it fails. A mistake computed in
the low precision itself lands within that precision's rounding of these exact values, far
inside the margin by which a caught mistake fails (the table's worst ratio says by how much).
"""

from dataclasses import dataclass, field

from backprop_crosscheck.comparisons.judge.compare import agreement_of, result_pairs
from backprop_crosscheck.comparisons.judge.tolerance import tolerance_for
from backprop_crosscheck.reference import train
from backprop_crosscheck.reference.mistakes import mistakes_for, train_with
from backprop_crosscheck.reference.precision import in_precision, precision_problem
from backprop_crosscheck.reference.rounding import rounding_floor


@dataclass
class Tally:
    """One mistake in one precision over the cases it can be made on."""

    caught: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    beyond: list[str] = field(default_factory=list)  # cases beyond the precision: not judged
    least: float | None = None  # the smallest excess of a caught one: error / allowed


def judged(case, mistake: str, dtype: str) -> tuple[str, float | None]:
    """("caught" | "missed" | "beyond", the worst error over what was allowed)."""
    case = in_precision(case, dtype)
    reference = train(case)
    if precision_problem(case, reference, dtype):
        return "beyond", None
    pairs = result_pairs(reference, train_with(case, mistake))
    tol = tolerance_for(dtype, case=case)
    agree = agreement_of(case, pairs, tol)
    if not agree.passed:
        agree = agreement_of(case, pairs, tol, (rounding_floor(case, dtype),))
    return ("missed" if agree.passed else "caught"), agree.worst_ratio


def sensitivity(cases, dtypes) -> dict[tuple[str, str], Tally]:
    """{(mistake, dtype): Tally} over ``cases`` (each mistake where it can be made)."""
    tallies = {}
    for case in cases:
        for mistake in mistakes_for(case):
            for dtype in dtypes:
                verdict, ratio = judged(case, mistake, dtype)
                tally = tallies.setdefault((mistake, dtype), Tally())
                getattr(tally, verdict).append(case.name)
                if verdict == "caught" and ratio is not None:
                    tally.least = ratio if tally.least is None else min(tally.least, ratio)
    return tallies
