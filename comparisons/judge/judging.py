"""The one judging path: a backend's answer → tolerance → compare → diagnosis → Comparison.

``Check`` is what a run asks of every backend (the case, its reference, dtype, device,
tolerance overrides, the H·v direction). comparisons.isolate.attempt asks it — in the
backend's worker process, under its fences — and returns an ``Attempt``; ``judge`` holds that
answer against the reference for one order (1: loss, gradients, updated and final parameters;
2: H·v) and returns a ``Comparison``. Judging runs in the parent process, never in a worker:
the report, the sweep and ``check`` all judge through here.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np
from backprop_crosscheck.backends.interface import Backend
from backprop_crosscheck.backends.registry import runs_in_process
from backprop_crosscheck.comparisons.isolate.attempt import ORDERS, Attempt, one_line
from backprop_crosscheck.comparisons.isolate.wire import NotNumbers, result_of, tensors_from_plain
from backprop_crosscheck.comparisons.judge.compare import (
    Agreement,
    agreement_from,
    hold,
    result_pairs,
)
from backprop_crosscheck.comparisons.judge.diagnosis import diagnose
from backprop_crosscheck.comparisons.judge.mixed import (
    held_reference,
    input_gradient_held,
    mixed_allowance,
)
from backprop_crosscheck.comparisons.judge.tolerance import Tolerance, tolerance_for
from backprop_crosscheck.reference import Case, Result
from backprop_crosscheck.reference.rounding import differences_floor, rounding_floor


@dataclass(frozen=True, eq=False, kw_only=True)
class Check:
    case: Case
    reference: Result  # the hand-derived reference, float64
    dtype: str = "float64"
    device: str = "cpu"
    rtol: float | None = None  # explicit overrides of the tolerance (None: the policy's)
    atol: float | None = None
    require: bool = False  # a skip is an error
    hvp_direction: dict | None = None  # v for the second-order check, None: no H·v check
    hvp_reference: dict | None = None  # the hand-derived H·v along it
    timeout: float | None = None  # seconds one backend may take for one order; None: no limit
    hvp_seed: int | None = None  # the seed of hvp_direction (reference.hvp.direction)
    # why no engine in this (low) precision can be held to the reference on the case
    # (reference.precision.precision_problem): every backend's row is n/a with it
    beyond: str | None = None

    def tolerance(self, backend: Backend | None = None, order: int = 1) -> Tolerance:
        return tolerance_for(self.dtype, backend, self.rtol, self.atol, order, self.case)

    def for_backends(self) -> "Check":
        """The check as a backend's worker is sent it: the case and how to run it, without the
        reference's numbers — a plugin in its worker has no answer to copy, and less to unpickle."""
        return dataclasses.replace(self, reference=None, hvp_reference=None)


@dataclass(kw_only=True)
class Comparison:
    backend: str
    version: str | None
    status: str  # pass | fail | skip | error | unsupported
    message: str
    tolerance: Tolerance
    result: Result | None = None  # order 1: what the backend returned
    agreement: Agreement | None = None
    hvp: dict | None = None  # order 2: H·v per parameter
    method: str = ""  # how it computes: "reverse", "double backward", …
    tolerance_reason: str = ""  # why its tolerance is looser than the default, if it is
    output: str = ""  # what it printed to stdout/stderr while it ran (captured, cut short)
    trace: str = ""  # where it raised, when it did: the last frames of its traceback
    diagnosis: object = None  # a failing run's comparisons.diagnosis.Diagnosis: why, not where


