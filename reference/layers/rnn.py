"""rnn: the vanilla recurrent cell (CS231n's ``rnn_step_forward``, torch's ``nn.RNN``, Keras's
``SimpleRNN``), run through time by recurrent.py.

    a_t = x_t·Wx + h_{t−1}·Wh + b        h_t = f(a_t)          f: tanh (or relu)

Backward, one step, from dE/dh_t (its loss's and step t+1's):

    dE/da_t     = dE/dh_t ⊙ f′(a_t)                       dh_t/da_t = f′(a_t)
    dE/dWx     += x_tᵀ·dE/da_t                            da_t/dWx = x_t
    dE/dWh     += h_{t−1}ᵀ·dE/da_t                        da_t/dWh = h_{t−1}
    dE/db      += Σ_samples dE/da_t                       da_t/db = 1
    dE/dx_t     = dE/da_t·Wxᵀ                             da_t/dx_t = Wx
    dE/dh_{t−1} = dE/da_t·Whᵀ    (carried to step t−1)    da_t/dh_{t−1} = Wh
"""

from typing import NamedTuple

import numpy as np
from backprop_crosscheck.reference.layers.kind import Kind
from backprop_crosscheck.reference.layers.recurrent import (
    Cell,
    RCell,
    affine,
    affine_backward,
    r_affine,
    r_affine_backward,
    recurrent_rows,
)
from backprop_crosscheck.reference.rules.activations import activation as activation_row


class RnnSaved(NamedTuple):
    h: np.ndarray  # h_{t−1}
    a: np.ndarray  # a_t
    h_next: np.ndarray  # h_t = f(a_t)


def rnn_step(xw, state, params, activation="tanh"):
    (h,) = state
    a = affine(xw, h, params)  # a_t = (x_t·Wx + b) + h_{t−1}·Wh
    h_next = activation_row(activation).f(a)  # h_t = f(a_t)
    return (h_next,), RnnSaved(h, a, h_next)


def rnn_step_backward(d_state, saved, params, activation="tanh"):
    (dh,) = d_state
    da = dh * activation_row(activation).fprime(saved.a, saved.h_next)  # dh_t/da_t = f′(a_t)
    dxw, dh_prev, grads = affine_backward(da, saved.h, params)
    return dxw, (dh_prev,), grads  # dE/d(x_t·Wx + b): Wx's, b's and dE/dx_t after the loop


# along v (recurrent.py): R{a_t} = R{x_t·Wx + b} + R{h_{t−1}}·Wh + h_{t−1}·V_Wh,
# R{h_t} = f′(a_t)·R{a_t};  R{dE/da_t} = R{dE/dh_t}·f′(a_t) + dE/dh_t·f″(a_t)·R{a_t}


def rnn_r_step(r_xw, r_state, saved, params, v, activation="tanh"):
    (r_h,) = r_state
    r_a = r_affine(r_xw, saved.h, r_h, params, v)
    return (activation_row(activation).fprime(saved.a, saved.h_next) * r_a,), (r_h, r_a)


def rnn_r_step_backward(d_state, r_d_state, saved, r_saved, params, v, activation="tanh"):
    (dh,), (r_dh,), (r_h, r_a) = d_state, r_d_state, r_saved
    f = activation_row(activation)
    da = dh * f.fprime(saved.a, saved.h_next)
    r_da = r_dh * f.fprime(saved.a, saved.h_next) + dh * f.fsecond(saved.a, saved.h_next) * r_a
    r_dxw, r_dh_prev, hv = r_affine_backward(da, r_da, saved.h, r_h, params, v)
    return r_dxw, (r_dh_prev,), hv


RNN_CELL = Cell(("h",), 1, rnn_step, rnn_step_backward)
RNN_ROWS = recurrent_rows(RNN_CELL, RCell(rnn_r_step, rnn_r_step_backward))
rnn_forward, rnn_backward = RNN_ROWS["forward"], RNN_ROWS["backward"]

RNN = Kind(
    "rnn",
    says="h_t = f(x_t·Wx + h_{t−1}·Wh + b), step by step",
    dx_says="dE/da_t·Wxᵀ at every step, dE/da_t = (dE/dh_t + carried)·f′(a_t)",
    parameters={
        "Wx": "Σ_t x_tᵀ·dE/da_t",
        "Wh": "Σ_t h_{t−1}ᵀ·dE/da_t",
        "b": "Σ_t Σ_samples dE/da_t",
        "bh": "Σ_t Σ_samples dE/da_t (the second bias, torch's b_hh)",
        "h0": "dE/dh_0 = dE/da_1·Whᵀ, Σ_samples",
    },
    **RNN_ROWS,
    settings={"activation": "tanh", "outputs": "every", "truncate": 0},
    optional=("b", "bh", "h0"),
)
