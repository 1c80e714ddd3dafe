"""Hold one backend's Result against the reference's, scalar by scalar, under a Tolerance."""

from dataclasses import dataclass, field

import numpy as np
from backprop_crosscheck.comparisons.judge.tolerance import Tolerance
from backprop_crosscheck.reference.cases.case import Case
from backprop_crosscheck.reference.conditioning import adam_allowance
from backprop_crosscheck.reference.result import Result

QUANTITIES = ("loss", "gradients", "updated", "final")


class Malformed(ValueError):
    """The backend returned something of the wrong form (missing tensor, wrong shape)."""


@dataclass(frozen=True)
class Mismatch:
    quantity: str  # loss | gradients | updated | final
    tensor: str  # "W1", "b2", "X", or "loss"
    label: str  # the scalar's name in reports: "w3", "W1[0,1]", "loss[step 2]"
    got: float
    expected: float
    allowed: float  # atol + rtol·|expected|


@dataclass
class Agreement:
    """How one Result agrees with the reference: errors per quantity, the worst scalar."""

    max_abs_error: dict[str, float] = field(default_factory=dict)
    max_rel_error: dict[str, float] = field(default_factory=dict)
    worst: str | None = None  # the scalar furthest beyond (or closest to) its allowance
    worst_quantity: str | None = None  # where it was: loss | gradients | updated | final
    worst_ratio: float = 0.0  # its error as a fraction of what was allowed
    mismatches: list[Mismatch] = field(default_factory=list)
    counts: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    # (quantity, tensor) -> (max abs error, max rel error) of that tensor
    per_tensor: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def summary(self, limit: int = 3) -> str:
        """One line in the manner of torch.testing.assert_close."""
        parts = []
        for (quantity, tensor), (bad, total) in self.counts.items():
            if not bad:
                continue
            worst = max(
                (m for m in self.mismatches if (m.quantity, m.tensor) == (quantity, tensor)),
                key=excess_of,
            )
            where = quantity if quantity == tensor else f"{quantity} {tensor}"
            parts.append(
                f"{where}: {bad}/{total} mismatched, worst {worst.label} "
                f"= {worst.got:.10g} vs {worst.expected:.10g} "
                f"(off by {abs(worst.got - worst.expected):.3g}, up to {worst.allowed:.3g} allowed)"
            )
        more = f"; … {len(parts) - limit} more" if len(parts) > limit else ""
        return "; ".join(parts[:limit]) + more


def excess_of(m: Mismatch) -> float:
    diff = abs(m.got - m.expected)
    return np.inf if not np.isfinite(diff) else diff / m.allowed if m.allowed else np.inf


def label(case: Case, quantity: str, tensor: str, shape, flat_index: int) -> str:
    """The name of one scalar (built only for the ones a report shows)."""
    if quantity == "loss":
        return f"loss[step {flat_index}]"
    return case.scalar_label(tensor, tuple(int(i) for i in np.unravel_index(flat_index, shape)))


def quantity_of(result: Result, quantity: str) -> dict[str, np.ndarray]:
    return {"loss": result.loss} if quantity == "loss" else getattr(result, quantity)


def check_form(pairs) -> None:
    """Raise Malformed naming the tensor when a result's keys or shapes differ from the
    reference's. ``pairs``: (quantity, reference tensors, backend tensors)."""
    for quantity, want, got in pairs:
        for name, expected in want.items():
            if name not in got:
                raise Malformed(f"{quantity}: {name} is missing")
            shape = np.shape(got[name])
            if shape != expected.shape and quantity == "loss":
                raise Malformed(
                    f"its loss has shape {shape}, not {expected.shape}: one number before "
                    "each step and one after the last"
                )
            if shape != expected.shape:
                raise Malformed(
                    f"{quantity} {name} has shape {shape} but the reference's is {expected.shape}"
                )


def result_pairs(reference: Result, result: Result) -> list:
    """loss, gradients, updated and final parameters: (quantity, reference's, backend's)."""
    if not all(hasattr(result, q) for q in QUANTITIES):
        raise Malformed(f"it is a {type(result).__name__}, not a Result")
    return [(q, quantity_of(reference, q), quantity_of(result, q)) for q in QUANTITIES]


