"""torch's own layer functions for a layer-stack case (backends/engine_layers.py): each
``torch.nn.functional`` op with the case's settings, NCHW as torch lays images out. A dense
layer is ``x @ W + b`` (EngineLayers.dense): F.linear's fused addmm rounds the bias into the
product's last bit differently, and the article's network is written z = a·W + b.

A recurrent layer is torch's own kernel — ``torch.rnn_tanh``/``rnn_relu``, ``torch.lstm``,
``torch.gru``, what ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` call (torch/nn/modules/rnn.py, batch
first) — with the case's parameters as its weights: Wx and Wh transposed to torch's outputs ×
inputs layout, their gate blocks put in torch's order (LSTM i, f, g, o; GRU r, z, n), b and bh
as b_ih and b_hh; no module is built, so torch.compile traces it too. A truncated case runs the
kernel chunk by chunk, its state detached between chunks."""

from backprop_crosscheck.backends.attention_ops import attention
from backprop_crosscheck.backends.interface import Unsupported
from backprop_crosscheck.backends.recurrent_cells import gate_block
from backprop_crosscheck.reference.precision import numpy_dtype

TORCH_GATES = {"rnn": "h", "lstm": "ifgo", "gru": "rzn"}


GRU_BEFORE = (
    "torch's nn.GRU applies the reset gate after the product, r ⊙ (h·W_hn + b_hn); this case's "
    'reset = "before" ((r ⊙ h)·W_hn, Keras\'s reset_after=False) is no nn.GRU'
)


def beyond_torch(case) -> str | None:
    """Why torch's cells cannot run this case (a GRU resetting before the product), or None:
    said before the run, so that a compiled one never meets it inside its graph."""
    for layer in case.stack:
        if layer.kind == "gru" and layer.settings["reset"] == "before":
            return GRU_BEFORE
    return None


def torch_recurrent(torch, kind: str):
    def kernel(s):
        if kind == "rnn":
            return torch.rnn_tanh if s["activation"] == "tanh" else torch.rnn_relu
        return torch.lstm if kind == "lstm" else torch.gru

    def layer_op(x, p, layer):
        s = layer.settings
        if kind == "gru" and s["reset"] == "before":
            raise Unsupported(GRU_BEFORE)  # said before the run (beyond_torch); here, too
        order = s.get("gates", TORCH_GATES[kind])

        def ours(t):  # the case's gate blocks in torch's order
            return torch.cat([gate_block(t, order, g) for g in TORCH_GATES[kind]], dim=-1)

        Wx, Wh = p["Wx"], p["Wh"]
        weights, biased = [ours(Wx).T, ours(Wh).T], "b" in p or "bh" in p
        if biased:
            zero = torch.zeros(Wh.shape[1], dtype=x.dtype, device=x.device)
            weights += [ours(p[n]) if n in p else zero for n in ("b", "bh")]
        N, T, H = x.shape[0], x.shape[1], Wh.shape[0]
        zeros = torch.zeros(1, N, H, dtype=x.dtype, device=x.device)
        state = [p[n].expand(1, N, H) if n in p else zeros for n in ("h0", "c0")]
        k, outs, run = s["truncate"] or T, [], kernel(s)
        for start in range(0, T, k):
            hx = tuple(state) if kind == "lstm" else state[0]
            # (input, hx, weights, has_biases, layers, dropout, train, bidirectional, batch_first)
            out, *state = run(
                x[:, start : start + k], hx, weights, biased, 1, 0.0, True, False, True
            )
            outs.append(out)
            state = [h.detach() for h in state]
        y = torch.cat(outs, dim=1).contiguous()  # compiled, a strided output met a .view
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
        "merge_time": lambda x, p, layer: torch.flatten(x, 0, 1),  # a step per row
        **{kind: torch_recurrent(torch, kind) for kind in TORCH_GATES},
    }


