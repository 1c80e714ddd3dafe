"""`explain`'s walk through an attention layer (docs/attention.md), sample 0 and its first head:
the scores S = Q·Kᵀ·scale, each softmax row P, the weighted values O = P·V, and back — dE/dO,
dE/dP, each row's softmax Jacobian applied (dE/dS = P ⊙ (dE/dP − rowsum(dE/dP ⊙ P))), dE/dQ,
dE/dK, dE/dV. The layer's own row computes them (reference/layers/attention.py): the numbers are
the reference's."""

import numpy as np
from backprop_crosscheck.reference.layers.attention import split_heads


def _row(values, count: int = 6) -> str:
    values = np.asarray(values, np.float64).ravel()
    more = ", …" if values.size > count else ""
    return "[" + ", ".join(f"{v:.4g}" for v in values[:count]) + more + "]"


def _rows(name: str, matrix, count: int = 4) -> list[str]:
    lines = [f"         {name}[{i}] = {_row(r)}" for i, r in enumerate(matrix[:count])]
    if len(matrix) > count:
        lines.append(f"         … {len(matrix) - count} rows more")
    return lines


def attention_forward_lines(saved) -> list[str]:
    """Sample 0, head 0: the scores, the weights row by row, the weighted values."""
    q, k, v, p = saved.q[0, 0], saved.k[0, 0], saved.v[0, 0], saved.p[0, 0]
    heads, allowed = saved.q.shape[1], saved.allowed[0, 0]
    scores = np.where(allowed, q @ k.T * saved.scale, -np.inf)
    lines = [f"     sample 0, head 1 of {heads} (scale {saved.scale:.6g}; −inf: masked):"]
    lines += ["       S = Q·Kᵀ·scale:"] + _rows("S", scores)
    lines += ["       P = softmax(S) over each row (each row sums to 1):"] + _rows("P", p)
    lines += ["       O = P·V (each query's weighted values):"] + _rows("O", p @ v)
    return lines


def attention_backward_lines(saved, dy, params) -> list[str]:
    """Sample 0, head 0, back: dE/dP, dE/dS by the softmax's Jacobian, dE/dQ, dE/dK, dE/dV."""
    heads = saved.q.shape[1]
    d_o = dy @ params["Wo"].T if "Wo" in params else dy
    d_o = split_heads(d_o, heads)[0, 0]
    p, v, q, k = saved.p[0, 0], saved.v[0, 0], saved.q[0, 0], saved.k[0, 0]
    kept = saved.kept if np.ndim(saved.kept) == 0 else saved.kept[0, 0]
    d_p = (d_o @ v.T) * kept
    d_s = np.where(saved.allowed[0, 0], p * (d_p - (d_p * p).sum(axis=-1, keepdims=True)), 0)
    lines = ["     sample 0, head 1, back:"]
    lines += ["       dE/dP = dE/dO·Vᵀ:"] + _rows("dE/dP", d_p)
    lines += ["       dE/dS = P ⊙ (dE/dP − rowsum(dE/dP ⊙ P)) (each row sums to 0):"]
    lines += _rows("dE/dS", d_s)
    lines += [
        f"       dE/dQ = dE/dS·K·scale = {_row(d_s @ k * saved.scale)}",
        f"       dE/dK = dE/dSᵀ·Q·scale = {_row(d_s.T @ q * saved.scale)}",
        f"       dE/dV = Pᵀ·dE/dO = {_row((p * kept).T @ d_o)}",
    ]
    return lines
