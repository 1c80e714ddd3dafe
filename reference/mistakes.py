"""The classic mistakes of a hand-derived backpropagation, each computed on a case: what an
engine — or a learner's derivation — with that one mistake produces. The diagnosis holds a
failing backend's numbers against each (comparisons/judge/diagnosis.py).

``train_with(case, mistake)`` is the reference's own training loop (reference/network.py) with
one line changed: a layer's row (reference/layers/, an activation's f′) for the mistakes in
one kind of layer, the loss's gradient, the gradients' bookkeeping or the update for the rest.
The line is named where the mistake is listed.
"""

import math
from typing import NamedTuple

import numpy as np
from backprop_crosscheck.reference import layers
from backprop_crosscheck.reference.cases.case import Case
from backprop_crosscheck.reference.layers import attention, gru, lstm, recurrent, rnn
from backprop_crosscheck.reference.network import Forward, inputs_of
from backprop_crosscheck.reference.result import Result
from backprop_crosscheck.reference.rules.activations import ACTIVATIONS, activation
from backprop_crosscheck.reference.rules.losses import LOSSES
from backprop_crosscheck.reference.rules.optimizers import adam_step, start, update
from backprop_crosscheck.reference.stack import ROWS, run_backward, run_forward, walk
from backprop_crosscheck.reference.training import train_loop

ANY = ()  # a mistake any network can make: in its loss, its bookkeeping or its update
ACTIVATION = ("activation",)  # a mistake in an activation's derivative, whichever it is
THROUGH_TIME = ("recurrent",)  # a mistake in backpropagation through time: any rnn, lstm, gru
GATED = ("gated",)  # a mistake in a gated cell's gates: an lstm or a gru
TANH_THROUGH_TIME = ("tanh_recurrent",)  # a mistake in an rnn's or an lstm's tanh′

