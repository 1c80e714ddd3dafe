"""`mlx`: Apple's MLX (``pip install "mlx[cpu]"`` on Linux) — ``mx.value_and_grad``, ``mx.jvp``
(H·v: jvp of ``mx.grad``), the network in ``mlx.core``/``mlx.nn``, ``mlx.optimizers``' SGD and
AdamW. float64: the CPU only. MLX makes float32 of anything not given a dtype: every tensor and
the learning rate are made in the run's; the betas are Python floats, as its API takes them."""

import numpy as np
from backprop_crosscheck.backends.mlx.layers import mlx_attention, mlx_layers
from backprop_crosscheck.backends.mlx.optim import MLX_CONVENTIONS, mlx_optimizer
from backprop_crosscheck.reference.rules.optimizers import OPTIMIZERS

from backprop_crosscheck import LOW, Capabilities, FrameworkBackend


class MlxBackend(FrameworkBackend):
    name, module, install_hint = "mlx", "mlx", 'pip install "mlx[cpu]"'
    capabilities = Capabilities(
        jvp="mx.jvp",
        hvp="jvp of grad",
        optimizers=OPTIMIZERS,
        weight_decay=("l2", "decoupled"),
        mixed=LOW,  # explicit casts (backends/mixed_precision.py)
    )
    conventions = MLX_CONVENTIONS  # mlx.optimizers' (backends/mlx/optim.py)

    def setup(self, dtype, device):
        import mlx.core as mx
        import mlx.nn as nn

        self.mx, self.xp, self.nn, self.grad = mx, mx, nn, mx.grad  # nn.relu, nn.sigmoid
        self.detach = mx.stop_gradient  # truncated BPTT: the state held
        mx.set_default_device(mx.cpu)  # float64: the CPU only
        self.acts = {
            "leaky_relu": nn.leaky_relu,
            "softplus": nn.softplus,
            "gelu": nn.gelu,
            "gelu_tanh": nn.gelu_approx,
        }
        losses = nn.losses  # on logits, mean over samples (softmax) or entries (sigmoid)
        self.losses = {
            "softmax_cross_entropy": lambda z, t: losses.cross_entropy(z, t, reduction="mean"),
            "binary_cross_entropy": losses.binary_cross_entropy,
        }
        self.layer_ops = mlx_layers(mx, nn)  # mx.conv2d, nn.MaxPool2d, mx.fast.layer_norm
        self.layer_ops["attention"] = mlx_attention(self)  # mx.fast.scaled_dot_product_attention

    def tensor(self, array, dtype, device):
        return self.mx.array(np.asarray(array), dtype=getattr(self.mx, dtype))

    def loss_and_grads(self, case, params, X, Y):
        loss = lambda p, X: self.loss(case, p, X, Y)  # noqa: E731
        value, (g_params, g_X) = self.mx.value_and_grad(loss, argnums=(0, 1))(params, X)
        return value, {**g_params, "X": g_X}

    def jvp(self, f, primals, tangents):
        # JAX's jvp(f, (params,), (v,)) over mx.jvp, which takes lists of arrays
        (params,), (v,), names, keys = primals, tangents, list(primals[0]), []

        def flat(*arrays):
            out = f(dict(zip(names, arrays, strict=True)))
            keys[:] = list(out) if isinstance(out, dict) else []
            return list(out.values()) if keys else [out]

        out, dots = self.mx.jvp(flat, [params[n] for n in names], [v[n] for n in names])
        return (
            (out[0], dots[0])
            if not keys
            else tuple(dict(zip(keys, o, strict=True)) for o in (out, dots))
        )

    def optimizer(self, case):
        return mlx_optimizer(self.mx, case)
