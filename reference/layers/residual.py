"""residual: y = x + block(x), the block a stack of its own (run by reference/stack.py, and
along v by reference/hvp.py: its R-operator is the stack's)."""

from backprop_crosscheck.reference.layers.kind import Kind


def residual_forward(x, params, block_forward):
    out, saved = block_forward(x, params)
    return x + out, saved


def residual_backward(dy, saved, params, block_backward):
    d_block, grads = block_backward(dy, saved, params)
    return dy + d_block, grads  # dy/dx = 1 (the identity path) + d block/dx


RESIDUAL = Kind(
    "residual",
    says="x + block(x)",
    dx_says="dE/dy + the block's dE/dx",
    parameters={},
    forward=residual_forward,
    backward=residual_backward,
)
