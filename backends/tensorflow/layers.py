"""TensorFlow's own layer functions for a layer-stack case (backends/engine_layers.py).

``tf.nn.conv2d`` and the pools run NHWC on the CPU (NCHW is GPU-only there), so the image is
transposed in and out, and the kernel from OIHW to HWIO; padding is explicit (``tf.pad``, then
VALID), as the case states it. Batch and layer norm: ``tf.nn.moments`` (the biased variance) and
``tf.nn.batch_normalization``; the embedding ``tf.gather``."""


def tensorflow_layers(tf) -> dict:
    nhwc, nchw = (0, 2, 3, 1), (0, 3, 1, 2)

    def conv2d(x, p, layer):
        pad, s = layer.settings["padding"], layer.settings["stride"]
        x = tf.pad(tf.transpose(x, nhwc), [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        y = tf.nn.conv2d(x, tf.transpose(p["kernel"], (2, 3, 1, 0)), s, "VALID")
        return tf.transpose(tf.nn.bias_add(y, p["bias"]) if "bias" in p else y, nchw)

    def pool(op):
        def pooled(x, p, layer):
            k, s = layer.settings["size"], layer.settings["stride"]
            return tf.transpose(op(tf.transpose(x, nhwc), k, s, "VALID"), nchw)

        return pooled

    def normalize(axes, shape):
        def normalized(x, p, layer):
            mean, var = tf.nn.moments(x, axes(x), keepdims=True)  # var: biased, ÷ n
            gamma, beta = tf.reshape(p["gamma"], shape(x)), tf.reshape(p["beta"], shape(x))
            return tf.nn.batch_normalization(x, mean, var, beta, gamma, layer.settings["eps"])

        return normalized

    per_channel = lambda x: [0] if len(x.shape) == 2 else [0, 2, 3]  # noqa: E731
    channel_shape = lambda x: (1, -1) if len(x.shape) == 2 else (1, -1, 1, 1)  # noqa: E731
    return {
        "conv2d": conv2d,
        "max_pool2d": pool(tf.nn.max_pool2d),
        "avg_pool2d": pool(tf.nn.avg_pool2d),
        "flatten": lambda x, p, layer: tf.reshape(x, (tf.shape(x)[0], -1)),
        "merge_time": lambda x, p, layer: tf.reshape(x, (-1, x.shape[-1])),
        "batch_norm": normalize(per_channel, channel_shape),
        "layer_norm": normalize(lambda x: [len(x.shape) - 1], lambda x: (-1,)),
        "embedding": lambda x, p, layer: tf.gather(p["table"], x),
    }
