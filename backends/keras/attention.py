"""An attention layer through ``keras.ops.dot_product_attention`` (each Keras backend's own:
jax.nn.dot_product_attention on JAX, F.scaled_dot_product_attention on torch, Keras's einsum
and softmax on TensorFlow), (samples, T, heads, d) as it lays them out; the projections, the
heads and the masks as backends/attention_ops.py makes them, with Keras's ops — for the
`tensorflow` backend too, whose attention is Keras's (tf.keras)."""

from types import SimpleNamespace

from backprop_crosscheck.backends.attention_ops import attention


def keras_attention(keras, backend):
    """The layer op: ``is_causal`` where the causal mask alone is given and aligned top-left
    (as every Keras backend aligns it), else the case's mask (True: may attend), or an additive
    one as the ``bias`` (−∞ where masked)."""
    ops = keras.ops
    kops = SimpleNamespace(
        xp=ops,
        matmul=ops.matmul,
        swapaxes=ops.swapaxes,
        constant=backend.constant,
        attention_softmax=lambda s: ops.softmax(s, -1),
    )

    def attend(q, k, v, masks, scale):
        q, k, v = (ops.swapaxes(t, 1, 2) for t in (q, k, v))
        top_left = masks.tq == masks.tk or masks.layer.settings["align"] == "top_left"
        kwargs = {}
        if masks.only_causal and top_left:
            kwargs["is_causal"] = True
        elif masks.additive is None:
            kwargs["mask"] = ops.convert_to_tensor(masks.allowed)
        else:  # Keras takes a mask or a bias, not both
            kwargs["bias"] = backend.constant(masks.float_mask(), q)
        return ops.swapaxes(ops.dot_product_attention(q, k, v, scale=scale, **kwargs), 1, 2)

    return lambda x, p, layer: attention(kops, x, p, layer, attend)
