"""Recurrent layers run over a sequence, and backpropagation through time (BPTT).

A recurrent layer takes x of shape (samples, time, features) and runs its cell (rnn.py,
lstm.py, gru.py) once per step, the state carried from each step to the next:

    state_0 = the initial state (the layer's ``h0``/``c0``, or zeros)
    state_t = cell(x_t, state_{t−1})                h_t = the state's first part
    y = h_1 … h_T, (samples, time, hidden)          outputs = "every" (a loss at every step)
    y = h_T, (samples, hidden)                      outputs = "last"

Backward, from the last step down — one chain-rule factor per line:

    dE/dh_t        = dE/dy_t  +  dE/dh_t through step t+1     (the carried gradient)
    dE/dx_t, dE/dstate_{t−1}, dE/dθ at step t = the cell's backward of dE/dstate_t
    dE/dθ          = Σ_t dE/dθ at step t                      (the same θ at every step)

``truncate = k`` (0: never) is truncated BPTT as a training loop writes it: the state is
detached every k steps (``h.detach()`` at t = k, 2k, …), so the carried gradient stops there;
the forward pass is unchanged.

Each step forward takes one product, h·Wh: the input side of every step, x_t·Wx + b, is one
product before the loop, and its gradients (Wx, b, dE/dx) one each after the backward loop.

Parameters, in the layout of the article's dense layer (x·W): ``Wx`` (features × gates·hidden),
``Wh`` (hidden × gates·hidden), ``b`` (gates·hidden, CS231n's and Keras's one bias, torch's
b_ih), ``bh`` (torch's second bias b_hh, optional), ``h0`` (and an LSTM's ``c0``): the initial
state, one row shared by every sample (a learned initial state) or one per sample (CS231n's).
"""

from typing import NamedTuple

import numpy as np

INITIAL_STATE = ("h0", "c0")  # the initial state's parameters, in the state's order
OUTPUTS = ("every", "last")


class Cell(NamedTuple):
    """One step of a recurrent cell: ``step(x_t, state, params, **settings) -> (state, saved)``
    and ``back(d_state, saved, params, **settings) -> (dE/dx_t, dE/dstate_{t−1}, {θ: dE/dθ})``,
    ``state``: the parts of its state (h, and an LSTM's c)."""

    state: tuple
    gates: int  # how many blocks of hidden units Wx, Wh and b hold
    step: object
    back: object


class Through(NamedTuple):
    """What the backward through time keeps: the input's shape, every step's saved data, the
    initial state and the layer's settings."""

    shape: tuple
    x: np.ndarray  # the input, for the input side's gradients after the loop
    steps: list
    first: tuple  # the initial state, (samples, hidden) per part
    outputs: str
    truncate: int
    settings: dict  # the cell's own: an RNN's activation, an LSTM's gate order, …


def hidden_size(params) -> int:
    return params["Wh"].shape[0]


def initial_state(cell: Cell, params, samples: int, dtype) -> tuple:
    """state_0: each part's parameter broadcast to every sample, or zeros."""
    H = hidden_size(params)
    return tuple(
        np.broadcast_to(params[name], (samples, H)).astype(dtype)
        if name in params
        else np.zeros((samples, H), dtype)
        for name in INITIAL_STATE[: len(cell.state)]
    )


def input_side(x, params):
    """x_t·Wx + b for every step at once (one product): the part of each step's
    pre-activations that does not wait for the state, (samples, time, gates·hidden)."""
    xw = x @ params["Wx"]
    return xw + params["b"] if "b" in params else xw


def input_backward(dxw, x, params) -> tuple:
    """(dE/dx, {Wx, b}) from dE/d(x_t·Wx + b) of every step, after the loop: one product
    each."""
    flat_x, flat_d = x.reshape(-1, x.shape[-1]), dxw.reshape(-1, dxw.shape[-1])
    grads = {"Wx": flat_x.T @ flat_d}  # Σ_t x_tᵀ·dE/da_t
    if "b" in params:
        grads["b"] = flat_d.sum(axis=0)  # Σ_t Σ_samples dE/da_t
    return dxw @ params["Wx"].T, grads  # da_t/dx_t = Wx


def affine(xw, h, params):
    """The cell's pre-activations a = (x·Wx + b) + h·Wh (+ bh): (samples, gates·hidden)."""
    a = xw + h @ params["Wh"]
    return a + params["bh"] if "bh" in params else a


def affine_backward(da, h, params) -> tuple:
    """(dE/d(x·Wx + b), dE/dh, the recurrent weights' gradients) of a = (x·Wx + b) + h·Wh
    (+ bh), from dE/da."""
    grads = {"Wh": h.T @ da}  # da/dWh = hᵀ (the previous state)
    if "bh" in params:
        grads["bh"] = da.sum(axis=0)  # da/dbh = 1
    return da, da @ params["Wh"].T, grads  # da/d(x·Wx + b) = 1, da/dh = Wh


