"""attention: scaled dot-product attention over a sequence, multi-head, with its projections
(torch's F.scaled_dot_product_attention and nn.MultiheadAttention, jax.nn.dot_product_attention,
Keras's ops.dot_product_attention, MLX's fast.scaled_dot_product_attention).

    Q = x·Wq + bq     K = m·Wk + bk     V = m·Wv + bv     m: x itself, or the layer's ``memory``
    Q, K, V split into heads: (samples, T, H·d) → (samples, H, T, d), head h columns h·d … h·d + d
    S  = Q·Kᵀ·scale + M          scale 1/√d unless given; M the case's additive mask (or 0)
    P  = softmax(S) over the keys a query may attend (causal, the mask, the lengths); 0 elsewhere
    P̃ = P ⊙ D/(1 − p)           D: the attention-dropout mask given in the case (as dropout's)
    O  = P̃·V                     heads merged back: (samples, T, H·d)
    y  = O·Wo + bo

A query that may attend no key (a fully masked row) follows the case's ``masked_rows``: "zero"
(its weights all 0: torch 2.13's scaled_dot_product_attention), "nan" (a softmax over −∞ alone),
"uniform" (the masked scores replaced by a large negative constant, JAX's jnp.where: equal
weights, the mean of V, no gradient to the scores) or "uniform_added" (the constant added to the
scores, Keras's float mask on torch: equal weights, and the softmax's gradient reaches Q and K
through them as if none were masked). Without projections (no Wq, Wk, Wv) Q = x and K = V = m,
split into heads as they are.

Backward, from dE/dy (each line one chain-rule factor):

    dE/dO  = dE/dy·Woᵀ          dE/dWo = Σ Oᵀ·dE/dy          dE/dbo = Σ dE/dy
    dE/dP̃ = dE/dO·Vᵀ            dE/dV  = P̃ᵀ·dE/dO           (O = P̃·V)
    dE/dP  = dE/dP̃ ⊙ D/(1 − p)
    dE/dS  = P ⊙ (dE/dP − rowsum(dE/dP ⊙ P))                  the softmax's Jacobian, applied
             (0 where a score is masked: a constant there)
    dE/dQ  = dE/dS·K·scale      dE/dK = dE/dSᵀ·Q·scale       (S = Q·Kᵀ·scale)
    dE/dWq = Σ xᵀ·dE/dQ         dE/dbq = Σ dE/dQ             dE/dx = dE/dQ·Wqᵀ
    dE/dWk = Σ mᵀ·dE/dK …       dE/dm  = dE/dK·Wkᵀ + dE/dV·Wvᵀ  (to x, or summed into memory)
"""

import math
from typing import NamedTuple

import numpy as np
from backprop_crosscheck.reference.layers.kind import Kind

MASK_TYPES = ("attend", "masked", "additive")  # how scores_mask reads: 1 attends / 1 masks / +M
# a fully masked query row: weights 0; NaN; equal weights with no gradient to its scores (the
# masked scores replaced by a constant); equal weights with the gradient through its scores (a
# large negative constant added to them)
MASKED_ROWS = ("zero", "nan", "uniform", "uniform_added")
ALIGNS = ("top_left", "bottom_right")  # a causal mask when queries and keys differ in length
PROJECTIONS = ("Wq", "Wk", "Wv")  # all or none


class AttentionSaved(NamedTuple):
    x: np.ndarray
    m: np.ndarray  # what keys and values are made of: x, or the memory for every sample
    q: np.ndarray  # (samples, heads, Tq, d)
    k: np.ndarray
    v: np.ndarray
    allowed: np.ndarray  # (samples or 1, 1, Tq, Tk): may query i attend key j
    p: np.ndarray  # the attention weights P
    kept: np.ndarray  # D/(1 − p), or 1
    o: np.ndarray  # (samples, Tq, H·d): the heads merged, before Wo
    scale: float
    layout: str = "transpose"  # how the heads were split ("reshape": reference/mistakes.py)