# name -> (the layer kinds it needs, what it is, as a learner would say it)
MISTAKES = {
    "sign_flip": (("dense",), "the output layer's gradient has its sign flipped"),
    "no_activation_derivative": (
        ACTIVATION,
        "δ = dE/da: the activation's derivative f′(z) dropped",
    ),
    "fprime_of_activation": (
        ACTIVATION,
        "f′ taken of the activation, not the pre-activation: σ′(a) for σ′(z)",
    ),
    "tanh_prime_of_z": (ACTIVATION, "tanh′ written as 1 − z² instead of 1 − tanh(z)²"),
    "ce_missing_target": (
        ANY,
        "the softmax cross-entropy gradient missing its −target term",
    ),
    "leaky_slope_positive": (
        ACTIVATION,
        "leaky_relu's slope applied on the positive side: f′ = slope for z > 0",
    ),
    "new_output_weights": (
        ("dense",),
        "the hidden layer's gradient uses the already-updated output weights",
    ),
    "transposed_gradient": (("dense",), "a square weight gradient transposed: δ·a_prevᵀ"),
    "no_grad_clear": (ANY, "gradients not cleared between steps (accumulated)"),
    "forgot_half": (ANY, "the ½ of the loss forgotten: gradients doubled"),
    "batch_mean_sum": (ANY, "batch mean and sum confused"),
    "mse_per_sample": (
        ANY,
        "mse averaged over samples only, not over every element (outputs too)",
    ),
    "lr_twice": (ANY, "the learning rate applied twice: p − a·a·g"),
    "lr_missing": (ANY, "the learning rate not applied: p − g"),
    "bias_first_sample": (
        ("dense",),
        "the bias gradient not summed over the batch (first sample only)",
    ),
    "bias_sign_flip": (("dense",), "the update's sign flipped for the biases only: b + a·g"),
    "never_updates_output": (("dense",), "the output weights never updated"),
    "float32_inside": (ANY, "float32 arithmetic inside a float64 run"),
    "layer_shift": (("dense",), "layer l's gradient reported for layer l+1"),
    "frozen_updated": (ANY, "a frozen parameter updated anyway"),
    "adam_no_bias_correction": (
        ANY,
        "Adam without its bias correction: m/(√v + ε) for m̂/(√v̂ + ε)",
    ),
    "momentum_not_carried": (
        ANY,
        "momentum's velocity (Adam's moments too) not carried between steps: every step "
        "taken as the first",
    ),
    "conv_no_flip": (
        ("conv2d",),
        "the convolution's input gradient without the kernel flip: dE/dy "
        "correlated with K where the flipped K belongs",
    ),
    "maxpool_to_all": (
        ("max_pool2d",),
        "max-pool's gradient sent to every position of its window, not to the maximum alone",
    ),
    "maxpool_averaged": (
        ("max_pool2d",),
        "max-pool's gradient averaged over its window (avg-pool's backward)",
    ),
    "bn_constant_stats": (
        ("batch_norm",),
        "batch norm's backward treating the batch mean and "
        "variance as constants: dx = γ·dy/√(σ² + ε)",
    ),
    "bn_unbiased_variance": (
        ("batch_norm",),
        "batch norm's variance unbiased (÷ (n − 1)) in "
        "training mode, where the biased one (÷ n) belongs",
    ),
    "dropout_no_rescale": (
        ("dropout",),
        "dropout's rescale 1/(1 − p) missing from the backward",
    ),
    "embedding_overwrite": (
        ("embedding",),
        "an embedding's gradient overwritten, not accumulated, for repeated indices",
    ),
    "residual_no_identity": (
        ("residual",),
        "a residual block's gradient missing its identity path (dx = d block/dx alone)",
    ),
    "softmax_jacobian_diagonal": (
        ("attention",),
        "attention's softmax Jacobian taken as its diagonal: dE/dS = dE/dP ⊙ P(1 − P), the "
        "other keys' terms (−P_i·P_j) dropped",
    ),
    "attention_scale_forgotten": (
        ("attention",),
        "the scores' scale forgotten in the backward: dE/dQ = dE/dS·K, not dE/dS·K·scale",
    ),
    "mask_after_softmax": (
        ("attention",),
        "the mask applied after the softmax: every key's softmax, then the masked weights set "
        "to 0 (the rows no longer sum to 1)",
    ),
    "causal_off_by_one": (
        ("attention",),
        "the causal mask off by one: each query sees the next key too",
    ),
    "heads_reshaped": (
        ("attention",),
        "attention's heads split by a reshape where a transpose belongs: (samples, T, H·d) read "
        "as (samples, H, T, d), the steps and heads mixed",
    ),
    "dv_unnormalized": (
        ("attention",),
        "dE/dV computed with the unnormalized scores exp(S − max) where P belongs",
    ),
    "bptt_no_carry": (
        THROUGH_TIME,
        "the hidden state's gradient not carried back to the previous step: dE/dh_t from "
        "step t's own output alone",
    ),
    "wh_last_step_only": (
        THROUGH_TIME,
        "the recurrent weights' gradient from the last step only, not summed over the steps",
    ),
    "tanh_prime_of_preactivation": (
        TANH_THROUGH_TIME,
        "tanh′ taken at the wrong point: 1 − a² of its input (a tanh RNN's; an LSTM's: "
        "1 − c_t² of the cell state) where 1 − tanh(a)² belongs",
    ),
    "gates_wrong_order": (
        GATED,
        "the gates' gradients assembled in another order than the forward split them (an "
        "LSTM's last two, a GRU's first two swapped)",
    ),
    "lstm_no_forget_gate": (
        ("lstm",),
        "the cell state's gradient not passed through the forget gate: dE/dc_{t−1} = dE/dc_t",
    ),
    "gru_reset_wrong_side": (
        ("gru",),
        "the GRU's reset gate differentiated on its other side: (r ⊙ h)·W_hn's backward for "
        "r ⊙ (h·W_hn + b_hn), or the other way",
    ),
}
OPTIMIZER_MISTAKES = {
    "adam_no_bias_correction": ("adam",),
    "momentum_not_carried": ("momentum", "adam"),
}