def blocks(a, order: str) -> dict:
    """The gates' blocks of a (samples, gates·hidden) array, by the letters of ``order``."""
    H = a.shape[-1] // len(order)
    return {gate: a[..., k * H : (k + 1) * H] for k, gate in enumerate(order)}


def joined(parts: dict, order: str):
    """The blocks put back in ``order``: the inverse of ``blocks``."""
    return np.concatenate([parts[gate] for gate in order], axis=-1)


def forward_through_time(cell: Cell, x, params, outputs="every", truncate=0, **settings):
    """The layer's forward through time: (y, Through). One product a step: h·Wh (the input
    side of every step, x_t·Wx + b, at once before the loop)."""
    state = first = initial_state(cell, params, x.shape[0], x.dtype)
    xw, hs, steps = input_side(x, params), [], []
    for t in range(x.shape[1]):
        state, saved = cell.step(xw[:, t], state, params, **settings)
        hs.append(state[0])
        steps.append(saved)
    y = np.stack(hs, axis=1) if outputs == "every" else hs[-1]
    return y, Through(x.shape, x, steps, first, outputs, truncate, settings)


def backward_through_time(cell: Cell, dy, through: Through, params):
    """Backpropagation through time: (dE/dx, {θ: dE/dθ}), the weights' gradients summed over
    every step (the input side's after the loop, in one product each)."""
    T, outputs, truncate = through.shape[1], through.outputs, through.truncate
    d_state = tuple(np.zeros_like(part) for part in through.first)  # nothing after step T
    dxw, grads = None, {}
    for t in range(T - 1, -1, -1):
        from_loss = dy[:, t] if outputs == "every" else (dy if t == T - 1 else 0)
        d_state = (d_state[0] + from_loss, *d_state[1:])  # dE/dh_t: its loss, and step t+1
        d_in, d_state, own = cell.back(d_state, through.steps[t], params, **through.settings)
        if dxw is None:
            dxw = np.zeros((*through.shape[:2], d_in.shape[-1]), dtype=d_in.dtype)
        dxw[:, t] = d_in  # dE/d(x_t·Wx + b)
        for name, g in own.items():
            grads[name] = grads[name] + g if name in grads else g  # Σ over steps
        if truncate and t > 0 and t % truncate == 0:
            d_state = tuple(np.zeros_like(d) for d in d_state)  # detached: it stops here
    dx, inputs = input_backward(dxw, through.x, params)
    grads.update(inputs)
    for name, d in zip(INITIAL_STATE, d_state, strict=False):
        if name in params:  # one row shared by every sample: Σ over samples
            grads[name] = d if params[name].ndim == 2 else d.sum(axis=0)
    return dx, {name: grads[name] for name in params}


# --- along v: the R-operator through time (reference/hvp.py) ---------------------------------
#
# Every line of the forward and backward above differentiated along v, step by step: the cell's
# ``r_step`` gives R{state_t} from R{state_t−1} and R{x_t}, its ``r_back`` R{dE/dx_t},
# R{dE/dstate_t−1} and its H·v terms from R{dE/dstate_t}. R{h_0} is v's part for h0 (or 0).
# A detached state (truncate) is a constant along v too, R{state} = 0 there, as an engine's
# double backward and jvp through ``detach``/``stop_gradient`` treat it: H·v of a truncated
# case is the derivative of the truncated gradient with the detached states held fixed.


class RCell(NamedTuple):
    """A cell's R-operator: ``r_step(r_x, r_state, saved, params, v, **settings) -> (R{state},
    r_saved)``, ``r_back(d_state, r_d_state, saved, r_saved, params, v, **settings) ->
    (R{dx_t}, R{d state_t−1}, {θ: H·v term})``."""

    r_step: object
    r_back: object


def r_input_side(x, r_x, params, v):
    """R{x_t·Wx + b} for every step at once: R{x}·Wx + x·V_Wx + V_b."""
    r_xw = r_x @ params["Wx"] + x @ v["Wx"]
    return r_xw + v["b"] if "b" in v else r_xw


def r_input_backward(dxw, r_dxw, x, r_x, params, v) -> tuple:
    """R{dE/dx} and the input side's H·v terms, after the loop: product rule on each line of
    ``input_backward``."""
    flat = {n: t.reshape(-1, t.shape[-1]) for n, t in {"x": x, "r_x": r_x, "d": dxw}.items()}
    r_flat = r_dxw.reshape(-1, r_dxw.shape[-1])
    hv = {"Wx": flat["r_x"].T @ flat["d"] + flat["x"].T @ r_flat}  # R{Σ x_tᵀ·da_t}
    if "b" in params:
        hv["b"] = r_flat.sum(axis=0)
    return r_dxw @ params["Wx"].T + dxw @ v["Wx"].T, hv  # R{da·Wxᵀ}