def split_heads(t, heads: int, layout: str = "transpose"):
    """(samples, T, H·d) → (samples, H, T, d): head h is columns h·d … h·d + d. (``layout``
    "reshape": the classic mistake, a reshape where the transpose belongs; reference/mistakes.py
    makes it.)"""
    n, steps, width = t.shape
    if layout == "reshape":
        return t.reshape(n, heads, steps, width // heads)
    return t.reshape(n, steps, heads, width // heads).transpose(0, 2, 1, 3)


def merge_heads(t, layout: str = "transpose"):
    """(samples, H, T, d) → (samples, T, H·d): split_heads undone."""
    n, heads, steps, d = t.shape
    if layout == "reshape":
        return t.reshape(n, steps, heads * d)
    return t.transpose(0, 2, 1, 3).reshape(n, steps, heads * d)


def allowed_keys(n, tq, tk, causal, align, mask_type, scores_mask, lengths):
    """(samples or 1, 1, Tq, Tk): which keys each query may attend."""
    allowed = np.ones((1, 1, tq, tk), dtype=bool)
    if causal:  # key j at or before query i; bottom_right: the last query sees every key
        shift = tk - tq if align == "bottom_right" else 0
        allowed = allowed & (np.arange(tk)[None, :] <= np.arange(tq)[:, None] + shift)
    if scores_mask is not None:
        given = np.asarray(scores_mask)
        given = given.reshape((-1, 1, tq, tk))
        if mask_type == "attend":
            allowed = allowed & (given != 0)
        elif mask_type == "masked":
            allowed = allowed & (given == 0)
        else:  # additive: −∞ masks
            allowed = allowed & np.isfinite(given)
    if lengths is not None:  # key padding: keys past a sample's length
        keys = np.arange(tk)[None, :] < np.asarray(lengths).reshape(-1, 1)
        allowed = allowed & keys[:, None, None, :]
    return np.broadcast_to(allowed, (allowed.shape[0], 1, tq, tk))


def masked_softmax(s, allowed, masked_rows):
    """softmax over the keys a query may attend; a row that may attend none: the convention."""
    shifted = np.where(allowed, s, -np.inf)
    top = shifted.max(axis=-1, keepdims=True)
    none = ~allowed.any(axis=-1, keepdims=True)  # a fully masked row
    e = np.where(allowed, np.exp(shifted - np.where(none, 0, top)), 0)
    total = e.sum(axis=-1, keepdims=True)
    p = e / np.where(none, 1, total)
    if masked_rows == "nan":
        return np.where(none, np.nan, p)
    if masked_rows in ("uniform", "uniform_added"):
        return np.where(none, 1 / s.shape[-1], p)
    return p  # zero


def _project(t, params, name, bias):
    y = t @ params[name]
    return y + params[bias] if bias in params else y


def attention_forward(
    x,
    params,
    heads=1,
    causal=False,
    align="top_left",
    scale=0.0,
    mask_type="attend",
    masked_rows="zero",
    p=0.0,
    mask=None,
    scores_mask=None,
    lengths=None,
    layout="transpose",
):
    n, tq = x.shape[:2]
    m = np.broadcast_to(params["memory"], (n, *params["memory"].shape)) if "memory" in params else x
    projected = "Wq" in params
    q = _project(x, params, "Wq", "bq") if projected else x
    k = _project(m, params, "Wk", "bk") if projected else m
    v = _project(m, params, "Wv", "bv") if projected else m
    q, k, v = (split_heads(t, heads, layout) for t in (q, k, v))
    scale = scale or 1 / math.sqrt(q.shape[-1])  # 1/√d unless the case gives it
    s = q @ k.transpose(0, 1, 3, 2) * scale  # S = Q·Kᵀ·scale
    tk = k.shape[2]
    if scores_mask is not None and mask_type == "additive":
        s = s + np.where(np.isfinite(scores_mask), scores_mask, 0).reshape((-1, 1, tq, tk))
    allowed = allowed_keys(n, tq, tk, causal, align, mask_type, scores_mask, lengths)
    weights = masked_softmax(s, allowed, masked_rows)  # P
    if masked_rows in ("uniform_added", "nan"):  # a fully masked row's scores carry its
        allowed = allowed | ~allowed.any(axis=-1, keepdims=True)  # gradient (NaN with NaN)
    kept = 1.0 if mask is None else mask / (1 - p)  # D/(1 − p)
    o = merge_heads((weights * kept) @ v, layout)  # O = P̃·V
    y = _project(o, params, "Wo", "bo") if "Wo" in params else o
    return y, AttentionSaved(x, m, q, k, v, allowed, weights, kept, o, scale, layout)


def _project_backward(d, t, params, name, bias, grads):
    """dE/d(t·W + b): W's and b's gradients into grads, and dE/dt."""
    grads[name] = t.reshape(-1, t.shape[-1]).T @ d.reshape(-1, d.shape[-1])  # Σ tᵀ·d
    if bias in params:
        grads[bias] = d.reshape(-1, d.shape[-1]).sum(axis=0)  # Σ d
    return d @ params[name].T  # dE/dt = d·Wᵀ


def _softmax_backward(d_p, weights, allowed):
    """dE/dS from dE/dP: P ⊙ (dE/dP − rowsum(dE/dP ⊙ P)), 0 at a masked score."""
    d_s = weights * (d_p - (d_p * weights).sum(axis=-1, keepdims=True))
    return np.where(allowed, d_s, 0)


def attention_backward(dy, saved, params):
    x, m, q, k, v, allowed, weights, kept, o, scale, layout = saved
    heads, grads = q.shape[1], {}
    d_o = _project_backward(dy, o, params, "Wo", "bo", grads) if "Wo" in params else dy
    d_o = split_heads(d_o, heads, layout)
    d_pt = d_o @ v.transpose(0, 1, 3, 2)  # dE/dP̃ = dE/dO·Vᵀ
    d_v = (weights * kept).transpose(0, 1, 3, 2) @ d_o  # dE/dV = P̃ᵀ·dE/dO
    d_s = _softmax_backward(d_pt * kept, weights, allowed)  # dE/dP = dE/dP̃ ⊙ D/(1 − p)
    d_q = d_s @ k * scale  # dE/dQ = dE/dS·K·scale
    d_k = d_s.transpose(0, 1, 3, 2) @ q * scale  # dE/dK = dE/dSᵀ·Q·scale
    d_q, d_k, d_v = (merge_heads(t, layout) for t in (d_q, d_k, d_v))
    if "Wq" in params:
        d_q = _project_backward(d_q, x, params, "Wq", "bq", grads)
        d_k = _project_backward(d_k, m, params, "Wk", "bk", grads)
        d_v = _project_backward(d_v, m, params, "Wv", "bv", grads)
    d_m = d_k + d_v  # m made both K and V
    if "memory" in params:
        grads["memory"] = d_m.sum(axis=0)  # one memory, every sample's
        return d_q, grads
    return d_q + d_m, grads


# --- along v: the R-operator (reference/hvp.py) -----------------------------------------------
#
# R{Q} = R{x}·Wq + x·V_Wq + V_bq (and K, V from R{m}: R{x}, or V_memory); R{S} = (R{Q}·Kᵀ +
# Q·R{K}ᵀ)·scale (0 at a masked score); R{P} = P ⊙ (R{S} − rowsum(P ⊙ R{S})); R{O} = R{P̃}·V +
# P̃·R{V}; R{y} = R{O}·Wo + O·V_Wo + V_bo — and the backward's lines differentiated the same way.


def _r_project(t, r_t, params, v, name, bias):
    """R{t·W + b} = R{t}·W + t·V_W + V_b."""
    r = r_t @ params[name] + t @ v[name]
    return r + v[bias] if bias in v else r


class _Moved(NamedTuple):
    r_m: np.ndarray
    r_q: np.ndarray  # by head
    r_k: np.ndarray
    r_v: np.ndarray
    r_p: np.ndarray
    r_o: np.ndarray  # merged


def _attention_moved(x, r_x, params, v, saved) -> _Moved:
    heads = saved.q.shape[1]
    r_m = np.broadcast_to(v["memory"], saved.m.shape) if "memory" in v else r_x
    if "Wq" in params:
        r_q = _r_project(x, r_x, params, v, "Wq", "bq")
        r_k = _r_project(saved.m, r_m, params, v, "Wk", "bk")
        r_vv = _r_project(saved.m, r_m, params, v, "Wv", "bv")
    else:
        r_q, r_k, r_vv = r_x, r_m, r_m
    r_q, r_k, r_vv = (split_heads(t, heads, saved.layout) for t in (r_q, r_k, r_vv))
    r_s = (r_q @ saved.k.transpose(0, 1, 3, 2) + saved.q @ r_k.transpose(0, 1, 3, 2)) * saved.scale
    r_s = np.where(saved.allowed, r_s, 0)
    w = saved.p
    r_p = w * (r_s - (w * r_s).sum(axis=-1, keepdims=True))
    r_o = merge_heads((r_p * saved.kept) @ saved.v + (w * saved.kept) @ r_vv, saved.layout)
    return _Moved(r_m, r_q, r_k, r_vv, r_p, r_o)


def attention_r_forward(x, r_x, params, v, saved, **settings):
    mv = _attention_moved(x, r_x, params, v, saved)
    if "Wo" not in params:
        return mv.r_o
    return _r_project(saved.o, mv.r_o, params, v, "Wo", "bo")


def _r_project_backward(d, r_d, t, r_t, params, v, name, bias, hv):
    """R{dE/dt} for dE/dt = d·Wᵀ, and W's and b's H·v into hv."""
    flat = t.reshape(-1, t.shape[-1]).T
    hv[name] = r_t.reshape(-1, t.shape[-1]).T @ d.reshape(-1, d.shape[-1]) + flat @ r_d.reshape(
        -1, d.shape[-1]
    )  # R{Σ tᵀ·d} = Σ R{t}ᵀ·d + tᵀ·R{d}
    if bias in params:
        hv[bias] = r_d.reshape(-1, d.shape[-1]).sum(axis=0)
    return r_d @ params[name].T + d @ v[name].T  # R{d·Wᵀ} = R{d}·Wᵀ + d·V_Wᵀ


def attention_r_backward(x, r_x, dy, r_dy, saved, params, v, **settings):
    _, m, q, k, vv, allowed, w, kept, o, scale, layout = saved
    heads, hv = q.shape[1], {}
    mv = _attention_moved(x, r_x, params, v, saved)
    if "Wo" in params:
        d_o = dy @ params["Wo"].T
        r_d_o = _r_project_backward(dy, r_dy, o, mv.r_o, params, v, "Wo", "bo", hv)
    else:
        d_o, r_d_o = dy, r_dy
    d_o, r_d_o = split_heads(d_o, heads, layout), split_heads(r_d_o, heads, layout)

    def t(a):
        return a.transpose(0, 1, 3, 2)

    d_p = (d_o @ t(vv)) * kept  # dE/dP
    r_d_p = (r_d_o @ t(vv) + d_o @ t(mv.r_v)) * kept  # R{dE/dP}
    r_d_v = t(mv.r_p * kept) @ d_o + t(w * kept) @ r_d_o  # R{P̃ᵀ·dE/dO}
    rowsum = (d_p * w).sum(axis=-1, keepdims=True)
    r_rowsum = (r_d_p * w + d_p * mv.r_p).sum(axis=-1, keepdims=True)
    d_s = np.where(allowed, w * (d_p - rowsum), 0)
    r_d_s = np.where(allowed, mv.r_p * (d_p - rowsum) + w * (r_d_p - r_rowsum), 0)
    r_d_q = (r_d_s @ k + d_s @ mv.r_k) * scale  # R{dE/dS·K·scale}
    r_d_k = (t(r_d_s) @ q + t(d_s) @ mv.r_q) * scale  # R{dE/dSᵀ·Q·scale}
    d_q, d_k = merge_heads(d_s @ k * scale, layout), merge_heads(t(d_s) @ q * scale, layout)
    d_v = merge_heads(t(w * kept) @ d_o, layout)
    r_d_q, r_d_k, r_d_v = (merge_heads(a, layout) for a in (r_d_q, r_d_k, r_d_v))
    if "Wq" in params:
        r_d_q = _r_project_backward(d_q, r_d_q, x, r_x, params, v, "Wq", "bq", hv)
        r_d_k = _r_project_backward(d_k, r_d_k, m, mv.r_m, params, v, "Wk", "bk", hv)
        r_d_v = _r_project_backward(d_v, r_d_v, m, mv.r_m, params, v, "Wv", "bv", hv)
    r_d_m = r_d_k + r_d_v
    if "memory" in params:
        hv["memory"] = r_d_m.sum(axis=0)
        return r_d_q, hv
    return r_d_q + r_d_m, hv


ATTENTION = Kind(
    "attention",
    says="softmax(Q·Kᵀ·scale + mask)·V over heads, Q = x·Wq + bq, K, V from x or the memory, "
    "then ·Wo + bo",
    dx_says="dE/dQ·Wqᵀ + dE/dK·Wkᵀ + dE/dV·Wvᵀ, dE/dS = P ⊙ (dE/dP − rowsum(dE/dP ⊙ P))",
    parameters={
        "Wq": "Σ xᵀ·dE/dQ",
        "Wk": "Σ mᵀ·dE/dK",
        "Wv": "Σ mᵀ·dE/dV",
        "Wo": "Σ Oᵀ·dE/dy",
        "bq": "Σ dE/dQ",
        "bk": "Σ dE/dK",
        "bv": "Σ dE/dV",
        "bo": "Σ dE/dy",
        "memory": "Σ_samples (dE/dK·Wkᵀ + dE/dV·Wvᵀ): the keys' and values' source",
    },
    forward=attention_forward,
    backward=attention_backward,
    r_forward=attention_r_forward,
    r_backward=attention_r_backward,
    settings={
        "heads": 1,
        "causal": False,
        "align": "top_left",
        "scale": 0.0,
        "mask_type": "attend",
        "masked_rows": "zero",
        "p": 0.0,
    },
    optional=("Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo", "memory"),
)
