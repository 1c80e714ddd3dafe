"""The walk-through's beats — one stage of `crosscheck explain` each — and the reference's
numbers per step that they show; shared by the dense walk-throughs (walkthrough.py), the layer
stack's (stack_walkthrough.py) and the interactive page (page.py)."""

from dataclasses import dataclass

import numpy as np
from backprop_crosscheck.reference import Case
from backprop_crosscheck.reference.network import backward_pass, forward
from backprop_crosscheck.reference.rules.optimizers import start, update


def num(x) -> str:
    return f"{float(x):.10g}"


def factor(x) -> str:
    """A number as a factor in a product: negatives in parentheses."""
    s = num(x)
    return f"({s})" if s.startswith("-") else s


@dataclass(frozen=True)
class Probe:
    """A number of a beat that backends report too: Result.<quantity>[tensor][index], or
    Result.intermediates[tensor][index] (quantity "intermediates"); index None: the whole
    tensor. ``want`` is the reference's value."""

    quantity: str  # loss | gradients | updated | final | intermediates
    tensor: str  # "loss", "W1", "b2", "delta2", "dE/da2"
    index: tuple | None
    want: object
    label: str  # how the page names it: "dE/dw1", "w5*", "Error", "δ2"


@dataclass(frozen=True)
class Beat:
    """One stage of the walk-through, as the page shows it."""

    stage: str  # forward | error | backward | update
    step: int  # the SGD step (0-based) whose numbers it shows; steps: the forward pass after
    lines: tuple[str, ...]
    focus: tuple[str, ...] = ()  # diagram elements it is about: "n1-0" (neuron), "e2-0-0" (edge)
    path: tuple[str, ...] = ()  # the edges a gradient flows along, from the output
    shows: tuple[tuple[str, str], ...] = ()  # (diagram label id, text) shown from here on
    probes: tuple[Probe, ...] = ()


@dataclass(frozen=True)
class State:
    """The reference's numbers for one SGD step."""

    step: int
    params: dict
    fwd: object
    bwd: object | None  # None after the last step: only the forward pass is shown
    updated: dict | None
    before: dict | None = None  # the optimizer's state (optimizers.start) before the update
    after: dict | None = None  # … and after it


def states(case: Case):
    """Every step's numbers, then the forward pass with the last update's parameters."""
    params = case.parameters()
    before = start(case, params)
    with np.errstate(all="ignore"):
        for k in range(case.steps):
            fwd = forward(case, params, case.inputs, case.targets)
            bwd = backward_pass(case, params, fwd, case.targets)
            updated, after = update(case, params, bwd.gradients, before)
            yield State(k, params, fwd, bwd, updated, before, after)
            params, before = updated, after
        yield State(
            case.steps, params, forward(case, params, case.inputs, case.targets), None, None
        )


def lines_of(found: list[Beat]) -> list[str]:
    return [line for beat in found for line in beat.lines]


def update_probes(case: Case, state: State, name: str, index) -> tuple[Probe, ...]:
    """What backends report of an update: the first step's (Result.updated) and the last's
    (Result.final)."""
    want = state.updated[name] if index is None else state.updated[name][index]
    label = case.scalar_label(name, index) if index is not None else name
    found = []
    if state.step == 0:
        found.append(Probe("updated", name, index, want, f"{label}* (updated)"))
    if state.step == case.steps - 1:
        found.append(Probe("final", name, index, want, f"{label}* (final)"))
    return tuple(found)


def loss_probe(state: State) -> Probe:
    when = f"before step {state.step + 1}" if state.bwd is not None else f"after step {state.step}"
    return Probe("loss", "loss", (state.step,), state.fwd.loss, f"Error {when}")


def arr(x) -> str:
    return np.array2string(
        np.asarray(x), precision=6, threshold=12, edgeitems=2, max_line_width=100
    )


def rule_words(case: Case) -> str:
    """The case's momentum or Adam rule, with its numbers, in one line."""
    opt = case.optimizer
    rule = opt.formula(show=num, learning_rate=case.learning_rate, ascii=True)
    if opt.name == "momentum":
        return f"momentum: {rule} (v starts at 0)"
    return f"Adam: {rule} (m, v start at 0; g = dE/dp)"


def update_heading(case: Case) -> str:
    frozen = f"  (frozen: {', '.join(sorted(case.frozen))})" if case.frozen else ""
    if case.optimizer.name == "sgd":
        rule = case.optimizer.formula(show=num, learning_rate=case.learning_rate, ascii=True)
        return f"Update: {rule}" + frozen
    return f"Update with {rule_words(case)}" + frozen


def error_beat(case: Case, state: State, top: int) -> Beat:
    """The Error of the network's output a<top>."""
    line = f"  Error = {case.loss}(a{top}, Y) = {num(state.fwd.loss)}"
    return Beat(
        "error",
        state.step,
        (line,),
        (f"n{top}",),
        (),
        (("error", f"Error = {num(state.fwd.loss)}"),),
        (loss_probe(state),),
    )