def r_affine(r_xw, h, r_h, params, v):
    """R{a} = R{x·Wx + b} + R{h}·Wh + h·V_Wh (+ V_bh): a is bilinear in (h, Wh)."""
    r_a = r_xw + r_h @ params["Wh"] + h @ v["Wh"]
    return r_a + v["bh"] if "bh" in v else r_a


def r_affine_backward(da, r_da, h, r_h, params, v) -> tuple:
    """R{dE/d(x·Wx + b)}, R{dh} and the H·v terms of ``affine_backward``, product rule on each
    line."""
    hv = {"Wh": r_h.T @ da + h.T @ r_da}  # R{hᵀ·da}
    if "bh" in params:
        hv["bh"] = r_da.sum(axis=0)  # R{Σ da}
    return r_da, r_da @ params["Wh"].T + da @ v["Wh"].T, hv  # R{da·Whᵀ}


def r_forward_through_time(cell: Cell, r_cell: RCell, r_x, params, v, through: Through):
    """R{y} and every step's R-saved data, the forward through time along v."""
    N, T, _ = through.shape
    r_state = tuple(
        np.broadcast_to(v[name], (N, hidden_size(params))) if name in v else np.zeros_like(part)
        for name, part in zip(INITIAL_STATE, through.first, strict=False)
    )
    r_xw, r_hs, r_steps = r_input_side(through.x, r_x, params, v), [], []
    for t in range(T):
        if through.truncate and t > 0 and t % through.truncate == 0:
            r_state = tuple(np.zeros_like(r) for r in r_state)  # detached: a constant, R{·} = 0
        r_state, r_saved = r_cell.r_step(
            r_xw[:, t], r_state, through.steps[t], params, v, **through.settings
        )
        r_hs.append(r_state[0])
        r_steps.append(r_saved)
    return (np.stack(r_hs, axis=1) if through.outputs == "every" else r_hs[-1]), r_steps


def r_backward_through_time(cell: Cell, r_cell: RCell, dy, r_dy, r_x, params, v, through: Through):
    """(R{dE/dx}, {θ: H·v}): backpropagation through time and its R{·}, side by side."""
    _, r_steps = r_forward_through_time(cell, r_cell, r_x, params, v, through)
    T, every, truncate = through.shape[1], through.outputs == "every", through.truncate
    d_state = tuple(np.zeros_like(part) for part in through.first)
    r_d_state = tuple(np.zeros_like(part) for part in through.first)
    dxw = r_dxw = None
    hv = {}
    for t in range(T - 1, -1, -1):
        last = t == T - 1
        from_loss, r_from_loss = (
            (dy[:, t], r_dy[:, t]) if every else ((dy, r_dy) if last else (0, 0))
        )
        d_state = (d_state[0] + from_loss, *d_state[1:])
        r_d_state = (r_d_state[0] + r_from_loss, *r_d_state[1:])
        saved, settings = through.steps[t], through.settings
        r_in, r_d_prev, own = r_cell.r_back(
            d_state, r_d_state, saved, r_steps[t], params, v, **settings
        )
        d_in, d_state, _ = cell.back(d_state, saved, params, **settings)
        if dxw is None:
            dxw, r_dxw = (np.zeros((*through.shape[:2], d_in.shape[-1]), d_in.dtype) for _ in "dr")
        dxw[:, t], r_dxw[:, t], r_d_state = d_in, r_in, r_d_prev
        for name, h in own.items():
            hv[name] = hv[name] + h if name in hv else h
        if truncate and t > 0 and t % truncate == 0:
            d_state = tuple(np.zeros_like(d) for d in d_state)
            r_d_state = tuple(np.zeros_like(d) for d in r_d_state)
    r_dx, inputs = r_input_backward(dxw, r_dxw, through.x, r_x, params, v)
    hv.update(inputs)
    for name, r_d in zip(INITIAL_STATE, r_d_state, strict=False):
        if name in params:
            hv[name] = r_d if params[name].ndim == 2 else r_d.sum(axis=0)
    return r_dx, {name: hv[name] for name in params}


def recurrent_rows(cell: Cell, r_cell: RCell) -> dict:
    """A recurrent layer's row functions: forward, backward and the R-operator through time,
    as kind.py's ``Kind`` takes them."""

    def forward(x, params, **settings):
        return forward_through_time(cell, x, params, **settings)

    def backward(dy, saved, params):
        return backward_through_time(cell, dy, saved, params)

    def r_forward(x, r_x, params, v, saved, **settings):
        return r_forward_through_time(cell, r_cell, r_x, params, v, saved)[0]

    def r_backward(x, r_x, dy, r_dy, saved, params, v, **settings):
        return r_backward_through_time(cell, r_cell, dy, r_dy, r_x, params, v, saved)

    return {
        "forward": forward,
        "backward": backward,
        "r_forward": r_forward,
        "r_backward": r_backward,
    }
