"""Oracles beyond the comparison with the reference: properties any correct engine has, which
research fuzzers of autodiff libraries found bugs against (NablaFuzz, ICSE 2023).

Each is two functions. Its questions (``QUESTIONS``: backend, case, dtype → what the backend
answers, as plain numbers) are asked in the backend's worker, under the fences; an oracle with
none needs only the judged run. Its verdict takes (answers, backend, case, dtype, judged) —
``judged`` the backend's order-1 Comparison on this case and dtype — and returns (status,
message), "pass", "fail", or "skip" with the reason it does not apply, in the parent process:
no backend code runs where the verdict is made.
"""

import numpy as np
from backprop_crosscheck.comparisons.isolate.wire import (
    numbers,
    plain,
    plain_value,
    result_of,
    tensors_from_plain,
)
from backprop_crosscheck.comparisons.judge.compare import errors
from backprop_crosscheck.comparisons.judge.tolerance import Tolerance, tolerance_for
from backprop_crosscheck.reference import train
from backprop_crosscheck.reference.cases.layer_fields import layer_output
from backprop_crosscheck.reference.hvp import direction
from backprop_crosscheck.reference.layers import LAYERS, RECURRENT
from backprop_crosscheck.reference.network import forward
from backprop_crosscheck.reference.precision import LOW, numpy_dtype, representable
from backprop_crosscheck.reference.rounding import at_its_layers
from backprop_crosscheck.reference.rules.activations import ACTIVATIONS
from backprop_crosscheck.reference.stack import Layer, one_sample, walk

PASS = ("pass", "")


def _close(got, want, tol, what: str, terms: int = 1):
    """Within the tolerance (its atol once per term of a dot product: each term rounds)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    ok = errors(got, want, Tolerance(tol.rtol, tol.atol * terms))[0]
    if np.all(ok):
        return PASS
    i = int(np.argmax(~ok.ravel()))
    return "fail", f"{what}: {got.ravel()[i]!r} vs {want.ravel()[i]!r}"


def ask_forward(backend, case, dtype):
    if backend.capabilities.jvp:
        v = direction(case, seed=2)
        return {"jvp": plain_value(backend.directional_derivative(case, v, dtype))}
    return {}


def without_forward_mode(backend) -> str | None:
    if not backend.capabilities.jvp:
        return f"{backend.name} declares no forward mode (Capabilities.jvp)"
    return None


def forward_vs_reverse(answers, backend, case, dtype, judged):
    """Forward mode's dE/dθ·v equals the backend's own reverse-mode gradient dotted with v."""
    if without_forward_mode(backend):
        return "skip", without_forward_mode(backend)
    v = direction(case, seed=2)
    forward_mode = numbers(answers.get("jvp"), "forward-mode dE/dθ·v")
    reverse = sum(float(np.vdot(judged.result.gradients[n], v[n])) for n in v)
    terms = sum(x.size for x in v.values())
    return _close(
        forward_mode, reverse, tolerance_for(dtype, backend, case=case), "jvp vs grad·v", terms
    )


def ask_untracked(backend, case, dtype):
    return {"loss": plain_value(backend.loss_value(case, dtype))}


def untracked_loss(answers, backend, case, dtype, judged):
    """The loss computed without gradient tracking equals the loss under the tape."""
    value = answers.get("loss")
    if value is not None:
        value = numbers(value, "loss without its tape")
    if value is None:
        return "skip", f"{backend.name} cannot compute a loss without its tape (loss_value)"
    tol = tolerance_for(dtype, backend, case=case)
    return _close(value, judged.result.loss[0], tol, "loss without tape vs with")


def ask_per_sample(backend, case, dtype):
    if coupled(case):
        return {}
    rows = case.targets.shape[0] // case.inputs.shape[0]  # T per sample after a merge_time
    one = [
        case.replace(
            inputs=case.inputs[i : i + 1],
            targets=case.targets[i * rows : (i + 1) * rows],
            steps=1,
            stack=one_sample(case.stack, i),
        )
        for i in range(case.inputs.shape[0])
    ]
    return {"per_sample": [plain(backend.run(c, dtype)) for c in one]} if len(one) > 1 else {}


def coupled(case) -> list[str]:
    """The layers whose output for one sample depends on the others (batch_norm's batch
    statistics): a batch is then not the sum of its samples."""
    return [
        f"{layer.kind} {layer.label}"
        for layer in walk(case.stack)
        if layer.kind in LAYERS and LAYERS[layer.kind].couples_samples
    ]


def batch_sum(answers, backend, case, dtype, judged):
    """A batch's gradient is the sum (half_sse) or the mean (mse) of per-sample gradients."""
    samples = case.inputs.shape[0]
    if samples < 2:
        return "skip", "a single-sample case: nothing to add up"
    if coupled(case):
        return "skip", (
            f"{', '.join(coupled(case))} couples the samples (batch statistics): a "
            "batch's gradient is not the sum of per-sample ones"
        )
    per_sample = [result_of(r) for r in answers.get("per_sample", [])]
    combine = np.sum if case.loss == "half_sse" else np.mean  # the others average
    tol = tolerance_for(dtype, backend, case=case)
    for name, g in judged.result.gradients.items():
        if name == "X":
            continue
        parts = np.array([np.asarray(r.gradients[name], np.float64) for r in per_sample])
        verdict = _close(g, combine(parts, axis=0), tol, f"dE/d{name}, batch vs per-sample")
        if verdict != PASS:
            return verdict
    return PASS


