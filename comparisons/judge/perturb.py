"""Perturbations of the chain, generated rather than listed (issue #28): the first wrong
quantity of a dense network's backward chain recomputed with each single change to the
reference's own formula for it — an operand replaced by a quantity it is easily taken for (the
pre-activation z for the activation a, dE/da for δ, f′ at a for f′ at z, the updated W for the
old one, its value at the next step), a factor dropped, an operand transposed, the batch's sum
taken as its mean or as one sample, a derivative's formula written for the activation's output
fed its input (σ′ = a(1 − a) taken as z(1 − z)), a term of dE/dprediction dropped — and, down
to three levels, the same changes inside the formula of one operand (carried up). The change
that reproduces the backend's numbers within tolerance, and only it, is named in the formula's
own words (several: said as a tie).

The formulas are the reference's (reference/network.py):

    δ_l = dE/da_l ⊙ f′(z_l)     dE/dW_l = a_{l−1}ᵀ·δ_l     dE/db_l = Σ_samples δ_l
    dE/da_{l−1} = δ_l·W_lᵀ
"""

from dataclasses import dataclass

import numpy as np
from backprop_crosscheck.comparisons.judge.compare import errors
from backprop_crosscheck.reference.network import backward_pass, forward
from backprop_crosscheck.reference.rules.activations import activation
from backprop_crosscheck.reference.rules.losses import LOSSES


@dataclass(frozen=True)
class Formula:
    text: str  # "a1ᵀ·δ2"
    operands: tuple[str, ...]  # symbols: "a1", "delta2", "W2", "dE/da2", "f'(z2)"
    compute: object  # (symbols: dict) -> value


def formulas(case) -> dict[str, Formula]:
    """The dense chain's formulas by the quantity's key (as diagnosis.chain names them)."""
    found = {}
    for k in range(1, case.depth + 1):  # layer k
        found[f"delta{k}"] = Formula(
            f"dE/da{k} ⊙ f′(z{k})",
            (f"dE/da{k}", f"f'(z{k})"),
            lambda s, k=k: s[f"dE/da{k}"] * s[f"f'(z{k})"],
        )
        found[f"W{k}"] = Formula(
            f"a{k - 1}ᵀ·δ{k}",
            (f"a{k - 1}", f"delta{k}"),
            lambda s, k=k: s[f"a{k - 1}"].T @ s[f"delta{k}"],
        )
        found[f"b{k}"] = Formula(
            f"Σ_samples δ{k}", (f"delta{k}",), lambda s, k=k: s[f"delta{k}"].sum(axis=0)
        )
        found[f"dE/da{k - 1}"] = Formula(
            f"δ{k}·W{k}ᵀ", (f"delta{k}", f"W{k}"), lambda s, k=k: s[f"delta{k}"] @ s[f"W{k}"].T
        )
    return found


def symbols(case, params: dict) -> dict:
    """Every symbol of the chain at ``params``: a_k, z_k, dE/da_k, δ_k, W_k, b_k, f′(z_k)."""
    fwd = forward(case, params, case.inputs, case.targets)
    bwd = backward_pass(case, params, fwd, case.targets)
    s = {f"a{k}": a for k, a in enumerate(fwd.a)}
    s.update({f"z{k + 1}": z for k, z in enumerate(fwd.z)})
    s.update({f"dE/da{k}": d for k, d in enumerate(bwd.dE_da)})
    s.update({f"delta{k + 1}": d for k, d in enumerate(bwd.delta)})
    s.update(params)
    s["Y"] = case.targets
    for k, name in enumerate(case.activations, start=1):
        act = activation(name, case.leaky_slope)
        s[f"f'(z{k})"] = act.fprime(fwd.z[k - 1], fwd.a[k])
        s[f"f'(a{k})"] = act.fprime(fwd.a[k], act.f(fwd.a[k]))
        s[f"f'[a=z]{k}"] = act.fprime(fwd.z[k - 1], fwd.z[k - 1])  # its a-form fed z
    return s


def shown(symbol: str) -> str:
    return symbol.replace("delta", "δ").replace("f'", "f′")


