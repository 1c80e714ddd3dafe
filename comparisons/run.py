"""Run backends on a case and judge each against the reference; a crash is one backend's error.

Data flows one way: case → reference and backends (comparisons.judge) → Run → the renderers.
"""

import contextlib
from dataclasses import dataclass

import numpy as np
from backprop_crosscheck.backends.interface import Backend
from backprop_crosscheck.comparisons.isolate.attempt import attempts
from backprop_crosscheck.comparisons.isolate.guard import TimedOut, time_limit
from backprop_crosscheck.comparisons.judge.judging import Check, Comparison, judge_backend
from backprop_crosscheck.comparisons.judge.mixed import mixed_problem, without_gradients
from backprop_crosscheck.comparisons.judge.tolerance import Tolerance
from backprop_crosscheck.reference import Case, CaseError, Result, train
from backprop_crosscheck.reference.cases.file import quoted
from backprop_crosscheck.reference.hvp import direction, hvp
from backprop_crosscheck.reference.network import reference_problem
from backprop_crosscheck.reference.precision import in_precision, precision_problem


@dataclass(kw_only=True)
class HvpCheck:
    """The second-order section of a run: H·v along a seeded direction."""

    seed: int
    tolerance: Tolerance  # the dtype's second-order default (after --rtol/--atol)
    reference: dict
    comparisons: list[Comparison]


@dataclass(kw_only=True)
class Run:
    case: Case
    dtype: str
    device: str
    tolerance: Tolerance  # the default for this dtype (after --rtol/--atol)
    reference: Result
    comparisons: list[Comparison]
    hvp: HvpCheck | None = None
    require: bool = False  # --require: a skip, or a lone compared backend, is an error
    single: bool = False  # one backend by design (crosscheck check): no lone-backend warning

    @property
    def checks(self) -> list[Comparison]:
        return self.comparisons + (self.hvp.comparisons if self.hvp else [])

    @property
    def passed(self) -> bool:
        return all(c.status in ("pass", "skip", "unsupported") for c in self.checks)


def make_check(
    case: Case,
    dtype="float64",
    device="cpu",
    rtol=None,
    atol=None,
    require=False,
    hvp_seed: int | None = None,
    timeout: float | None = None,
) -> Check:
    """The reference (always float64) and, with ``hvp_seed``, the hand-derived H·v. Raises
    CaseError when the reference itself overflows: nothing is judged against inf. A bfloat16 or
    float16 check is of the case as such an engine is handed it: its numbers rounded to the
    dtype (reference/precision.py), for the reference and every backend alike."""
    case = in_precision(case, dtype)
    with fenced_reference(case, timeout):  # its run is held to the backends' --timeout
        reference = train(case)
    problem = reference_problem(reference if case.mixed is None else without_gradients(reference))
    if problem:
        raise CaseError(f"{quoted(case.source)}: the reference cannot compute this case: {problem}")
    v = None if hvp_seed is None else direction(case, hvp_seed)
    with np.errstate(all="ignore"), fenced_reference(case, timeout):
        ref_hv = None if v is None else hvp(case, v)
    return Check(
        case=case,
        reference=reference,
        dtype=dtype,
        device=device,
        rtol=rtol,
        atol=atol,
        require=require,
        hvp_direction=v,
        hvp_reference=ref_hv,
        timeout=timeout,
        hvp_seed=hvp_seed,
        beyond=(
            precision_problem(case, reference, dtype)
            if case.mixed is None
            else mixed_problem(case, reference, dtype)
        ),
    )


@contextlib.contextmanager
def fenced_reference(case: Case, timeout: float | None):
    """The reference's own run under the time limit a backend's runs under: a case too big to
    compute in it is the case's error (one line, exit 2), not a run that never ends."""
    try:
        with time_limit(timeout):
            yield
    except TimedOut:
        raise CaseError(
            f"{quoted(case.source)}: the reference did not finish within --timeout "
            f"{timeout:g} s: the case asks for too much work"
        ) from None


def run_case(
    case: Case,
    backends: list[Backend],
    dtype: str = "float64",
    *,
    workers=None,
    single: bool = False,
    **options,
) -> Run:
    """Every backend against the hand-derived reference; ``options`` are make_check's (device,
    rtol, atol, require, hvp_seed, timeout). ``workers`` (a comparisons.isolate.workers
    .Workers) runs each framework in a process of its own, side by side — else one after
    another in this process."""
    return run_check(make_check(case, dtype, **options), backends, workers, single)


def run_check(check: Check, backends: list[Backend], workers=None, single: bool = False) -> Run:
    """Every backend asked ``check`` (made by make_check: its reference computed) and judged."""
    (answers,) = check_backends(backends, [check], workers)
    first = [a for a, _ in answers]
    run = Run(
        case=check.case,
        dtype=check.dtype,
        device=check.device,
        tolerance=check.tolerance(),
        reference=check.reference,
        comparisons=first,
        require=check.require,
        single=single,
    )
    if check.hvp_seed is not None:
        second = [b for _, b in answers]
        run.hvp = HvpCheck(
            seed=check.hvp_seed,
            tolerance=check.tolerance(order=2),
            reference=check.hvp_reference,
            comparisons=second,
        )
    return run


def check_backends(backends: list[Backend], checks: list[Check], workers=None):
    """Every backend's (Comparison, H·v Comparison or None) at every check: a row per check, in
    the checks' order and the backends', each judged here as soon as it is settled — asked in
    each backend's worker process with ``workers`` (comparisons.isolate.workers.Workers,
    Workers.attempt_stream), else here, one after another."""
    if workers is not None:
        answers = workers.attempt_stream(backends, checks)
    else:
        answers = ([attempts(b, check) for b in backends] for check in checks)
    for check, row in zip(checks, answers, strict=True):
        yield [judge_backend(b, check, tried) for b, tried in zip(backends, row, strict=True)]


def verdict(runs: list[Run], named=()) -> tuple[bool, list[str]]:
    """(whether the whole report passes, warnings to show loudly). Nothing compared is never a
    pass; a single compared backend is a warning, and a failure under --require; a backend
    asked for by name (``named``) that checked nothing is a warning with its reason."""
    compared = sorted({c.backend for r in runs for c in r.checks if c.status in ("pass", "fail")})
    warnings = []
    if not compared:
        warnings.append("nothing was compared: every backend was skipped or errored")
    elif len(compared) == 1 and not all(r.single for r in runs):
        warnings.append(
            f"only one backend ({compared[0]}) was compared with the reference: "
            "a cross-check needs another engine"
        )
    idle = [
        b
        for b in named
        if b not in compared
        and not any(c.backend == b and c.status == "error" for r in runs for c in r.checks)
    ]
    for name in idle:
        why = next(c.message for r in runs for c in r.checks if c.backend == name)
        warnings.append(f"{name} was asked for and checked nothing: {why}")
    lone = len(compared) == 1 and any(r.require for r in runs)
    return bool(compared) and not lone and all(r.passed for r in runs), warnings