def ask_again(backend, case, dtype):
    return {"again": plain(backend.run(case, dtype))}


def determinism(answers, backend, case, dtype, judged):
    """The same run twice is bitwise identical (reported apart from accuracy)."""
    again = result_of(answers.get("again"))
    first = judged.result
    for what in ("loss", "gradients", "updated", "final"):
        a, b = getattr(first, what), getattr(again, what)
        pairs = [(what, a, b)] if what == "loss" else [(f"{what} {n}", a[n], b[n]) for n in a]
        for label, x, y in pairs:
            if not np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True):
                return "fail", f"{label} differs between two identical runs"
    return PASS


def dtype_honest(answers, backend, case, dtype, judged):
    """A float32 run computes in float32: if every value is the correctly rounded float64 one
    where float32 arithmetic (the reference's own float32 run) cannot get them all, it is
    computing in higher precision and casting. A bfloat16 or float16 run likewise: every
    gradient its float32 computation rounded once, where the precision's own arithmetic at the
    layers' boundaries (reference/rounding.py, at_its_layers) lands elsewhere."""
    if dtype in LOW:
        return _low_honest(case, dtype, judged)
    if dtype != "float32":
        return "skip", "float32 and the low precisions only"
    reference, ours = train(case), train(case, np.float32)
    names = [n for n in reference.gradients if n in judged.result.gradients]  # dE/dX may be absent
    rounded = [reference.gradients[n].astype(np.float32) for n in names]
    if all(np.array_equal(ours.gradients[n], r) for n, r in zip(names, rounded, strict=True)):
        return "skip", "float32 arithmetic rounds this case exactly: it cannot tell"
    got = [np.asarray(judged.result.gradients[n]) for n in names]
    if all(np.array_equal(g, r) for g, r in zip(got, rounded, strict=True)):
        return "fail", "every float32 gradient is the rounded float64 value: computed in float64?"
    return PASS


def _low_honest(case, dtype, judged):
    wide, own = train(case, np.float32), at_its_layers(case, dtype)
    names = [n for n in wide.gradients if n in judged.result.gradients]
    cast = {n: representable(wide.gradients[n], dtype) for n in names}
    if all(np.array_equal(representable(own[n], dtype), cast[n]) for n in names):
        return "skip", f"{dtype} arithmetic at the layers lands on float32's rounded: cannot tell"
    got = {n: np.asarray(judged.result.gradients[n], np.float64) for n in names}
    if all(np.array_equal(got[n], cast[n]) for n in names):
        return "fail", f"every {dtype} gradient is float32's, rounded once: computed in float32?"
    return PASS


def frozen(answers, backend, case, dtype, judged):
    """Frozen parameters are still differentiated and keep their value, bit for bit."""
    if not case.frozen:
        return "skip", "no frozen parameter in this case"
    initial, result = case.parameters(numpy_dtype(dtype)), judged.result
    for name in sorted(case.frozen):
        if not np.all(np.isfinite(result.gradients[name])):
            return "fail", f"frozen {name} has no (finite) gradient"
        for what in ("updated", "final"):
            if not np.array_equal(getattr(result, what)[name], initial[name]):
                return "fail", f"frozen {name} changed ({what})"
    return PASS


