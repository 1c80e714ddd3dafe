"""Run backends on a case and compare each with the reference; a crash is one backend's error."""

from dataclasses import dataclass

from backends.interface import Backend, BackendUnavailable
from comparisons.compare import Agreement, Malformed, agreement, agreement_of
from comparisons.tolerance import Tolerance, tolerance_for
from reference import Case, Result, train
from reference.hvp import direction, hvp


@dataclass
class Comparison:
    backend: str
    version: str | None
    status: str  # pass | fail | skip | error
    message: str
    tolerance: Tolerance
    result: Result | None = None
    agreement: Agreement | None = None
    hvp: dict | None = None  # H·v per parameter, for the second-order check


@dataclass
class HvpCheck:
    """The second-order section of a run: H·v along a seeded direction."""

    seed: int
    tolerance: Tolerance  # the dtype's second-order default (after --rtol/--atol)
    reference: dict
    comparisons: list[Comparison]


@dataclass
class Run:
    case: Case
    dtype: str
    device: str
    tolerance: Tolerance  # the default for this dtype (after --rtol/--atol)
    reference: Result
    comparisons: list[Comparison]
    hvp: HvpCheck | None = None

    @property
    def passed(self) -> bool:
        checks = self.comparisons + (self.hvp.comparisons if self.hvp else [])
        return all(c.status in ("pass", "skip", "unsupported") for c in checks)


def compare_backend(
    backend: Backend,
    case: Case,
    reference: Result,
    dtype: str,
    device: str = "cpu",
    rtol: float | None = None,
    atol: float | None = None,
    require: bool = False,
) -> Comparison:
    tol = tolerance_for(dtype, backend, rtol, atol)

    def outcome(status, message, result=None, agree=None):
        if status == "skip" and require:
            status, message = "error", f"required but skipped: {message}"
        return Comparison(backend.name, backend.version(), status, message, tol, result, agree)

    reason = backend.skip_reason(dtype, device)
    if reason:
        return outcome("skip", reason)
    try:
        result = backend.run(case, dtype, device)
    except BackendUnavailable as e:
        return outcome("skip", str(e))
    except Exception as e:  # noqa: BLE001 - a crashing backend is reported, the others still run
        return outcome("error", f"raised {type(e).__name__}: {_one_line(e)}")
    try:
        agree = agreement(case, reference, result, tol)
    except Malformed as e:
        return outcome("error", f"returned a malformed result: {e}", result)
    except (TypeError, ValueError) as e:
        return outcome("error", f"returned a malformed result: {_one_line(e)}", result)
    if agree.passed:
        return outcome("pass", "", result, agree)
    return outcome("fail", agree.summary(), result, agree)


def compare_hvp(backend, case, v, reference, dtype, device, rtol, atol, require) -> Comparison:
    tol = tolerance_for(dtype, backend, rtol, atol, order=2)

    def outcome(status, message, hv=None, agree=None):
        if status == "skip" and require:
            status, message = "error", f"required but skipped: {message}"
        return Comparison(backend.name, backend.version(), status, message, tol, None, agree, hv)

    if not backend.capabilities.hvp:
        return outcome("unsupported", f"{backend.name} does not compute Hessian-vector products")
    reason = backend.skip_reason(dtype, device)
    if reason:
        return outcome("skip", reason)
    try:
        hv = backend.hvp(case, v, dtype, device)
    except BackendUnavailable as e:
        return outcome("skip", str(e))
    except Exception as e:  # noqa: BLE001 - reported in its row, the others still run
        return outcome("error", f"H·v raised {type(e).__name__}: {_one_line(e)}")
    try:
        agree = agreement_of(case, [("hvp", reference, hv)], tol)
    except (Malformed, TypeError, ValueError) as e:
        return outcome("error", f"returned a malformed H·v: {_one_line(e)}", hv)
    return outcome(
        "pass" if agree.passed else "fail", "" if agree.passed else agree.summary(), hv, agree
    )


def run_case(
    case: Case,
    backends: list[Backend],
    dtype: str = "float64",
    device: str = "cpu",
    rtol: float | None = None,
    atol: float | None = None,
    require: bool = False,
    hvp_seed: int | None = None,
    workers=None,
) -> Run:
    """Every backend against the hand-derived reference; ``workers`` (a comparisons.workers
    .Workers) runs each framework in a process of its own, side by side — else one after another
    in this process."""
    reference = train(case)  # always float64
    second_order = None
    if hvp_seed is not None:
        v = direction(case, hvp_seed)
        second_order = (v, hvp(case, v))  # hand-derived, float64
    args = (case, reference, dtype, device, rtol, atol, require, second_order)
    checks = check_backends(backends, args, workers)
    comparisons = [first for first, _ in checks]
    run = Run(case, dtype, device, tolerance_for(dtype, None, rtol, atol), reference, comparisons)
    if second_order is not None:
        tol = tolerance_for(dtype, None, rtol, atol, order=2)
        run.hvp = HvpCheck(hvp_seed, tol, second_order[1], [second for _, second in checks])
    return run


def check_backends(backends, args: tuple, workers=None) -> list:
    """``check_backend(b, *args)`` for every backend, in the backends' order: in worker
    processes with ``workers`` (a comparisons.workers.Workers), else here, one after another."""
    if workers is not None:
        return workers.check(backends, *args)
    return [check_backend(b, *args) for b in backends]


def check_backend(backend, case, reference, dtype, device, rtol, atol, require, second_order):
    """One backend's checks: (its Comparison, its H·v Comparison or None without --hvp)."""
    first = compare_backend(backend, case, reference, dtype, device, rtol, atol, require)
    if second_order is None:
        return first, None
    v, ref_hv = second_order
    return first, compare_hvp(backend, case, v, ref_hv, dtype, device, rtol, atol, require)


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else repr(e)