def describe(mistake: str) -> str:
    """What the mistake is, as a learner would say it."""
    return MISTAKES[mistake][1]


def mistakes_for(case: Case) -> list[str]:
    """The mistakes that can be made on this case: a layer's only where the case has that
    layer, an optimizer's only under that optimizer."""
    kinds = {
        "activation" if layer.kind in ACTIVATIONS else layer.kind for layer in walk(case.stack)
    }
    kinds |= {"recurrent"} if kinds & set(layers.RECURRENT) else set()
    kinds |= {"gated"} if kinds & {"lstm", "gru"} else set()
    kinds |= {"tanh_recurrent"} if kinds & {"rnn", "lstm"} else set()
    rule = case.optimizer.name
    return [
        m
        for m, (needs, _) in MISTAKES.items()
        if set(needs) <= kinds and rule in OPTIMIZER_MISTAKES.get(m, (rule,))
    ]


def train_with(case: Case, mistake: str, dtype=np.float64) -> Result:
    """``case.steps`` steps as the reference takes them, but for ``mistake``."""
    out = np.dtype(dtype)
    work = np.float32 if mistake == "float32_inside" else out
    params = case.parameters(work)
    X, Y = inputs_of(case, work), case.targets.astype(work)
    carried = {}  # no_grad_clear: the last step's gradients, still there
    rows, where = mistaken_rows(mistake, case), _where(case, mistake)

    def forward(params):
        return _forward(case, params, X, Y, rows)

    def one_step(params, state):
        fwd = forward(params)
        grads = _gradients(case, params, fwd, Y, mistake, rows, where)
        if mistake == "no_grad_clear":
            grads = {n: g + carried.get(n, 0) for n, g in grads.items()}
            carried.update(grads)
        if mistake == "momentum_not_carried":
            state = start(case, params)  # velocity and moments back to 0, t to 0
        return fwd.loss, grads, *_update(case, params, grads, mistake, state, where)

    def cast(t):
        return np.asarray(t, dtype=out)

    with np.errstate(all="ignore"):
        return train_loop(
            one_step,
            params,
            start(case, params),
            case.steps,
            lambda params: forward(params).loss,
            keep=cast,
            loss_dtype=out,
        )


def mistaken_gradients(case: Case, params: dict, X, Y, mistake: str) -> dict:
    """dE/d(every parameter) at ``params`` as a backward with ``mistake`` computes it: one step's
    gradients (a mistake in the update, or across steps, changes none of them)."""
    work = np.float32 if mistake == "float32_inside" else np.float64
    params = {n: np.asarray(p, dtype=work) for n, p in params.items()}
    X = X if case.takes_indices else np.asarray(X, dtype=work)
    Y, rows = np.asarray(Y, dtype=work), mistaken_rows(mistake, case)
    with np.errstate(all="ignore"):
        fwd = _forward(case, params, X, Y, rows)
        grads = _gradients(case, params, fwd, Y, mistake, rows, _where(case, mistake))
    return {n: grads[n] for n in params}


def _forward(case, params, X, Y, rows) -> Forward:
    """The reference's forward pass (network.forward), with ``rows``."""
    outputs, saved = run_forward(case.stack, X, params, case.leaky_slope, rows)
    return Forward(outputs, saved, LOSSES[case.loss].value(outputs[-1], Y))


def _output_gradient(case, p, Y, mistake):
    """dE/dprediction, but for the loss's mistakes."""
    n = Y.shape[0]
    dE_da = LOSSES[case.loss].gradient(p, Y)
    if mistake == "forgot_half":
        dE_da = 2 * dE_da
    if mistake == "ce_missing_target" and case.loss == "softmax_cross_entropy":
        dE_da = dE_da + Y / n  # (softmax − t)/n + t/n = softmax/n
    if mistake == "batch_mean_sum":
        dE_da = dE_da / n if case.loss == "half_sse" else dE_da * n
    if mistake == "mse_per_sample" and case.loss == "mse":
        dE_da = dE_da * p.shape[1]  # divided by the samples alone
    return dE_da


