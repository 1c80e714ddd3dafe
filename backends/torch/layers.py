"""torch's own layer functions for a layer-stack case (backends/engine_layers.py): each
``torch.nn.functional`` op with the case's settings, NCHW as torch lays images out. A dense
layer is ``x @ W + b`` (EngineLayers.dense): F.linear's fused addmm rounds the bias into the
product's last bit differently, and the article's network is written z = a·W + b."""


def torch_layers(torch) -> dict:
    F = torch.nn.functional

    def batch_norm(x, p, layer):  # training mode: the batch's statistics, biased variance
        return F.batch_norm(
            x, None, None, p["gamma"], p["beta"], training=True, eps=layer.settings["eps"]
        )

    return {
        "conv2d": lambda x, p, layer: F.conv2d(x, p["kernel"], p.get("bias"), **layer.settings),
        "max_pool2d": lambda x, p, layer: F.max_pool2d(
            x, layer.settings["size"], layer.settings["stride"]
        ),
        "avg_pool2d": lambda x, p, layer: F.avg_pool2d(
            x, layer.settings["size"], layer.settings["stride"]
        ),
        "flatten": lambda x, p, layer: torch.flatten(x, 1),
        "batch_norm": batch_norm,
        "layer_norm": lambda x, p, layer: F.layer_norm(
            x, x.shape[-1:], p["gamma"], p["beta"], layer.settings["eps"]
        ),
        "embedding": lambda x, p, layer: F.embedding(x, p["table"]),
    }