def relu_kink(answers, backend, case, dtype, judged):
    """Where a relu pre-activation is within the finite-difference step of its kink, the AD
    gradient of the weights into it lies between the one-sided difference quotients."""
    if not case.dense:
        return "skip", (
            "written for dense layers (the weights into each relu); a layer "
            "stack's kinks: fd and the built-in case ties"
        )
    step = np.finfo(np.float64).eps ** (1 / 3)
    params = case.parameters()
    fwd = forward(case, params, case.inputs, case.targets)
    layers = enumerate(zip(fwd.z, case.activations, strict=True), start=1)
    near = [
        (layer, j)
        for layer, (z, act) in layers
        if act == "relu"
        for j in np.flatnonzero(np.any(np.abs(z) < step, axis=0))
    ]
    if not near:
        return "skip", "no relu pre-activation near its kink"
    tol = tolerance_for(dtype, backend, case=case)
    for layer, j in near:
        W = params[f"W{layer}"]
        for i in range(W.shape[0]):
            h = step * max(1.0, abs(W[i, j]))
            quotients = [_quotient(case, params, f"W{layer}", (i, j), s * h) for s in (1, -1)]
            low, high = min(quotients), max(quotients)
            g = float(judged.result.gradients[f"W{layer}"][i, j])
            slack = tol.atol + tol.rtol * max(abs(low), abs(high))
            if not low - slack <= g <= high + slack:
                label = case.scalar_label(f"W{layer}", (i, j))
                return (
                    "fail",
                    f"dE/d{label} = {g!r} is outside the one-sided quotients [{low!r}, {high!r}]",
                )
    return PASS


def _quotient(case, params, name, index, h):
    base = forward(case, params, case.inputs, case.targets).loss
    moved = {n: p.copy() for n, p in params.items()}
    moved[name][index] += h
    return (forward(case, moved, case.inputs, case.targets).loss - base) / h


def ask_two_hvps(backend, case, dtype):
    if not backend.capabilities.hvp:
        return {}
    u, v = direction(case, seed=3), direction(case, seed=4)
    return {"hv": plain(backend.hvp(case, v, dtype)), "hu": plain(backend.hvp(case, u, dtype))}


def without_hvp(backend) -> str | None:
    if not backend.capabilities.hvp:
        return f"{backend.name} does not compute Hessian-vector products"
    return None


def hvp_symmetry(answers, backend, case, dtype, judged):
    """The Hessian is symmetric: uᵀ(H·v) = vᵀ(H·u)."""
    if without_hvp(backend):
        return "skip", without_hvp(backend)
    u, v = direction(case, seed=3), direction(case, seed=4)
    hv, hu = tensors_from_plain(answers.get("hv")), tensors_from_plain(answers.get("hu"))
    left = sum(float(np.vdot(u[n], hv[n])) for n in u)
    right = sum(float(np.vdot(v[n], hu[n])) for n in v)
    tol, terms = tolerance_for(dtype, backend, order=2, case=case), sum(x.size for x in v.values())
    return _close(left, right, tol, "uᵀHv vs vᵀHu", terms)


POSITION_WISE = ("dense", "layer_norm", "position", "dropout", *ACTIVATIONS)  # step by step


def _causal_through(layer) -> bool:
    """Whether the layer's output at step t depends on its inputs at steps ≤ t alone."""
    if layer.kind in RECURRENT:
        return layer.settings["outputs"] == "every"
    if layer.kind == "attention":  # queries from x; keys from x only where causal, or a memory
        return layer.settings["causal"] or "memory" in layer.initial
    if layer.kind == "residual":
        return all(map(_causal_through, layer.block))
    return layer.kind in POSITION_WISE


def _merged_at(case) -> int | None:
    """The place of the merge_time that makes every step a row of the loss, or None."""
    kinds = [layer.kind for layer in case.stack]
    return kinds.index("merge_time") if "merge_time" in kinds else None


def causal_variant(case):
    """(the case with the loss of every step after t cut, t) — a dropout with p = 0 after the
    merge_time, its mask keeping the rows of steps ≤ t (t the middle step) — for a case whose
    layers before the merge_time are causal along time (a recurrent layer read at every step, a
    causal attention, a dense or a layer norm at every step, …); else None (token inputs have
    no dE/dX)."""
    m = _merged_at(case)
    if case.takes_indices or m is None or not all(map(_causal_through, case.stack[:m])):
        return None
    N, T = case.inputs.shape[:2]
    if T < 2:
        return None
    shape = case.inputs.shape
    for layer in case.stack[: m + 1]:
        shape = layer_output(layer, shape)
    t = (T - 1) // 2
    kept = np.tile(np.arange(T) <= t, N)[:, None] * np.ones((1, shape[1]))  # row n·T + s
    cut = Layer("dropout", "causal", {"p": 0.0}, mask=kept)
    stack = case.stack
    return case.replace(stack=(*stack[: m + 1], cut, *stack[m + 1 :]), steps=1), t


