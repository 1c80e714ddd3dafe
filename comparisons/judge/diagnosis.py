"""Say why, not only where: the first wrong quantity of the backward chain, and the classic
mistake a failing backend's numbers match.

Localization walks the chain from the output — dE/dprediction, δ_L, dE/dW_L, dE/db_L,
dE/da_{L−1}, δ_{L−1}, … — and names the first quantity that disagrees, with the reference's
formula and numbers beside the backend's. A backend that returns its intermediates
(``Result.intermediates``) is localized to the quantity; one that returns only parameter
gradients, to the layer nearest the output whose gradient is wrong.

The mistake: every classic mistake of reference/mistakes.py is computed on the same case and
held against the backend's numbers; the best match is named with its residual (its distance
in units of the tolerance), and called a match only when that residual is within the tolerance.
"""

import functools
from dataclasses import asdict, dataclass

import numpy as np
from backprop_crosscheck.comparisons.judge.compare import errors, residual
from backprop_crosscheck.comparisons.judge.conventions import reconciling
from backprop_crosscheck.comparisons.judge.perturb import formulas, reproduces
from backprop_crosscheck.comparisons.judge.perturb_time import reproducing
from backprop_crosscheck.comparisons.judge.structure import shape_of_difference
from backprop_crosscheck.reference.cases.names import chain_names
from backprop_crosscheck.reference.layers import LAYERS, RECURRENT
from backprop_crosscheck.reference.mistakes import describe, mistakes_for, train_with
from backprop_crosscheck.reference.network import backward_pass, forward
from backprop_crosscheck.reference.rules.losses import LOSSES
from backprop_crosscheck.reference.stack import walk

MAX_PARAMETERS = 100_000  # above, trying every mistake costs more than it tells
KEPT_PARAMETERS = 2_000  # up to it, a case's mistaken runs are kept (16 cases: ~30 MB at most)


@dataclass(frozen=True)
class Diagnosis:
    first_wrong: str  # "dE/dW1", "δ1", "the update of W2", "the forward pass"
    detail: str  # the reference's formula with its numbers, and the backend's value
    finer: str = ""  # what finer localization would need, where it was not possible
    mistake: str | None = None  # the matching mistake's name (MISTAKES), or None
    description: str = ""  # what that mistake is; or what came closest
    residual: float | None = None  # its distance from the backend's numbers, in tolerances
    next_best: str | None = None
    next_residual: float | None = None
    also: tuple[str, ...] = ()  # other mistakes that match as well: indistinguishable here
    # the shape of the difference, mistake list or not: "your dE/dW3 is exactly ½ of the
    # reference's", "… the reference's δ2", "… confined to sample 3" (judge/structure.py)
    structure: str = ""
    # the single change to the reference's formula for it that reproduces it (perturb.py),
    # or more than one said as a tie; "" when none does
    change: str = ""
    # the documented convention its numbers follow where the case asked another (conventions.py)
    convention: str = ""

    def summary(self) -> str:
        where = f"first wrong: {self.first_wrong} — {self.detail}"
        if self.finer:
            where += f" ({self.finer})"
        if self.structure:
            where += f"; {self.structure}"
        if self.change:
            where += f"; {self.change}"
        if self.convention:
            where += f"; {self.convention}"
        return f"{where}; {self.verdict()}"

    def verdict(self) -> str:
        if self.residual is None:
            return self.description or "no known mistake was tried"
        if self.mistake is None:
            return (
                f"no known mistake matches (closest: '{self.description}', residual "
                f"{self.residual:.3g} tolerances)"
            )
        nxt = ""
        if self.next_best is not None:
            next_best = describe(self.next_best)
            nxt = f" against {self.next_residual:.2g} for the next best ('{next_best}')"
        if self.also:
            others = " or ".join(f"'{describe(m)}'" for m in self.also)
            return (
                f"matches '{self.description}' or, indistinguishably on this case, {others}: "
                f"residual {self.residual:.2g}{nxt}"
            )
        return f"matches '{self.description}': residual {self.residual:.2g}{nxt}"

    def to_dict(self) -> dict:
        doc = asdict(self)
        for key in ("residual", "next_residual"):
            if doc[key] is not None and not np.isfinite(doc[key]):
                doc[key] = "inf"
        return doc


@dataclass(frozen=True)
class FirstWrong:
    """Where a failing backend first disagrees: the quantity's name, the reference's formula
    and both values in words, and the values themselves (``key``: its name in the chain)."""

    name: str
    detail: str
    finer: str = ""
    key: str = ""  # "dE/da2", "W1", "loss", "updated W2", "final W2", or "" (nothing first)
    want: object = None
    got: object = None


def diagnose(case, reference, result, dtype: str, tol) -> Diagnosis:
    where = localize(case, reference, result, tol)
    chain_now, chain_later = reference_chain(case), reference_chain(case, dict(reference.updated))
    shape = shape_of_difference(case, reference, result, where, tol, chain_now, chain_later)
    return Diagnosis(
        where.name,
        where.detail,
        where.finer,
        *match_mistake(case, reference, result, dtype, tol),
        structure=shape,
        change=changed_formula(case, reference, where, tol, result),
        convention=reconciling(case, result, tol),
    )


