"""tinygrad's Tensor methods as the array namespace the shared network code calls
(``xp.sum(x, axis=…)``: framework.py, engine_layers.py), its own layer functions for a
layer-stack case — ``Tensor.conv2d`` (NCHW, OIHW, as torch), ``max_pool2d``, ``avg_pool2d`` —
and the conventions of its optimizers (tinygrad/nn/optim.py)."""

import math

from backprop_crosscheck.backends.attention_ops import attention
from backprop_crosscheck.backends.interface import Convention

TINYGRAD_CONVENTIONS = (
    Convention(
        "momentum",
        "dampening",
        (0.0,),
        "tinygrad's SGD has no dampening (tinygrad/nn/optim.py, LARS)",
    ),
    Convention(
        "adam",
        "epsilon_placement",
        ("after_correction",),
        "tinygrad's Adam adds epsilon after the bias correction (tinygrad/nn/optim.py, LAMB)",
    ),
    Convention(
        "momentum",
        "weight_decay_mode",
        ("l2",),
        "tinygrad's SGD adds λ·p to the gradient (pre_wd, tinygrad/nn/optim.py)",
    ),
    Convention(
        "adam",
        "weight_decay_mode",
        ("decoupled",),
        "tinygrad's Adam decays decoupled, AdamW's (tinygrad/nn/optim.py, LAMB)",
    ),
)


class TinyOps:
    """``xp.tanh(x)`` as ``x.tanh()``, ``keepdims`` as ``keepdim``; the rest by name."""

    def __init__(self, Tensor):
        self.Tensor = Tensor

    def __getattr__(self, name):
        return lambda x, *a, keepdims=False, **k: (
            getattr(x, name)(*a, **k, keepdim=keepdims)
            if name in ("sum", "mean", "max")
            else getattr(x, name)(*a, **k)
        )

    def where(self, c, a, b):
        return c.where(a, b)

    def logaddexp(self, a, b):
        return b.logaddexp(a) if isinstance(a, float | int) else a.logaddexp(b)

    def concatenate(self, xs, axis=0):
        return xs[0].cat(*xs[1:], dim=axis)

    def stack(self, xs):
        return xs[0].stack(*xs[1:])

    def einsum(self, formula, *operands):
        return self.Tensor.einsum(formula, *operands)

    def zeros(self, shape, dtype):
        return self.Tensor.zeros(*shape, dtype=dtype)

    def reshape(self, x, shape):
        return x.reshape(shape)

    def swapaxes(self, x, a, b):
        return x.transpose(a, b)


def tinygrad_attention(backend):
    """An attention layer through ``Tensor.scaled_dot_product_attention`` ((samples, heads, T,
    d)): ``is_causal`` where the causal mask alone is given and aligned top-left (tinygrad's
    tril), else the case's mask as a boolean tensor (True: may attend) or an additive one (−∞
    where masked). It has no scale argument (1/√d always): a case's own scale multiplies q."""
    Tensor = backend.Tensor

    def attend(q, k, v, masks, scale):
        own = 1 / math.sqrt(q.shape[-1])
        q = q if scale == own else q * (scale / own)
        top_left = masks.tq == masks.tk or masks.layer.settings["align"] == "top_left"
        if masks.only_causal and top_left:
            return q.scaled_dot_product_attention(k, v, is_causal=True)
        if masks.additive is None:
            mask = Tensor(masks.allowed)
        else:
            mask = backend.constant(masks.float_mask(), q)
        return q.scaled_dot_product_attention(k, v, attn_mask=mask)

    return lambda x, p, layer: attention(backend, x, p, layer, attend)


TINYGRAD_LAYERS = {
    "conv2d": lambda x, p, layer: x.conv2d(p["kernel"], p.get("bias"), **layer.settings),
    "max_pool2d": lambda x, p, layer: x.max_pool2d(
        layer.settings["size"], layer.settings["stride"]
    ),
    "avg_pool2d": lambda x, p, layer: x.avg_pool2d(
        layer.settings["size"], layer.settings["stride"]
    ),
}
