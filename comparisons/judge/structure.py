"""The shape of a difference: what a failing backend's first wrong quantity *is*, whether or not
any listed mistake matches (issue #28) — a simple multiple of the reference's (½, 2, −1,
1/batch, 1/outputs, …), the reference's transposed, another quantity of the reference's chain,
the reference's at the next step (a lazy or in-place engine), zero where the reference's is
not, or a difference confined to some samples, rows or columns. Each is claimed only when the
backend's numbers are that, within the run's tolerance, everywhere.
"""

import numpy as np
from backprop_crosscheck.comparisons.judge.compare import errors

SIMPLE = ((0.5, "½"), (2.0, "2"), (-1.0, "−1"), (-0.5, "−½"), (-2.0, "−2"), (0.25, "¼"), (4.0, "4"))


def shape_of_difference(case, reference, result, where, tol, chain: dict, later: dict) -> str:
    """One sentence, or "" when the difference has none of these shapes. ``where``: the
    diagnosis's FirstWrong; ``chain``/``later``: the reference's chain at the initial and at
    the once-updated parameters (key -> value)."""
    if not where.key or where.got is None:
        return ""
    want, got = np.asarray(where.want, np.float64), np.asarray(where.got, np.float64)
    label = "your loss at each step" if where.key == "loss" else f"your {where.name}"
    if where.key.startswith("final "):
        label = f"your {where.key.removeprefix('final ')} after the last step"
    if where.key == "loss":
        return _shifted(want, got, tol) or _multiple(case, want, got, tol, label)
    if where.key.startswith("updated "):  # the step itself: p* − p
        name = where.key.removeprefix("updated ")
        before = case.parameters()[name]
        step = f"your step for {name} (p* − p)"
        return _multiple(case, want - before, got - before, tol, step, case.learning_rate) or _zero(
            want - before, got - before, step
        )
    if want.shape != got.shape:
        if got.shape == want.T.shape and _close(got, want.T, tol):
            return f"{label} is the reference's transposed"
        return ""
    next_step = " at the next step (evaluated at the once-updated parameters)"
    for found in (
        _multiple(case, want, got, tol, label),
        _transposed(want, got, tol, label),
        _another(where.key, got, chain, tol, label, ""),
        _another(where.key, got, later, tol, label, next_step),
        _zero(want, got, label),
        _confined(where.key, want, got, tol, label),
    ):
        if found:
            return found
    return ""


def _close(got, want, tol) -> bool:
    return got.shape == want.shape and bool(np.all(errors(got, want, tol)[0]))


def _shifted(want, got, tol) -> str:
    if len(got) > 1 and _close(got[:-1], want[1:], tol):
        return (
            "your loss at each step is the reference's one step later: the loss after the "
            "update (taken after an in-place step, or by a lazy engine)"
        )
    if len(got) > 1 and _close(got[1:], want[:-1], tol):
        return "your loss at each step is the reference's one step earlier"
    return ""


def _factors(case, rate=None) -> list[tuple[float, str]]:
    n = case.inputs.shape[0]
    outputs = case.targets.shape[1] if case.targets.ndim == 2 else 1
    found = []
    if rate is not None:
        found += [
            (rate, f"a = {rate:g} (the learning rate)"),
            (1 / rate, f"1/a = {1 / rate:g} (1/learning rate)"),
        ]
    if n > 1:
        found += [(1 / n, f"1/{n} (1/batch size)"), (float(n), f"{n} (the batch size)")]
    if outputs > 1:
        found += [
            (1 / outputs, f"1/{outputs} (1/outputs)"),
            (float(outputs), f"{outputs} (the outputs)"),
        ]
    if n > 1 and outputs > 1:
        found.append((1 / (n * outputs), f"1/{n * outputs} (1/entries)"))
    return found + list(SIMPLE)


def _multiple(case, want, got, tol, label, rate=None) -> str:
    norm = float(np.vdot(want, want))
    if norm == 0:
        return ""
    c = float(np.vdot(got, want)) / norm  # the least-squares ratio
    said = [
        text
        for value, text in _factors(case, rate)
        if abs(c - value) <= 1e-6 * abs(value) and _close(got, value * want, tol)
    ]
    # two readings of one number (½ and 1/batch size for a batch of 2) are both said
    return f"{label} is exactly {' = '.join(said)} × the reference's" if said else ""


def _transposed(want, got, tol, label) -> str:
    square = want.ndim == 2 and want.shape[0] == want.shape[1] and not _close(want, want.T, tol)
    return f"{label} is the reference's transposed" if square and _close(got, want.T, tol) else ""


def _shown(key: str) -> str:
    if key.startswith("delta"):
        return f"δ{key.removeprefix('delta')}"
    return key if key.startswith("dE/") else f"dE/d{key}"


def _another(key, got, values: dict, tol, label, when: str) -> str:
    for other, value in values.items():
        value = np.asarray(value, np.float64)
        if (other != key or when) and value.shape == got.shape and _close(got, value, tol):
            return f"{label} is the reference's {_shown(other)}{when}"
    return ""


def _zero(want, got, label) -> str:
    return f"{label} is zero where the reference's is not" if not got.any() and want.any() else ""


def _confined(key, want, got, tol, label) -> str:
    bad = ~errors(got, want, tol)[0]
    if want.ndim == 0 or bad.all() or not bad.any():
        return ""
    per_sample = key.startswith("dE/da") or key.startswith("delta") or key == "X"
    rows = sorted({int(i) for i in np.argwhere(bad)[:, 0]})
    if len(rows) < want.shape[0]:
        what = "sample" if per_sample else "row"
        return f"{label} differs only in {what}{'s' * (len(rows) > 1)} {rows}; the rest agrees"
    if want.ndim >= 2:
        columns = sorted({int(j) for j in np.argwhere(bad)[:, 1]})
        if len(columns) < want.shape[1]:
            what = "output" if per_sample else "column"
            return (
                f"{label} differs only in {what}{'s' * (len(columns) > 1)} {columns}; the "
                "rest agrees"
            )
    return ""
