"""MLX's own layer functions for a layer-stack case (backends/engine_layers.py):
``mx.conv2d`` and ``nn.MaxPool2d``/``AvgPool2d`` take NHWC images (and OHWI kernels), so the
image is transposed in and out; ``mx.fast.layer_norm``. Batch norm and the embedding are written
with ``mlx.core`` (engine_layers.py); the recurrent layers are MLX's nn.RNN, nn.LSTM, nn.GRU
(mlx/recurrent.py)."""

from backprop_crosscheck.backends.attention_ops import attention
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


def mlx_attention(backend):
    """An attention layer through ``mx.fast.scaled_dot_product_attention`` ((samples, heads, T,
    d), as MLX lays them out): ``mask="causal"`` where the causal mask alone is given and aligned
    bottom-right (MLX's "causal" aligns the last query with the last key), else the case's
    mask as a boolean array (True: may attend) or an additive one (−∞ where masked)."""
    mx = backend.mx

    def attend(q, k, v, masks, scale):
        bottom_right = masks.tq == masks.tk or masks.layer.settings["align"] == "bottom_right"
        if masks.only_causal and bottom_right:
            mask = "causal"
        elif masks.additive is None:
            mask = mx.array(masks.allowed)
        else:
            mask = backend.constant(masks.float_mask(), q)
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)

    return lambda x, p, layer: attention(backend, x, p, layer, attend)
