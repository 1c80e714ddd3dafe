"""torch's own layer functions for a layer-stack case (backends/engine_layers.py): each
``torch.nn.functional`` op with the case's settings, NCHW as torch lays images out. A dense
layer is ``x @ W + b`` (EngineLayers.dense): F.linear's fused addmm rounds the bias into the
product's last bit differently, and the article's network is written z = a·W + b.

A recurrent layer is torch's own module (``nn.RNN``, ``nn.LSTM``, ``nn.GRU``, batch_first) with
the case's parameters loaded by ``torch.func.functional_call``: Wx and Wh transposed to torch's
outputs × inputs layout, their gate blocks put in torch's order (LSTM i, f, g, o; GRU r, z, n),
b and bh as b_ih and b_hh; a truncated case runs the module chunk by chunk, its state detached
between chunks."""

from backprop_crosscheck.backends.interface import Unsupported
from backprop_crosscheck.backends.recurrent_cells import gate_block

TORCH_GATES = {"rnn": "h", "lstm": "ifgo", "gru": "rzn"}
MODULES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def torch_recurrent(torch, kind: str):
    modules = {}

    def module(features, hidden, biased, activation, like):
        key = (features, hidden, biased, activation, like.dtype, like.device)
        if key not in modules:
            extra = {"nonlinearity": activation} if kind == "rnn" else {}
            modules[key] = getattr(torch.nn, MODULES[kind])(
                features,
                hidden,
                bias=biased,
                batch_first=True,
                dtype=like.dtype,
                device=like.device,
                **extra,
            )
        return modules[key]

    def layer_op(x, p, layer):
        s = layer.settings
        if kind == "gru" and s["reset"] == "before":
            raise Unsupported(
                "torch's nn.GRU applies the reset gate after the product, r ⊙ (h·W_hn + b_hn); "
                "this case's reset = \"before\" ((r ⊙ h)·W_hn, Keras's reset_after=False) is no "
                "nn.GRU"
            )
        order = s.get("gates", TORCH_GATES[kind])

        def ours(t):  # the case's gate blocks in torch's order
            return torch.cat([gate_block(t, order, g) for g in TORCH_GATES[kind]], dim=-1)

        Wx, Wh = p["Wx"], p["Wh"]
        biased = "b" in p or "bh" in p
        rnn = module(Wx.shape[0], Wh.shape[0], biased, s.get("activation"), x)
        weights = {"weight_ih_l0": ours(Wx).T, "weight_hh_l0": ours(Wh).T}
        if biased:
            zero = torch.zeros(Wh.shape[1], dtype=x.dtype, device=x.device)
            weights["bias_ih_l0"] = ours(p["b"]) if "b" in p else zero
            weights["bias_hh_l0"] = ours(p["bh"]) if "bh" in p else zero
        N, T, H = x.shape[0], x.shape[1], Wh.shape[0]
        zeros = torch.zeros(1, N, H, dtype=x.dtype, device=x.device)
        parts = [p[n].expand(1, N, H) if n in p else zeros for n in ("h0", "c0")]
        state = (tuple(parts) if kind == "lstm" else parts[0]) if "h0" in p or "c0" in p else None
        k, outs = s["truncate"] or T, []
        for start in range(0, T, k):
            out, state = torch.func.functional_call(rnn, weights, (x[:, start : start + k], state))
            outs.append(out)
            state = tuple(h.detach() for h in state) if kind == "lstm" else state.detach()
        y = torch.cat(outs, dim=1)
        return y if s["outputs"] == "every" else y[:, -1]

    return layer_op


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
        **{kind: torch_recurrent(torch, kind) for kind in MODULES},
    }
