"""`crosscheck explain`: the article's walk-through, with the case's own numbers.

Small single-sample networks are explained scalar by scalar, as the article does
("h1 = i1·w1 + i2·w2 = 2×0.11 + 3×0.21 = 0.85"); larger ones per layer in matrix form.

The walk-through is a sequence of beats — one neuron's forward value, the error, one δ or
gradient, one update — over every SGD step of the case. The text output prints the first step's
beats; the interactive page (comparisons/explain/page.py) steps through all of them.
"""

import numpy as np
from backprop_crosscheck.comparisons.explain.beats import (
    Beat,
    Probe,
    State,
    arr,
    error_beat,
    factor,
    lines_of,
    loss_probe,
    num,
    rule_words,
    states,
    update_heading,
    update_probes,
)
from backprop_crosscheck.comparisons.explain.stack_walkthrough import (
    StackWalkthrough,
    stack_walkthrough,
)
from backprop_crosscheck.reference import Case, CaseError, train
from backprop_crosscheck.reference.cases.file import quoted
from backprop_crosscheck.reference.cases.names import neuron_names, shown_per_neuron
from backprop_crosscheck.reference.network import reference_problem
from backprop_crosscheck.reference.rules.activations import sigmoid
from backprop_crosscheck.reference.rules.losses import LOSSES, logsumexp, softmax
from backprop_crosscheck.reference.rules.optimizers import bias_corrections

CROSS_ENTROPY_DERIVATION = {  # the (softmax − target) simplification, step by step
    "softmax_cross_entropy": [
        "  dE/dz_j = -Σ_k t_k · d(log s_k)/dz_j        (E = -Σ_k t_k·log s_k)",
        "          = -Σ_k t_k · (δ_kj - s_j)          (log s_k = z_k - log Σ_i e^z_i)",
        "          = s_j·Σ_k t_k - t_j = s_j - t_j     (Σ_k t_k = 1: one-hot)",
    ],
    "binary_cross_entropy": [
        "  dE/dz = (d/dz [log(1 + e^z)] - t) / count = (σ(z) - t) / count",
    ],
}


def explain(case: Case) -> str:
    check_computable(case)
    if not case.dense:
        return stack_explain(case)
    body = ScalarWalkthrough(case).lines() if shown_per_neuron(case) else matrix_walkthrough(case)
    head = [
        f"Case {case.name}: layers {list(case.layers)}, activation "
        f"{', '.join(case.activations)}, loss {case.loss}, learning rate a = {num(case.learning_rate)}"
        + ("" if case.optimizer.name == "sgd" else f", optimizer {case.optimizer.describe()}")
    ]
    if case.description:
        head.append(case.description)
    return "\n".join(head + mixed_note(case) + [""] + body) + "\n"


def mixed_note(case: Case) -> list[str]:
    """A mixed-precision case's note: the walk-through is the step's formulas in full precision."""
    if case.mixed is None:
        return []
    return [
        f"{case.mixed}: below, the step's formulas in full precision — the mixed run computes "
        f"them on the weights and inputs rounded to {case.mixed.compute}, the loss times its "
        "scale before the backward (`crosscheck report` shows its numbers and scale step by step)"
    ]


def stack_explain(case: Case) -> str:
    head = [
        f"Case {case.name}: a stack of {len(case.stack)} layers, loss {case.loss}, learning "
        f"rate a = {num(case.learning_rate)}"
        + ("" if case.optimizer.name == "sgd" else f", optimizer {case.optimizer.describe()}")
    ]
    if case.description:
        head.append(case.description)
    return "\n".join(head + mixed_note(case) + [""] + stack_walkthrough(case)) + "\n"


def check_computable(case: Case) -> None:
    problem = reference_problem(train(case))
    if problem:
        raise CaseError(f"{quoted(case.source)}: the reference cannot compute this case: {problem}")