class Where(NamedTuple):
    """What a mistake needs to know of the network, read once a run (not once a step)."""

    weights: list  # the dense layers' weights, input side first: W1 … W_L of a dense network
    biases: set  # every bias's name (b, bias)
    rule: Case  # the case with the update's mistake in its rate or its frozen set


def _where(case: Case, mistake: str) -> Where:
    a = case.learning_rate
    rule = case.replace(
        learning_rate={"lr_twice": a * a, "lr_missing": 1.0}.get(mistake, a),
        frozen=frozenset() if mistake == "frozen_updated" else case.frozen,
    )
    layers = walk(case.stack)
    return Where(
        [layer.name("W") for layer in layers if layer.kind == "dense"],
        {layer.name(p) for layer in layers for p in ("b", "bias") if p in layer.initial},
        rule,
    )


def _gradients(case, params, fwd, Y, mistake, rows, where: Where) -> dict:
    """The reference's backward pass (network.backward_pass), but for ``mistake``."""
    dE_da = _output_gradient(case, fwd.prediction, Y, mistake)
    dX, grads = run_backward(case.stack, dE_da, fwd.saved, params, case.leaky_slope, rows)
    grads = {**{n: grads[n] for n in params}, **({} if case.takes_indices else {"X": dX})}
    weights = where.weights
    if mistake == "sign_flip":
        grads[weights[-1]] = -grads[weights[-1]]
    if mistake == "layer_shift":  # each layer's weight gradient reported for the next
        shifted = dict(grads)
        for lo, hi in zip(weights, weights[1:], strict=False):
            if grads[lo].shape == grads[hi].shape:
                shifted[hi] = grads[lo]
        grads = shifted
    return grads


def _update(case, params, grads, mistake, state, where: Where) -> tuple[dict, dict]:
    """The case's update rule (reference/rules/optimizers.py), but for ``mistake``."""
    a, rule = case.learning_rate, where.rule
    new, after = update(rule, params, grads, state)
    if mistake == "adam_no_bias_correction" and case.optimizer.name == "adam":
        for name in new:  # the moments as they are, not divided by 1 − βᵗ, ε where the case puts it
            if name not in rule.frozen:
                m, v = after["m"][name], after["v"][name]
                new[name] = params[name] - a * adam_step(case.optimizer, m, v, after["t"], False)
    for name, p in params.items():
        if mistake == "never_updates_output" and name in where.weights[-1:]:
            new[name] = p
        if mistake == "bias_sign_flip" and name in where.biases:
            new[name] = 2 * p - new[name]  # p + step where p − step was meant
    return new, after


# --- the mistakes in one kind of layer: its row with one line changed -----------------------


def _fprime(mistake: str):
    """An activation's backward, but for ``mistake`` (its f′ changed)."""

    def backward(dy, saved, kind, slope):
        z, a = saved
        act = activation(kind, slope)
        if mistake == "no_activation_derivative":
            return dy, {}  # δ = dE/da: f′(z) dropped
        if mistake == "fprime_of_activation":
            return dy * act.fprime(a, act.f(a)), {}  # f′ evaluated at a, not at z
        if mistake == "tanh_prime_of_z" and kind == "tanh":
            return dy * (1 - z * z), {}  # 1 − z², where 1 − tanh(z)² was meant
        if mistake == "leaky_slope_positive" and kind == "leaky_relu":
            return dy * np.where(z > 0, slope, 1.0).astype(z.dtype), {}  # the sides swapped
        return dy * act.fprime(z, a), {}

    return backward


def _dense(mistake: str, learning_rate: float):
    """The dense row's backward, but for ``mistake``."""

    def backward(dy, saved, params):
        x = saved.reshape(-1, saved.shape[-1])  # a row per sample (and step), as dense_backward
        rows = dy.reshape(-1, dy.shape[-1])
        gW = x.T @ rows
        if mistake == "transposed_gradient" and gW.shape[0] == gW.shape[1]:
            gW = gW.T
        grads = {"W": gW}
        if "b" in params:
            grads["b"] = rows[0] if mistake == "bias_first_sample" else rows.sum(axis=0)
        W = params["W"]
        if mistake == "new_output_weights":
            W = W - learning_rate * gW  # updated before dE/dy is sent back through it
        return dy @ W.T, grads

    return backward


