"""lstm: the long short-term memory cell (CS231n's ``lstm_step_forward``, torch's ``nn.LSTM``,
Keras's ``LSTM``), run through time by recurrent.py. The gates' order in Wx, Wh and b is the
case's ``gates``: torch's and Keras's "ifgo", CS231n's "ifog".

    a_t = x_t·Wx + h_{t−1}·Wh + b                       (samples, 4·hidden), split by gate
    i = σ(a_i)   f = σ(a_f)   o = σ(a_o)   g = tanh(a_g)
    c_t = f ⊙ c_{t−1} + i ⊙ g                          h_t = o ⊙ tanh(c_t)

Backward, one step, from dE/dh_t and dE/dc_t (each its loss's and step t+1's):

    dE/do       = dE/dh_t ⊙ tanh(c_t)                           dh_t/do = tanh(c_t)
    dE/dc_t    += dE/dh_t ⊙ o ⊙ (1 − tanh²(c_t))                dh_t/dc_t = o·tanh′(c_t)
    dE/df       = dE/dc_t ⊙ c_{t−1}                             dc_t/df = c_{t−1}
    dE/di       = dE/dc_t ⊙ g                                   dc_t/di = g
    dE/dg       = dE/dc_t ⊙ i                                   dc_t/dg = i
    dE/dc_{t−1} = dE/dc_t ⊙ f    (through the forget gate)      dc_t/dc_{t−1} = f
    dE/da_i, _f, _o = dE/di ⊙ i(1 − i), …                       σ′ = σ(1 − σ)
    dE/da_g     = dE/dg ⊙ (1 − g²)                              tanh′ = 1 − tanh²
    then a_t's backward as the RNN's (recurrent.affine_backward): Wh and h_{t−1} at the step,
    Wx, b and x_t after the loop
"""

from typing import NamedTuple

import numpy as np
from backprop_crosscheck.reference.layers.kind import Kind
from backprop_crosscheck.reference.layers.recurrent import (
    Cell,
    RCell,
    affine,
    affine_backward,
    blocks,
    joined,
    r_affine,
    r_affine_backward,
    recurrent_rows,
)
from backprop_crosscheck.reference.rules.activations import sigmoid


class LstmSaved(NamedTuple):
    h: np.ndarray  # h_{t−1}
    c: np.ndarray  # c_{t−1}
    i: np.ndarray
    f: np.ndarray
    o: np.ndarray
    g: np.ndarray
    tc: np.ndarray  # tanh(c_t)


def lstm_step(xw, state, params, gates="ifgo"):
    h, c = state
    a = blocks(affine(xw, h, params), gates)  # a_t = (x_t·Wx + b) + h_{t−1}·Wh, by gate
    i, f, o = sigmoid(a["i"]), sigmoid(a["f"]), sigmoid(a["o"])
    g = np.tanh(a["g"])
    c_next = f * c + i * g  # c_t = f ⊙ c_{t−1} + i ⊙ g
    tc = np.tanh(c_next)
    return (o * tc, c_next), LstmSaved(h, c, i, f, o, g, tc)  # h_t = o ⊙ tanh(c_t)


def _gate_gradients(dh, dc, s: LstmSaved):
    """dE/dc_t in full, and dE/d each gate's output."""
    dc = dc + dh * s.o * (1 - s.tc**2)  # dh_t/dc_t = o·(1 − tanh²(c_t)), + step t+1's
    return dc, {"o": dh * s.tc, "f": dc * s.c, "i": dc * s.g, "g": dc * s.i}


def _pre_activation_gradients(d_gate, s: LstmSaved) -> dict:
    """dE/da per gate: through σ′ = σ(1 − σ), and tanh′ = 1 − g² for g."""
    return {
        "i": d_gate["i"] * s.i * (1 - s.i),
        "f": d_gate["f"] * s.f * (1 - s.f),
        "o": d_gate["o"] * s.o * (1 - s.o),
        "g": d_gate["g"] * (1 - s.g**2),
    }


