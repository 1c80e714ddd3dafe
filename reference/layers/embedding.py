"""embedding: rows of a table by index; its gradient a scatter-add."""

import numpy as np
from backprop_crosscheck.reference.layers.kind import Kind


def embedding_forward(indices, params):
    return params["table"][indices], indices


def embedding_backward(dy, saved, params):
    d_table = np.zeros_like(params["table"])
    np.add.at(d_table, saved, dy)  # a row picked twice gets both gradients (added, not kept)
    return None, {"table": d_table}  # integer inputs: no gradient


def embedding_r_forward(x, r_x, params, v, saved):
    return v["table"][x]  # R{table[i]} = V_table[i]


def embedding_r_backward(x, r_x, dy, r_dy, saved, params, v):
    return embedding_backward(r_dy, saved, params)  # the scatter-add of R{dy}


EMBEDDING = Kind(
    "embedding",
    says="table[indices]: one row per token",
    dx_says="none (indices)",
    parameters={"table": "dE/dy scatter-added to the rows picked"},
    forward=embedding_forward,
    backward=embedding_backward,
    r_forward=embedding_r_forward,
    r_backward=embedding_r_backward,
)
