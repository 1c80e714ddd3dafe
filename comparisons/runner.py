"""Run backends on a case and compare each with the reference; a crash is one backend's error."""

from dataclasses import dataclass

from backends.interface import Backend, BackendUnavailable
from comparisons.compare import Agreement, Malformed, agreement
from comparisons.tolerance import Tolerance, tolerance_for
from reference import Case, Result, train


@dataclass
class Comparison:
    backend: str
    version: str | None
    status: str  # pass | fail | skip | error
    message: str
    tolerance: Tolerance
    result: Result | None = None
    agreement: Agreement | None = None


@dataclass
class Run:
    case: Case
    dtype: str
    device: str
    tolerance: Tolerance  # the default for this dtype (after --rtol/--atol)
    reference: Result
    comparisons: list[Comparison]

    @property
    def passed(self) -> bool:
        return all(c.status in ("pass", "skip") for c in self.comparisons)


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


def run_case(
    case: Case,
    backends: list[Backend],
    dtype: str = "float64",
    device: str = "cpu",
    rtol: float | None = None,
    atol: float | None = None,
    require: bool = False,
) -> Run:
    reference = train(case)  # always float64
    comparisons = [
        compare_backend(b, case, reference, dtype, device, rtol, atol, require) for b in backends
    ]
    return Run(case, dtype, device, tolerance_for(dtype, None, rtol, atol), reference, comparisons)


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else repr(e)