def _conv_no_flip(dy, saved, params):
    unflipped = {**params, "kernel": params["kernel"][..., ::-1, ::-1]}  # undoes the flip
    dx, _ = layers.conv2d_backward(dy, saved, unflipped)
    return dx, layers.conv2d_backward(dy, saved, params)[1]  # the kernel's gradient is right


def _maxpool_to_all(dy, saved, params, share=1):
    shape, win, _, stride = saved
    d_win = np.broadcast_to((dy * share)[..., None, None], win.shape)  # to every position
    return layers.scatter_windows(d_win, shape, stride), {}


def _maxpool_averaged(dy, saved, params):
    kh, kw = saved.windows.shape[4:]
    return _maxpool_to_all(dy, saved, params, 1 / (kh * kw))


def _bn_constant_stats(dy, saved, params):
    x, mu, var, xhat, axes, eps = saved
    dx, grads = layers.batch_norm_backward(dy, saved, params)
    shape = (1, -1) if len(axes) == 1 else (1, -1, 1, 1)
    return dy * params["gamma"].reshape(shape) / np.sqrt(var + eps), grads  # μ, σ² held fixed


def _bn_unbiased_forward(x, params, eps=1e-5):
    """Training-mode batch norm with σ²_u = σ²·n/(n − 1): x̂_u = (x − μ)/√(σ²_u + ε)
    = c·(x − μ)/√(σ² + c²ε) with c = √((n − 1)/n) — the reference's row with ε·c² and γ·c."""
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    n = math.prod(x.shape[a] for a in axes)
    c = math.sqrt((n - 1) / n)
    y, saved = layers.batch_norm_forward(x, {**params, "gamma": params["gamma"] * c}, eps * c * c)
    return y, (saved, c)


def _bn_unbiased_backward(dy, saved, params):
    inner, c = saved
    dx, grads = layers.batch_norm_backward(dy, inner, {**params, "gamma": params["gamma"] * c})
    return dx, {**grads, "gamma": grads["gamma"] * c}  # dy/dγ = c·x̂ (the row's x̂ is c-free)


def _dropout_no_rescale(dy, saved, params):
    mask, p = saved
    return dy * mask, {}  # the 1/(1 − p) forgotten


def _embedding_overwrite(dy, saved, params):
    d_table = np.zeros_like(params["table"])
    d_table[saved] = dy  # assigned: a row picked twice keeps one of its gradients
    return None, {"table": d_table}


def _residual_no_identity(dy, saved, params, block_backward):
    return block_backward(dy, saved, params)  # dy + d_block was meant


# --- attention's mistakes: its row with one line changed (reference/layers/attention.py)


