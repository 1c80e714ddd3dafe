"""Reverse mode in the manner of micrograd, but on whole NumPy arrays.

Each operation builds its output and, for every input, the function that turns the output's
gradient into that input's gradient (its vector-Jacobian product).
"""

import numpy as np


class Var:
    def __init__(self, value, parents=()):
        self.value = value  # an ndarray, or a Python number (kept weak: float32 stays float32)
        self.parents = parents  # ((Var, vjp), …)
        self.grad = None

    def __add__(self, other):
        other = lift(other)
        return Var(
            self.value + other.value,
            ((self, lambda g: unbroadcast(g, self)), (other, lambda g: unbroadcast(g, other))),
        )

    def __sub__(self, other):
        return self + (-1.0) * lift(other)

    def __mul__(self, other):
        other = lift(other)
        return Var(
            self.value * other.value,
            (
                (self, lambda g: unbroadcast(g * other.value, self)),
                (other, lambda g: unbroadcast(g * self.value, other)),
            ),
        )

    __radd__, __rmul__ = __add__, __mul__

    def __matmul__(self, other):
        return Var(
            self.value @ other.value,
            ((self, lambda g: g @ other.value.T), (other, lambda g: self.value.T @ g)),
        )

    def sum(self):
        return Var(np.sum(self.value), ((self, lambda g: g * np.ones_like(self.value)),))

    def mean(self):
        n = np.size(self.value)
        return Var(np.mean(self.value), ((self, lambda g: g * np.ones_like(self.value) / n),))

    def backward(self):
        """Fill .grad of every Var this one depends on (each parent once, in reverse order)."""
        order, seen = [], set()

        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for parent, _ in v.parents:
                    visit(parent)
                order.append(v)

        visit(self)
        for v in order:
            v.grad = None
        self.grad = np.ones_like(self.value)
        for v in reversed(order):
            for parent, vjp in v.parents:
                g = vjp(v.grad)
                parent.grad = g if parent.grad is None else parent.grad + g


def lift(x):
    return x if isinstance(x, Var) else Var(x)


def unbroadcast(g, like: Var):
    """Sum g down to like's shape (the gradient of NumPy broadcasting)."""
    shape = np.shape(like.value)
    while np.ndim(g) > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def unary(f, df):
    """An elementwise op from f and its derivative df(x, f(x))."""
    return lambda x: Var(f(x.value), ((x, lambda g: g * df(x.value, f(x.value))),))


tanh = unary(np.tanh, lambda x, y: 1 - y * y)
sigmoid = unary(lambda x: 0.5 * (np.tanh(0.5 * x) + 1), lambda x, y: y * (1 - y))
relu = unary(lambda x: np.maximum(x, 0), lambda x, y: (x > 0).astype(y.dtype))


def sum(x: Var) -> Var:  # noqa: A001 - the array-namespace name, as numpy.sum
    return x.sum()


def mean(x: Var) -> Var:
    return x.mean()
