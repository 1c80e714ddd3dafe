"""Finite differences of the reference *loss*, first and second order: witnesses that share no
code path with the hand-derived backward pass (only the forward pass).

First order: central differences, always in float64 (in float32 they would lose half the
digits): step h = ∛eps · max(1, |x|) ≈ 6.1e-6·max(1, |x|) balances truncation (~h²·f‴/6)
against rounding (~eps·|E|/h), leaving ~1e-10 relative error. A float32 run rounds the float64
gradient to float32 and computes the update and the losses in float32.

relu is not differentiable at 0: where x ± h would move a relu pre-activation across its kink,
the difference measures the kink, not the derivative, so the step shrinks tenfold (up to six
times) until both sides stay where they were. A pre-activation exactly on the kink (the
built-in case ``kink``) stays there however small the step: there the one-sided difference on
the side where nothing crosses gives relu′(0) = 0, the convention of torch, JAX and the
reference. (Found by `crosscheck sweep`: random-66's relu
layers had |z| = 0.005 at a later step, and h moved it across.)

Second order: central differences of the hand-derived gradient along v.
"""

import numpy as np
from backprop_crosscheck.reference.cases.case import Case
from backprop_crosscheck.reference.network import backward, forward, inputs_of, loss_value
from backprop_crosscheck.reference.result import Result
from backprop_crosscheck.reference.rules.activations import KINKED, activation
from backprop_crosscheck.reference.rules.losses import LOSSES
from backprop_crosscheck.reference.rules.optimizers import start, update
from backprop_crosscheck.reference.training import train_loop

EPS = float(np.finfo(np.float64).eps)
STEP = EPS ** (1 / 3)
ROUNDING = 16  # a forward pass's rounding of E, in units of ε·|E| (its sums, its products)
MAX_SHRINK = 6  # h down to 1e-5 of its first value; rounding then costs ~1e-7 relative


def gradients(case: Case, params: dict, scale: float = 1.0) -> dict[str, np.ndarray]:
    """dE/d(every parameter and X) by central differences, in float64: every entry of a tensor
    nudged at once, one forward pass over a stack of copies (``perturbed_losses``). ``scale``
    multiplies every step (reference/rounding.py compares h with h/2)."""
    params = {n: p.astype(np.float64) for n, p in params.items()}
    if not case.dense:
        return stack_gradients(case, params, scale)
    X, Y = case.inputs.astype(np.float64), case.targets.copy()
    fwd = forward(case, params, X, Y)
    base = relu_sides(case, fwd) if set(KINKED) & set(case.activations) else None
    grads = {}
    for name, x in [*params.items(), ("X", X)]:
        h = scale * STEP * np.maximum(1.0, np.abs(x.ravel()))
        up, up_kept = perturbed_losses(case, params, fwd, Y, name, h)
        down, down_kept = perturbed_losses(case, params, fwd, Y, name, -h)
        g = (up - down) / (2 * h)
        for i in np.flatnonzero(~(up_kept & down_kept)):  # ±h moved a relu across its kink
            g[i] = _near_kink(case, params, X, Y, x, np.unravel_index(i, x.shape), base)
        grads[name] = g.reshape(x.shape)
    return grads


class OnKink(ValueError):
    """A layer stack's loss has a kink at an entry in every direction (a max-pool tie, a relu
    on 0): no difference quotient measures the convention the engines follow there."""


def stack_gradients(case: Case, params: dict, scale: float = 1.0) -> dict[str, np.ndarray]:
    """A layer stack's gradients, entry by entry (its cases are small), by central
    differences. The one-sided quotients differ by about h·E″ where the loss is smooth; where a
    relu or a max-pool's choice moves within h they differ by a jump. So the step shrinks
    tenfold until their difference shrinks with it (or is negligible); an entry where it never
    does, up to MAX_SHRINK times, sits on a kink: OnKink. A gap within the loss's own rounding
    over h (about ε·|E|/h) is no kink: shrinking h would only grow it."""
    X, Y = case.inputs if case.takes_indices else case.inputs.astype(np.float64), case.targets
    tensors = {**params, **({} if case.takes_indices else {"X": X.copy()})}

    def loss():
        return forward(case, {n: tensors[n] for n in params}, tensors.get("X", X), Y).loss

    centre, grads = loss(), {}
    for name, x in tensors.items():
        g = np.empty(x.shape)
        for index in np.ndindex(x.shape):
            old, h, before = x[index], scale * STEP * max(1.0, abs(x[index])), None
            for _ in range(MAX_SHRINK + 1):
                x[index] = old + h
                up = loss()
                x[index] = old - h
                down = loss()
                x[index] = old
                right, left = (up - centre) / h, (centre - down) / h
                gap = abs(right - left)
                noise = ROUNDING * EPS * max(abs(up), abs(down), abs(centre)) / h
                smooth = gap <= 1e-7 * max(1.0, abs(right)) + noise
                if smooth or before is not None and gap <= before / 2:
                    break
                h, before = h / 10, gap
            else:
                raise OnKink(
                    f"{name}{list(index)} sits on a kink of the loss (one-sided "
                    f"quotients {left:.6g} and {right:.6g} at every step)"
                )
            g[index] = (up - down) / (2 * h)
        grads[name] = g
    return grads