def _attention_mistaken(mistake: str):
    """attention's row (forward, backward), but for ``mistake``: a wrong line of the backward
    is the right backward plus what that line adds wrong (``_added``)."""
    forward, backward = layers.attention_forward, layers.attention_backward

    def mistaken_forward(x, params, **settings):
        if mistake == "causal_off_by_one" and settings.get("causal"):
            return forward(x, params, **{**settings, **_one_key_ahead(x, params, settings)})
        if mistake == "mask_after_softmax":
            return _masked_after(x, params, settings)
        if mistake == "heads_reshaped":
            return forward(x, params, **settings, layout="reshape")
        return forward(x, params, **settings)

    def mistaken_backward(dy, saved, params):
        dx, grads = backward(dy, saved, params)
        w, kept, heads = saved.p, saved.kept, saved.q.shape[1]
        d_o = dy @ params["Wo"].T if "Wo" in params else dy
        d_o = attention.split_heads(d_o, heads, saved.layout)
        d_p = (d_o @ saved.v.transpose(0, 1, 3, 2)) * kept
        if mistake == "attention_scale_forgotten":  # dE/dQ, dE/dK without their scale
            d_s = attention._softmax_backward(d_p, w, saved.allowed) * (1 / saved.scale - 1)
            return _added(dx, grads, saved, params, d_s=d_s)
        if mistake == "softmax_jacobian_diagonal":  # P ⊙ (1 − P) ⊙ dE/dP
            diagonal = np.where(saved.allowed, d_p * w * (1 - w), 0)
            d_s = diagonal - attention._softmax_backward(d_p, w, saved.allowed)
            return _added(dx, grads, saved, params, d_s=d_s)
        if mistake == "dv_unnormalized":  # dE/dV = exp(S − max)ᵀ·dE/dO
            s = np.where(saved.allowed, saved.q @ saved.k.transpose(0, 1, 3, 2) * saved.scale, 0)
            top = np.where(saved.allowed, s, -np.inf).max(axis=-1, keepdims=True)  # its keys'
            e = np.where(saved.allowed, np.exp(s - np.where(np.isfinite(top), top, 0)), 0)
            d_v = ((e - w) * kept).transpose(0, 1, 3, 2) @ d_o
            return _added(dx, grads, saved, params, d_v=d_v)
        return dx, grads

    return mistaken_forward, mistaken_backward


def _added(dx, grads, saved, params, d_s=None, d_v=None):
    """(dE/dx, gradients) with what a wrong dE/dS (through Q and K) or dE/dV adds, by head,
    carried through the projections as attention_backward carries them."""
    grads = dict(grads)
    d_q = d_k = 0
    if d_s is not None:
        d_q = attention.merge_heads(d_s @ saved.k * saved.scale)
        d_k = attention.merge_heads(d_s.transpose(0, 1, 3, 2) @ saved.q * saved.scale)
    d_v = 0 if d_v is None else attention.merge_heads(d_v)
    for name, bias, delta, source in (
        ("Wq", "bq", d_q, saved.x),
        ("Wk", "bk", d_k, saved.m),
        ("Wv", "bv", d_v, saved.m),
    ):
        if np.ndim(delta) == 0 or name not in params:
            continue
        rows = delta.reshape(-1, delta.shape[-1])
        grads[name] = grads[name] + source.reshape(-1, source.shape[-1]).T @ rows
        if bias in params:
            grads[bias] = grads[bias] + rows.sum(axis=0)

    def through(d, name):  # dE/d(what the projection multiplies): d·Wᵀ, or d itself
        return d @ params[name].T if np.ndim(d) and name in params else d

    to_m = through(d_k, "Wk") + through(d_v, "Wv")
    dx = dx + through(d_q, "Wq")
    if "memory" in params:
        grads["memory"] = grads["memory"] + (to_m.sum(axis=0) if np.ndim(to_m) else 0)
        return dx, grads
    return dx + to_m, grads


def _masked_after(x, params, settings):
    """Every key's softmax, then the masked weights set to 0 (not renormalized); every score a
    variable of the backward."""
    additive = settings.get("mask_type") == "additive"
    unmasked = {**settings, "causal": False, "lengths": None}
    if not additive:
        unmasked["scores_mask"] = None
    _, full = layers.attention_forward(x, params, **unmasked)
    n, tq = x.shape[:2]
    allowed = attention.allowed_keys(
        n,
        tq,
        full.k.shape[2],
        settings.get("causal", False),
        settings.get("align", "top_left"),
        settings.get("mask_type", "attend"),
        settings.get("scores_mask"),
        settings.get("lengths"),
    )
    kept = full.kept * allowed
    o = attention.merge_heads((full.p * kept) @ full.v)
    y = o @ params["Wo"] + params.get("bo", 0) if "Wo" in params else o
    return y, full._replace(kept=kept, o=o)


