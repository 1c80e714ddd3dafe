"""A layer-stack network (reference/stack.py, docs/layers.md) in an engine's own operations.

An adapter's setup puts its framework's own layer functions in ``self.layer_ops`` (torch:
``torch.nn.functional``'s conv2d, max_pool2d, batch_norm(training=True), …; JAX:
``lax.conv_general_dilated``, ``lax.reduce_window``); a layer it has no function for is written
here with its array namespace ``xp`` — what HIPS autograd, which has no layers, runs. Each op
takes (x, the layer's parameters by short name, the Layer) and returns the layer's output.
"""

import contextlib
import traceback
from pathlib import Path

import numpy as np
from backprop_crosscheck.backends.attention_ops import attention
from backprop_crosscheck.backends.interface import Unsupported
from backprop_crosscheck.backends.recurrent_cells import through_time
from backprop_crosscheck.reference.rules.activations import ACTIVATIONS

SPELLINGS = {"double": "float64", "fp64": "float64", "float": "float32", "fp32": "float32"}


def dtype_name(dtype) -> str:
    """An engine's dtype in the harness's spelling, the only one an adapter's ``tensor`` is
    given ("float64", "float32"): NumPy's and JAX's ``.name``, torch's ``torch.float64``,
    MLX's ``mlx.core.float32``, Paddle's ``DataType.FLOAT64`` (whose name is upper case)."""
    text = (getattr(dtype, "name", None) or str(dtype)).rpartition(".")[2].lower()
    return SPELLINGS.get(text, text)


# where a kind's fallback may fail for want of something besides the layer's own function
HOOKS = {"embedding": "layer_ops (or index_tensor: the token indices as an integer tensor)"}


@contextlib.contextmanager
def fallback(backend, own: bool, what: str, hook: str):
    """The harness's own code for ``what``, written with the adapter's ``xp``: where the
    namespace lacks what it uses (an attribute, an argument such as ``keepdims``, an index its
    arrays cannot take, no ``xp`` at all), the case is beyond this adapter — n/a saying which
    hook takes the engine's own function, never an error. ``own``: the adapter gave its own
    (its errors are its own)."""
    try:
        yield
    except (AttributeError, TypeError, IndexError, NotImplementedError) as e:
        if own:
            raise
        raise Unsupported(
            f"{backend.name} cannot run {what}: the harness writes it with the adapter's xp, "
            f"which failed at {harness_line(e)} ({type(e).__name__}: {e}); put the engine's own "
            f"function in self.{hook}, or leave the kind out of Capabilities(layers=…, "
            "activations=…, losses=…)"
        ) from e


OWN = ("reference", "backends", "comparisons")  # the harness's code (not tests/, an adapter)


def harness_line(error: BaseException) -> str:
    """Where in the harness's own code ``error`` was raised: its innermost frame there, as
    "backends/engine_layers.py:157 (_normalize)" — not the adapter's line that called in. (In a
    standalone reproducer, where this module is pasted into one script, "the harness".)"""
    if "__file__" not in globals():
        return "the harness"
    harness = Path(__file__).resolve().parent.parent  # the folder of reference/, backends/, …
    ours = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if Path(frame.filename).is_relative_to(harness)
        and Path(frame.filename).relative_to(harness).parts[0] in OWN
    ]
    if not ours:
        return "the harness"
    frame = ours[-1]
    return f"{Path(frame.filename).relative_to(harness)}:{frame.lineno} ({frame.name})"


