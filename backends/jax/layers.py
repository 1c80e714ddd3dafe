"""JAX's own layer functions for a layer-stack case (backends/engine_layers.py):
``lax.conv_general_dilated`` (NCHW images, OIHW kernels) and ``lax.reduce_window`` for the
pools, at the highest precision. JAX has no batch or layer normalization of its own (they live
in Flax): those are written with ``jax.numpy`` (engine_layers.py)."""


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
    }