def torch_attention(ops):
    """An attention layer through ``F.scaled_dot_product_attention`` (what nn.MultiheadAttention
    calls): is_causal where the causal mask alone is given (torch aligns it top-left), else the
    case's mask as a boolean attn_mask (True: may attend), or a float one (−∞ where masked)
    for an additive mask. The projections and heads are ``ops``' (attention_ops.py)."""
    torch = ops.torch
    F = torch.nn.functional

    def attend(q, k, v, masks, scale):
        top_left = masks.tq == masks.tk or masks.layer.settings["align"] == "top_left"
        if masks.only_causal and top_left:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
        if masks.additive is None:
            mask = torch.as_tensor(masks.allowed, device=q.device)
        else:
            mask = ops.constant(masks.float_mask(), q)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)

    def layer_op(x, p, layer):
        if multi_head_attention_fits(p, layer, x.shape[-1]):
            return multi_head(torch, x, p, layer)
        return attention(ops, x, p, layer, attend)

    return layer_op


def multi_head_attention_fits(p, layer, width: int) -> bool:
    """Whether nn.MultiheadAttention can run the layer as it is: self-attention with Wq, Wk,
    Wv and Wo, every one width × width (its packed in-projection), biases all or none (Wo's
    bias with them), the default scale, no attention dropout (its mask is random), a fully
    masked row zero (what its kernel returns)."""
    square = all(n in p and tuple(p[n].shape) == (width, width) for n in ("Wq", "Wk", "Wv", "Wo"))
    biases = {n in p for n in ("bq", "bk", "bv", "bo")}
    return (
        square
        and "memory" not in p
        and len(biases) == 1
        and layer.mask is None
        and not layer.settings["scale"]  # its scale is 1/√d, no other
        and layer.settings["masked_rows"] == "zero"
        and layer.settings["align"] == "top_left"
    )


def multi_head(torch, x, p, layer):
    """The layer through ``F.multi_head_attention_forward`` — what nn.MultiheadAttention's
    forward calls — its in-projection packed as the module keeps it (Wq, Wk, Wv stacked,
    outputs × inputs), its masks in its own reading: ``key_padding_mask`` True for a padded key
    (the lengths alone), else ``attn_mask`` True where a query may NOT attend (the case's mask
    inverted), or a float one (−∞ where masked) for an additive mask."""
    from backprop_crosscheck.backends.attention_ops import Masks

    s, n, steps = layer.settings, x.shape[0], x.shape[1]
    masks = Masks(layer, n, steps, steps)
    packed = torch.cat([p["Wq"].T, p["Wk"].T, p["Wv"].T])
    bias = torch.cat([p["bq"], p["bk"], p["bv"]]) if "bq" in p else None
    kwargs = {}
    if set(layer.given) == {"lengths"} and not s["causal"]:
        lengths = torch.as_tensor(layer.given["lengths"], device=x.device)
        kwargs["key_padding_mask"] = torch.arange(steps, device=x.device)[None] >= lengths[:, None]
    elif masks.additive is not None or s["causal"] or layer.given:
        if masks.additive is not None:
            mask = torch.as_tensor(masks.float_mask(), dtype=x.dtype, device=x.device)
        else:
            mask = torch.as_tensor(~masks.allowed, device=x.device)
        kwargs["attn_mask"] = mask.expand(n, s["heads"], steps, steps).reshape(-1, steps, steps)
    seq = x.transpose(0, 1)  # (T, samples, width): its default layout
    y, _ = torch.nn.functional.multi_head_attention_forward(
        *(seq, seq, seq, x.shape[-1], s["heads"], packed, bias),
        *(None, None, False, 0.0, p["Wo"].T, p.get("bo")),  # no bias_k, bias_v, zero attn, dropout
        training=True,
        need_weights=False,
        **kwargs,
    )
    return y.transpose(0, 1)


def torch_numpy(torch, value):
    """A tensor as NumPy: a bfloat16 one as ml_dtypes' bfloat16 (torch's ``.numpy()`` refuses
    it), through float32 — exact."""
    value = value.detach().cpu()
    if value.dtype == torch.bfloat16:
        return value.float().numpy().astype(numpy_dtype("bfloat16"))
    return value.numpy()