def agreement(case: Case, reference: Result, result: Result, tol: Tolerance) -> Agreement:
    """loss, gradients, updated and final parameters, against the reference's."""
    return agreement_of(case, result_pairs(reference, result), tol)


def errors(got, expected, tol: Tolerance, extra=0.0):
    """Entry by entry, numpy.isclose's rule: (within tolerance, |got − expected| — inf where
    one is NaN —, what is allowed: atol + rtol·|expected|, the error over what is allowed).
    NaN where NaN is expected agrees (a case whose convention gives NaN: an attention row that
    may attend no key, masked_rows = "nan"). ``extra``: what the case's optimizer adds, entry
    by entry (reference/conditioning.py)."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    ok = np.isclose(got, expected, rtol=tol.rtol, atol=tol.atol + extra, equal_nan=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        same = (got == expected) | (np.isnan(got) & np.isnan(expected))
        diff = np.where(same, 0.0, np.abs(got - expected))
        diff = np.where(np.isnan(diff), np.inf, diff)
        allowed = tol.atol + extra + tol.rtol * np.abs(expected)
        excess = np.where(diff == 0, 0.0, diff / allowed)
    return ok, diff, allowed, excess


def extra(allowance: dict, quantity: str, name: str):
    """What Adam's conditioning adds to one tensor's allowance (0 for every other rule)."""
    if quantity not in allowance:
        return 0.0
    return allowance[quantity] if quantity == "loss" else allowance[quantity].get(name, 0.0)


def combined(*allowances: dict) -> dict:
    """Allowances of the same form ({"loss": …, quantity: {name: …}}) added entry by entry."""
    out = {}
    for allowance in allowances:
        for quantity, value in allowance.items():
            if quantity == "loss":
                out["loss"] = out.get("loss", 0.0) + value
                continue
            mine = out.setdefault(quantity, {})
            for name, extra in value.items():
                mine[name] = mine.get(name, 0.0) + extra
    return out


@dataclass(frozen=True)
class Held:
    """Every value of every tensor held at once, in one flat vector (per tensor, numpy's call
    overhead ruled the judging of small networks): the tensors as (quantity, name, the
    reference's values), then value by value the backend's, the reference's and ``errors``."""

    tensors: list
    got: np.ndarray
    expected: np.ndarray
    ok: np.ndarray
    diff: np.ndarray
    allowed: np.ndarray
    excess: np.ndarray

    @property
    def passed(self) -> bool:
        return bool(self.ok.all())


def hold(case: Case, pairs, tol: Tolerance, floors=()) -> Held:
    """(quantity, reference tensors, backend tensors) pairs held to the tolerance, with Adam's
    conditioning and ``floors`` (further allowances entry by entry, reference/rounding.py)."""
    check_form(pairs)
    allowance = combined(adam_allowance(case, tol.rtol, tol.atol) or {}, *floors)
    tensors = [
        (quantity, name, np.asarray(expected, dtype=np.float64))
        for quantity, want, _ in pairs
        for name, expected in want.items()
    ]
    got = joined(
        [np.asarray(have[name], np.float64).ravel() for _, want, have in pairs for name in want]
    )
    expected = joined([t.ravel() for _, _, t in tensors])
    extras = 0.0  # none beyond the tolerance, unless Adam's or the floors'
    if allowance:
        extras = joined(
            [np.broadcast_to(extra(allowance, q, n), t.shape).ravel() for q, n, t in tensors]
        )
    return Held(tensors, got, expected, *errors(got, expected, tol, extras))


def joined(arrays: list) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0)


def agreement_of(case: Case, pairs, tol: Tolerance, floors=()) -> Agreement:
    """Scalar-by-scalar agreement of (quantity, reference tensors, backend tensors) pairs.
    ``floors``: further allowances entry by entry (reference/rounding.py), added to Adam's."""
    return agreement_from(case, hold(case, pairs, tol, floors), [q for q, _, _ in pairs])