def beats(case: Case) -> list[Beat]:
    """The whole walk-through, every step, beat by beat."""
    check_computable(case)
    if not case.dense:
        walk = StackWalkthrough(case)
    else:
        walk = ScalarWalkthrough(case) if shown_per_neuron(case) else MatrixWalkthrough(case)
    out = []
    for state in states(case):
        out += walk.forward_beats(state) + [walk.error_beat(state)]
        if state.bwd is not None:
            out += walk.backward_beats(state) + walk.update_beats(state)
    return out


def node(layer: int, j: int) -> str:
    return f"n{layer}-{j}"


def edge(layer: int, i: int, j: int) -> str:
    return f"e{layer}-{i}-{j}"


class ScalarBackward:
    """The scalar walk-through's backward pass: each δ and each gradient as its chain-rule
    product with the case's numbers, edge by edge (a part of ScalarWalkthrough)."""

    def backward_beats(self, state: State) -> list[Beat]:
        # δ of each neuron = dE/dz. Where a single path leads to the output (the article's
        # network), δ stays a product of named factors: dE/dw1 = Δ·w5·i1.
        found, chain = [], {}  # (layer, j) -> (symbols, values): δ as a product of factors
        found += self.output_delta_beats(state, chain)
        for layer in range(self.case.depth - 1, 0, -1):
            found += self.hidden_delta_beats(state, layer, chain)
        for layer in range(self.case.depth, 0, -1):
            found += self.gradient_beats(state, layer, chain)
        return found

    def probes(self, state: State, *probes: Probe) -> tuple[Probe, ...]:
        """Backends report the backward chain of the first step only."""
        return probes if state.step == 0 else ()

    def output_delta_beats(self, state: State, chain) -> list[Beat]:
        case, fwd, bwd, L, outs = self.case, state.fwd, state.bwd, self.case.depth, self.names[-1]
        found, dE_dp = [], bwd.dE_da[L]
        derivation = CROSS_ENTROPY_DERIVATION.get(case.loss, [])
        for j, name in enumerate(outs):
            p, t = fwd.prediction[0, j], case.targets[0, j]
            label = "Δ" if len(outs) == 1 else f"Δ{j + 1}"
            if case.loss == "half_sse":
                how = f"prediction - actual = {num(p)} - {factor(t)}"
            elif case.loss == "mse":
                how = f"2·({num(p)} - {factor(t)}) / {case.layers[-1]}"
            elif case.loss == "softmax_cross_entropy":
                how = f"s_{j + 1} - t_{j + 1} = {num(softmax(fwd.prediction[0])[j])} - {factor(t)}"
            else:
                how = f"(σ(z) - t) / {case.layers[-1]} = ({num(sigmoid(p))} - {factor(t)}) / " + (
                    f"{case.layers[-1]}"
                )
            lines = [
                *(derivation if j == 0 else []),
                f"  {label} = dE/d{name} = {how} = {num(dE_dp[0, j])}",
            ]
            probes = [Probe("intermediates", f"dE/da{L}", (0, j), dE_dp[0, j], label)]
            d = dE_dp[0, j]
            if case.activations[L - 1] != "identity":
                d = bwd.delta[L - 1][0, j]
                act = case.activations[L - 1]
                lines.append(f"  δ{name} = {label}·{act}'(z({name})) = {num(d)}")
                label = f"δ{name}"
                probes.append(Probe("intermediates", f"delta{L}", (0, j), d, label))
            chain[(L, j)] = ([label], [d])
            found.append(
                Beat(
                    "backward",
                    state.step,
                    tuple(lines),
                    (node(L, j),),
                    (),
                    ((f"d-{node(L, j)}", f"{label} = {num(d)}"),),
                    self.probes(state, *probes),
                )
            )
        return found

    def hidden_delta_beats(self, state: State, layer, chain) -> list[Beat]:
        nxt, act = self.case.layers[layer + 1], self.case.activations[layer - 1]
        W, found = state.params[f"W{layer + 1}"], []
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
            d = state.bwd.delta[layer - 1][0, j]
            line = f"  δ{name} = dE/dz({name}) = ({terms}){deriv} = {num(d)}"
            chain[(layer, j)] = ([f"δ{name}"], [d])
            probe = Probe("intermediates", f"delta{layer}", (0, j), d, f"δ{name}")
            found.append(
                Beat(
                    "backward",
                    state.step,
                    (line,),
                    (node(layer, j),),
                    self.downstream(layer, j),
                    ((f"d-{node(layer, j)}", f"δ = {num(d)}"),),
                    self.probes(state, probe),
                )
            )
        return found

    def downstream(self, layer: int, j: int) -> tuple[str, ...]:
        """The edges from neuron j of ``layer`` to the outputs: where its δ comes from."""
        found, sources = [], [j]
        for nxt in range(layer + 1, self.case.depth + 1):
            width = self.case.layers[nxt]
            found += [edge(nxt, i, k) for i in sources for k in range(width)]
            sources = list(range(width))
        return tuple(found)

    def gradient_beats(self, state: State, layer, chain) -> list[Beat]:
        W, grads, found = state.params[f"W{layer}"], state.bwd.gradients, []
        for j in range(W.shape[1]):
            syms, vals = chain[(layer, j)]
            for i in range(W.shape[0]):
                src, a_i = self.names[layer - 1][i], state.fwd.a[layer - 1][0, i]
                label, g = self.w(layer, i, j), grads[f"W{layer}"][i, j]
                line = (
                    f"  dE/d{label} = {'·'.join(syms)}·{src} = "
                    f"{'×'.join(factor(v) for v in [*vals, a_i])} = {num(g)}"
                )
                probe = Probe("gradients", f"W{layer}", (i, j), g, f"dE/d{label}")
                found.append(
                    Beat(
                        "backward",
                        state.step,
                        (line,),
                        (edge(layer, i, j),),
                        (*self.downstream(layer, j), edge(layer, i, j)),
                        ((f"g-{edge(layer, i, j)}", f"∂E/∂{label} = {num(g)}"),),
                        self.probes(state, probe),
                    )
                )
            if f"b{layer}" in state.params:
                label, g = self.b(layer, j), grads[f"b{layer}"][j]
                line = f"  dE/d{label} = {'·'.join(syms)} = {num(g)}"
                probe = Probe("gradients", f"b{layer}", (j,), g, f"dE/d{label}")
                found.append(
                    Beat(
                        "backward",
                        state.step,
                        (line,),
                        (node(layer, j),),
                        self.downstream(layer, j),
                        (),
                        self.probes(state, probe),
                    )
                )
        return found


