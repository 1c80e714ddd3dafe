"""gru: the gated recurrent unit (torch's ``nn.GRU``, Keras's ``GRU``), run through time by
recurrent.py. The gates' order in Wx, Wh, b and bh is the case's ``gates`` (torch's "rzn",
Keras's "zrn"); ``reset`` says where the reset gate acts:

    r = σ(x_t·Wx_r + b_r + h_{t−1}·Wh_r + bh_r)      z = σ(x_t·Wx_z + b_z + h_{t−1}·Wh_z + bh_z)
    "after"  (torch; Keras's default):   n = tanh(x_t·Wx_n + b_n + r ⊙ (h_{t−1}·Wh_n + bh_n))
    "before" (Cho et al. 2014; Keras's reset_after=False):
                                         n = tanh(x_t·Wx_n + b_n + (r ⊙ h_{t−1})·Wh_n + bh_n)
    h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

Backward, one step, from dE/dh_t (its loss's and step t+1's); hn = the term Wh_n makes, h_in
what Wh_n multiplies (h_{t−1}, or r ⊙ h_{t−1} before):

    dE/dn       = dE/dh_t ⊙ (1 − z)                          dh_t/dn = 1 − z
    dE/dz       = dE/dh_t ⊙ (h_{t−1} − n)                    dh_t/dz = h_{t−1} − n
    dE/dh_{t−1} = dE/dh_t ⊙ z    (directly; more below)      dh_t/dh_{t−1} = z
    dE/da_n     = dE/dn ⊙ (1 − n²)                           tanh′
    after:  dE/dhn = dE/da_n ⊙ r,  dE/dr = dE/da_n ⊙ hn,  dE/dh_{t−1} += dE/dhn·Wh_nᵀ
    before: dE/dhn = dE/da_n,  dE/dh_in = dE/dhn·Wh_nᵀ,  dE/dr = dE/dh_in ⊙ h_{t−1},
            dE/dh_{t−1} += dE/dh_in ⊙ r
    dE/da_r     = dE/dr ⊙ r(1 − r)     dE/da_z = dE/dz ⊙ z(1 − z)              σ′
    dE/dWx     += x_tᵀ·[da_r, da_z, da_n]      dE/dx_t = [da_r, da_z, da_n]·Wxᵀ (after the loop)
    dE/dWh_r,z += h_{t−1}ᵀ·da_r,z    dE/dWh_n += h_inᵀ·dE/dhn
    dE/dh_{t−1} += da_r·Wh_rᵀ + da_z·Wh_zᵀ
"""

from typing import NamedTuple

import numpy as np
from backprop_crosscheck.reference.layers.kind import Kind
from backprop_crosscheck.reference.layers.recurrent import (
    Cell,
    RCell,
    blocks,
    joined,
    recurrent_rows,
)
from backprop_crosscheck.reference.rules.activations import sigmoid

RESETS = ("after", "before")


class GruSaved(NamedTuple):
    h: np.ndarray  # h_{t−1}
    r: np.ndarray
    z: np.ndarray
    n: np.ndarray
    hn: np.ndarray  # h_in·Wh_n + bh_n
    h_in: np.ndarray  # h_{t−1} (after) or r ⊙ h_{t−1} (before)


def _gru_biases(params, name, gates):
    return blocks(params[name], gates) if name in params else dict.fromkeys(gates, 0)


def gru_step(xw, state, params, gates="rzn", reset="after"):
    (h,) = state
    ax = blocks(xw, gates)  # x_t·Wx + b, by gate
    bh, Wh = _gru_biases(params, "bh", gates), blocks(params["Wh"], gates)
    r = sigmoid(ax["r"] + h @ Wh["r"] + bh["r"])
    z = sigmoid(ax["z"] + h @ Wh["z"] + bh["z"])
    h_in = h if reset == "after" else r * h
    hn = h_in @ Wh["n"] + bh["n"]
    n = np.tanh(ax["n"] + (r * hn if reset == "after" else hn))
    return ((1 - z) * n + z * h,), GruSaved(h, r, z, n, hn, h_in)