CHUNK_BYTES = 8 << 20  # the stack of nudged networks is built a slice at a time


def perturbed_losses(case, params, fwd, Y, name, shift):
    """E with entry r of ``name`` moved by shift[r], for every r; and whether every relu
    pre-activation stayed on its side of the kink.

    Computed from the unperturbed forward pass ``fwd``, touching only what the nudge changes:
    W_l[i,j] += s moves z_l[:, j] by s·a_{l-1}[:, i] and b_l[j] += s moves it by s — one column,
    whose change reaches z_{l+1} as the outer product Δa_l[:, j] ⊗ W_{l+1}[j, :]; X[k,i] += s
    moves sample k alone, through every layer. Layers above run as the reference's forward pass
    over a stack of networks (matmul broadcasts over the leading axis)."""
    x = params.get(name, fwd.a[0])
    width = fwd.a[0].shape[0] * max(a.shape[1] for a in fwd.a)
    chunk = max(1, CHUNK_BYTES // (8 * width))
    losses, kept = np.empty(x.size), np.ones(x.size, dtype=bool)
    for first in range(0, x.size, chunk):
        rows = np.arange(first, min(first + chunk, x.size))
        nudge = _one_sample if name == "X" else _one_column
        prediction, moved = nudge(case, params, fwd, name, rows, shift[rows])
        losses[rows] = LOSSES[case.loss].value(prediction, Y)
        for layer, z, was in moved:  # every moved relu pre-activation on its side of the kink
            if case.activations[layer - 1] in KINKED:
                kept[rows] &= ((z > 0) == (was > 0)).reshape(len(rows), -1).all(axis=1)
    return losses, kept


def _one_column(case, params, fwd, name, rows, shift):
    """W_l or b_l nudged: column j of z_l moves; the layers above run stacked."""
    layer = int(name[1:])
    if name[0] == "W":
        i, j = np.divmod(rows, params[name].shape[1])
        dz = shift[:, None] * fwd.a[layer - 1][:, i].T  # dz_l/dW_l[i,j] = a_{l-1}[:, i]
    else:
        j = rows
        dz = np.repeat(shift[:, None], fwd.a[0].shape[0], axis=1)  # dz_l/db_l[j] = 1
    was = fwd.z[layer - 1][:, j].T
    z_col = was + dz  # (nudges, samples)
    a_col = activation(case.activations[layer - 1], case.leaky_slope).f(z_col)
    moved = [(layer, z_col, was)]
    if layer == case.depth:
        prediction = np.repeat(fwd.a[layer][None], len(rows), axis=0)
        prediction[np.arange(len(rows)), :, j] = a_col
        return prediction, moved
    da = a_col - fwd.a[layer][:, j].T  # only column j of a_l moved
    z = fwd.z[layer] + da[:, :, None] * params[f"W{layer + 1}"][j][:, None, :]
    return _layers_from(case, params, fwd, layer + 1, z, moved, None), moved


def _one_sample(case, params, fwd, name, rows, shift):
    """X[k, i] nudged: sample k alone moves, through every layer."""
    k, i = np.divmod(rows, fwd.a[0].shape[1])
    x = fwd.a[0][k][:, None, :].copy()  # (nudges, 1, inputs): each nudge's own sample k
    x[np.arange(len(rows)), 0, i] += shift
    moved = []
    z = x @ params["W1"] + params.get("b1", 0)
    top = _layers_from(case, params, fwd, 1, z, moved, k)
    prediction = np.repeat(fwd.a[-1][None], len(rows), axis=0)
    prediction[np.arange(len(rows)), k] = top[:, 0]
    return prediction, moved


def _layers_from(case, params, fwd, layer, z, moved, samples):
    """The forward pass over the stack from its pre-activation z at ``layer`` up, noting each
    (layer, z, the unperturbed z) in ``moved``; ``samples``: the one sample each nudge moved
    (None: all of them)."""
    while True:
        was = fwd.z[layer - 1] if samples is None else fwd.z[layer - 1][samples][:, None, :]
        moved.append((layer, z, was))
        a = activation(case.activations[layer - 1], case.leaky_slope).f(z)
        if layer == case.depth:
            return a
        layer += 1
        z = a @ params[f"W{layer}"] + params.get(f"b{layer}", 0)


def _near_kink(case, params, X, Y, x, index, base) -> float:
    """dE/dx[index] where ±h moves a relu pre-activation across its kink: the step shrinks
    tenfold until nothing crosses; a pre-activation sitting exactly on the kink (z = 0) stays
    there however small the step, and there the one-sided difference on the side where nothing
    crosses gives relu′(0) = 0 (second order: (−3E(x) + 4E(x ± h) − E(x ± 2h)) / ±2h)."""

    def loss_at(value):
        x[index] = value
        fwd = forward(case, params, X, Y)
        return fwd.loss, _same(relu_sides(case, fwd), base)

    old = x[index]
    try:
        full = h = STEP * max(1.0, abs(old))
        for _ in range(MAX_SHRINK - 1):
            h /= 10
            (up, up_kept), (down, down_kept) = loss_at(old + h), loss_at(old - h)
            if up_kept and down_kept:
                return (up - down) / (2 * h)
        for sign, kept in ((-1, down_kept), (1, up_kept)):
            if kept:
                (centre, _), (near, near_kept), (far, far_kept) = (
                    loss_at(old + k * sign * full) for k in (0, 1, 2)
                )
                if near_kept and far_kept:
                    return (-3 * centre + 4 * near - far) / (2 * sign * full)
        return (up - down) / (2 * h)  # both sides cross at every step: the kink's own slope
    finally:
        x[index] = old


def relu_sides(case: Case, fwd) -> list[np.ndarray]:
    """Which side of its kink each relu pre-activation is on."""
    return [z > 0 for z, act in zip(fwd.z, case.activations, strict=True) if act in KINKED]


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def descend(case: Case, params: dict, state: dict) -> tuple[dict, dict, dict]:
    """(finite-difference gradients rounded to the run's dtype, the parameters the case's
    optimizer makes of them, its state after)."""
    dtype = next(iter(params.values())).dtype
    grads = {n: g.astype(dtype) for n, g in gradients(case, params).items()}
    return grads, *update(case, params, grads, state)


def train_by_differences(case: Case, dtype=np.float64) -> Result:
    """``case.steps`` steps of the case's optimizer on finite-difference gradients."""
    dtype = np.dtype(dtype)
    params = case.parameters(dtype)
    X, Y = inputs_of(case, dtype), case.targets.astype(dtype)

    def one_step(params, state):
        loss = loss_value(case, params, X, Y)
        return loss, *descend(case, params, state)

    def final_loss(params):
        return loss_value(case, params, X, Y)

    return train_loop(
        one_step, params, start(case, params), case.steps, final_loss, loss_dtype=dtype
    )


def hvp_by_differences(case: Case, v: dict, step: float | None = None) -> dict[str, np.ndarray]:
    """H·v as central differences of the hand-derived gradient along v:
    (∇E(θ + h·v) − ∇E(θ − h·v)) / 2h, with h = ∛eps / max(1, ‖v‖∞) · max(1, ‖θ‖∞).

    Error bound: truncation h²/6·|∂³E[v,v,v]| plus rounding ~eps·|∇E|/h — about 1e-10
    relative for the random cases here (the fd backend's second-order floor covers it)."""
    params = case.parameters()
    if step is None:
        scale = max(1.0, max(np.abs(p).max() for p in params.values()))
        vmax = max(1.0, max(np.abs(d).max() for d in v.values()))
        step = STEP * scale / vmax

    kinks = bool(set(KINKED) & set(case.activations))

    def grad_at(t):
        """∇E(θ + t·v), and which side of its kink each relu pre-activation is on there."""
        shifted = {n: p + t * v[n] for n, p in params.items()}
        fwd = forward(case, shifted, case.inputs, case.targets)
        return backward(case, shifted, fwd, case.targets), relu_sides(case, fwd) if kinks else []

    (centre, base), (up, up_sides), (down, down_sides) = (grad_at(t) for t in (0, step, -step))
    crossed = [s for s, sides in ((1, up_sides), (-1, down_sides)) if not _same(sides, base)]
    if crossed and len(crossed) < 2:
        # a relu pre-activation on its kink (z = 0): the gradient jumps there; by the
        # convention relu′(0) = relu″(0) = 0, differentiate on the side where nothing crosses
        side = -crossed[0]
        near, far = (up if side == 1 else down), grad_at(2 * side * step)[0]
        return {n: (-3 * centre[n] + 4 * near[n] - far[n]) / (2 * side * step) for n in params}
    return {n: (up[n] - down[n]) / (2 * step) for n in params}