class ScalarWalkthrough(ScalarBackward):
    def __init__(self, case: Case):
        self.case = case
        self.names = neuron_names(case)

    def w(self, layer, i, j) -> str:
        return self.case.scalar_label(f"W{layer}", (i, j))

    def b(self, layer, j) -> str:
        return self.case.scalar_label(f"b{layer}", (j,))

    def lines(self) -> list[str]:
        first, after, *_ = states(self.case)
        lines = ["Forward pass"] + lines_of(self.forward_beats(first))
        lines += self.error_beat(first).lines
        lines += ["", "Backward pass (chain rule)"] + lines_of(self.backward_beats(first))
        lines += ["", self.update_heading()] + lines_of(self.update_beats(first))
        lines += ["", "Forward pass with the new weights"]
        lines += lines_of(self.forward_beats(after)) + list(self.error_beat(after).lines)
        if self.case.steps > 1:
            losses = ", ".join(num(x) for x in train(self.case).loss)
            lines += ["", f"Loss over {self.case.steps} steps: {losses}"]
        return lines

    def forward_beats(self, state: State) -> list[Beat]:
        case, params, fwd, found = self.case, state.params, state.fwd, []
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
                    lines = [f"  {name} = {' + '.join(symbols)} = {' + '.join(values)} = {num(z)}"]
                else:
                    lines = [
                        f"  z({name}) = {' + '.join(symbols)} = {' + '.join(values)} = {num(z)}",
                        f"  {name} = {act}(z({name})) = {act}({num(z)}) = {num(fwd.a[layer][0, j])}",
                    ]
                incoming = tuple(edge(layer, i, j) for i in range(W.shape[0]))
                shows = [(f"v-{node(layer, j)}", num(fwd.a[layer][0, j]))]
                if layer == 1 and j == 0:  # a new step: the weights as they are now, nothing else
                    shows = self.step_labels(state) + shows
                found.append(
                    Beat(
                        "forward",
                        state.step,
                        tuple(lines),
                        (node(layer, j),),
                        incoming,
                        tuple(shows),
                    )
                )
        return found

    def step_labels(self, state: State) -> list[tuple[str, str]]:
        shows = [("error", "")]
        for layer in range(1, self.case.depth + 1):
            W = state.params[f"W{layer}"]
            for i, j in np.ndindex(W.shape):
                shows += [
                    (f"w-{edge(layer, i, j)}", f"{self.w(layer, i, j)} = {num(W[i, j])}"),
                    (f"g-{edge(layer, i, j)}", ""),
                ]
            for j in range(W.shape[1]):
                shows += [(f"v-{node(layer, j)}", ""), (f"d-{node(layer, j)}", "")]
        return shows

    def error_beat(self, state: State) -> Beat:
        fwd, target = state.fwd, self.case.targets[0]
        pred = fwd.prediction[0]
        pairs = [f"({num(p)} - {factor(t)})²" for p, t in zip(pred, target, strict=True)]
        loss = self.case.loss
        if loss == "half_sse":
            lines = [
                f"  Error = ½·Σ(prediction - actual)² = ½·({' + '.join(pairs)}) = {num(fwd.loss)}"
            ]
        elif loss == "mse":
            lines = [
                f"  Error = mean((prediction - actual)²) = ({' + '.join(pairs)}) / "
                f"{len(pairs)} = {num(fwd.loss)}"
            ]
        elif loss == "softmax_cross_entropy":
            s, k = softmax(pred), int(np.argmax(target))
            exps = " + ".join(f"e^{factor(z)}" for z in pred)
            lines = [
                f"  softmax: s_j = e^z_j / Σ_k e^z_k, Σ_k e^z_k = {exps} = "
                f"{num(np.exp(pred).sum())}; s = [{', '.join(num(x) for x in s)}]",
                f"  Error = -Σ_k t_k·log s_k = -log s_{k + 1} = log Σ_k e^z_k - z_{k + 1} = "
                f"{num(logsumexp(pred))} - {factor(pred[k])} = {num(fwd.loss)}",
            ]
        else:
            terms = " + ".join(
                f"(log(1 + e^{factor(z)}) - {factor(t)}×{factor(z)})"
                for z, t in zip(pred, target, strict=True)
            )
            lines = [
                f"  σ(z) = 1 / (1 + e^-z) = [{', '.join(num(x) for x in sigmoid(pred))}]",
                "  Error = mean(-t·log σ(z) - (1 - t)·log(1 - σ(z))) = mean(log(1 + e^z) - t·z)"
                f" = ({terms}) / {len(pred)} = {num(fwd.loss)}",
            ]
        outs = tuple(node(self.case.depth, j) for j in range(len(pred)))
        return Beat(
            "error",
            state.step,
            tuple(lines),
            outs,
            (),
            (("error", f"Error = {num(fwd.loss)}"),),
            (loss_probe(state),),
        )

    def update_heading(self) -> str:
        a, opt = num(self.case.learning_rate), self.case.optimizer
        if opt.name == "sgd":
            return f"Update (learning rate a = {a}; every gradient uses the OLD weights)"
        return (
            f"Update with {rule_words(self.case)} (learning rate a = {a}; every gradient "
            "uses the OLD weights)"
        )

    def update_beats(self, state: State) -> list[Beat]:
        case, found = self.case, []
        for name, p in state.params.items():
            for index in np.ndindex(p.shape):
                label = case.scalar_label(name, index)
                new = state.updated[name][index]
                if name in case.frozen:
                    lines = [f"  {label}* = {label} = {num(new)} (frozen)"]
                else:
                    lines = update_lines(case, state, label, name, index)
                layer = int(name[1:])
                where = edge(layer, *index) if name[0] == "W" else node(layer, *index)
                shows = ((f"w-{where}", f"{label}* = {num(new)}"),) if name[0] == "W" else ()
                found.append(
                    Beat(
                        "update",
                        state.step,
                        tuple(lines),
                        (where,),
                        (),
                        shows,
                        update_probes(case, state, name, index),
                    )
                )
        return found


