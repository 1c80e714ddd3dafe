"""`crosscheck explain`: the article's walk-through, with the case's own numbers.

Small single-sample networks are explained scalar by scalar, as the article does
("h1 = i1·w1 + i2·w2 = 2×0.11 + 3×0.21 = 0.85"); larger ones per layer in matrix form.
"""

import numpy as np

from backprop_crosscheck.reference import Case, CaseError, train
from backprop_crosscheck.reference.activations import ACTIVATIONS
from backprop_crosscheck.reference.case_file import quoted
from backprop_crosscheck.reference.names import neuron_names, shown_per_neuron
from backprop_crosscheck.reference.network import backward_pass, forward, reference_problem


def num(x) -> str:
    return f"{float(x):.10g}"


def factor(x) -> str:
    """A number as a factor in a product: negatives in parentheses."""
    s = num(x)
    return f"({s})" if s.startswith("-") else s


def explain(case: Case) -> str:
    problem = reference_problem(train(case))
    if problem:
        raise CaseError(f"{quoted(case.source)}: the reference cannot compute this case: {problem}")
    body = ScalarWalkthrough(case).lines() if shown_per_neuron(case) else matrix_walkthrough(case)
    head = [
        f"Case {case.name}: layers {list(case.layers)}, activation "
        f"{', '.join(case.activations)}, loss {case.loss}, learning rate a = {num(case.learning_rate)}"
    ]
    if case.description:
        head.append(case.description)
    return "\n".join(head + [""] + body) + "\n"


class ScalarWalkthrough:
    def __init__(self, case: Case):
        self.case = case
        self.names = neuron_names(case)
        self.params = case.parameters()
        self.result = train(case)
        self.fwd = forward(case, self.params, case.inputs, case.targets)
        self.bwd = backward_pass(case, self.params, self.fwd, case.targets)

    def w(self, layer, i, j) -> str:
        return self.case.scalar_label(f"W{layer}", (i, j))

    def b(self, layer, j) -> str:
        return self.case.scalar_label(f"b{layer}", (j,))

    def forward_lines(self, params, fwd) -> list[str]:
        case, lines = self.case, []
        for layer in range(1, case.depth + 1):
            W = params[f"W{layer}"]
            for j, name in enumerate(self.names[layer]):
                ins = self.names[layer - 1]
                symbols = [f"{ins[i]}·{self.w(layer, i, j)}" for i in range(W.shape[0])]
                values = [
                    f"{factor(fwd.a[layer - 1][0, i])}×{factor(W[i, j])}" for i in range(W.shape[0])
                ]
                if f"b{layer}" in params:
                    symbols.append(self.b(layer, j))
                    values.append(factor(params[f"b{layer}"][j]))
                z = fwd.z[layer - 1][0, j]
                act = case.activations[layer - 1]
                if act == "identity":
                    lines.append(
                        f"  {name} = {' + '.join(symbols)} = {' + '.join(values)} = {num(z)}"
                    )
                else:
                    lines.append(
                        f"  z({name}) = {' + '.join(symbols)} = {' + '.join(values)} = {num(z)}"
                    )
                    lines.append(
                        f"  {name} = {act}(z({name})) = {act}({num(z)}) = {num(fwd.a[layer][0, j])}"
                    )
        return lines

    def error_lines(self, fwd) -> list[str]:
        target = self.case.targets[0]
        pred = fwd.prediction[0]
        pairs = [f"({num(p)} - {factor(t)})²" for p, t in zip(pred, target, strict=True)]
        if self.case.loss == "half_sse":
            return [
                f"  Error = ½·Σ(prediction - actual)² = ½·({' + '.join(pairs)}) = {num(fwd.loss)}"
            ]
        return [
            f"  Error = mean((prediction - actual)²) = ({' + '.join(pairs)}) / {len(pairs)} = {num(fwd.loss)}"
        ]

    def lines(self) -> list[str]:
        fwd = self.fwd
        lines = ["Forward pass"] + self.forward_lines(self.params, fwd) + self.error_lines(fwd)
        lines += ["", "Backward pass (chain rule)"] + self.backward_lines()
        lines += ["", self.update_heading()] + self.update_lines()
        new_fwd = forward(self.case, self.result.updated, self.case.inputs, self.case.targets)
        lines += ["", "Forward pass with the new weights"]
        lines += self.forward_lines(self.result.updated, new_fwd) + self.error_lines(new_fwd)
        if self.case.steps > 1:
            losses = ", ".join(num(x) for x in self.result.loss)
            lines += ["", f"Loss over {self.case.steps} steps: {losses}"]
        return lines

    def fprime(self, layer, j) -> float:
        """f′(z) of neuron j of ``layer``, from the activation's row."""
        z, a = self.fwd.z[layer - 1][0, j], self.fwd.a[layer][0, j]
        return ACTIVATIONS[self.case.activations[layer - 1]].fprime(z, a)

    def backward_lines(self) -> list[str]:
        # δ of each neuron = dE/dz. Where a single path leads to the output (the article's
        # network), δ stays a product of named factors: dE/dw1 = Δ·w5·i1.
        lines, chain = [], {}  # (layer, j) -> (symbols, values): δ as a product of factors
        lines += self.output_delta_lines(chain)
        for layer in range(self.case.depth - 1, 0, -1):
            lines += self.hidden_delta_lines(layer, chain)
        for layer in range(self.case.depth, 0, -1):
            lines += self.gradient_lines(layer, chain)
        return lines

    def output_delta_lines(self, chain) -> list[str]:
        case, fwd, L, outs = self.case, self.fwd, self.case.depth, self.names[-1]
        lines, dE_dp = [], self.bwd.dE_da[L]
        for j, name in enumerate(outs):
            p, t = fwd.prediction[0, j], case.targets[0, j]
            label = "Δ" if len(outs) == 1 else f"Δ{j + 1}"
            if case.loss == "half_sse":
                how = f"prediction - actual = {num(p)} - {factor(t)}"
            else:
                how = f"2·({num(p)} - {factor(t)}) / {case.layers[-1]}"
            lines.append(f"  {label} = dE/d{name} = {how} = {num(dE_dp[0, j])}")
            d = dE_dp[0, j]
            if case.activations[L - 1] != "identity":
                d = self.bwd.delta[L - 1][0, j]
                act = case.activations[L - 1]
                lines.append(f"  δ{name} = {label}·{act}'(z({name})) = {num(d)}")
                label = f"δ{name}"
            chain[(L, j)] = ([label], [d])
        return lines

    def hidden_delta_lines(self, layer, chain) -> list[str]:
        nxt, act = self.case.layers[layer + 1], self.case.activations[layer - 1]
        W, lines = self.params[f"W{layer + 1}"], []
        for j, name in enumerate(self.names[layer]):
            if nxt == 1 and act == "identity":
                syms, vals = chain[(layer + 1, 0)]
                chain[(layer, j)] = (syms + [self.w(layer + 1, j, 0)], vals + [W[j, 0]])
                continue
            terms = " + ".join(
                f"{'·'.join(chain[(layer + 1, k)][0])}·{self.w(layer + 1, j, k)}"
                for k in range(nxt)
            )
            deriv = "" if act == "identity" else f" · {act}'(z({name}))"
            d = self.bwd.delta[layer - 1][0, j]
            lines.append(f"  δ{name} = dE/dz({name}) = ({terms}){deriv} = {num(d)}")
            chain[(layer, j)] = ([f"δ{name}"], [d])
        return lines

    def gradient_lines(self, layer, chain) -> list[str]:
        W, grads, lines = self.params[f"W{layer}"], self.result.gradients, []
        for j in range(W.shape[1]):
            syms, vals = chain[(layer, j)]
            for i in range(W.shape[0]):
                src, a_i = self.names[layer - 1][i], self.fwd.a[layer - 1][0, i]
                lines.append(
                    f"  dE/d{self.w(layer, i, j)} = {'·'.join(syms)}·{src} = "
                    f"{'×'.join(factor(v) for v in [*vals, a_i])} = {num(grads[f'W{layer}'][i, j])}"
                )
            if f"b{layer}" in self.params:
                lines.append(
                    f"  dE/d{self.b(layer, j)} = {'·'.join(syms)} = {num(grads[f'b{layer}'][j])}"
                )
        return lines

    def update_heading(self) -> str:
        a = num(self.case.learning_rate)
        return f"Update (learning rate a = {a}; every gradient uses the OLD weights)"

    def update_lines(self) -> list[str]:
        case, grads, lines = self.case, self.result.gradients, []
        for name, p in self.params.items():
            for index in np.ndindex(p.shape):
                label = case.scalar_label(name, index)
                new = self.result.updated[name][index]
                if name in case.frozen:
                    lines.append(f"  {label}* = {label} = {num(new)} (frozen)")
                    continue
                lines.append(
                    f"  {label}* = {label} - a·dE/d{label} = {num(p[index])} - "
                    f"{num(case.learning_rate)}×{factor(grads[name][index])} = {num(new)}"
                )
        return lines