def through_time(case, where) -> bool:
    """A recurrent case whose forward agrees and whose gradients do not: the changes to its
    backward through time are tried (perturb_time.py)."""
    recurrent = any(layer.kind in RECURRENT for layer in walk(case.stack))
    in_backward = where.key != "loss" and not where.key.startswith(("updated ", "final "))
    return recurrent and in_backward and case.parameter_count <= MAX_PARAMETERS


def changed_formula(case, reference, where, tol, result) -> str:
    """The one change to the reference's formula for the first wrong quantity that gives the
    backend's numbers (perturb.py), in words; two or more: said as a tie."""
    if through_time(case, where):
        found = reproducing(case, dict(result.gradients), tol)
    elif not case.dense or where.got is None or where.key not in formulas(case):
        return ""
    else:
        found = reproduces(
            case, where.key, where.got, case.parameters(), dict(reference.updated), tol
        )
    if len(found) == 1:
        return f"it is {found[0]}"
    if found:
        return "as many changes reproduce it (a tie): " + "; or ".join(found)
    return ""


def _loosened(tol):
    """float32 arithmetic inside a float64 run is matched at float32's rounding, not float64's."""
    from backprop_crosscheck.comparisons.judge.tolerance import DEFAULTS

    loose = DEFAULTS["float32"]
    return type(tol)(max(tol.rtol, loose.rtol), max(tol.atol, loose.atol))


# --- where --------------------------------------------------------------------------------


def _off(got, want, tol) -> bool:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return got.shape != want.shape or not np.all(errors(got, want, tol)[0])


def _show(x, precision: int = 6) -> str:
    return np.array2string(
        np.asarray(x, np.float64),
        precision=precision,
        threshold=8,
        edgeitems=2,
        max_line_width=10_000,
    ).replace("\n", "")


def _side_by_side(want, got) -> tuple[str, str, str]:
    """Both printed with as many digits as it takes to tell them apart (up to 17), and where
    they differ most: (the reference's, yours, "largest difference … at […]")."""
    want, got = np.asarray(want, np.float64), np.asarray(got, np.float64)
    if want.shape != got.shape:
        return _show(want), _show(got), f"shapes {want.shape} and {got.shape}"
    precision = next((p for p in range(6, 18) if _show(want, p) != _show(got, p)), 17)
    with np.errstate(invalid="ignore"):
        diff = np.abs(got - want)
    diff[np.isnan(diff)] = np.inf  # a NaN against a number is the largest difference of all
    at = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    where = f" at {list(map(int, at))}" if want.ndim else ""
    return (
        _show(want, precision),
        _show(got, precision),
        f"largest difference {float(diff[at]):.3g}{where}",
    )


def chain(case) -> list[tuple[str, str, str]]:
    """(key in intermediates or gradients, name, formula) from the output down."""
    if not case.dense:
        return stack_chain(case)
    L, steps = case.depth, []
    top = LOSSES[case.loss].gradient_text
    steps.append((f"dE/da{L}", "dE/dprediction", top))
    for layer in range(L, 0, -1):
        act = case.activations[layer - 1]
        steps.append((f"delta{layer}", f"δ{layer}", f"dE/da{layer} ⊙ {act}′(z{layer})"))
        steps.append((f"W{layer}", f"dE/dW{layer}", f"a{layer - 1}ᵀ·δ{layer}"))
        if case.biases is not None:
            steps.append((f"b{layer}", f"dE/db{layer}", f"Σ_samples δ{layer}"))
        below = "dE/dX" if layer == 1 else f"dE/da{layer - 1}"
        steps.append((f"dE/da{layer - 1}", below, f"δ{layer}·W{layer}ᵀ"))
    return steps


def stack_chain(case) -> list[tuple[str, str, str]]:
    """A layer stack's chain: dE/dprediction, then each layer's parameters and dE/d its input."""
    K = len(case.stack)
    steps = [(f"dE/da{K}", "dE/dprediction", LOSSES[case.loss].gradient_text)]
    for k in range(K, 0, -1):
        layer = case.stack[k - 1]
        row = LAYERS.get(layer.kind)
        below = row.dx_says if row else f"dE/da{k} ⊙ {layer.kind}′"
        for p in layer.initial:
            steps.append(
                (
                    layer.name(p),
                    f"dE/d{layer.name(p)}",
                    f"{row.parameters[p]} ({layer.kind} {layer.label})",
                )
            )
        for inner in walk(layer.block)[::-1]:  # a residual block's own parameters
            for p in inner.initial:
                steps.append((inner.name(p), f"dE/d{inner.name(p)}", f"{inner.kind} {inner.label}"))
        name = "dE/dX" if k == 1 else f"dE/da{k - 1}"
        steps.append((f"dE/da{k - 1}", name, f"{below} ({layer.kind} {layer.label})"))
    return steps