def agreement_from(case: Case, values: Held, quantities: list) -> Agreement:
    """The Agreement the held values make: errors per quantity and tensor, each mismatch
    named, the worst scalar."""
    tensors, got, expected, ok = values.tensors, values.got, values.expected, values.ok
    diff, allowed, excess = values.diff, values.allowed, values.excess
    out = Agreement()
    out.max_abs_error = {quantity: 0.0 for quantity in quantities}
    out.max_rel_error = dict(out.max_abs_error)
    if not tensors:
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(expected))
    rel = np.nan_to_num(rel, nan=np.inf, posinf=np.inf)
    sizes = np.array([t.size for _, _, t in tensors])
    ends = np.cumsum(sizes)
    starts = ends - sizes
    per_abs, per_rel, per_bad, per_excess = segment_reductions(
        starts[sizes > 0], sizes, diff, rel, ~ok, excess
    )
    bad = np.flatnonzero(~ok)
    inside = np.searchsorted(ends, bad, side="right")  # the tensor each is in
    for i, k in zip(bad.tolist(), inside.tolist(), strict=True):
        quantity, name, t = tensors[k]
        out.mismatches.append(
            Mismatch(
                quantity,
                name,
                label(case, quantity, name, t.shape, i - int(starts[k])),
                float(got[i]),
                float(expected[i]),
                float(allowed[i]),
            )
        )
    worst_excess = -1.0
    for k, (quantity, name, t) in enumerate(tensors):
        tensor_abs, tensor_rel = float(per_abs[k]), float(per_rel[k])
        out.per_tensor[(quantity, name)] = (tensor_abs, tensor_rel)
        out.max_abs_error[quantity] = max(out.max_abs_error[quantity], tensor_abs)
        out.max_rel_error[quantity] = max(out.max_rel_error[quantity], tensor_rel)
        out.counts[(quantity, name)] = (int(per_bad[k]), int(sizes[k]))
        if sizes[k] and per_excess[k] > worst_excess:  # the first tensor that is worst
            i = int(np.argmax(excess[starts[k] : ends[k]]))
            worst_excess = float(excess[starts[k] + i])
            out.worst = label(case, quantity, name, t.shape, i)
            out.worst_quantity = quantity
    out.worst_ratio = max(worst_excess, 0.0)
    return out


def segment_reductions(starts, sizes, diff, rel, bad, excess):
    """Per tensor (a segment of the flat vectors; ``starts``: those of the non-empty ones):
    the largest absolute and relative error (0 for none), the mismatches' count and the
    largest excess (NaN where one is NaN, as numpy's max gives it; -inf for an empty one)."""
    found = np.zeros((4, len(sizes)))
    found[3] = -np.inf
    if len(starts):
        filled = sizes > 0
        found[0, filled] = np.maximum(np.maximum.reduceat(diff, starts), 0.0)
        found[1, filled] = np.maximum(np.maximum.reduceat(rel, starts), 0.0)
        found[2, filled] = np.add.reduceat(bad.astype(np.int64), starts)
        found[3, filled] = np.maximum.reduceat(excess, starts)
    return found


def residual(result, candidate, tol) -> float:
    """The largest |backend − candidate| over every value, in units of the tolerance."""
    got, want = [], []  # every value of both, flat, computed on at once (the diagnosis asks this
    for what in QUANTITIES:  # of every known mistake: per tensor, numpy's call overhead ruled)
        theirs = {"loss": result.loss} if what == "loss" else getattr(result, what)
        ours = {"loss": candidate.loss} if what == "loss" else getattr(candidate, what)
        for name, w in ours.items():
            if name not in theirs:
                continue
            g, w = np.asarray(theirs[name], np.float64), np.asarray(w, np.float64)
            if g.shape != w.shape:
                return np.inf
            got.append(g.ravel())
            want.append(w.ravel())
    if not got:
        return 0.0
    g, w = np.concatenate(got), np.concatenate(want)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        r = np.abs(g - w) / (tol.atol + tol.rtol * np.abs(w))
    same = (g == w) | (np.isnan(g) & np.isnan(w))  # NaN where NaN is expected agrees
    r = np.where(same, 0.0, np.nan_to_num(r, nan=np.inf, posinf=np.inf))
    return float(r.max(initial=0.0))
