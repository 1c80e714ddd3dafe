"""MLX's own recurrent layers — ``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` — for a recurrent case, the
case's tensors put in the module's places (MLX differentiates the arrays whatever holds them):
weights transposed to MLX's outputs × inputs, gate blocks in its order (LSTM i, f, g, o; GRU
r, z, n). MLX's RNN and LSTM have one bias: the case's b + bh enter as their sum, the same
function. Its GRU resets after the product and keeps one recurrent bias, ``bhn``, for n alone:
the recurrent biases of r and z only add to b's, and enter there; a GRU resetting before the
product is n/a. A truncated case runs chunk by chunk, the state through ``mx.stop_gradient``."""

from backprop_crosscheck.backends.interface import Unsupported
from backprop_crosscheck.backends.recurrent_cells import gate_block

MLX_GATES = {"rnn": "h", "lstm": "ifgo", "gru": "rzn"}


def mlx_recurrent(mx, nn, kind: str):
    def layer_op(x, p, layer):
        s = layer.settings
        if kind == "gru" and s["reset"] == "before":
            raise Unsupported(
                "mlx's nn.GRU applies the reset gate after the product, r ⊙ (h·W_hn + b_hn); "
                'this case\'s reset = "before" ((r ⊙ h)·W_hn) is no nn.GRU'
            )
        order = s.get("gates", MLX_GATES[kind])

        def mlx_order(t):
            return mx.concatenate([gate_block(t, order, g) for g in MLX_GATES[kind]], axis=-1)

        F, H = p["Wx"].shape[0], p["Wh"].shape[0]
        module = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](F, H)
        Wx, Wh = mlx_order(p["Wx"]).T, mlx_order(p["Wh"]).T
        zero = mx.zeros((p["Wh"].shape[1],), dtype=x.dtype)
        b, bh = (mlx_order(p[n]) if n in p else zero for n in ("b", "bh"))
        if kind == "rnn":
            module.Wxh, module.Whh, module.bias = Wx, Wh, b + bh
            module.nonlinearity = mx.tanh if s["activation"] == "tanh" else nn.relu
        elif kind == "lstm":
            module.Wx, module.Wh, module.bias = Wx, Wh, b + bh
        else:  # b_r + bh_r, b_z + bh_z on the input side; bh_n inside r ⊙ (…)
            module.Wx, module.Wh = Wx, Wh
            module.b = b + mx.concatenate([bh[: 2 * H], mx.zeros((H,), dtype=x.dtype)])
            module.bhn = bh[2 * H :]
        N, T = x.shape[0], x.shape[1]
        zeros = mx.zeros((N, H), dtype=x.dtype)
        state = [p[n] + zeros if n in p else zeros for n in ("h0", "c0")]
        given = "h0" in p or "c0" in p
        k, outs = s["truncate"] or T, []
        for start in range(0, T, k):
            chunk = x[:, start : start + k]
            if kind == "lstm":
                hs, cs = module(chunk, *(state if given or start else (None, None)))
                state = [hs[:, -1], cs[:, -1]]
            else:
                hs = module(chunk, state[0] if given or start else None)
                state = [hs[:, -1], zeros]
            outs.append(hs)
            state = [mx.stop_gradient(h) for h in state]
        y = mx.concatenate(outs, axis=1)
        return y if s["outputs"] == "every" else y[:, -1]

    return layer_op