def judge(backend: Backend, check: Check, order: int, tried: Attempt) -> Comparison:
    """One backend's answer (``tried``, from comparisons.isolate.attempt) to one order of a
    check, held against the reference: numbers in, a Comparison out."""
    caps = backend.capabilities
    tol = check.tolerance(backend, order)
    floors = caps.tolerance if order == 1 else caps.hvp_tolerance
    reason = caps.tolerance_reason if check.dtype in floors else ""
    got = None
    # a learner's answer is its function's: the error names it ("backprop returned …")
    malformed = f"{backend.answering_function} returned".lstrip() + f" a malformed {ORDERS[order]}"
    if tried.status == "answered":
        try:
            got = result_of(tried.value) if order == 1 else tensors_from_plain(tried.value)
        except NotNumbers as e:
            tried = Attempt("error", f"{malformed}: {e}", None, tried.output)

    def outcome(status, message, agree=None):
        if status == "skip" and check.require:
            status, message = "error", f"required but skipped: {message}"
        first, second = (got, None) if order == 1 else (None, got)
        method = caps.mode if order == 1 else caps.hvp or "-"
        return Comparison(
            backend=backend.name,
            version=backend.version(),
            status=status,
            message=message,
            tolerance=tol,
            result=first,
            agreement=agree,
            hvp=second,
            method=method,
            tolerance_reason=reason,
            output=tried.output,
            trace=tried.trace,
        )

    if tried.status != "answered":
        return outcome(tried.status, tried.message)
    try:
        check, agree = agreed(backend, check, got, order, tol)
    except Exception as e:  # noqa: BLE001 - None, a wrong shape, a missing tensor, …
        return outcome("error", f"{malformed}: {one_line(e)}")
    if agree.passed:
        return outcome("pass", "", agree)
    failed = outcome("fail", agree.summary(), agree)
    if order == 1:
        try:
            failed.diagnosis = diagnose(check.case, check.reference, got, check.dtype, tol)
        except Exception:  # noqa: BLE001 - odd intermediates, say: the verdict stands without
            failed.diagnosis = None
    return failed


def agreed(backend: Backend, check: Check, got, order: int, tol: Tolerance):
    """(the check as judged, the answer's Agreement with its reference): numpy.isclose's rule,
    then the rounding floors where it fails without them; a mixed-precision run's allowance
    and, with dynamic loss scaling, the reference that follows its overflow decisions and its
    scale step by step (comparisons/judge/mixed.py)."""
    caps = backend.capabilities
    scaled = order == 1 and check.reference.scale is not None  # dynamic loss scaling
    if scaled:  # its scale against the reference's step by step, and the reference it follows
        reference, scaled = held_reference(check.case, check.reference, got.scale)
        check = dataclasses.replace(check, reference=reference)
    mixed = mixed_allowances(check) if order == 1 else ()
    held = got if not mixed else input_gradient_held(check.case, check.reference, got)
    found = pairs(check, held, order, caps)
    values = hold(check.case, found, tol, mixed)
    if not values.passed and order == 1:  # a case whose values are rounding's to decide?
        floors = rounding_floors(check, runs_in_process(backend, ("fd",))) + mixed
        values = hold(check.case, found, tol, floors)
    agree = agreement_from(check.case, values, [q for q, _, _ in found])
    if scaled is not False:
        held_to_scale(agree, scaled, len(check.reference.scale))
    return check, agree


def mixed_allowances(check: Check) -> tuple:
    """A mixed-precision case's: its compute precision's allowance on the loss and gradients,
    carried through the update (comparisons/judge/mixed.py); none for any other case."""
    if check.case.mixed is None:
        return ()
    return (mixed_allowance(check.case, check.reference),)


def held_to_scale(agree: Agreement, found: list, steps: int) -> None:
    """A dynamic loss-scaled run's scale mismatches (comparisons/judge/mixed.py), step by step,
    put in its agreement as "loss scale"."""
    # first in the summary: a step decided otherwise is why the values after it differ
    agree.counts = {("loss", "scale"): (len(found), steps), **agree.counts}
    agree.mismatches[:0] = found
    if found:
        agree.worst, agree.worst_quantity, agree.worst_ratio = found[0].label, "loss", np.inf


def rounding_floors(check: Check, differences: bool) -> tuple:
    """What rounding alone may move each value by on this case (reference/rounding.py), in the
    run's dtype (a mixed-precision case's: its compute precision); and for the built-in finite
    differences (``differences``), the quotient's own rounding. Asked only of a run that fails
    without them."""
    mixed = check.case.mixed
    floors = [rounding_floor(check.case, check.dtype if mixed is None else mixed.compute)]
    if differences:
        floors.append(differences_floor(check.case))
    return tuple(floors)


def pairs(check: Check, got, order: int, caps) -> list:
    """(quantity, reference tensors, backend tensors) for every quantity of the order."""
    if order == 1:
        found = result_pairs(check.reference, got)
        if not caps.input_gradient and "X" not in got.gradients:
            found = [
                (q, {n: t for n, t in want.items() if n != "X"} if q == "gradients" else want, have)
                for q, want, have in found
            ]
        return found
    return [("hvp", check.hvp_reference, got)]


def judge_backend(backend: Backend, check: Check, tried: tuple):
    """One backend's checks from its attempts: (its Comparison, its H·v Comparison or None)."""
    first = judge(backend, check, 1, tried[0])
    second = None if tried[1] is None else judge(backend, check, 2, tried[1])
    return first, second
