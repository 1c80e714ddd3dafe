"""position: a learned position embedding, added to a sequence (GPT-2's wpe, BERT's
position_embeddings): row t of the table is added at step t.

    y[:, t] = x[:, t] + table[t]            (the table has a row for each step, or more)

Backward, from dE/dy:

    dE/dx        = dE/dy                       dy/dx = 1
    dE/dtable[t] = Σ_samples dE/dy[:, t]       dy[:, t]/dtable[t] = 1; rows past the sequence: 0
"""

import numpy as np
from backprop_crosscheck.reference.layers.kind import Kind


def position_forward(x, params):
    return x + params["table"][: x.shape[1]], x.shape


def position_backward(dy, saved, params):
    d_table = np.zeros_like(params["table"])
    d_table[: dy.shape[1]] = dy.sum(axis=0)  # Σ_samples, step by step
    return dy, {"table": d_table}


# along v: R{y} = R{x} + V_table[:T] (y is affine in x and the table), so R{dE/dx} = R{dE/dy}
# and the table's H·v is its gradient's formula applied to R{dE/dy}


def position_r_forward(x, r_x, params, v, saved):
    return r_x + v["table"][: x.shape[1]]


def position_r_backward(x, r_x, dy, r_dy, saved, params, v):
    return position_backward(r_dy, saved, params)


POSITION = Kind(
    "position",
    says="x + table[t] at step t (a learned position embedding)",
    dx_says="dE/dy",
    parameters={"table": "Σ_samples dE/dy at each step (0 past the sequence)"},
    forward=position_forward,
    backward=position_backward,
    r_forward=position_r_forward,
    r_backward=position_r_backward,
)
