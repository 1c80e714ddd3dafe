"""Shrink a failing case: the smallest case (reference/cases/smaller.py, greedily) on which the
same backend still fails the same quantity — the one an upstream bug report wants.

"The same quantity": the worst mismatch's quantity (loss, gradients, updated, final) and tensor
kind (W, b, X, loss) must still be among the mismatches. Each try runs the backend through the
one judging path (in its worker, when the sweep has workers), so a shrink is as isolated as a
sweep. Tries are capped (``MAX_TRIES``): a backend that compiles per shape pays per try.
"""

from dataclasses import dataclass, field

from backprop_crosscheck.comparisons.judge.compare import excess_of
from backprop_crosscheck.comparisons.judge.judging import Comparison
from backprop_crosscheck.comparisons.run import check_backends, make_check
from backprop_crosscheck.reference import Case
from backprop_crosscheck.reference.cases.case import CaseError
from backprop_crosscheck.reference.cases.smaller import smaller

MAX_TRIES = 60


@dataclass
class Shrunk:
    original: Case
    case: Case  # the smallest case found that still fails the same way
    comparison: Comparison  # the backend's failing comparison on it
    kind: tuple[str, str]  # (quantity, tensor kind) it fails
    steps: list[str] = field(default_factory=list)  # what each accepted simplification did
    tries: int = 0


def worst_kind(c: Comparison) -> tuple[str, str] | None:
    """(quantity, tensor kind) of a failing comparison's worst mismatch; None if it passed."""
    if c.status != "fail" or c.agreement is None or not c.agreement.mismatches:
        return None
    worst = max(c.agreement.mismatches, key=excess_of)
    return worst.quantity, _kind(worst.tensor)


def fails_the_same(c: Comparison, kind: tuple[str, str]) -> bool:
    if c.status != "fail" or c.agreement is None:
        return False
    return kind in {(m.quantity, _kind(m.tensor)) for m in c.agreement.mismatches}


def shrink(case, backend, dtype, options: dict, workers=None, max_tries=MAX_TRIES):
    """``options``: make_check's device, rtol, atol, timeout. None when it does not fail."""

    def judged(candidate: Case) -> Comparison:
        check = make_check(candidate, dtype, **options)
        (row,) = check_backends([backend], [check], workers)
        return row[0][0]

    first = judged(case)
    kind = worst_kind(first)
    if kind is None:
        return None
    out = Shrunk(case, case, first, kind)
    progress = True
    while progress and out.tries < max_tries:
        progress = False
        for what, candidate in smaller(out.case):
            if out.tries >= max_tries:
                break
            out.tries += 1
            candidate = candidate.replace(name=f"{case.name}-min")
            try:
                c = judged(candidate)
            except CaseError:  # the reference overflows on it: no smaller case there
                continue
            if fails_the_same(c, kind):
                out.case, out.comparison, progress = candidate, c, True
                out.steps.append(what)
                break
    how = "; ".join(out.steps) or "nothing smaller fails the same way"
    out.case = out.case.replace(
        name=f"{case.name}-min",
        description=f"{case.name} shrunk ({how}): {backend.name} {dtype} still fails "
        f"{kind[0]} of {kind[1]}",
    )
    return out


def _kind(tensor: str) -> str:
    """A tensor's kind, its place dropped (W3 and W3.1 are W, kernel1 is kernel): shrinking a
    stack renumbers its layers."""
    return tensor.rstrip("0123456789.")


def shrink_failures(plan, tallies: dict, per_backend: int, workers=None) -> list[dict]:
    """The first ``per_backend`` failing cases of each backend and dtype, shrunk and saved beside
    their originals in ``plan.save_to``: NAME.min.toml, and NAME.min.py where the backend is a
    built-in framework. Runs after the shards are merged, in seed order, so ``--jobs`` and
    ``--dask`` shrink exactly what a serial sweep shrinks. ``workers``: the sweep's own, its
    frameworks imported already (else a fresh set)."""
    from contextlib import nullcontext

    from backprop_crosscheck.comparisons.sweep.shards import sweep_case, workers_for

    if not per_backend or plan.save_to is None:
        return []
    options = {"device": plan.device, "rtol": plan.rtol, "atol": plan.atol, "timeout": plan.timeout}
    saved = []
    with nullcontext(workers) if workers is not None else workers_for(plan) as workers:
        for (name, dtype), tally in tallies.items():
            backend = next(b for b in plan.backends if b.name == name)
            for seed in tally.failed_seeds[:per_backend]:
                shrunk = shrink(sweep_case(seed), backend, dtype, options, workers)
                if shrunk is not None:  # None: it passed this time (a flaky engine)
                    saved.append(save_shrunk(plan.save_to, shrunk, name, dtype))
    return saved


def save_shrunk(folder, s: Shrunk, backend: str, dtype: str) -> dict:
    from backprop_crosscheck.comparisons.report.output_files import write_text
    from backprop_crosscheck.comparisons.sweep.repro_script import framework_of, repro_script
    from backprop_crosscheck.reference.cases.file import dump_case

    stem = f"{s.original.name}-{backend}-{dtype}"
    path, script_path = folder / f"{stem}.min.toml", folder / f"{stem}.min.py"
    tol = s.comparison.tolerance
    script = repro_script(s.case, backend, dtype, tol.rtol, tol.atol)
    header = [
        f"# crosscheck sweep: {s.original.name} shrunk in {s.tries} tries; {backend} {dtype} "
        f"still fails {s.kind[0]} of {s.kind[1]}",
        f"# {s.comparison.message}",
        f"# reproduce: crosscheck report {path} --backends {backend} --dtype {dtype}",
    ]
    if script is not None:
        header.append(f"# or, with NumPy and {framework_of(backend)} alone: python {script_path}")
        write_text(str(script_path), "--save-failures", script)
    write_text(str(path), "--save-failures", "\n".join(header) + "\n" + dump_case(s.case))
    return {
        "case": s.original.name,
        "backend": backend,
        "dtype": dtype,
        "fails": f"{s.kind[0]} of {s.kind[1]}",
        "tries": s.tries,
        "steps": s.steps,
        "architecture": s.case.architecture,  # 2-4-1, or a stack's kinds: conv2d, relu, …
        "layers": list(s.case.layers),  # a dense network's (empty for a stack)
        "activations": list(s.case.activations),
        "samples": int(s.case.inputs.shape[0]),
        "training_steps": s.case.steps,
        "file": str(path),
        "script": None if script is None else str(script_path),
    }