def lstm_step_backward(d_state, saved, params, gates="ifgo"):
    dh, dc = d_state
    dc, d_gate = _gate_gradients(dh, dc, saved)
    da = joined(_pre_activation_gradients(d_gate, saved), gates)
    dxw, dh_prev, grads = affine_backward(da, saved.h, params)
    return dxw, (dh_prev, dc * saved.f), grads  # dc_t/dc_{t−1} = f: through the forget gate


# --- along v: each line above differentiated (product rule), R{σ} = σ(1 − σ)·R{a} -----------


def lstm_r_step(r_xw, r_state, s: LstmSaved, params, v, gates="ifgo"):
    r_h, r_c = r_state
    r_a = blocks(r_affine(r_xw, s.h, r_h, params, v), gates)
    r = {k: r_a[k] * getattr(s, k) * (1 - getattr(s, k)) for k in "ifo"}  # R{σ(a)}
    r["g"] = r_a["g"] * (1 - s.g**2)  # R{tanh(a_g)}
    r_c_next = r["f"] * s.c + s.f * r_c + r["i"] * s.g + s.i * r["g"]  # R{f⊙c + i⊙g}
    r_tc = (1 - s.tc**2) * r_c_next
    r_h_next = r["o"] * s.tc + s.o * r_tc  # R{o ⊙ tanh(c_t)}
    return (r_h_next, r_c_next), (r_h, r_c, r, r_tc)


def lstm_r_step_backward(d_state, r_d_state, s: LstmSaved, r_saved, params, v, gates="ifgo"):
    (dh, dc_in), (r_dh, r_dc_in), (r_h, r_c, r, r_tc) = d_state, r_d_state, r_saved
    dc, d_gate = _gate_gradients(dh, dc_in, s)
    # R{dc} = R{dc_in} + R{dh}·o·(1 − tc²) + dh·R{o}·(1 − tc²) − 2·dh·o·tc·R{tc}
    r_dc = r_dc_in + (r_dh * s.o + dh * r["o"]) * (1 - s.tc**2) - 2 * dh * s.o * s.tc * r_tc
    r_d_gate = {
        "o": r_dh * s.tc + dh * r_tc,
        "f": r_dc * s.c + dc * r_c,
        "i": r_dc * s.g + dc * r["g"],
        "g": r_dc * s.i + dc * r["i"],
    }
    da = _pre_activation_gradients(d_gate, s)
    r_da = {  # R{d ⊙ σ(1 − σ)} = R{d}·σ(1 − σ) + d·(1 − 2σ)·R{σ}
        k: r_d_gate[k] * getattr(s, k) * (1 - getattr(s, k))
        + d_gate[k] * (1 - 2 * getattr(s, k)) * r[k]
        for k in "ifo"
    }
    r_da["g"] = r_d_gate["g"] * (1 - s.g**2) - 2 * d_gate["g"] * s.g * r["g"]
    r_dxw, r_dh_prev, hv = r_affine_backward(
        joined(da, gates), joined(r_da, gates), s.h, r_h, params, v
    )
    return r_dxw, (r_dh_prev, r_dc * s.f + dc * r["f"]), hv  # R{dc·f}


LSTM_CELL = Cell(("h", "c"), 4, lstm_step, lstm_step_backward)
LSTM_ROWS = recurrent_rows(LSTM_CELL, RCell(lstm_r_step, lstm_r_step_backward))
lstm_forward, lstm_backward = LSTM_ROWS["forward"], LSTM_ROWS["backward"]

LSTM = Kind(
    "lstm",
    says="c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh(c_t), step by step",
    dx_says="dE/da_t·Wxᵀ at every step, dE/dc carried through the forget gate",
    parameters={
        "Wx": "Σ_t x_tᵀ·dE/da_t",
        "Wh": "Σ_t h_{t−1}ᵀ·dE/da_t",
        "b": "Σ_t Σ_samples dE/da_t",
        "bh": "Σ_t Σ_samples dE/da_t (the second bias, torch's b_hh)",
        "h0": "dE/dh_0, Σ_samples",
        "c0": "dE/dc_0 = dE/dc_1 ⊙ f_1, Σ_samples",
    },
    **LSTM_ROWS,
    settings={"gates": "ifgo", "outputs": "every", "truncate": 0},
    optional=("b", "bh", "h0", "c0"),
)
