"""A micrograd-style engine and its adapter, as written against the FrameworkBackend API of the
dense-network days: scalar ``Value`` objects that record their parents and local derivatives and
backpropagate through them (the shape of Karpathy's micrograd), held in NumPy object arrays, so
that NumPy's ``@``, ``sum`` and ufuncs call the Values' own ``+``, ``*``, ``tanh``, ``exp``. The
adapter declares nothing of layers, losses or optimizers: every case it cannot run must be a
clean n/a, and every dense SGD case must still pass."""

import math

import numpy as np

from backprop_crosscheck import FrameworkBackend


class Value:
    """A scalar, its gradient, and (parent, ∂self/∂parent) pairs."""

    def __init__(self, data, parents=()):
        self.data, self.grad, self.parents = float(data), 0.0, parents

    def __add__(self, other):
        other = lift(other)
        return Value(self.data + other.data, ((self, 1.0), (other, 1.0)))

    def __mul__(self, other):
        other = lift(other)
        return Value(self.data * other.data, ((self, other.data), (other, self.data)))

    __radd__, __rmul__ = __add__, __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + -lift(other)

    def __rsub__(self, other):
        return lift(other) + -self

    def __pow__(self, k: float):
        return Value(self.data**k, ((self, k * self.data ** (k - 1)),))

    def __truediv__(self, other):
        return self * lift(other) ** -1.0

    def __rtruediv__(self, other):
        return lift(other) * self**-1.0

    def __gt__(self, other):
        return self.data > lift(other).data

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, ((self, 1 - t * t),))

    def exp(self):
        e = math.exp(self.data)
        return Value(e, ((self, e),))

    def log(self):
        return Value(math.log(self.data), ((self, 1 / self.data),))

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for parent, _ in v.parents:
                    visit(parent)
                order.append(v)

        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            for parent, local in v.parents:
                parent.grad += local * v.grad


def lift(x):
    return x if isinstance(x, Value) else Value(x)


values = np.vectorize(Value, otypes=[object])
datas = np.vectorize(lambda v: v.data if isinstance(v, Value) else float(v), otypes=[float])
grads = np.vectorize(lambda v: v.grad, otypes=[float])


class MicrogradStyle(FrameworkBackend):
    name = "micrograd-style"

    def setup(self, dtype, device):
        self.xp = np  # on object arrays: each element's own method

    def tensor(self, array, dtype, device):
        return values(np.asarray(array, dtype=np.float64))

    def to_numpy(self, value):
        return datas(value).astype(self.placed[0])

    def loss_and_grads(self, case, params, X, Y):
        fresh = {n: values(datas(p)) for n, p in params.items()}  # this step's leaves
        X = values(datas(X))
        loss = self.loss(case, fresh, X, Y)
        loss.backward()
        return loss, {**{n: grads(p) for n, p in fresh.items()}, "X": grads(X)}
