"""The one judging path: tolerance → skip → run → compare, for every check of every backend.

``Check`` is what a run asks of every backend (the case, its reference, dtype, device,
tolerance overrides, the H·v direction); ``judge`` answers it for one backend and one order
(1: loss, gradients, updated and final parameters; 2: H·v) as a ``Comparison``. The report,
the sweep, the worker processes and the conformance tests all judge through here.
"""

from dataclasses import dataclass

from backprop_crosscheck.backends.interface import Backend, BackendUnavailable
from backprop_crosscheck.comparisons.isolate.guard import TimedOut, captured_output, time_limit
from backprop_crosscheck.comparisons.judge.compare import Agreement, agreement_of, result_pairs
from backprop_crosscheck.comparisons.judge.diagnosis import diagnose
from backprop_crosscheck.comparisons.judge.tolerance import Tolerance, tolerance_for
from backprop_crosscheck.reference import Case, Result


@dataclass(frozen=True, eq=False)
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

    def tolerance(self, backend: Backend | None = None, order: int = 1) -> Tolerance:
        return tolerance_for(self.dtype, backend, self.rtol, self.atol, order)


@dataclass
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
    diagnosis: object = None  # a failing run's comparisons.diagnosis.Diagnosis: why, not where


def judge(backend: Backend, check: Check, order: int = 1, died: str | None = None) -> Comparison:
    """One backend's answer to one check. ``died``: it could not answer (its worker process
    died): an error, after the same unsupported/skip decisions as a run."""
    caps = backend.capabilities
    tol = check.tolerance(backend, order)
    floors = caps.tolerance if order == 1 else caps.hvp_tolerance
    method = caps.mode if order == 1 else caps.hvp or "-"
    what = "result" if order == 1 else "H·v"

    captured = None

    def outcome(status, message, got=None, agree=None):
        if status == "skip" and check.require:
            status, message = "error", f"required but skipped: {message}"
        reason = caps.tolerance_reason if check.dtype in floors else ""
        first, second = (got, None) if order == 1 else (None, got)
        return Comparison(
            backend.name, backend.version(), status, message, tol, first, agree, second,
            method, reason, captured.text if captured is not None else "",
        )  # fmt: skip

    if order == 2 and not caps.hvp:
        return outcome("unsupported", f"{backend.name} does not compute Hessian-vector products")
    reason = backend.skip_reason(check.dtype, check.device)
    if reason:
        return outcome("skip", reason)
    missing = backend.unsupported(check.case)
    if missing:
        return outcome("unsupported", missing)
    if died:
        return outcome("error", died)
    try:
        with captured_output() as captured, time_limit(check.timeout):
            got = answer(backend, check, order)
    except BackendUnavailable as e:
        return outcome("skip", str(e))
    except TimedOut:
        timed = "timed out" if order == 1 else "H·v timed out"
        return outcome("error", f"{timed} after {check.timeout:g} s (--timeout)")
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - SystemExit too: one backend's error, never ours
        raised = "raised" if order == 1 else "H·v raised"
        return outcome("error", f"{raised} {type(e).__name__}: {one_line(e)}")
    try:
        agree = agreement_of(check.case, pairs(check, got, order, caps), tol)
    except Exception as e:  # noqa: BLE001 - None, a wrong shape, a missing tensor, …
        return outcome("error", f"returned a malformed {what}: {one_line(e)}", got)
    if agree.passed:
        return outcome("pass", "", got, agree)
    failed = outcome("fail", agree.summary(), got, agree)
    if order == 1:
        try:
            failed.diagnosis = diagnose(check.case, check.reference, got, check.dtype, tol)
        except Exception:  # noqa: BLE001 - odd intermediates, say: the verdict stands without
            failed.diagnosis = None
    return failed


def answer(backend: Backend, check: Check, order: int):
    if order == 1:
        return backend.run(check.case, check.dtype, check.device)
    return backend.hvp(check.case, check.hvp_direction, check.dtype, check.device)


def pairs(check: Check, got, order: int, caps) -> list:
    """(quantity, reference tensors, backend tensors) for every quantity of the order."""
    if order == 1:
        found = result_pairs(check.reference, got)
        if not caps.input_gradient and "X" not in got.gradients:
            found = [(q, {n: t for n, t in want.items() if n != "X"} if q == "gradients" else want,
                      have) for q, want, have in found]  # fmt: skip
        return found
    return [("hvp", check.hvp_reference, got)]


def check_backend(backend: Backend, check: Check, died: str | None = None):
    """One backend's checks: (its Comparison, its H·v Comparison or None without H·v)."""
    first = judge(backend, check, 1, died)
    second = None if check.hvp_direction is None else judge(backend, check, 2, died)
    return first, second


def one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else repr(e)
