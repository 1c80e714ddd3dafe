"""`explain`'s walk through time for a recurrent layer (docs/recurrent.md): its first step
forward, every quantity of the cell with the case's numbers, and its last step backward — the
gradient arriving at h_T, through the cell, and what is carried to step T − 1. The layer's own
row computes them (reference/layers/rnn.py, lstm.py, gru.py): the numbers are the reference's."""

import numpy as np
from backprop_crosscheck.reference.layers import gru, lstm, rnn
from backprop_crosscheck.reference.rules.activations import activation


def first(x, count: int = 4) -> str:
    values = np.asarray(x, np.float64).ravel()
    more = ", …" if values.size > count else ""
    return "[" + ", ".join(f"{v:.6g}" for v in values[:count]) + more + "]"


def forward_step(layer, through) -> list[str]:
    """Step 1 of the layer, sample 0 on: the cell's quantities."""
    s, kind = through.steps[0], layer.kind
    lines = [f"     step 1 of {through.shape[1]} (then the same cell at every step):"]
    if kind == "rnn":
        f = layer.settings["activation"]
        lines += [
            f"       a_1 = x_1·Wx + h_0·Wh + b = {first(s.a)}",
            f"       h_1 = {f}(a_1) = {first(s.h_next)}",
        ]
    elif kind == "lstm":
        lines += [
            f"       i = σ(a_i) = {first(s.i)}   f = σ(a_f) = {first(s.f)}",
            f"       g = tanh(a_g) = {first(s.g)}   o = σ(a_o) = {first(s.o)}",
            f"       c_1 = f ⊙ c_0 + i ⊙ g = {first(s.f * s.c + s.i * s.g)}",
            f"       h_1 = o ⊙ tanh(c_1) = {first(s.o * s.tc)}",
        ]
    else:
        where = "r ⊙ (h_0·Wh_n + bh_n)" if layer.settings["reset"] == "after" else "(r ⊙ h_0)·Wh_n"
        lines += [
            f"       r = {first(s.r)}   z = {first(s.z)}",
            f"       n = tanh(x_1·Wx_n + b_n + {where}) = {first(s.n)}",
            f"       h_1 = (1 − z) ⊙ n + z ⊙ h_0 = {first((1 - s.z) * s.n + s.z * s.h)}",
        ]
    return lines


def backward_step(layer, through, dy, params) -> list[str]:
    """The last step back, sample 0 on: dE/dh_T, through the cell, what step T − 1 gets."""
    T, s = through.shape[1], through.steps[-1]
    dh = dy[:, -1] if through.outputs == "every" else dy
    zero = np.zeros_like(dh)
    cell = {"rnn": rnn.RNN_CELL, "lstm": lstm.LSTM_CELL, "gru": gru.GRU_CELL}[layer.kind]
    state = (dh, zero) if layer.kind == "lstm" else (dh,)
    dxw, carried, _ = cell.back(state, s, params, **through.settings)
    dx = dxw @ params["Wx"].T  # da_T/dx_T = Wx
    lines = [f"     step {T} of {T} back (then each step before it, the carried gradient added):"]
    lines.append(f"       dE/dh_{T} = its loss's gradient = {first(dh)}")
    if layer.kind == "rnn":
        fprime = "(1 − h²)" if layer.settings["activation"] == "tanh" else "relu′(a)"
        da = dh * activation(layer.settings["activation"]).fprime(s.a, s.h_next)
        lines.append(f"       dE/da_{T} = dE/dh_{T} ⊙ {fprime} = {first(da)}")
    elif layer.kind == "lstm":
        dc = dh * s.o * (1 - s.tc**2)
        lines.append(f"       dE/dc_{T} = dE/dh_{T} ⊙ o ⊙ (1 − tanh²(c_{T})) = {first(dc)}")
        lines.append(
            f"       dE/dc_{T - 1} = dE/dc_{T} ⊙ f (through the forget gate) = {first(carried[1])}"
        )
    lines.append(f"       dE/dx_{T} = {first(dx)}")
    lines.append(f"       carried: dE/dh_{T - 1} += {first(carried[0])}")
    return lines