def _one_key_ahead(x, params, settings) -> dict:
    """The settings' masks as one 'attend' mask whose causal part lets query i see key i + 1."""
    n, tq = x.shape[:2]
    tk = params["memory"].shape[0] if "memory" in params else tq
    given = {k: settings.get(k) for k in ("scores_mask", "lengths")}
    others = attention.allowed_keys(
        n, tq, tk, False, "top_left", settings.get("mask_type", "attend"), *given.values()
    )
    shift = tk - tq if settings.get("align") == "bottom_right" else 0
    ahead = np.arange(tk)[None, :] <= np.arange(tq)[:, None] + shift + 1
    mask = (others & ahead)[:, 0].astype(float)
    return {"causal": False, "scores_mask": mask, "mask_type": "attend", "lengths": None}


# --- the mistakes through time: a recurrent row with one line of its cell or its loop changed


class LoopChange(NamedTuple):
    """One change to backpropagation through time's loop (recurrent.backward_through_time)."""

    dropped_carry: tuple = ()  # the state parts (0: h, 1: an LSTM's c) not carried to step t−1
    loss_last_only: bool = False  # dE/dh_t without the loss at step t, but at the last step
    one_step: tuple = ()  # (parameter, "last" or "first"): its Σ_t kept from that step alone


LOOP_MISTAKES = {
    "bptt_no_carry": LoopChange(dropped_carry=(0,)),  # dE/dh_{t−1} dropped
    "wh_last_step_only": LoopChange(one_step=("Wh", "last")),  # Σ_t dropped: the last step's
}


def bptt_changed(cell, change: LoopChange):
    """recurrent.backward_through_time, line for line, but for one change to its loop."""

    def backward(dy, through, params):
        T, every = through.shape[1], through.outputs == "every"
        d_state = tuple(np.zeros_like(part) for part in through.first)
        dxw, grads = None, {}
        kept, at = change.one_step or (None, None)
        for t in range(T - 1, -1, -1):
            from_loss = dy[:, t] if every else (dy if t == T - 1 else 0)
            if change.loss_last_only and t < T - 1:
                from_loss = 0  # the loss at step t dropped: dE/dh_t from step t+1 alone
            d_state = (d_state[0] + from_loss, *d_state[1:])
            d_in, d_state, own = cell.back(d_state, through.steps[t], params, **through.settings)
            if dxw is None:
                dxw = np.zeros((*through.shape[:2], d_in.shape[-1]), dtype=d_in.dtype)
            dxw[:, t] = d_in
            d_state = tuple(
                np.zeros_like(d) if k in change.dropped_carry else d for k, d in enumerate(d_state)
            )
            for name, g in own.items():
                if name == kept and t != (T - 1 if at == "last" else 0):
                    continue
                grads[name] = grads[name] + g if name in grads else g
            if through.truncate and t > 0 and t % through.truncate == 0:
                d_state = tuple(np.zeros_like(d) for d in d_state)
        dx, inputs = recurrent.input_backward(dxw, through.x, params)
        grads.update(inputs)
        for name, d in zip(recurrent.INITIAL_STATE, d_state, strict=False):
            if name in params:
                grads[name] = d if params[name].ndim == 2 else d.sum(axis=0)
        return dx, {name: grads[name] for name in params}

    return backward


def _swapped(order: str) -> str:
    """The gate order with two gates swapped: an LSTM's last two, a GRU's first two."""
    return order[:2] + order[3] + order[2] if len(order) == 4 else order[1] + order[0] + order[2]


