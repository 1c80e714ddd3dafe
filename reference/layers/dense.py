"""dense: the article's layer, z = x·W + b (its activation a row of its own). On a sequence
(samples × steps × features) the same layer at every step, as a transformer applies it: its
gradients summed over the samples and the steps alike."""

from backprop_crosscheck.reference.layers.kind import Kind, bilinear


def dense_forward(x, params):
    z = x @ params["W"]
    return (z + params["b"] if "b" in params else z), x  # a bias is optional


def dense_backward(dy, saved, params):
    x = saved.reshape(-1, saved.shape[-1])  # a row per sample (and step)
    rows = dy.reshape(-1, dy.shape[-1])
    grads = {"W": x.T @ rows}  # dz/dW = xᵀ (per sample)
    if "b" in params:
        grads["b"] = rows.sum(axis=0)  # dz/db = 1
    return dy @ params["W"].T, grads  # dz/dx = W (the OLD W)


def dense_r_forward(x, r_x, params, v, saved):
    r_z = r_x @ params["W"] + x @ v["W"]  # R{z} = R{x}·W + x·V_W + V_b
    return r_z + v["b"] if "b" in v else r_z


DENSE = Kind(
    "dense",
    says="x·W + b",
    dx_says="dE/dy·Wᵀ",
    parameters={"W": "xᵀ·dE/dy", "b": "Σ_samples dE/dy"},
    forward=dense_forward,
    backward=dense_backward,
    r_forward=dense_r_forward,
    r_backward=bilinear(dense_forward, dense_backward)["r_backward"],
    optional=("b",),
)
