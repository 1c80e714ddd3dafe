"""Hessian-vector products H·v of the loss, derived by hand (Pearlmutter's R-operator).

H·v = d/dε ∇E(θ + ε·v) at ε = 0. Differentiating every line of the forward and backward pass
along v (written R{x} = dx/dε) gives a second pass that reads like the first, layer by layer:
each layer kind's row (reference/layers/) carries its own R-operator beside its forward and
backward — a layer bilinear in (x, W) (dense, conv2d) is its row twice, one linear in x (pools,
flatten, dropout) its row along R{x}, a normalization's is written out term by term — and
here are the rest:

    residual        y = x + block(x): R{y} = R{x} + R{block}; R{dx} = R{dy} + R{d block}
    activation      R{a} = f′(z)·R{z};  R{dz} = R{dy}·f′(z) + dy·f″(z)·R{z}
    loss            R{dE/dprediction} = loss″·R{prediction}  (the loss's curvature row:
                    half_sse: 1; mse: 2/count; softmax: s⊙v − s(s·v))

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
from backprop_crosscheck.reference.layers import LAYERS
from backprop_crosscheck.reference.rules.activations import ACTIVATIONS, activation
from backprop_crosscheck.reference.rules.losses import LOSSES
from backprop_crosscheck.reference.stack import layer_backward, layer_forward


def direction(case: Case, seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded direction over the trainable parameters (zero on frozen ones)."""
    rng = np.random.default_rng(seed)
    return {
        name: np.zeros_like(p) if name in case.frozen else rng.normal(size=p.shape)
        for name, p in case.parameters().items()
    }


def r_forward(layer, x, r_x, params, v, saved, slope):
    """R{y} of one layer, from R{x} (its input moved along v) and v's part for its parameters:
    its row's R-operator (reference/layers/); an activation's and a residual block's here."""
    if layer.kind in ACTIVATIONS:
        z, a = saved
        return activation(layer.kind, slope).fprime(z, a) * r_x
    if layer.kind == "residual":
        out, _ = r_run(layer.block, x, r_x, params, v, saved, slope)
        return r_x + out[-1]
    row, own, dv = LAYERS[layer.kind], layer.own(params), layer.own(v)
    return row.r_forward(x, r_x, own, dv, saved, **layer.arguments(r_x.dtype))


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
    if layer.kind in ACTIVATIONS:
        z, a = saved
        act = activation(layer.kind, slope)
        return r_dy * act.fprime(z, a) + dy * act.fsecond(z, a) * r_x, {}
    if layer.kind == "residual":
        r_a, (a, kept) = r_run(layer.block, x, r_x, params, v, saved, slope)
        r_d, hv = r_block_backward(layer.block, a, kept, r_a, dy, r_dy, params, v, slope)
        return r_dy + r_d, hv
    row, own, dv = LAYERS[layer.kind], layer.own(params), layer.own(v)
    r_dx, hv = row.r_backward(x, r_x, dy, r_dy, saved, own, dv, **layer.arguments(r_x.dtype))
    return r_dx, {layer.name(p): h for p, h in hv.items()}


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