def ask_causal(backend, case, dtype):
    variant = causal_variant(case)
    return {} if variant is None else {"cut": plain(backend.run(variant[0], dtype))}


def causality(answers, backend, case, dtype, judged):
    """The loss of the steps up to t has exactly zero gradient with respect to every input
    after t: a step's output depends on the inputs so far, never on later ones."""
    variant = causal_variant(case)
    if variant is None:
        return "skip", "no layers causal along time before a loss at every step (feature inputs)"
    t = variant[1]
    dX = np.asarray(result_of(answers.get("cut")).gradients["X"], np.float64)
    later = dX[:, t + 1 :]
    if np.any(later != 0):
        n, s, f = np.argwhere(later != 0)[0]
        return "fail", (
            f"dE/dX[{n},{t + 1 + s},{f}] = {later[n, s, f]!r} where the loss is of steps 0 … "
            f"{t} alone: an input after step {t} reaches it (exactly 0 is right)"
        )
    if not np.any(dX[:, : t + 1]):
        return "fail", f"dE/dX is 0 at every step up to {t} too: the inputs reach nothing"
    return PASS


def _equivariant_through(layer) -> bool:
    """Whether permuting the steps of the layer's input permutes its output alike."""
    if layer.kind == "attention":
        s = layer.settings
        return not s["causal"] and not layer.given and layer.mask is None
    if layer.kind == "residual":
        return all(map(_equivariant_through, layer.block))
    return layer.kind in POSITION_WISE and layer.kind not in ("position", "dropout")


def permuted_variant(case):
    """(the case with its steps in reverse order — inputs and each step's targets —, the
    order) for a case whose layers before the loss at every step are permutation-equivariant:
    attention without a causal mask, a mask or a position embedding, and layers applied step by
    step; else None."""
    m = _merged_at(case)
    attends = any(layer.kind == "attention" for layer in walk(case.stack[: m or 0]))
    if m is None or not attends:
        return None
    first = 1 if case.takes_indices else 0  # an embedding is applied token by token
    if not all(map(_equivariant_through, case.stack[first:m])):
        return None
    N, T = case.inputs.shape[:2]
    order = np.arange(T)[::-1]
    rows = (np.arange(N)[:, None] * T + order[None, :]).ravel()
    permuted = case.replace(inputs=case.inputs[:, order], targets=case.targets[rows], steps=1)
    return permuted, order


def ask_permuted(backend, case, dtype):
    variant = permuted_variant(case)
    return {} if variant is None else {"permuted": plain(backend.run(variant[0], dtype))}


def permutation(answers, backend, case, dtype, judged):
    """Permutation equivariance: with the steps in reverse order (and each step's target with
    its step), the loss and every parameter's gradient are the same, and dE/dX is permuted."""
    variant = permuted_variant(case)
    if variant is None:
        return "skip", "no attention without causal mask, masks or positions before the loss"
    order, got = variant[1], result_of(answers.get("permuted"))
    tol = tolerance_for(dtype, backend, case=case)
    verdict = _close(got.loss[0], judged.result.loss[0], tol, "loss, steps reversed vs not")
    if verdict != PASS:
        return verdict
    for name, g in judged.result.gradients.items():
        want = np.asarray(g, np.float64)
        mine = np.asarray(got.gradients[name], np.float64)
        if name == "X":
            mine = mine[:, np.argsort(order)]  # back in the original order
        verdict = _close(mine, want, tol, f"dE/d{name}, steps reversed vs not")
        if verdict != PASS:
            return verdict
    return PASS


QUESTIONS = {  # what each oracle asks the backend (in its worker), by name
    "forward-reverse": ask_forward,
    "untracked-loss": ask_untracked,
    "batch-sum": ask_per_sample,
    "determinism": ask_again,
    "hvp-symmetry": ask_two_hvps,
    "causality": ask_causal,
    "permutation": ask_permuted,
}
# an oracle a backend cannot take by what it declares: a skip with the reason, whatever its run
# did (a run that raised makes the others errors, not these)
NEEDS = {"forward-reverse": without_forward_mode, "hvp-symmetry": without_hvp}
ORACLES = {
    "forward-reverse": forward_vs_reverse,
    "untracked-loss": untracked_loss,
    "batch-sum": batch_sum,
    "determinism": determinism,
    "dtype-honest": dtype_honest,
    "frozen": frozen,
    "relu-kink": relu_kink,
    "hvp-symmetry": hvp_symmetry,
    "causality": causality,
    "permutation": permutation,
}
