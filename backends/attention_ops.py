"""Attention (reference/layers/attention.py) in an engine's own operations: the projections with
its ``matmul``, the heads split by its ``reshape`` and ``swapaxes``, and the core — the scores,
the softmax over the keys a query may attend, the weighted values — either the engine's fused
kernel (torch's scaled_dot_product_attention, jax.nn.dot_product_attention, …: ``attend``) or
composed here from its matmul and softmax. The masks are the case's data, handed to the engine
as constants (as dropout's mask is); the engine differentiates the rest.
"""

import math

import numpy as np
from backprop_crosscheck.reference.layers.attention import allowed_keys

BIG = 1e30  # a masked score's offset when composed: exp gives 0, finite so no NaN in a gradient


class Masks:
    """The case's masks of one attention layer as NumPy constants, for queries × keys."""

    def __init__(self, layer, n: int, tq: int, tk: int):
        s, given = layer.settings, layer.given
        self.layer, self.tq, self.tk = layer, tq, tk
        scores = given.get("scores_mask")
        self.allowed = np.array(  # (samples or 1, 1, Tq, Tk), a writable copy for the engines
            allowed_keys(
                n, tq, tk, s["causal"], s["align"], s["mask_type"], scores, given.get("lengths")
            )
        )
        self.additive = None  # the case's finite additive values, 0 elsewhere
        if scores is not None and s["mask_type"] == "additive":
            self.additive = np.where(np.isfinite(scores), scores, 0.0)[:, None]
        self.none = ~self.allowed.any(axis=-1, keepdims=True)  # fully masked query rows

    @property
    def only_causal(self) -> bool:
        """Whether the causal mask alone is given (an engine's is_causal can take it)."""
        return self.layer.settings["causal"] and not self.layer.given

    def offsets(self, dtype=None) -> np.ndarray:
        """What the composed path adds to the scores: the additive values, −BIG where masked —
        −30,000 in float16, whose largest is 65,504 (−1e30 would be −∞ there, and a fully
        masked row's softmax −∞ − (−∞): NaN)."""
        add = 0.0 if self.additive is None else self.additive
        big = 3e4 if str(dtype).rsplit(".", 1)[-1] == "float16" else BIG
        return np.where(self.allowed, add, -big)

    def float_mask(self) -> np.ndarray:
        """An additive mask as a fused kernel takes one: the values, −∞ where masked."""
        add = 0.0 if self.additive is None else self.additive
        return np.where(self.allowed, add, -np.inf)


def scale_of(layer, width: int) -> float:
    return layer.settings["scale"] or 1 / math.sqrt(width)


def project(ops, t, p, weight: str, bias: str):
    y = ops.matmul(t, p[weight])
    return y + p[bias] if bias in p else y


def heads_apart(ops, t, heads: int):
    """(samples, T, H·d) → (samples, H, T, d), head h the columns h·d … h·d + d."""
    n, steps, width = t.shape
    return ops.swapaxes(ops.xp.reshape(t, (n, steps, heads, width // heads)), 1, 2)


def heads_together(ops, t):
    n, heads, steps, d = t.shape
    return ops.xp.reshape(ops.swapaxes(t, 1, 2), (n, steps, heads * d))


def attention(ops, x, p, layer, attend=None):
    """The layer's output: Q, K, V projected (or x and the memory as they are), split into
    heads, ``attend(q, k, v, masks, scale)`` (the engine's fused kernel; None: composed), the
    heads merged, the output projection."""
    heads, n = layer.settings["heads"], x.shape[0]
    m = x
    if "memory" in p:  # the same keys and values for every sample
        m = p["memory"][None] + 0 * x[:, :1, :1]  # broadcast to the samples, in the graph
    if "Wq" in p:
        q, k = project(ops, x, p, "Wq", "bq"), project(ops, m, p, "Wk", "bk")
        v = project(ops, m, p, "Wv", "bv")
    else:
        q, k, v = x, m, m
    q, k, v = (heads_apart(ops, t, heads) for t in (q, k, v))
    masks = Masks(layer, n, q.shape[2], k.shape[2])
    scale = scale_of(layer, q.shape[-1])
    if layer.mask is not None or attend is None:  # attention dropout: no fused kernel takes D
        o = composed(ops, q, k, v, masks, scale)
    else:
        o = attend(q, k, v, masks, scale)
    o = heads_together(ops, o)
    return project(ops, o, p, "Wo", "bo") if "Wo" in p else o


def composed(ops, q, k, v, masks: Masks, scale: float):
    """softmax(Q·Kᵀ·scale + mask)·V from the engine's matmul and softmax: a masked score offset
    by −BIG, a fully masked row set to the case's convention, the dropout mask applied."""
    layer = masks.layer
    s = ops.matmul(q, ops.swapaxes(k, 2, 3)) * scale
    w = ops.attention_softmax(s + ops.constant(masks.offsets(s.dtype), s))
    if masks.none.any():
        rows = masks.layer.settings["masked_rows"]
        keep = ops.constant(1.0 - masks.none, w)
        if rows == "nan":
            w = ops.xp.where(ops.constant(masks.none, w) > 0, ops.constant(np.nan, w), w)
        elif rows == "uniform":  # a constant: no gradient to the row's scores
            w = w * keep + ops.constant(masks.none / masks.tk, w)
        elif rows == "zero":
            w = w * keep
        # uniform_added: the row's scores all offset by −BIG, its softmax equal weights already
    if layer.mask is not None:
        w = w * ops.constant(layer.mask / (1 - layer.settings["p"]), w)
    return ops.matmul(w, v)
