"""Hessian-vector products H·v of the loss, derived by hand (Pearlmutter's R-operator).

H·v = d/dε ∇E(θ + ε·v) at ε = 0. Differentiating every line of the forward and backward pass
along v (written R{x} = dx/dε) gives a second pass that reads like the first, layer by layer,
built from each layer's own rows (reference/layers.py), because each row is linear or bilinear
in what changes:

    dense, conv2d   y = x∘W + b is bilinear in (x, W): R{y} = R{x}∘W + x∘V_W + V_b — the row
                    twice; its backward likewise: R{dx}, R{dW} = row(R{dy}; x, W) + row(dy; R{x}, V)
    pools, flatten, dropout     linear in x (max-pool with its choice fixed): R{y} = row(R{x}),
                                R{dx} = row(R{dy})
    embedding       y = table[i]: R{y} = V_table[i]; R{d table} = the scatter-add of R{dy}
    residual        y = x + block(x): R{y} = R{x} + R{block}; R{dx} = R{dy} + R{d block}
    activation      R{a} = f′(z)·R{z};  R{dz} = R{dy}·f′(z) + dy·f″(z)·R{z}
    loss            R{dE/dprediction} = loss″·R{prediction}  (the loss's curvature row:
                    half_sse: 1; mse: 2/count; softmax: s⊙v − s(s·v))

    batch/layer norm  x̂ = (x − μ)/s, s = √(σ² + ε): R{x − μ} = R{x} − mean(R{x}),
                    R{σ²} = mean(2·(x − μ)·R{x − μ}), R{s} = R{σ²}/2s,
                    R{x̂} = R{x − μ}/s − (x − μ)·R{s}/s², R{y} = V_γ·x̂ + γ·R{x̂} + V_β; its
                    backward dx = (g − mean(g) − x̂·mean(g·x̂))/s with g = γ·dy, differentiated
                    along v term by term (``_norm_backward``)

On the article's dense network (z_l = a_{l-1}·W_l + b_l, a_l = f(z_l)) the same lines read

    forward   R{z_l} = R{a_{l-1}}·W_l + a_{l-1}·V_l + V_b_l          (V_l: v's part for W_l)
              R{a_l} = f'(z_l) ⊙ R{z_l}
    backward  R{δ_l} = R{dE/da_l} ⊙ f'(z_l) + dE/da_l ⊙ f''(z_l) ⊙ R{z_l}
              (H·v)_W_l = R{a_{l-1}}ᵀ·δ_l + a_{l-1}ᵀ·R{δ_l}           product rule on a_{l-1}ᵀ·δ_l
              (H·v)_b_l = Σ_samples R{δ_l}
              R{dE/da_{l-1}} = R{δ_l}·W_lᵀ + δ_l·V_lᵀ                 product rule on δ_l·W_lᵀ

The inputs X are data here: v has no component along them.
"""

import numpy as np
from backprop_crosscheck.reference.cases.case import Case
from backprop_crosscheck.reference.layers import first_maximum, windows
from backprop_crosscheck.reference.rules.activations import ACTIVATIONS, activation
from backprop_crosscheck.reference.rules.losses import LOSSES
from backprop_crosscheck.reference.stack import ROWS, layer_backward, layer_forward

BILINEAR = ("dense", "conv2d")
NORMS = ("batch_norm", "layer_norm")