def matrix_walkthrough(case: Case) -> list[str]:
    def arr(x) -> str:
        return np.array2string(
            np.asarray(x), precision=6, threshold=12, edgeitems=2, max_line_width=100
        )

    params, result = case.parameters(), train(case)
    fwd = forward(case, params, case.inputs, case.targets)
    lines = ["Forward pass (one row per sample)", f"  a0 = X, shape {case.inputs.shape}"]
    for layer in range(1, case.depth + 1):
        bias = f" + b{layer}" if f"b{layer}" in params else ""
        lines.append(f"  z{layer} = a{layer - 1}·W{layer}{bias}, shape {fwd.z[layer - 1].shape}")
        lines.append(f"  a{layer} = {case.activations[layer - 1]}(z{layer}) = {arr(fwd.a[layer])}")
    lines.append(f"  Error = {case.loss}(a{case.depth}, Y) = {num(fwd.loss)}")
    lines += ["", "Backward pass (chain rule, per layer)"]
    lines.append(
        "  dE/da_L = "
        + ("Δ = prediction - Y" if case.loss == "half_sse" else "2·(prediction - Y)/count")
    )
    for layer in range(case.depth, 0, -1):
        lines.append(f"  δ{layer} = dE/da{layer} ⊙ {case.activations[layer - 1]}'(z{layer})")
        lines.append(
            f"  dE/dW{layer} = a{layer - 1}ᵀ·δ{layer} = {arr(result.gradients[f'W{layer}'])}"
        )
        if f"b{layer}" in params:
            lines.append(
                f"  dE/db{layer} = Σ_samples δ{layer} = {arr(result.gradients[f'b{layer}'])}"
            )
        lines.append(f"  dE/da{layer - 1} = δ{layer}·W{layer}ᵀ  (the OLD W{layer})")
    lines += [
        "",
        f"Update: p* = p - {num(case.learning_rate)}·dE/dp"
        + (f"  (frozen: {', '.join(sorted(case.frozen))})" if case.frozen else ""),
    ]
    for name, p in result.updated.items():
        lines.append(f"  {name}* = {arr(p)}")
    lines += ["", "Loss per step: " + ", ".join(num(x) for x in result.loss)]
    return lines
