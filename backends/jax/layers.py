"""JAX's own layer functions for a layer-stack case (backends/engine_layers.py):
``lax.conv_general_dilated`` (NCHW images, OIHW kernels) and ``lax.reduce_window`` for the
pools, at the highest precision. JAX has no batch or layer normalization of its own (they live
in Flax): those are written with ``jax.numpy`` (engine_layers.py). Nor has it recurrent cells:
each is its step in ``jax.numpy`` (backends/recurrent_cells.py) under ``lax.scan``, the state
passed through ``lax.stop_gradient`` where the case truncates."""

from types import SimpleNamespace

from backprop_crosscheck.backends.attention_ops import attention
from backprop_crosscheck.backends.interface import Unsupported
from backprop_crosscheck.backends.recurrent_cells import CELLS


def scanned(jax, kind: str):
    """A recurrent layer as ``lax.scan`` over its cell's step."""
    lax, jnp = jax.lax, jax.numpy
    step, parts = CELLS[kind]
    ops = SimpleNamespace(xp=jnp, matmul=jnp.matmul)

    def layer_op(x, p, layer):
        s, (N, T) = layer.settings, x.shape[:2]
        zeros = jnp.zeros((N, p["Wh"].shape[0]), x.dtype)
        state = tuple(p[n] + zeros if n in p else zeros for n in ("h0", "c0")[:parts])
        k = s["truncate"]
        cut = jnp.array([bool(k) and t > 0 and t % k == 0 for t in range(T)])

        def body(state, inputs):
            x_t, detached = inputs
            if k:  # truncated: the state entering step t = k, 2k, … is a constant
                state = tuple(jnp.where(detached, lax.stop_gradient(h), h) for h in state)
            state = step(ops, x_t, state, p, s)
            return state, state[0]

        last, hs = lax.scan(body, state, (jnp.swapaxes(x, 0, 1), cut))
        return jnp.swapaxes(hs, 0, 1) if s["outputs"] == "every" else last[0]

    return layer_op


def jax_layers(jax) -> dict:
    lax, jnp = jax.lax, jax.numpy

    def conv2d(x, p, layer):
        pad, s = layer.settings["padding"], layer.settings["stride"]
        y = lax.conv_general_dilated(
            x,
            p["kernel"],
            (s, s),
            [(pad, pad), (pad, pad)],
            dimension_numbers=("NCHW", "OIHW", "NCHW"),
            precision=lax.Precision.HIGHEST,
        )
        return y + p["bias"].reshape(1, -1, 1, 1) if "bias" in p else y

    def normalized(axes):
        """Batch and layer norm, their statistics in float32 where x is bfloat16 or float16 —
        as Flax's normalizations compute them (flax/linen/normalization.py,
        force_float32_reductions): float16's (var + ε)^(−3/2) in the backward overflows over a
        near-constant row, which the float32 statistics never meet (docs/precision.md)."""

        def op(x, p, layer):
            wide = x.astype(jnp.float32) if x.dtype in (jnp.bfloat16, jnp.float16) else x
            ax = axes(x)
            shape = (1, -1) if ax == (0,) else (1, -1, 1, 1) if ax == (0, 2, 3) else (-1,)
            mu = jnp.mean(wide, axis=ax, keepdims=True)
            var = jnp.mean((wide - mu) ** 2, axis=ax, keepdims=True)
            xhat = ((wide - mu) / jnp.sqrt(var + layer.settings["eps"])).astype(x.dtype)
            return p["gamma"].reshape(shape) * xhat + p["beta"].reshape(shape)

        return op

    def pool(x, layer, init, op):
        k, s = layer.settings["size"], layer.settings["stride"]
        return lax.reduce_window(x, init, op, (1, 1, k, k), (1, 1, s, s), "VALID")

    return {
        "conv2d": conv2d,
        "max_pool2d": lambda x, p, layer: pool(x, layer, -jnp.inf, lax.max),
        "avg_pool2d": lambda x, p, layer: (
            pool(x, layer, 0.0, lax.add) / layer.settings["size"] ** 2
        ),
        "embedding": lambda x, p, layer: jnp.take(p["table"], x, axis=0),
        "layer_norm": normalized(lambda x: (-1,)),
        "batch_norm": normalized(lambda x: (0,) if x.ndim == 2 else (0, 2, 3)),
        **{kind: scanned(jax, kind) for kind in CELLS},
    }


def jax_attention(ops):
    """An attention layer through ``jax.nn.dot_product_attention`` (its XLA implementation;
    (samples, T, heads, d) as it lays them out): is_causal where the causal mask alone is given
    (JAX aligns it top-left), key_value_seq_lengths for the lengths alone, else the case's mask
    (True: may attend) and an additive one as its ``bias``."""
    jax, jnp = ops.jax, ops.xp

    def attend(q, k, v, masks, scale):
        if q.dtype == jnp.float16 and ops.device.platform == "cpu":
            raise Unsupported(
                "jax: jax.nn.dot_product_attention does not compile for float16 on the CPU "
                "(its float32-accumulating einsum: 'The precision F16_F16_F32 is not supported "
                "by dot_general on CPU'; docs/divergences/jax.md)"
            )
        q, k, v = (jnp.swapaxes(t, 1, 2) for t in (q, k, v))
        given, s = masks.layer.given, masks.layer.settings
        top_left = masks.tq == masks.tk or s["align"] == "top_left"
        kwargs = {}
        if masks.only_causal and top_left:
            kwargs["is_causal"] = True
        elif set(given) == {"lengths"} and not s["causal"]:
            kwargs["key_value_seq_lengths"] = jnp.asarray(given["lengths"], jnp.int32)
        else:
            kwargs["mask"] = jnp.asarray(masks.allowed)
            if masks.additive is not None:
                kwargs["bias"] = ops.constant(masks.additive, q)
        out = jax.nn.dot_product_attention(q, k, v, scale=scale, implementation="xla", **kwargs)
        return jnp.swapaxes(out, 1, 2)

    return lambda x, p, layer: attention(ops, x, p, layer, attend)
