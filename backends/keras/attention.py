"""An attention layer through ``keras.layers.MultiHeadAttention`` where the layer is one (its
own projections, through ``stateless_call``), else ``keras.ops.dot_product_attention`` (each
Keras backend's own: jax.nn.dot_product_attention on JAX, F.scaled_dot_product_attention on
torch, Keras's einsum and softmax on TensorFlow), (samples, T, heads, d) as it lays them out;
the projections, the heads and the masks as backends/attention_ops.py makes them, with Keras's
ops — for the `tensorflow` backend too, whose attention is Keras's (tf.keras)."""

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

    multi_head = keras_multi_head(keras)

    def layer_op(x, p, layer):
        if multi_head_fits(p, layer, x.shape[-1]):
            return multi_head(x, p, layer)
        return attention(kops, x, p, layer, attend)

    return layer_op


def multi_head_fits(p, layer, width: int) -> bool:
    """Whether keras.layers.MultiHeadAttention can run the layer as it is: self-attention with
    Wq, Wk, Wv (as wide) and Wo back to the input's width, biases all or none (Wo's with
    them), the default scale, no attention dropout, an additive mask none (it takes booleans)."""
    names = ("Wq", "Wk", "Wv", "Wo")
    shaped = all(n in p for n in names) and p["Wo"].shape[1] == width
    same = shaped and p["Wq"].shape[1] == p["Wv"].shape[1]
    biases = {n in p for n in ("bq", "bk", "bv", "bo")}
    s = layer.settings
    return (
        same
        and "memory" not in p
        and len(biases) == 1
        and layer.mask is None
        and not s["scale"]
        and s["mask_type"] != "additive"
        and s["masked_rows"] == "zero"
        and s["align"] == "top_left"
    )


def keras_multi_head(keras):
    """The layer through ``keras.layers.MultiHeadAttention``, built once per shape, biases and
    dtype, the case's tensors given as its weights through ``stateless_call`` (its kernels
    (width, heads, d) and (heads, d, width): the case's columns by head), the case's mask as
    its ``attention_mask`` (True may attend), a causal one as ``use_causal_mask``."""
    from backprop_crosscheck.backends.attention_ops import Masks

    ops, built = keras.ops, {}

    def layer_for(width, heads, d, biased, dtype):
        key = (width, heads, d, biased, dtype)
        if key not in built:
            mha = keras.layers.MultiHeadAttention(heads, d, use_bias=biased, dtype=dtype)
            mha.build((None, None, width), (None, None, width))
            built[key] = mha
        return built[key]

    def multi_head(x, p, layer):
        s, (n, steps, width) = layer.settings, x.shape
        heads = s["heads"]
        d, biased = p["Wq"].shape[1] // heads, "bq" in p
        weights = []
        for name, bias in (("Wq", "bq"), ("Wk", "bk"), ("Wv", "bv")):
            weights.append(ops.reshape(p[name], (width, heads, d)))
            if biased:
                weights.append(ops.reshape(p[bias], (heads, d)))
        weights.append(ops.reshape(p["Wo"], (heads, d, width)))
        if biased:
            weights.append(p["bo"])
        mha = layer_for(width, heads, d, biased, keras.backend.standardize_dtype(x.dtype))
        kwargs = {"use_causal_mask": s["causal"]}
        if layer.given:
            allowed = Masks(layer, n, steps, steps).allowed[:, 0]
            kwargs["attention_mask"] = ops.convert_to_tensor(allowed.repeat(n // len(allowed), 0))
        y, _ = mha.stateless_call(weights, [], x, x, **kwargs)
        return y

    return multi_head