# symbol -> (what it is easily taken for, why that is a mistake, in words)
def confusions(symbol: str, case) -> list[tuple[str, str]]:
    kind, k = symbol.rstrip("0123456789"), symbol[len(symbol.rstrip("0123456789")) :]
    found = []
    if kind == "a" and k and int(k) >= 1:
        found.append((f"z{k}", "the pre-activation where the activation belongs"))
    if kind == "delta":
        found.append(
            (f"dE/da{k}", "dE/da where δ = dE/dz belongs: the activation's derivative left out")
        )
    if kind == "dE/da" and k and int(k) < case.depth:
        found.append((f"delta{k}", "δ where dE/da belongs"))
    if symbol.startswith("f'(z"):
        found.append((f"f'(a{symbol[4:-1]})", "f′ taken at the activation a, not at z"))
        found.append(
            (
                f"f'[a=z]{symbol[4:-1]}",
                "f′ written for the activation's output a, fed its input z (σ′ = a(1 − a) "
                "computed as z(1 − z))",
            )
        )
    if kind == "W":
        found.append(
            (
                f"new {symbol}",
                f"the already-updated {symbol} (after this step's "
                "update) where the old one belongs",
            )
        )
    return found


def dropped_terms(case, key: str, s: dict):
    """dE/dprediction = loss′(prediction, Y) with one of its two terms dropped: the target's
    (the prediction's alone) or the prediction's."""
    if key != f"dE/da{case.depth}" or "Y" not in s:
        return
    loss = LOSSES[case.loss]
    p, Y = s[key.replace("dE/da", "a")], s["Y"]
    full, without = loss.gradient(p, Y), loss.gradient(p, np.zeros_like(Y))
    said = loss.gradient_text or "dE/dprediction"
    yield without, f"{said} computed with its target term dropped"
    yield full - without, f"{said} computed with its prediction term dropped"


def perturbations(case, key: str, reference: dict, updated: dict, depth: int = 3):
    """(value, words) for each single change to ``key``'s formula, and — down to ``depth``
    levels — to the formula of one of its operands (the change then carried up)."""
    table = formulas(case)
    yield from dropped_terms(case, key, reference)
    if key not in table:
        return
    formula = table[key]
    s = dict(reference)
    s.update({f"new {n}": p for n, p in updated.items()})
    for operand in formula.operands:
        for alt, why in confusions(operand, case):
            if alt in s and np.shape(s[alt]) == np.shape(s[operand]):
                yield (
                    formula.compute({**s, operand: s[alt]}),
                    f"{formula.text} computed with {shown(alt)} for {shown(operand)}: {why}",
                )
        value = s[operand]
        if np.ndim(value) == 2 and value.shape[0] == value.shape[1] and operand.startswith("W"):
            yield (
                formula.compute({**s, operand: value.T}),
                f"{formula.text} computed with {shown(operand)} transposed",
            )
        if depth > 1:  # one change inside the operand's own formula
            for inner, words in perturbations(case, operand, reference, updated, depth - 1):
                if np.shape(inner) == np.shape(value):
                    yield formula.compute({**s, operand: inner}), f"{words}, so {formula.text} too"
    if key.startswith("b"):  # the batch's reduction changed
        delta = s[formula.operands[0]]
        where = "where the sum belongs"
        for value, words in (
            (delta.mean(axis=0), f"the mean over samples {where}"),
            (delta[0], f"the first sample's alone {where}"),
            (delta[-1], f"the last sample's alone {where}"),
        ):
            yield value, f"{formula.text} computed as {words}"


def reproduces(case, key, got, reference_params, updated, tol) -> tuple[str, ...]:
    """Every single change to ``key``'s formula that reproduces ``got`` within ``tol``."""
    reference = symbols(case, reference_params)
    got = np.asarray(got, np.float64)
    want = np.asarray(reference.get(key, np.nan), np.float64)
    found = []
    for value, words in perturbations(case, key, reference, updated):
        value = np.asarray(value, np.float64)
        if (
            value.shape == got.shape
            and not np.allclose(value, want, rtol=0, atol=0)
            and np.all(errors(got, value, tol)[0])
        ):
            found.append(words)
    return tuple(dict.fromkeys(found))
