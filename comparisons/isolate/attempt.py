"""One backend asked one check, under the fences: the only place a backend's ``run`` and
``hvp`` are called for a report, a sweep or ``check``.

``attempt`` decides whether the backend can try (its skip reason, what the case asks that it
lacks), then calls it inside a time limit with its output captured, and returns an ``Attempt``:
what came back, or why nothing did. It judges nothing — that is comparisons.judge's, in the
parent process. Inside a worker process this is what runs; with ``--in-process`` it runs here.
"""

import os
import sysconfig
import traceback
from dataclasses import dataclass

from backprop_crosscheck.backends.interface import Backend, BackendUnavailable, Unsupported
from backprop_crosscheck.comparisons.isolate.declared import running
from backprop_crosscheck.comparisons.isolate.guard import TimedOut, captured_output, time_limit
from backprop_crosscheck.comparisons.isolate.wire import plain
from backprop_crosscheck.reference.precision import LOW

import backprop_crosscheck
from backprop_crosscheck import backends, comparisons, reference

ORDERS = {1: "result", 2: "H·v"}


@dataclass
class Attempt:
    """A backend's try at one order of a check (1: the Result of ``run``; 2: ``hvp``'s dict):
    plain data only — ``value`` is what it returned in comparisons.isolate.wire's plain form
    (arrays and descriptions, never the backend's own objects), judged in the parent."""

    status: str  # answered | skip | unsupported | error
    message: str = ""  # why it was skipped, unsupported or failed
    value: object = None  # what it returned (wire.plain), when answered
    output: str = ""  # what it printed meanwhile (captured, cut short)
    trace: str = ""  # where it raised: the last frames of its traceback

    def to_plain(self) -> dict:
        return {
            "status": self.status,
            "message": self.message,
            "value": self.value,
            "output": self.output,
            "trace": self.trace,
        }

    @classmethod
    def from_plain(cls, data) -> "Attempt":
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            return cls("error", "its worker answered something that is not an attempt")
        fields = (
            str(data.get("message", "")),
            data.get("value"),
            str(data.get("output", "")),
            str(data.get("trace", "")),
        )
        return cls(data["status"], *fields)


def attempt(backend: Backend, check, order: int = 1, died: str | None = None) -> Attempt:
    """``died``: it could not answer (its worker process died): an error, after the same
    skip and unsupported decisions as a run."""
    if order == 2 and not backend.capabilities.hvp:
        return Attempt("unsupported", f"{backend.name} does not compute Hessian-vector products")
    if order == 2 and check.dtype in LOW:
        return Attempt("unsupported", f"H·v is checked in float64 and float32, not {check.dtype}")
    if order == 2 and check.case.mixed is not None:
        return Attempt("unsupported", "H·v is checked on the plain network, not a mixed run")
    try:
        reason = backend.skip_reason(check.dtype, check.device)
        missing = None if reason else backend.unsupported(check.case)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - a plugin's declaration that raises: its error
        return Attempt(
            "error",
            f"could not say whether it runs this case: {type(e).__name__}: "
            f"{one_line(e)}{their_line(e)}",
        )
    if reason:
        return Attempt("skip", reason)
    missing = missing or (check.beyond and f"beyond {check.dtype}: {check.beyond}")
    if missing:
        return Attempt("unsupported", missing)
    if died:
        return Attempt("error", died)
    captured = None
    try:
        with captured_output() as captured, time_limit(check.timeout):
            value = call(backend, check, order)
    except BackendUnavailable as e:
        return Attempt("skip", str(e), output=captured.text)
    except Unsupported as e:  # a case beyond it, found as it ran: n/a, as a declared one is
        return Attempt("unsupported", str(e), output=captured.text)
    except TimedOut:
        timed = "timed out" if order == 1 else "H·v timed out"
        return Attempt(
            "error", f"{timed} after {check.timeout:g} s (--timeout)", None, captured.text
        )
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - SystemExit too: one backend's error, never ours
        raised = "raised" if order == 1 else "H·v raised"
        text = captured.text if captured is not None else ""
        return Attempt(
            "error",
            f"{raised} {type(e).__name__}: {one_line(e)}{their_line(e)}",
            None,
            text,
            last_frames(e),
        )
    try:
        return Attempt("answered", "", plain(value), captured.text)
    except Exception as e:  # noqa: BLE001 - a value whose own methods raise
        return Attempt("error", f"returned something unreadable: {type(e).__name__}: {e}")


def call(backend: Backend, check, order: int):
    if order == 1:
        return backend.run(check.case, check.dtype, check.device)
    return backend.hvp(check.case, check.hvp_direction, check.dtype, check.device)


def attempts(backend: Backend, check, died: str | None = None) -> tuple:
    """Both orders a check asks for: (the run's Attempt, the H·v's or None without H·v)."""
    first = attempt(backend, check, 1, died)
    second = None if check.hvp_direction is None else attempt(backend, check, 2, died)
    return first, second


def plain_attempts(backend: Backend, check) -> list:
    """``attempts`` as plain data: what a worker sends back (comparisons.isolate.wire). In the
    worker, a plugin's declaration becomes the plugin itself (declared.running)."""
    return [None if a is None else a.to_plain() for a in attempts(running(backend), check)]


def from_plain_attempts(data) -> tuple:
    if not isinstance(data, list) or len(data) != 2:
        lost = Attempt("error", "its worker answered something that is not two attempts")
        return lost, lost
    return tuple(None if a is None else Attempt.from_plain(a) for a in data)


def last_frames(e: BaseException, frames: int = 4) -> str:
    """The end of the exception's traceback: where in the backend's code it raised."""
    stack = traceback.extract_tb(e.__traceback__)[-frames:]
    return "".join(traceback.format_list(stack)) + f"{type(e).__name__}: {e}"


# the harness's own folders (reference/, backends/, comparisons/, the package), and Python's
HARNESS = tuple(
    os.path.dirname(os.path.abspath(m.__file__)) + os.sep
    for m in (backprop_crosscheck, reference, backends, comparisons)
)
INSTALLED = tuple({sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")})


def their_line(e: BaseException) -> str:
    """Where in the user's own file it raised — a learner's function, a plugin's adapter: the
    last frame that is neither the harness's nor an installed package's — as
    ' (at mine.py:3: return 1 / 0)'; '' when there is none."""
    for frame in reversed(traceback.extract_tb(e.__traceback__)):
        path = os.path.abspath(frame.filename)
        if not path.startswith((*HARNESS, *INSTALLED)) and os.path.isfile(path):
            return f" (at {os.path.basename(path)}:{frame.lineno}: {(frame.line or '').strip()})"
    return ""


def one_line(e: BaseException) -> str:
    """The exception's text on one line (a multi-line message joined, not cut: the useful part
    of "incompatible function arguments…" is in its later lines)."""
    text = " ⏎ ".join(line.strip() for line in str(e).strip().splitlines() if line.strip())
    return text or repr(e)