class EngineLayers:
    layer_ops: dict = {}  # kind -> the framework's own function (set in setup)
    indices = None  # an embedding case's token indices, as this engine's integer tensor

    outputs: list = []  # the last stack's layer outputs a_1 … a_K, for engines that report dE/da_k

    def stack_output(self, case, params: dict, X):
        """The stack's output for inputs X (for an embedding case, the token indices held in
        ``self.indices``: X is then a float placeholder, entering as 0·X so that every engine
        can be asked for dE/dX — the 0 it gives is dropped). Each layer's output is kept in
        ``self.outputs``, for an engine that can report the chain (torch's retain_grad)."""
        x, self.outputs = self.indices if case.takes_indices else X, []
        for layer in case.stack:
            x = self.layers(case, (layer,), params, x)
            self.outputs.append(x)
        return x + 0 * X if case.takes_indices else x

    def layers(self, case, stack, params: dict, x):
        for layer in stack:
            kind, own = layer.kind, layer.own(params)
            if kind in ACTIVATIONS:
                with fallback(self, kind in self.acts, f"the activation {kind}", "acts"):
                    f = self.activation(kind)
                    x = f(x, case.leaky_slope) if kind == "leaky_relu" else f(x)
            elif kind == "residual":
                x = x + self.layers(case, layer.block, params, x)  # y = x + block(x)
            elif kind in self.layer_ops:
                x = self.layer_ops[kind](x, own, layer)
            else:
                hook = HOOKS.get(kind, "layer_ops")
                with fallback(self, False, f"{kind} layers", hook):
                    x = getattr(self, kind)(x, own, layer)
        return x

    placed = ("float64", "cpu")  # the run's dtype and device (FrameworkBackend.tensors)

    def constant(self, array: np.ndarray, like):
        """A NumPy array (dropout's mask, max-pool's choice) as a tensor of ``like``'s dtype
        (read from ``like``, not the run: a compiled program outlives the run that traced it)."""
        return self.tensor(array, dtype_name(like.dtype), self.placed[1])

    def index_tensor(self, array: np.ndarray, device: str):
        return self.tensor(array, "int32", device)  # torch's embedding takes int32 too

    # --- each layer written with the array namespace, where the engine has no function ----

    def matmul(self, a, b):
        """a @ b — an adapter whose framework has its own product sets it (Keras: ops.matmul)."""
        return a @ b

    def dense(self, x, p, layer):
        y = self.matmul(x, p["W"])
        return y + p["b"] if "b" in p else y

    def _shifted(self, x, kh: int, kw: int, stride: int):
        """Every (i, j) offset of a kh×kw window, as the strided slice x[:, :, i::s, j::s]
        of the output's size: a window's entries are these slices' entries at one place."""
        ho, wo = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
        return [
            [
                x[
                    :,
                    :,
                    i : i + stride * (ho - 1) + 1 : stride,
                    j : j + stride * (wo - 1) + 1 : stride,
                ]
                for j in range(kw)
            ]
            for i in range(kh)
        ]

    def conv2d(self, x, p, layer):
        """Cross-correlation: y = Σ_ij x_pad[:, :, i::s, j::s] · K[:, :, i, j] + bias."""
        xp, k, pad = self.xp, p["kernel"], layer.settings["padding"]
        if pad:
            n, c, h, w = x.shape
            rows = xp.zeros((n, c, pad, w), dtype=x.dtype)
            x = xp.concatenate([rows, x, rows], axis=2)
            cols = xp.zeros((n, c, h + 2 * pad, pad), dtype=x.dtype)
            x = xp.concatenate([cols, x, cols], axis=3)
        shifted = self._shifted(x, k.shape[2], k.shape[3], layer.settings["stride"])
        y = sum(
            xp.einsum("nchw,fc->nfhw", shifted[i][j], k[:, :, i, j])
            for i in range(k.shape[2])
            for j in range(k.shape[3])
        )
        return y + xp.reshape(p["bias"], (1, -1, 1, 1)) if "bias" in p else y

    def max_pool2d(self, x, p, layer):
        """The window's first maximum (row-major), picked by a constant one-hot mask so that
        the gradient goes to it alone, as torch's and XLA's kernels route it."""
        xp, size = self.xp, layer.settings["size"]
        win = xp.stack(
            [s for row in self._shifted(x, size, size, layer.settings["stride"]) for s in row]
        )
        first = xp.argmax(win, axis=0)  # no gradient: which entry, not how much
        onehot = np.arange(size * size).reshape(-1, 1, 1, 1, 1) == first[None]
        return xp.sum(win * self.constant(onehot, win), axis=0)

    def avg_pool2d(self, x, p, layer):
        size = layer.settings["size"]
        win = [s for row in self._shifted(x, size, size, layer.settings["stride"]) for s in row]
        return sum(win) / (size * size)

    def flatten(self, x, p, layer):
        return self.xp.reshape(x, (x.shape[0], -1))

    def _normalize(self, x, gamma, beta, axes, eps):
        xp = self.xp
        mu = xp.mean(x, axis=axes, keepdims=True)
        var = xp.mean((x - mu) * (x - mu), axis=axes, keepdims=True)  # biased, as training
        return gamma * (x - mu) / xp.sqrt(var + eps) + beta

    def batch_norm(self, x, p, layer):
        shape, axes = ((1, -1), (0,)) if x.ndim == 2 else ((1, -1, 1, 1), (0, 2, 3))
        g, b = self.xp.reshape(p["gamma"], shape), self.xp.reshape(p["beta"], shape)
        return self._normalize(x, g, b, axes, layer.settings["eps"])

    def layer_norm(self, x, p, layer):
        return self._normalize(x, p["gamma"], p["beta"], (-1,), layer.settings["eps"])

    def dropout(self, x, p, layer):  # inverted dropout with the case's mask
        return x * self.constant(layer.mask, x) / (1 - layer.settings["p"])

    def embedding(self, indices, p, layer):
        return p["table"][indices]

    def rnn(self, x, p, layer):  # the cells with xp, step by step (recurrent_cells.py)
        return through_time(self, "rnn", x, p, layer)

    def lstm(self, x, p, layer):
        return through_time(self, "lstm", x, p, layer)

    def gru(self, x, p, layer):
        return through_time(self, "gru", x, p, layer)

    def merge_time(self, x, p, layer):
        return self.xp.reshape(x, (-1, x.shape[-1]))

    def position(self, x, p, layer):  # a learned position embedding: table row t at step t
        return x + p["table"][: x.shape[1]]

    def attention(self, x, p, layer):  # composed from matmul and softmax (attention_ops.py)
        return attention(self, x, p, layer)

    def swapaxes(self, t, a: int, b: int):
        return self.xp.swapaxes(t, a, b)

    def attention_softmax(self, s):
        """softmax over the last axis: the engine's own (``nn.softmax(s, -1)``: torch's, JAX's,
        Keras's, MLX's, tinygrad's), else written with ``xp``."""
        if hasattr(self.nn, "softmax"):
            return self.nn.softmax(s, -1)
        xp = self.xp
        e = xp.exp(s - self.detach(xp.max(s, axis=-1, keepdims=True)))
        return e / xp.sum(e, axis=-1, keepdims=True)

    def detach(self, x):
        """x with its gradient stopped (truncated BPTT): torch's and tinygrad's ``detach``; an
        engine that spells it otherwise sets its own (JAX: lax.stop_gradient)."""
        return x.detach()


def stack_key(case) -> tuple:
    """What a compiled program of a stack case bakes in: every layer's kind and settings, the
    dropout masks and an embedding's indices (constants of the program)."""

    def key(stack):
        return tuple(
            (
                layer.kind,
                tuple(layer.settings.items()),
                None if layer.mask is None else (layer.mask.shape, layer.mask.tobytes()),
                tuple((k, a.shape, a.tobytes()) for k, a in layer.given.items()),
                key(layer.block),
            )
            for layer in stack
        )

    indices = (case.inputs.shape, case.inputs.tobytes()) if case.takes_indices else None
    return key(case.stack), case.parameter_names, indices
