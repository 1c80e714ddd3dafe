"""`crosscheck explain` for a layer stack (docs/layers.md): each layer's forward formula with its
output's shape and first numbers (a recurrent layer's first step inside its cell too), then,
from the output down, each layer's backward — its parameters' gradients and dE/d its input, a
recurrent layer's last step back through its cell — and the update. Beats as the dense
walk-through's (comparisons/explain/walkthrough.py), so the interactive page steps through them
too, over a picture of the stack (page.stack_svg: n<k> is layer k's box, e<k> the arrow into it)."""

import re

import numpy as np
from backprop_crosscheck.comparisons.explain.attention_steps import (
    attention_backward_lines,
    attention_forward_lines,
)
from backprop_crosscheck.comparisons.explain.beats import (
    Beat,
    Probe,
    error_beat,
    lines_of,
    num,
    states,
    update_heading,
    update_probes,
)
from backprop_crosscheck.comparisons.explain.time_steps import backward_step, forward_step
from backprop_crosscheck.reference import train
from backprop_crosscheck.reference.layers import LAYERS, RECURRENT
from backprop_crosscheck.reference.rules.losses import LOSSES
from backprop_crosscheck.reference.stack import walk


def shape(x) -> str:
    return "×".join(map(str, np.shape(x)))


def first(x, count: int = 4) -> str:
    values = np.asarray(x, np.float64).ravel()
    more = ", …" if values.size > count else ""
    return "[" + ", ".join(f"{v:.6g}" for v in values[:count]) + more + "]"


class StackWalkthrough:
    """One beat per layer forward and backward, one per updated parameter."""

    def __init__(self, case):
        self.case, self.K = case, len(case.stack)

    def forward_beats(self, state) -> list:

        a, found = state.fwd.outputs, []
        for k, layer in enumerate(self.case.stack, start=1):
            lines = [f"  a0 = X, {shape(a[0])}: {first(a[0])}"] if k == 1 else []
            says = LAYERS[layer.kind].says if layer.kind in LAYERS else f"{layer.kind}(x)"
            how = re.sub(r"\bx\b", f"a{k - 1}", says)
            lines += [f"  a{k} = {layer.describe()}: {how}", f"     = {shape(a[k])}: {first(a[k])}"]
            if layer.kind in RECURRENT:  # its first step, every quantity of the cell
                lines += forward_step(layer, state.fwd.saved[k - 1])
            for saved, _ in attention_in(layer, state.fwd.saved[k - 1]):
                lines += attention_forward_lines(saved)
            found.append(
                Beat(
                    "forward",
                    state.step,
                    tuple(lines),
                    (f"n{k}",),
                    (f"e{k}",),
                    ((f"v-n{k}", shape(a[k])),),
                )
            )
        return found

    def error_beat(self, state):
        return error_beat(self.case, state, self.K)

    def backward_beats(self, state) -> list:

        bwd, K, first_step = state.bwd, self.K, state.step == 0
        top = LOSSES[self.case.loss].gradient_text.replace("−", "-")
        found = [
            Beat(
                "backward",
                state.step,
                (f"  dE/da{K} = {top} = {first(bwd.dE_doutputs[K])}",),
                (f"n{K}",),
            )
        ]
        for k in range(K, 0, -1):
            layer, lines, probes = self.case.stack[k - 1], [], []
            row = LAYERS.get(layer.kind)
            below = row.dx_says if row else f"dE/da{k} ⊙ {layer.kind}′(a{k - 1})"
            for inner in [layer, *walk(layer.block)]:
                for p in inner.initial:
                    name, g = inner.name(p), bwd.gradients[inner.name(p)]
                    how = (
                        LAYERS[inner.kind]
                        .parameters[p]
                        .replace("dE/dy", f"dE/da{k}")
                        .replace("xᵀ", f"a{k - 1}ᵀ")
                    )  # layer k's input and output
                    if inner is not layer:
                        how = f"{inner.kind} {inner.label}'s, inside the block, from dE/da{k}"
                    lines.append(f"  dE/d{name} = {how} = {shape(g)}: {first(g)}")
                    probes.append(Probe("gradients", name, None, g, f"dE/d{name}"))
            if layer.kind in RECURRENT:  # its last step back, through the cell
                saved, own = state.fwd.saved[k - 1], layer.own(state.params)
                lines += backward_step(layer, saved, bwd.dE_doutputs[k], own)
            if layer.kind == "attention":  # a block's attention: its dE/dy is not kept
                saved = state.fwd.saved[k - 1]
                lines += attention_backward_lines(
                    saved, bwd.dE_doutputs[k], layer.own(state.params)
                )
            if bwd.dE_doutputs[k - 1] is not None:
                below_text = "dE/dX" if k == 1 else f"dE/da{k - 1}"
                lines.append(
                    f"  {below_text} = {below.replace('dE/dy', f'dE/da{k}')} "
                    f"= {shape(bwd.dE_doutputs[k - 1])}: {first(bwd.dE_doutputs[k - 1])}"
                )
            found.append(
                Beat(
                    "backward",
                    state.step,
                    tuple(lines),
                    (f"e{k}",),
                    tuple(f"e{j}" for j in range(k, K + 1)),
                    (),
                    tuple(probes) if first_step else (),
                )
            )
        return found

    def update_heading(self) -> str:
        return update_heading(self.case)

    def update_beats(self, state) -> list:
        place = {
            layer.name(p): k
            for k, top in enumerate(self.case.stack, start=1)
            for layer in [top, *walk(top.block)]
            for p in layer.initial
        }
        return [
            Beat(
                "update",
                state.step,
                (f"  {name}* = {shape(p)}: {first(p)}",),
                (f"n{place[name]}",),
                (),
                (),
                update_probes(self.case, state, name, None),
            )
            for name, p in state.updated.items()
        ]


def attention_in(layer, saved) -> list:
    """(what it saved, the layer) of the attention layer at this place of the stack, or of the
    one inside the residual block there."""
    if layer.kind == "attention":
        return [(saved, layer)]
    if layer.kind == "residual":
        pairs = zip(layer.block, saved, strict=False)
        return [(s, inner) for inner, s in pairs if inner.kind == "attention"]
    return []


def stack_walkthrough(case) -> list[str]:
    walker, state = StackWalkthrough(case), next(states(case))
    lines = ["Forward pass, layer by layer (first values of sample 0 and on)"]
    lines += lines_of(walker.forward_beats(state)) + list(walker.error_beat(state).lines)
    lines += ["", "Backward pass (each layer's chain-rule factors, from the output down)"]
    lines += lines_of(walker.backward_beats(state))
    lines += ["", walker.update_heading()] + lines_of(walker.update_beats(state))
    return lines + ["", "Loss per step: " + ", ".join(num(x) for x in train(case).loss)]