def _gru_gradients(dh, s: GruSaved, Wh_n, reset):
    """dE/dh_{t−1} so far, and dE/d every pre-activation: (dh_prev, da_r, da_z, da_n, dE/dhn,
    dE/dh_in)."""
    dn = dh * (1 - s.z)  # dh_t/dn = 1 − z
    dz = dh * (s.h - s.n)  # dh_t/dz = h_{t−1} − n
    dh_prev = dh * s.z  # dh_t/dh_{t−1} = z
    da_n = dn * (1 - s.n**2)  # tanh′
    if reset == "after":
        d_hn = da_n * s.r  # d(r ⊙ hn)/dhn = r
        dr = da_n * s.hn  # d(r ⊙ hn)/dr = hn
        d_hin = d_hn @ Wh_n.T  # dhn/dh = Wh_n
        dh_prev = dh_prev + d_hin
    else:
        d_hn = da_n
        d_hin = d_hn @ Wh_n.T  # dhn/d(r ⊙ h) = Wh_n
        dr = d_hin * s.h  # d(r ⊙ h)/dr = h
        dh_prev = dh_prev + d_hin * s.r  # d(r ⊙ h)/dh = r
    da_r = dr * s.r * (1 - s.r)  # σ′
    da_z = dz * s.z * (1 - s.z)
    return dh_prev, da_r, da_z, da_n, d_hn, d_hin


def gru_step_backward(d_state, saved, params, gates="rzn", reset="after"):
    (dh,), s = d_state, saved
    Wh = blocks(params["Wh"], gates)
    dh_prev, da_r, da_z, da_n, d_hn, _ = _gru_gradients(dh, s, Wh["n"], reset)
    dax = joined({"r": da_r, "z": da_z, "n": da_n}, gates)
    grads = {"Wh": joined({"r": s.h.T @ da_r, "z": s.h.T @ da_z, "n": s.h_in.T @ d_hn}, gates)}
    if "bh" in params:
        grads["bh"] = joined({"r": da_r, "z": da_z, "n": d_hn}, gates).sum(axis=0)
    dh_prev = dh_prev + da_r @ Wh["r"].T + da_z @ Wh["z"].T  # da_r,z/dh_{t−1} = Wh_r,z
    return dax, (dh_prev,), grads  # dE/d(x_t·Wx + b): Wx's, b's and dE/dx_t after the loop


# --- along v: each line above differentiated (product rule) ----------------------------------


def gru_r_step(r_xw, r_state, s: GruSaved, params, v, gates="rzn", reset="after"):
    (r_h,) = r_state
    Wh, V = blocks(params["Wh"], gates), blocks(v["Wh"], gates)
    r_ax, vbh = blocks(r_xw, gates), _gru_biases(v, "bh", gates)  # R{x·Wx + b}
    r_r = s.r * (1 - s.r) * (r_ax["r"] + r_h @ Wh["r"] + s.h @ V["r"] + vbh["r"])
    r_z = s.z * (1 - s.z) * (r_ax["z"] + r_h @ Wh["z"] + s.h @ V["z"] + vbh["z"])
    r_hin = r_h if reset == "after" else r_r * s.h + s.r * r_h
    r_hn = r_hin @ Wh["n"] + s.h_in @ V["n"] + vbh["n"]
    r_pre = r_ax["n"] + (r_r * s.hn + s.r * r_hn if reset == "after" else r_hn)
    r_n = (1 - s.n**2) * r_pre
    r_h_next = (1 - s.z) * r_n - r_z * s.n + r_z * s.h + s.z * r_h  # R{(1 − z)·n + z·h}
    return (r_h_next,), (r_h, r_r, r_z, r_n, r_hn, r_hin)


