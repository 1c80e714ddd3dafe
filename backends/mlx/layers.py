"""MLX's own layer functions for a layer-stack case (backends/engine_layers.py):
``mx.conv2d`` and ``nn.MaxPool2d``/``AvgPool2d`` take NHWC images (and OHWI kernels), so the
image is transposed in and out; ``mx.fast.layer_norm``. Batch norm and the embedding are written
with ``mlx.core`` (engine_layers.py); the recurrent layers are MLX's nn.RNN, nn.LSTM, nn.GRU
(mlx/recurrent.py)."""

from backprop_crosscheck.backends.mlx.recurrent import MLX_GATES, mlx_recurrent

NHWC, NCHW = (0, 2, 3, 1), (0, 3, 1, 2)


def mlx_layers(mx, nn) -> dict:
    def conv2d(x, p, layer):
        s, pad = layer.settings["stride"], layer.settings["padding"]
        k = p["kernel"].transpose(0, 2, 3, 1)  # OIHW → OHWI
        y = mx.conv2d(x.transpose(NHWC), k, stride=s, padding=pad).transpose(NCHW)
        return y + p["bias"].reshape(1, -1, 1, 1) if "bias" in p else y

    def pool(kind):
        def pooled(x, p, layer):
            window = kind(layer.settings["size"], layer.settings["stride"])
            return window(x.transpose(NHWC)).transpose(NCHW)

        return pooled

    return {
        "conv2d": conv2d,
        "max_pool2d": pool(nn.MaxPool2d),
        "avg_pool2d": pool(nn.AvgPool2d),
        "layer_norm": lambda x, p, layer: mx.fast.layer_norm(
            x, p["gamma"], p["beta"], layer.settings["eps"]
        ),
        **{kind: mlx_recurrent(mx, nn, kind) for kind in MLX_GATES},
    }