def _cell_back(kind: str, mistake: str):
    """The cell's backward of one step, but for the cell's mistakes."""
    back = {"rnn": rnn.rnn_step_backward, "lstm": lstm.lstm_step_backward}.get(
        kind, gru.gru_step_backward
    )

    def mistaken(d_state, s, params, **settings):
        if mistake == "gates_wrong_order":
            return back(d_state, s, params, **{**settings, "gates": _swapped(settings["gates"])})
        if mistake == "gru_reset_wrong_side":
            other = "before" if settings["reset"] == "after" else "after"
            Wh_n, bh = recurrent.blocks(params["Wh"], settings["gates"])["n"], params.get("bh")
            bh_n = 0 if bh is None else recurrent.blocks(bh, settings["gates"])["n"]
            seen = (  # the other side's formulas at this forward's values
                s._replace(h_in=s.r * s.h)
                if other == "before"
                else s._replace(h_in=s.h, hn=s.h @ Wh_n + bh_n)
            )
            return back(d_state, seen, params, **{**settings, "reset": other})
        if mistake == "lstm_no_forget_gate":
            dx, (dh_prev, dc_prev), grads = back(d_state, s, params, **settings)
            dh, dc = d_state
            dc_full = dc + dh * s.o * (1 - s.tc**2)  # dE/dc_t
            return dx, (dh_prev, dc_full), grads  # · f forgotten
        if mistake == "tanh_prime_of_preactivation" and kind == "rnn":
            if settings["activation"] == "tanh":
                return back(d_state, s._replace(h_next=s.a), params, **settings)  # 1 − a²
        if mistake == "tanh_prime_of_preactivation" and kind == "lstm":
            (dh, dc), c_t = d_state, s.f * s.c + s.i * s.g
            wrong = dc + dh * s.o * ((1 - c_t**2) - (1 - s.tc**2))  # 1 − c_t² for 1 − tanh²(c_t)
            return back((dh, wrong), s, params, **settings)
        return back(d_state, s, params, **settings)

    return mistaken


def _recurrent_rows(mistake: str) -> dict:
    """Every recurrent kind's row, but for a mistake through time (none: {})."""
    through_time = (THROUGH_TIME, GATED, TANH_THROUGH_TIME, ("lstm",), ("gru",))
    if MISTAKES.get(mistake, ((),))[0] not in through_time:
        return {}
    found = {}
    for kind in layers.RECURRENT:
        cell = {"rnn": rnn.RNN_CELL, "lstm": lstm.LSTM_CELL, "gru": gru.GRU_CELL}[kind]
        cell = cell._replace(back=_cell_back(kind, mistake))
        change = LOOP_MISTAKES.get(mistake, LoopChange())
        found[kind] = (layers.LAYERS[kind].forward, bptt_changed(cell, change))
    return found


def mistaken_rows(mistake: str, case: Case) -> dict:
    """The rows a network runs with ``mistake``: ROWS with one kind's changed."""
    changed = {
        "no_activation_derivative": "activation",
        "fprime_of_activation": "activation",
        "tanh_prime_of_z": "activation",
        "leaky_slope_positive": "activation",
        "transposed_gradient": "dense",
        "bias_first_sample": "dense",
        "new_output_weights": "dense",
    }
    rows = {
        "conv_no_flip": {"conv2d": (layers.conv2d_forward, _conv_no_flip)},
        "maxpool_to_all": {"max_pool2d": (layers.max_pool2d_forward, _maxpool_to_all)},
        "maxpool_averaged": {"max_pool2d": (layers.max_pool2d_forward, _maxpool_averaged)},
        "bn_constant_stats": {"batch_norm": (layers.batch_norm_forward, _bn_constant_stats)},
        "bn_unbiased_variance": {"batch_norm": (_bn_unbiased_forward, _bn_unbiased_backward)},
        "dropout_no_rescale": {"dropout": (layers.dropout_forward, _dropout_no_rescale)},
        "embedding_overwrite": {"embedding": (layers.embedding_forward, _embedding_overwrite)},
        "residual_no_identity": {"residual": (layers.residual_forward, _residual_no_identity)},
    }.get(mistake, {})
    if changed.get(mistake) == "activation":
        rows = {"activation": (ROWS["activation"][0], _fprime(mistake))}
    if changed.get(mistake) == "dense":
        rows = {"dense": (layers.dense_forward, _dense(mistake, case.learning_rate))}
    if MISTAKES.get(mistake, ((),))[0] == ("attention",):
        rows = {"attention": _attention_mistaken(mistake)}
    return {**ROWS, **rows, **_recurrent_rows(mistake)}
