"""PaddlePaddle's own layer functions for a layer-stack case (backends/engine_layers.py): each
``paddle.nn.functional`` op with the case's settings, NCHW as Paddle lays images out (kernels
out × in × h × w, as the case's). Batch norm in training mode over the batch's statistics (its
running averages, which the case never reads, are scratch tensors). The recurrent cells and
attention are composed from Paddle's own tensor operations by the harness (recurrent_cells.py,
attention_ops.py; softmax is ``F.softmax``), flatten and merge_time with ``paddle.reshape``
(``paddle.flatten``'s gradient has no gradient: H·v could not run through it)."""


def paddle_layers(paddle) -> dict:
    F = paddle.nn.functional

    def batch_norm(x, p, layer):
        channels = x.shape[1]
        running = [paddle.zeros([channels], dtype=x.dtype), paddle.ones([channels], dtype=x.dtype)]
        return F.batch_norm(
            x,
            *running,
            weight=p["gamma"],
            bias=p["beta"],
            training=True,
            epsilon=layer.settings["eps"],
            data_format="NC" if x.ndim == 2 else "NCHW",
        )

    def conv2d(x, p, layer):
        s = layer.settings
        return F.conv2d(x, p["kernel"], p.get("bias"), stride=s["stride"], padding=s["padding"])

    return {
        "conv2d": conv2d,
        "max_pool2d": lambda x, p, layer: F.max_pool2d(
            x, layer.settings["size"], layer.settings["stride"]
        ),
        "avg_pool2d": lambda x, p, layer: F.avg_pool2d(
            x, layer.settings["size"], layer.settings["stride"]
        ),
        "batch_norm": batch_norm,
        "layer_norm": lambda x, p, layer: F.layer_norm(
            x, x.shape[-1:], p["gamma"], p["beta"], layer.settings["eps"]
        ),
        "embedding": lambda x, p, layer: F.embedding(x, p["table"]),
    }