def update_lines(case: Case, state: State, label: str, name: str, index) -> list[str]:
    """One scalar's update with the case's rule, each line a formula with its numbers."""
    opt, a = case.optimizer, num(case.learning_rate)
    p, g, new = (
        state.params[name][index],
        state.bwd.gradients[name][index],
        state.updated[name][index],
    )
    if opt.name == "sgd":
        rule = opt.formula(label, ascii=True)
        return [f"  {rule} = {num(p)} - {a}×{factor(g)} = {num(new)}"]
    v0, v = state.before["v"][name][index], state.after["v"][name][index]
    if opt.name == "momentum":
        mu, d = num(opt.momentum), num(1 - opt.dampening)
        if opt.learning_rate_on == "step":
            return [
                f"  v = μ·v + (1 - d)·dE/d{label} = {mu}×{factor(v0)} + {d}×{factor(g)} = {num(v)}",
                f"  {label}* = {label} - a·v = {num(p)} - {a}×{factor(v)} = {num(new)}",
            ]
        return [
            f"  v = μ·v - a·(1 - d)·dE/d{label} = {mu}×{factor(v0)} - {a}×{d}×{factor(g)} = {num(v)}",
            f"  {label}* = {label} + v = {num(p)} + {factor(v)} = {num(new)}",
        ]
    t, m0, m = state.after["t"], state.before["m"][name][index], state.after["m"][name][index]
    c1, c2 = bias_corrections(opt, t)
    mhat, vhat, eps = m / c1, v / c2, num(opt.epsilon)
    lines = [
        f"  m = β1·m + (1 - β1)·g = {num(opt.beta1)}×{factor(m0)} + {num(1 - opt.beta1)}×{factor(g)} = {num(m)}",
        f"  v = β2·v + (1 - β2)·g² = {num(opt.beta2)}×{factor(v0)} + {num(1 - opt.beta2)}×{factor(g)}² = {num(v)}",
        f"  m̂ = m/(1 - β1^{t}) = {num(m)}/{num(c1)} = {num(mhat)};  v̂ = v/(1 - β2^{t}) = {num(v)}/{num(c2)} = {num(vhat)}",
    ]
    if opt.epsilon_placement == "after_correction":
        step = f"a·m̂/(√v̂ + ε) = {num(p)} - {a}×{factor(mhat)}/({num(np.sqrt(vhat))} + {eps})"
    elif opt.epsilon_placement == "before_correction":
        step = (
            f"a·√(1 - β2^{t})/(1 - β1^{t})·m/(√v + ε) = {num(p)} - {a}×{num(np.sqrt(c2))}/"
            f"{num(c1)}×{factor(m)}/({num(np.sqrt(v))} + {eps})"
        )
    else:
        step = f"a·m̂/√(v̂ + ε) = {num(p)} - {a}×{factor(mhat)}/√({num(vhat)} + {eps})"
    return lines + [f"  {label}* = {label} - {step} = {num(new)}"]


