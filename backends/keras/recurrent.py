"""Keras's own recurrent layers — ``SimpleRNN``, ``LSTM``, ``GRU`` — for a recurrent case, on
every Keras backend: each layer built once per shape, dtype and setting, the case's tensors given
as its weights through ``stateless_call``, so that the backend's autodiff differentiates Keras's
own cell. Keras's layout is the case's (x·W: inputs × gates·hidden); its gate orders are LSTM
i, f, c, o ("ifgo") and GRU z, r, h ("zrn"); it has one bias, but a GRU with ``reset_after``
(the case's reset = "after", Keras's default) keeps an input and a recurrent bias, (2, 3·hidden).
Where the case's two biases only add (an RNN, an LSTM, a GRU resetting before the product),
they enter as their sum: the same function, each bias getting the sum's gradient. A truncated
case runs the layer chunk by chunk, its state through ``ops.stop_gradient`` between chunks."""

from backprop_crosscheck.backends.recurrent_cells import gate_block

KERAS_GATES = {"rnn": "h", "lstm": "ifgo", "gru": "zrn"}


def keras_recurrent(keras, kind: str):
    ops, built = keras.ops, {}

    def keras_layer(features, hidden, biased, settings, dtype):
        key = (features, hidden, biased, tuple(settings.items()), dtype)
        if key not in built:
            options = {
                "use_bias": biased,
                "return_sequences": True,
                "return_state": True,
                "dtype": dtype,
            }
            if kind == "rnn":
                layer = keras.layers.SimpleRNN(hidden, activation=settings["activation"], **options)
            elif kind == "lstm":
                layer = keras.layers.LSTM(hidden, **options)
            else:
                layer = keras.layers.GRU(
                    hidden, reset_after=settings["reset"] == "after", **options
                )
            layer.build((None, None, features))
            built[key] = layer
        return built[key]

    def layer_op(x, p, layer):
        s, dtype = layer.settings, keras.backend.standardize_dtype(x.dtype)
        order = s.get("gates", KERAS_GATES[kind])

        def keras_order(t):  # the case's gate blocks in Keras's order
            return ops.concatenate([gate_block(t, order, g) for g in KERAS_GATES[kind]], axis=-1)

        N, T, H = x.shape[0], x.shape[1], p["Wh"].shape[0]
        biased = "b" in p or "bh" in p
        cell = keras_layer(p["Wx"].shape[0], H, biased, s, dtype)
        weights = [keras_order(p["Wx"]), keras_order(p["Wh"])]
        if biased:
            zero = ops.zeros((p["Wh"].shape[1],), dtype=dtype)
            b, bh = (keras_order(p[n]) if n in p else zero for n in ("b", "bh"))
            split = kind == "gru" and s["reset"] == "after"
            weights.append(ops.stack([b, bh]) if split else b + bh)
        zeros = ops.zeros((N, H), dtype=dtype)
        parts = [
            p[n] + zeros if n in p else zeros for n in ("h0", "c0")[: 2 if kind == "lstm" else 1]
        ]
        state = parts if "h0" in p or "c0" in p else None
        k, outs = s["truncate"] or T, []
        for start in range(0, T, k):
            stateless = [v.value for v in cell.non_trainable_variables]
            (out, *state), _ = cell.stateless_call(
                weights, stateless, x[:, start : start + k], initial_state=state
            )
            outs.append(out)
            state = [ops.stop_gradient(h) for h in state]
        y = ops.concatenate(outs, axis=1)
        return y if s["outputs"] == "every" else y[:, -1]

    return layer_op
