"""A plain ``Backend`` written for the article's dense networks before the case had a stack: it
reads ``case.weights``, ``case.biases`` and ``case.activations`` and runs its own loop (here:
plain SGD through the hand-derived formulas, written out). It declares nothing but its name:
every case it cannot express (a layer stack, momentum, Adam) must be n/a, and every dense SGD
case must still pass."""

import numpy as np

from backprop_crosscheck import Backend, Result

F = {
    "identity": (lambda z: z, lambda z: np.ones_like(z)),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0) * 1.0),
}


class PlainDense(Backend):
    name = "plain-dense"

    def unsupported(self, case):
        missing = set(case.activations) - set(F) or case.loss not in ("half_sse", "mse")
        return super().unsupported(case) or (missing and f"{self.name}: dense half_sse/mse only")

    def run(self, case, dtype, device="cpu"):
        W = [np.array(w, dtype=dtype) for w in case.weights]
        b = None if case.biases is None else [np.array(v, dtype=dtype) for v in case.biases]
        X, Y = case.inputs.astype(dtype), case.targets.astype(dtype)
        losses, first = [], None
        for _ in range(case.steps):
            loss, grads = self.gradients(case, W, b, X, Y)
            losses.append(loss)
            for i in range(len(W)):
                if f"W{i + 1}" not in case.frozen:
                    W[i] = W[i] - case.learning_rate * grads[f"W{i + 1}"]
                if b is not None and f"b{i + 1}" not in case.frozen:
                    b[i] = b[i] - case.learning_rate * grads[f"b{i + 1}"]
            first = first or (grads, self.params(W, b))
        losses.append(self.gradients(case, W, b, X, Y)[0])
        return Result(np.array(losses, dtype=dtype), first[0], first[1], self.params(W, b))

    @staticmethod
    def params(W, b):
        named = {f"W{i + 1}": w for i, w in enumerate(W)}
        return {**named, **({} if b is None else {f"b{i + 1}": v for i, v in enumerate(b)})}

    @staticmethod
    def gradients(case, W, b, X, Y):
        a, zs, acts = X, [], [X]
        for i, act in enumerate(case.activations):
            z = a @ W[i] + (0 if b is None else b[i])
            a = F[act][0](z)
            zs.append(z)
            acts.append(a)
        n = a.size if case.loss == "mse" else 1
        loss = (0.5 if case.loss == "half_sse" else 1 / n) * np.sum((a - Y) ** 2)
        d = (a - Y) * (1 if case.loss == "half_sse" else 2 / n)
        grads = {}
        for i in range(len(W) - 1, -1, -1):
            delta = d * F[case.activations[i]][1](zs[i])
            grads[f"W{i + 1}"] = acts[i].T @ delta
            if b is not None:
                grads[f"b{i + 1}"] = delta.sum(axis=0)
            d = delta @ W[i].T
        grads["X"] = d
        return loss, grads
