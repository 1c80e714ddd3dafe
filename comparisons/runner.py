"""Run backends on a case and judge each against the reference; a crash is one backend's error.

Data flows one way: case → reference and backends (comparisons.judge) → Run → the renderers.
"""

from dataclasses import dataclass

from backends.interface import Backend
from comparisons.judge import Check, Comparison, check_backend
from comparisons.tolerance import Tolerance
from reference import Case, Result, train
from reference.hvp import direction, hvp


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
    def checks(self) -> list[Comparison]:
        return self.comparisons + (self.hvp.comparisons if self.hvp else [])

    @property
    def passed(self) -> bool:
        return all(c.status in ("pass", "skip", "unsupported") for c in self.checks)


def make_check(case: Case, dtype="float64", device="cpu", rtol=None, atol=None, require=False,
               hvp_seed: int | None = None) -> Check:  # fmt: skip
    """The reference (always float64) and, with ``hvp_seed``, the hand-derived H·v."""
    v = None if hvp_seed is None else direction(case, hvp_seed)
    ref_hv = None if v is None else hvp(case, v)
    return Check(case, train(case), dtype, device, rtol, atol, require, v, ref_hv)


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
    check = make_check(case, dtype, device, rtol, atol, require, hvp_seed)
    answers = check_backends(backends, check, workers)
    run = Run(case, dtype, device, check.tolerance(), check.reference, [a for a, _ in answers])
    if hvp_seed is not None:
        second = [b for _, b in answers]
        run.hvp = HvpCheck(hvp_seed, check.tolerance(order=2), check.hvp_reference, second)
    return run


def check_backends(backends, check: Check, workers=None) -> list:
    """``check_backend(b, check)`` for every backend, in the backends' order: in worker
    processes with ``workers`` (a comparisons.workers.Workers), else here, one after another."""
    if workers is not None:
        return workers.check(backends, check)
    return [check_backend(b, check) for b in backends]