def reference_chain(case, params: dict | None = None) -> dict:
    """The reference's backward chain, {"dE/da2": …, "delta2": …, "W2": …}, at the case's
    initial parameters (or at ``params``)."""
    params = case.parameters() if params is None else params
    fwd = forward(case, params, case.inputs, case.targets)
    bwd = backward_pass(case, params, fwd, case.targets)
    values = {"dE/da0": bwd.dE_doutputs[0]}
    values.update(zip(chain_names(case), bwd.dE_doutputs[1:], strict=True))
    values.update({n: g for n, g in bwd.gradients.items() if n != "X"})
    return values


def localize(case, reference, result, tol) -> FirstWrong:
    if _off(result.loss[0], reference.loss[0], tol):
        said = (
            f"the loss before any step is {float(result.loss[0])!r}, the reference's "
            f"{float(reference.loss[0])!r}"
        )
        return FirstWrong("the forward pass", said, "", "loss", reference.loss, result.loss)
    mine = dict(result.intermediates or {})
    mine.update({n: g for n, g in result.gradients.items() if n != "X"})
    if "X" in result.gradients:
        mine.setdefault("dE/da0", result.gradients["X"])
    theirs = reference_chain(case)
    for key, name, formula in chain(case):
        if key in mine and _off(mine[key], theirs[key], tol):
            ours, yours, off = _side_by_side(theirs[key], mine[key])
            detail = f"the reference's {name} = {formula} = {ours}; yours {yours} ({off})"
            finer = "" if result.intermediates else "finer localization needs intermediates"
            return FirstWrong(name, detail, finer, key, theirs[key], mine[key])
    for what in ("updated", "final"):
        for name, want in getattr(reference, what).items():
            if _off(getattr(result, what)[name], want, tol):
                where = "the update of" if what == "updated" else "after the last step,"
                ours, yours, off = _side_by_side(want, getattr(result, what)[name])
                rule = (
                    case.optimizer.formula(name)
                    if what == "updated"
                    else (f"{name} after step {case.steps}")
                )
                detail = f"the reference's {rule} = {ours}; yours {yours} ({off})"
                return FirstWrong(
                    f"{where} {name}",
                    detail,
                    "",
                    f"{what} {name}",
                    want,
                    getattr(result, what)[name],
                )
    return FirstWrong(
        "the loss after a later step",
        "every gradient and update of the first step agrees",
        "",
        "loss",
        reference.loss,
        result.loss,
    )


# --- why ----------------------------------------------------------------------------------


def mistaken_run(case, name: str):
    """``train_with(case, name)``, kept for the case's next diagnosis: a mistake's run depends
    on the case alone (float64, whatever the backend and dtype being diagnosed), and a
    conformance run diagnoses a case once per failing backend and dtype."""
    if case.parameter_count > KEPT_PARAMETERS:
        return train_with(case, name)
    runs = _mistaken_runs(case)
    if name not in runs:
        runs[name] = train_with(case, name)
    return runs[name]


@functools.lru_cache(maxsize=16)
def _mistaken_runs(case) -> dict:
    """{mistake: its run} of one case (a case is hashed by identity), filled as asked."""
    return {}


def forget_mistaken_runs() -> None:
    """The next diagnosis of every case runs its mistakes afresh (a benchmark of one)."""
    _mistaken_runs.cache_clear()


def match_mistake(case, reference, result, dtype: str, tol) -> tuple:
    """(name or None, description, residual, next best, its residual, ties). Residuals are in
    units of the run's tolerance; float32_inside is matched at float32's (it is rounding)."""
    if case.parameter_count > MAX_PARAMETERS:
        why = f"too large to try every mistake (over {MAX_PARAMETERS:,} parameters)"
        return None, why, None, None, None, ()
    scores = []  # (residual at the run's tolerance, residual at the mistake's own, name)
    for name in mistakes_for(case):
        if name == "float32_inside" and dtype == "float32":
            continue  # that is what a float32 run honestly is
        candidate = mistaken_run(case, name)
        if residual(reference, candidate, tol) <= 1:
            continue  # this mistake does not show on this case: it cannot be told apart
        strict = residual(result, candidate, tol)
        own = strict if name != "float32_inside" else residual(result, candidate, _loosened(tol))
        scores.append((strict, own, name))
    if not scores:
        return None, "no known mistake shows on this case", None, None, None, ()
    matches = sorted((own, name) for _, own, name in scores if own <= 1)
    others = sorted((strict, name) for strict, own, name in scores if own > 1)
    nxt, nxt_r = (others[0][1], others[0][0]) if others else (None, None)
    if not matches:
        return None, describe(nxt), nxt_r, None, None, ()
    (best, name), ties = matches[0], tuple(n for _, n in matches[1:])
    return name, describe(name), best, nxt, nxt_r, ties
