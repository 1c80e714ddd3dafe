"""H·v in PaddlePaddle: double backward, H·v = ∇(∇E · v), the first gradient kept in the graph.
Paddle's fused gradient kernels (mean_all_grad, gelu_grad, layer_norm_grad, …) have no gradient
of their own; its "prim" mode decomposes each op into primitives that do, so both passes run
there (switched on for them alone, and back). An op that has none even so (F.embedding's
gradient, the fused cross-entropy losses') makes H·v n/a, in Paddle's words."""

import contextlib

from backprop_crosscheck.backends.interface import Unsupported


def double_backward(backend, case, params, X, Y, tangents) -> dict:
    paddle, leaves = backend.paddle, list(params.values())
    for p in leaves:
        p.stop_gradient = False
    with primitives(paddle, backend.name):
        loss = backend.loss(case, params, X, Y)
        grads = paddle.grad([loss], leaves, create_graph=True, allow_unused=True)
        dot = sum(
            (g * tangents[n]).sum() for g, n in zip(grads, params, strict=True) if g is not None
        )
        hv = paddle.grad([dot], leaves, allow_unused=True)
    return {
        n: paddle.zeros_like(p) if h is None else h.detach()
        for (n, p), h in zip(params.items(), hv, strict=True)
    }


@contextlib.contextmanager
def primitives(paddle, name: str):
    core = paddle.framework.core
    before = core._is_eager_prim_enabled()
    core.set_prim_eager_enabled(True)
    try:
        yield
    except RuntimeError as e:  # an op whose gradient has none, even decomposed: n/a
        if "doesn't have any grad op" not in str(e):
            raise
        raise Unsupported(f"{name}: {str(e).splitlines()[0]}") from None
    finally:
        core.set_prim_eager_enabled(before)
