"""Hessian-vector products H·v of the loss, derived by hand (Pearlmutter's R-operator).

H·v = d/dε ∇E(θ + ε·v) at ε = 0. Differentiating every line of the forward and backward pass
along v (written R{x} = dx/dε) gives a second pass that reads like the first:

    forward   R{z_l} = R{a_{l-1}}·W_l + a_{l-1}·V_l + V_b_l          (V_l: v's part for W_l)
              R{a_l} = f'(z_l) ⊙ R{z_l}
    backward  R{dE/da_L} = loss''·R{a_L}          (half_sse: 1; mse: 2/count; softmax: s⊙v − s(s·v))
              R{δ_l} = R{dE/da_l} ⊙ f'(z_l) + dE/da_l ⊙ f''(z_l) ⊙ R{z_l}
              (H·v)_W_l = R{a_{l-1}}ᵀ·δ_l + a_{l-1}ᵀ·R{δ_l}           product rule on a_{l-1}ᵀ·δ_l
              (H·v)_b_l = Σ_samples R{δ_l}
              R{dE/da_{l-1}} = R{δ_l}·W_lᵀ + δ_l·V_lᵀ                 product rule on δ_l·W_lᵀ

dE/da_l and δ_l come from the ordinary backward pass (``backward_pass``), f' and f'' from the
activation's row, loss'' from the loss's row. The inputs X are data here: v has no component
along them.
"""

import numpy as np
from backprop_crosscheck.reference.activations import activation
from backprop_crosscheck.reference.case import Case
from backprop_crosscheck.reference.losses import LOSSES
from backprop_crosscheck.reference.network import backward_pass, forward
from backprop_crosscheck.reference.stack_hvp import stack_hvp


def direction(case: Case, seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded direction over the trainable parameters (zero on frozen ones)."""
    rng = np.random.default_rng(seed)
    return {
        name: np.zeros_like(p) if name in case.frozen else rng.normal(size=p.shape)
        for name, p in case.parameters().items()
    }


def hvp(case: Case, v: dict[str, np.ndarray], dtype=np.float64) -> dict[str, np.ndarray]:
    """H·v for every parameter at the case's initial parameters, computed in ``dtype`` (a layer
    stack's by reference/stack_hvp.py)."""
    if case.stack:
        return stack_hvp(case, v, dtype)
    params = case.parameters(dtype)
    v = {n: np.asarray(d, dtype=dtype) for n, d in v.items()}
    X, Y = case.inputs.astype(dtype), case.targets.astype(dtype)
    fwd = forward(case, params, X, Y)
    bwd = backward_pass(case, params, fwd, Y)
    # forward pass along v
    R_a, R_z = [np.zeros_like(X)], []
    for layer, name in enumerate(case.activations, start=1):
        r_z = R_a[-1] @ params[f"W{layer}"] + fwd.a[layer - 1] @ v[f"W{layer}"]
        if f"b{layer}" in params:
            r_z = r_z + v[f"b{layer}"]
        R_z.append(r_z)
        R_a.append(activation(name, case.leaky_slope).fprime(fwd.z[layer - 1], fwd.a[layer]) * r_z)
    # backward pass along v
    Hv = {}
    R_dE_da = LOSSES[case.loss].curvature(fwd.prediction, Y, R_a[-1])
    for layer in range(case.depth, 0, -1):
        act = activation(case.activations[layer - 1], case.leaky_slope)
        z, a = fwd.z[layer - 1], fwd.a[layer]
        dE_da, delta = bwd.dE_da[layer], bwd.delta[layer - 1]
        R_delta = R_dE_da * act.fprime(z, a) + dE_da * act.fsecond(z, a) * R_z[layer - 1]
        Hv[f"W{layer}"] = R_a[layer - 1].T @ delta + fwd.a[layer - 1].T @ R_delta
        if f"b{layer}" in params:
            Hv[f"b{layer}"] = R_delta.sum(axis=0)
        R_dE_da = R_delta @ params[f"W{layer}"].T + delta @ v[f"W{layer}"].T
    return {name: Hv[name] for name in params}
