"""Hessian-vector products H·v of the loss, derived by hand (Pearlmutter's R-operator).

H·v = d/dε ∇E(θ + ε·v) at ε = 0. Differentiating every line of the forward and backward pass
along v (written R{x} = dx/dε) gives a second pass that reads like the first:

    forward   R{z_l} = R{a_{l-1}}·W_l + a_{l-1}·V_l + V_b_l          (V_l: v's part for W_l)
              R{a_l} = f'(z_l) ⊙ R{z_l}
    backward  R{dE/da_L} = loss''·R{a_L}                             (half_sse: 1; mse: 2/count)
              R{δ_l} = R{dE/da_l} ⊙ f'(z_l) + dE/da_l ⊙ f''(z_l) ⊙ R{z_l}
              (H·v)_W_l = R{a_{l-1}}ᵀ·δ_l + a_{l-1}ᵀ·R{δ_l}           product rule on a_{l-1}ᵀ·δ_l
              (H·v)_b_l = Σ_samples R{δ_l}
              R{dE/da_{l-1}} = R{δ_l}·W_lᵀ + δ_l·V_lᵀ                 product rule on δ_l·W_lᵀ

The inputs X are data here: v has no component along them.
"""

import numpy as np

from reference.activations import ACTIVATIONS
from reference.case import Case
from reference.network import backward, forward

# f''(z) in terms of z and a = f(z)
SECOND_DERIVATIVES = {
    "identity": lambda z, a: np.zeros_like(z),
    "sigmoid": lambda z, a: a * (1 - a) * (1 - 2 * a),  # d/dz [s(1 − s)] = s(1 − s)(1 − 2s)
    "tanh": lambda z, a: -2 * a * (1 - a * a),  # d/dz [1 − t²] = −2t(1 − t²)
    "relu": lambda z, a: np.zeros_like(z),  # 0 away from the kink
}


def direction(case: Case, seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded direction over the trainable parameters (zero on frozen ones)."""
    rng = np.random.default_rng(seed)
    return {
        name: np.zeros_like(p) if name in case.frozen else rng.normal(size=p.shape)
        for name, p in case.parameters().items()
    }


def hvp(case: Case, v: dict[str, np.ndarray], dtype=np.float64) -> dict[str, np.ndarray]:
    """H·v for every parameter at the case's initial parameters, computed in ``dtype``."""
    params = case.parameters(dtype)
    v = {n: np.asarray(d, dtype=dtype) for n, d in v.items()}
    X, Y = case.inputs.astype(dtype), case.targets.astype(dtype)
    fwd = forward(case, params, X, Y)
    # forward pass along v
    R_a, R_z = [np.zeros_like(X)], []
    for layer, name in enumerate(case.activations, start=1):
        act = ACTIVATIONS[name]
        r_z = R_a[-1] @ params[f"W{layer}"] + fwd.a[layer - 1] @ v[f"W{layer}"]
        if f"b{layer}" in params:
            r_z = r_z + v[f"b{layer}"]
        R_z.append(r_z)
        R_a.append(act.derivative(fwd.z[layer - 1], fwd.a[layer]) * r_z)
    # the ordinary backward pass's dE/da_l, which the R-pass needs (the first-order chain)
    dE_da = {case.depth: _loss_gradient(case, fwd.prediction, Y)}
    for layer in range(case.depth, 1, -1):
        act = ACTIVATIONS[case.activations[layer - 1]]
        delta = dE_da[layer] * act.derivative(fwd.z[layer - 1], fwd.a[layer])
        dE_da[layer - 1] = delta @ params[f"W{layer}"].T
    # backward pass along v
    Hv = {}
    R_dE_da = _loss_curvature(case, fwd.prediction) * R_a[-1]
    for layer in range(case.depth, 0, -1):
        name = case.activations[layer - 1]
        z, a = fwd.z[layer - 1], fwd.a[layer]
        f1 = ACTIVATIONS[name].derivative(z, a)
        delta = dE_da[layer] * f1
        R_delta = R_dE_da * f1 + dE_da[layer] * SECOND_DERIVATIVES[name](z, a) * R_z[layer - 1]
        Hv[f"W{layer}"] = R_a[layer - 1].T @ delta + fwd.a[layer - 1].T @ R_delta
        if f"b{layer}" in params:
            Hv[f"b{layer}"] = R_delta.sum(axis=0)
        R_dE_da = R_delta @ params[f"W{layer}"].T + delta @ v[f"W{layer}"].T
    return {name: Hv[name] for name in params}


def _loss_gradient(case, prediction, Y):
    return prediction - Y if case.loss == "half_sse" else 2 * (prediction - Y) / prediction.size


def _loss_curvature(case, prediction) -> float:
    """d²E/dprediction² (a multiple of the identity for both losses)."""
    return 1.0 if case.loss == "half_sse" else 2.0 / prediction.size


def hvp_by_differences(case: Case, v: dict, step: float | None = None) -> dict[str, np.ndarray]:
    """H·v as central differences of the hand-derived gradient along v:
    (∇E(θ + h·v) − ∇E(θ − h·v)) / 2h, with h = ∛eps / max(1, ‖v‖∞) · max(1, ‖θ‖∞).

    Error bound: truncation h²/6·|∂³E[v,v,v]| plus rounding ~eps·|∇E|/h — about 1e-10
    relative for the random cases here (the fd backend's second-order floor covers it)."""
    params = case.parameters()
    if step is None:
        scale = max(1.0, max(np.abs(p).max() for p in params.values()))
        vmax = max(1.0, max(np.abs(d).max() for d in v.values()))
        step = np.finfo(np.float64).eps ** (1 / 3) * scale / vmax

    def grad_at(sign):
        shifted = {n: p + sign * step * v[n] for n, p in params.items()}
        fwd = forward(case, shifted, case.inputs, case.targets)
        return backward(case, shifted, fwd, case.targets)

    up, down = grad_at(+1), grad_at(-1)
    return {n: (up[n] - down[n]) / (2 * step) for n in params}