def direction(case: Case, seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded direction over the trainable parameters (zero on frozen ones)."""
    rng = np.random.default_rng(seed)
    return {
        name: np.zeros_like(p) if name in case.frozen else rng.normal(size=p.shape)
        for name, p in case.parameters().items()
    }


def _geometry(layer, x):
    """(the axes its statistics run over, its parameters' broadcast shape, the axes a
    parameter's gradient sums over)."""
    if layer.kind == "batch_norm":
        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        return axes, (1, -1) if x.ndim == 2 else (1, -1, 1, 1), axes
    return (x.ndim - 1,), (-1,), tuple(range(x.ndim - 1))


def _norm_parts(layer, x, r_x):
    """s, x̂ and their R{·}: the normalization along v."""
    axes, eps = _geometry(layer, x)[0], layer.settings["eps"]
    c = x - x.mean(axis=axes, keepdims=True)  # x − μ
    s = np.sqrt((c * c).mean(axis=axes, keepdims=True) + eps)  # s = √(σ² + ε)
    r_c = r_x - r_x.mean(axis=axes, keepdims=True)  # R{x − μ} = R{x} − mean(R{x})
    r_s = (c * r_c).mean(axis=axes, keepdims=True) / s  # R{σ²}/2s, R{σ²} = mean(2c·R{c})
    return s, c / s, r_s, r_c / s - c * r_s / (s * s)  # R{x̂} = R{c}/s − c·R{s}/s²


def _norm_forward(layer, x, r_x, own, dv):
    _, shape, _ = _geometry(layer, x)
    _, xhat, _, r_xhat = _norm_parts(layer, x, r_x)
    gamma, v_gamma, v_beta = (t.reshape(shape) for t in (own["gamma"], dv["gamma"], dv["beta"]))
    return v_gamma * xhat + gamma * r_xhat + v_beta  # R{γ·x̂ + β}


def _norm_backward(layer, x, r_x, dy, r_dy, own, dv):
    axes, shape, summed = _geometry(layer, x)
    s, xhat, r_s, r_xhat = _norm_parts(layer, x, r_x)

    def mean(t):
        return t.mean(axis=axes, keepdims=True)

    gamma, v_gamma = own["gamma"].reshape(shape), dv["gamma"].reshape(shape)
    g, r_g = dy * gamma, r_dy * gamma + dy * v_gamma  # dE/dx̂ = γ·dy, and its R{·}
    inner = g - mean(g) - xhat * mean(g * xhat)  # dx = inner/s
    r_inner = r_g - mean(r_g) - r_xhat * mean(g * xhat) - xhat * mean(r_g * xhat + g * r_xhat)
    r_dx = r_inner / s - inner * r_s / (s * s)
    hv = {
        "gamma": (r_dy * xhat + dy * r_xhat).sum(axis=summed).reshape(-1),  # R{Σ dy·x̂}
        "beta": r_dy.sum(axis=summed).reshape(-1),
    }  # R{Σ dy}
    return r_dx, {layer.name(p): h for p, h in hv.items()}


def _zero_bias(params: dict) -> dict:
    return {k: np.zeros_like(p) if k in ("b", "bias") else p for k, p in params.items()}


def r_forward(layer, x, r_x, params, v, saved, slope):
    """R{y} of one layer, from R{x} (its input moved along v) and v's part for its parameters."""
    kind, own, dv = layer.kind, layer.own(params), layer.own(v)
    if kind in ACTIVATIONS:
        z, a = saved
        return activation(kind, slope).fprime(z, a) * r_x
    if kind == "residual":
        out, _ = r_run(layer.block, x, r_x, params, v, saved, slope)
        return r_x + out[-1]
    if kind == "dense":  # R{z} = R{x}·W + x·V_W + V_b
        r_y = r_x @ own["W"] + x @ dv["W"]
        return r_y + dv["b"] if "b" in dv else r_y
    if kind in BILINEAR:
        fwd = ROWS[kind][0]
        return fwd(r_x, _zero_bias(own), **layer.settings)[0] + fwd(x, dv, **layer.settings)[0]
    if kind == "embedding":
        return dv["table"][x]
    if kind in NORMS:
        return _norm_forward(layer, x, r_x, own, dv)
    if kind == "max_pool2d":
        _, win, y, stride = saved  # each window's first maximum, moved along v
        moved = windows(r_x, win.shape[4], win.shape[5], stride)
        kw = win.shape[5]
        return sum(
            np.where(at, moved[..., k // kw, k % kw], 0)
            for k, at in enumerate(first_maximum(win, y))
        )
    if kind == "dropout":
        return ROWS[kind][0](r_x, own, layer.mask.astype(r_x.dtype), layer.settings["p"])[0]
    return ROWS[kind][0](r_x, own, **layer.settings)[0]  # avg-pool, flatten: linear


def r_run(stack, x, r_x, params, v, saved, slope):
    """R{a_k} for every layer's output, and the forward pass's own (a_k, saved) to use them."""
    a, kept, r_a = [x], [], [r_x]
    for layer in stack:
        y, s = layer_forward(layer, a[-1], params, slope)
        r_a.append(r_forward(layer, a[-1], r_a[-1], params, v, s, slope))
        a.append(y)
        kept.append(s)
    return r_a, (a, kept)


def r_backward(layer, x, r_x, dy, r_dy, saved, params, v, slope):
    """(R{dE/dx}, {name: H·v}) of one layer, from R{dE/dy}."""
    kind, own, dv = layer.kind, layer.own(params), layer.own(v)
    if kind in ACTIVATIONS:
        z, a = saved
        act = activation(kind, slope)
        return r_dy * act.fprime(z, a) + dy * act.fsecond(z, a) * r_x, {}
    if kind == "residual":
        r_a, (a, kept) = r_run(layer.block, x, r_x, params, v, saved, slope)
        r_d, hv = r_block_backward(layer.block, a, kept, r_a, dy, r_dy, params, v, slope)
        return r_dy + r_d, hv
    if kind in NORMS:
        return _norm_backward(layer, x, r_x, dy, r_dy, own, dv)
    bwd = ROWS[kind][1]
    if kind in BILINEAR:  # the row at (R{dy}; x, W) plus the row at (dy; R{x}, V)
        fwd = ROWS[kind][0]
        r_dx, g1 = bwd(r_dy, saved, own)
        _, moved = fwd(r_x, own, **layer.settings)
        r_dx2, g2 = bwd(dy, saved, dv)
        _, g3 = bwd(dy, moved, own)
        hv = {p: g1[p] + (0 if p in ("b", "bias") else g3[p]) for p in g1}  # Σ R{dy} for a bias
        return r_dx + r_dx2, {layer.name(p): g for p, g in hv.items()}
    dx, grads = bwd(r_dy, saved, own)  # linear layers (and the embedding's scatter-add)
    return dx, {layer.name(p): g for p, g in grads.items()}


def r_block_backward(stack, a, kept, r_a, dy, r_dy, params, v, slope):
    """R{dE/d(input)} of a stack and H·v of its parameters, from R{dE/d(output)}."""
    hv = {}
    for k in range(len(stack), 0, -1):
        layer = stack[k - 1]
        dx, _ = layer_backward(layer, dy, kept[k - 1], params, slope)
        r_dy, own = r_backward(layer, a[k - 1], r_a[k - 1], dy, r_dy, kept[k - 1], params, v, slope)
        hv.update(own)
        dy = dx
    return r_dy, hv


def hvp(case: Case, v: dict[str, np.ndarray], dtype=np.float64) -> dict[str, np.ndarray]:
    """H·v for every parameter at the case's initial parameters, computed in ``dtype``."""
    params = case.parameters(dtype)
    v = {n: np.asarray(d, dtype=dtype) for n, d in v.items()}
    X = case.inputs if case.takes_indices else case.inputs.astype(dtype)
    Y = case.targets.astype(dtype)
    r_x = np.zeros(X.shape, dtype=dtype)
    r_a, (a, kept) = r_run(case.stack, X, r_x, params, v, None, case.leaky_slope)
    loss = LOSSES[case.loss]
    dy, r_dy = loss.gradient(a[-1], Y), loss.curvature(a[-1], Y, r_a[-1])
    _, hv = r_block_backward(case.stack, a, kept, r_a, dy, r_dy, params, v, case.leaky_slope)
    return {n: hv[n] for n in params}
