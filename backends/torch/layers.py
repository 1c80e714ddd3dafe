"""torch's own layer functions for a layer-stack case (backends/engine_layers.py): each
``torch.nn.functional`` op with the case's settings, NCHW as torch lays images out."""


def torch_layers(torch) -> dict:
    F = torch.nn.functional

    def batch_norm(x, p, layer):  # training mode: the batch's statistics, biased variance
        return F.batch_norm(
            x, None, None, p["gamma"], p["beta"], training=True, eps=layer.settings["eps"]
        )

    return {
        "dense": lambda x, p, layer: F.linear(x, p["W"].T, p.get("b")),  # no bias: None
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