class MatrixWalkthrough:
    """Per layer, in matrix form: one beat per layer forward and backward, one per update."""

    def __init__(self, case: Case):
        self.case = case

    def forward_beats(self, state: State) -> list[Beat]:
        case, params, fwd, found = self.case, state.params, state.fwd, []
        for layer in range(1, case.depth + 1):
            bias = f" + b{layer}" if f"b{layer}" in params else ""
            lines = [f"  a0 = X, shape {case.inputs.shape}"] if layer == 1 else []
            lines.append(
                f"  z{layer} = a{layer - 1}·W{layer}{bias}, shape {fwd.z[layer - 1].shape}"
            )
            lines.append(
                f"  a{layer} = {case.activations[layer - 1]}(z{layer}) = {arr(fwd.a[layer])}"
            )
            shows = [(f"v-n{layer}", f"a{layer} computed")]
            if layer == 1:
                shows += [(f"v-n{k}", "") for k in range(2, case.depth + 1)]
                shows += [(f"g-e{k}", "") for k in range(1, case.depth + 1)]
            found.append(
                Beat(
                    "forward",
                    state.step,
                    tuple(lines),
                    (f"n{layer}",),
                    (f"e{layer}",),
                    tuple(shows),
                )
            )
        return found

    def error_beat(self, state: State) -> Beat:
        return error_beat(self.case, state, self.case.depth)

    def backward_beats(self, state: State) -> list[Beat]:
        case, params, bwd = self.case, state.params, state.bwd
        first = state.step == 0
        L = case.depth
        top = LOSSES[case.loss].gradient_text.replace("−", "-")
        top_probe = Probe("intermediates", f"dE/da{L}", None, bwd.dE_da[L], f"dE/da{L}")
        found = [
            Beat(
                "backward",
                state.step,
                (f"  dE/da_L = {top}",),
                (f"n{L}",),
                (),
                (),
                (top_probe,) if first else (),
            )
        ]
        for layer in range(L, 0, -1):
            g = bwd.gradients
            lines = [
                f"  δ{layer} = dE/da{layer} ⊙ {case.activations[layer - 1]}'(z{layer})",
                f"  dE/dW{layer} = a{layer - 1}ᵀ·δ{layer} = {arr(g[f'W{layer}'])}",
            ]
            probes = [
                Probe("intermediates", f"delta{layer}", None, bwd.delta[layer - 1], f"δ{layer}"),
                Probe("gradients", f"W{layer}", None, g[f"W{layer}"], f"dE/dW{layer}"),
            ]
            if f"b{layer}" in params:
                lines.append(f"  dE/db{layer} = Σ_samples δ{layer} = {arr(g[f'b{layer}'])}")
                probes.append(
                    Probe("gradients", f"b{layer}", None, g[f"b{layer}"], f"dE/db{layer}")
                )
            lines.append(f"  dE/da{layer - 1} = δ{layer}·W{layer}ᵀ  (the OLD W{layer})")
            norm = f"‖∂E/∂W{layer}‖ = {np.linalg.norm(g[f'W{layer}']):.4g}"
            found.append(
                Beat(
                    "backward",
                    state.step,
                    tuple(lines),
                    (f"e{layer}",),
                    tuple(f"e{k}" for k in range(layer, L + 1)),
                    ((f"g-e{layer}", norm),),
                    tuple(probes) if first else (),
                )
            )
        return found

    def update_heading(self) -> str:
        return update_heading(self.case)

    def update_beats(self, state: State) -> list[Beat]:
        found = []
        for name, p in state.updated.items():
            layer = int(name[1:])
            what = f"e{layer}" if name[0] == "W" else f"n{layer}"
            found.append(
                Beat(
                    "update",
                    state.step,
                    (f"  {name}* = {arr(p)}",),
                    (what,),
                    (),
                    (),
                    update_probes(self.case, state, name, None),
                )
            )
        return found


def matrix_walkthrough(case: Case) -> list[str]:
    walk, first = MatrixWalkthrough(case), next(states(case))
    lines = ["Forward pass (one row per sample)"] + lines_of(walk.forward_beats(first))
    lines += walk.error_beat(first).lines
    lines += ["", "Backward pass (chain rule, per layer)"] + lines_of(walk.backward_beats(first))
    lines += ["", walk.update_heading()] + lines_of(walk.update_beats(first))
    lines += ["", "Loss per step: " + ", ".join(num(x) for x in train(case).loss)]
    return lines