def gru_r_step_backward(
    d_state, r_d_state, s: GruSaved, r_saved, params, v, gates="rzn", reset="after"
):
    (dh,), (r_dh,) = d_state, r_d_state
    r_h, r_r, r_z, r_n, r_hn, r_hin = r_saved
    Wh, V = blocks(params["Wh"], gates), blocks(v["Wh"], gates)
    _, da_r, da_z, da_n, d_hn, d_hin = _gru_gradients(dh, s, Wh["n"], reset)
    dn, dz, dr = dh * (1 - s.z), dh * (s.h - s.n), None
    r_dn = r_dh * (1 - s.z) - dh * r_z
    r_dz = r_dh * (s.h - s.n) + dh * (r_h - r_n)
    r_dh_prev = r_dh * s.z + dh * r_z
    r_da_n = r_dn * (1 - s.n**2) - 2 * dn * s.n * r_n
    if reset == "after":
        dr = da_n * s.hn
        r_d_hn = r_da_n * s.r + da_n * r_r
        r_dr = r_da_n * s.hn + da_n * r_hn
        r_dh_prev = r_dh_prev + r_d_hn @ Wh["n"].T + d_hn @ V["n"].T
    else:
        dr = d_hin * s.h
        r_d_hn = r_da_n
        r_d_hin = r_d_hn @ Wh["n"].T + d_hn @ V["n"].T
        r_dr = r_d_hin * s.h + d_hin * r_h
        r_dh_prev = r_dh_prev + r_d_hin * s.r + d_hin * r_r
    r_da_r = r_dr * s.r * (1 - s.r) + dr * (1 - 2 * s.r) * r_r  # R{d·σ(1 − σ)}
    r_da_z = r_dz * s.z * (1 - s.z) + dz * (1 - 2 * s.z) * r_z
    r_dax = joined({"r": r_da_r, "z": r_da_z, "n": r_da_n}, gates)
    hv = {}
    hv["Wh"] = joined(
        {
            "r": r_h.T @ da_r + s.h.T @ r_da_r,
            "z": r_h.T @ da_z + s.h.T @ r_da_z,
            "n": r_hin.T @ d_hn + s.h_in.T @ r_d_hn,
        },
        gates,
    )
    if "bh" in params:
        hv["bh"] = joined({"r": r_da_r, "z": r_da_z, "n": r_d_hn}, gates).sum(axis=0)
    r_dh_prev = (
        r_dh_prev + r_da_r @ Wh["r"].T + da_r @ V["r"].T + r_da_z @ Wh["z"].T + da_z @ V["z"].T
    )
    return r_dax, (r_dh_prev,), hv  # R{dE/d(x_t·Wx + b)}: the input side's after the loop


GRU_CELL = Cell(("h",), 3, gru_step, gru_step_backward)
GRU_ROWS = recurrent_rows(GRU_CELL, RCell(gru_r_step, gru_r_step_backward))
gru_forward, gru_backward = GRU_ROWS["forward"], GRU_ROWS["backward"]

GRU = Kind(
    "gru",
    says="h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}, n = tanh(… r ⊙ …), step by step",
    dx_says="[da_r, da_z, da_n]·Wxᵀ at every step",
    parameters={
        "Wx": "Σ_t x_tᵀ·[da_r, da_z, da_n]",
        "Wh": "Σ_t [h_{t−1}ᵀ·da_r, h_{t−1}ᵀ·da_z, h_inᵀ·dE/dhn]",
        "b": "Σ_t Σ_samples [da_r, da_z, da_n]",
        "bh": "Σ_t Σ_samples [da_r, da_z, dE/dhn] (the second bias, torch's b_hh)",
        "h0": "dE/dh_0, Σ_samples",
    },
    **GRU_ROWS,
    settings={"gates": "rzn", "reset": "after", "outputs": "every", "truncate": 0},
    optional=("b", "bh", "h0"),
)
