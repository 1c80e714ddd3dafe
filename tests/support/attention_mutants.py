"""Deliberately wrong attention, in another engine: torch composing attention from its own
matmul and softmax, one classic mistake made with ``detach()`` (or in the forward, where the
mistake is the forward's) — an independent implementation of each (the reference's own versions
are in reference/mistakes.py), so that a test can hold the diagnosis to naming it."""

import numpy as np
import torch
from backprop_crosscheck.backends.attention_ops import attention
from backprop_crosscheck.backends.torch.backend import TorchBackend

ATTENTION_BUGS = [
    "softmax_jacobian_diagonal",
    "attention_scale_forgotten",
    "mask_after_softmax",
    "causal_off_by_one",
    "dv_unnormalized",
    "heads_reshaped",
]


def _forward_as(value, surrogate):
    """``value`` forward, ``surrogate``'s gradient backward."""
    return (value - surrogate).detach() + surrogate


class AttentionMutant(TorchBackend):
    share_worker = False

    def __init__(self, bug: str):
        self.bug, self.name = bug, f"torch-{bug}"

    def setup(self, dtype, device):
        super().setup(dtype, device)
        self.layer_ops = {**self.layer_ops, "attention": self.attention_op}

    def attention_op(self, x, p, layer):
        if self.bug == "heads_reshaped":
            return self.reshaped(x, p, layer)
        return attention(self, x, p, layer, self.attend)

    def reshaped(self, x, p, layer):
        """Self-attention with its heads split by x.reshape(n, H, T, d) — where the reshape to
        (n, T, H, d) and a transpose belong — and merged back by the inverse reshape."""
        heads, (n, steps) = layer.settings["heads"], x.shape[:2]

        def projected(name, bias):
            y = x @ p[name]
            return (y + p[bias] if bias in p else y).reshape(n, heads, steps, -1)

        q, k, v = projected("Wq", "bq"), projected("Wk", "bk"), projected("Wv", "bv")
        s = q @ k.transpose(-2, -1) * (layer.settings["scale"] or q.shape[-1] ** -0.5)
        allowed = torch.ones(steps, steps, dtype=torch.bool)
        if layer.settings["causal"]:
            allowed = allowed.tril()
        o = torch.softmax(s.masked_fill(~allowed, float("-inf")), dim=-1) @ v
        o = o.reshape(n, steps, -1)
        return o @ p["Wo"] + p.get("bo", 0) if "Wo" in p else o

    def allowed(self, masks):
        allowed = masks.allowed
        s = masks.layer.settings
        if self.bug == "causal_off_by_one" and s["causal"]:  # query i sees key i + 1 too
            shift = masks.tk - masks.tq if s["align"] == "bottom_right" else 0
            ahead = np.arange(masks.tk)[None, :] <= np.arange(masks.tq)[:, None] + shift + 1
            near = np.arange(masks.tk)[None, :] <= np.arange(masks.tq)[:, None] + shift
            allowed = allowed | (ahead & ~near)  # the one key past the diagonal
        return torch.as_tensor(allowed)

    def attend(self, q, k, v, masks, scale):
        allowed = self.allowed(masks)
        raw = q @ k.transpose(-2, -1)
        s = raw * scale
        if self.bug == "attention_scale_forgotten":
            s = _forward_as(s, raw)  # its gradient without the scale
        if self.bug == "mask_after_softmax":
            p = torch.softmax(s, dim=-1) * allowed
        else:
            p = torch.softmax(s.masked_fill(~allowed, float("-inf")), dim=-1)
        if self.bug == "softmax_jacobian_diagonal":  # dP/dS as diag(P(1 − P))
            p = _forward_as(p, s.masked_fill(~allowed, 0) * (p * (1 - p)).detach())
        o = p @ v
        if self.bug == "dv_unnormalized":  # dE/dV = exp(S − max)ᵀ·dE/dO
            masked = s.masked_fill(~allowed, float("-inf")).detach()
            e = torch.exp(masked - masked.amax(dim=-1, keepdim=True))
            o = _forward_as(o, p @ v.detach() + e @ v)
        return o
