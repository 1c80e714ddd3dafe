"""A learner's own file as a backend (`crosscheck check FILE`): ``def backprop(case, params, X,
Y)`` returning {"W1": …} or {"gradients", "loss", "updated", "intermediates"} (docs/learners.md)."""

import importlib.util
from pathlib import Path

import numpy as np
from backprop_crosscheck.backends.interface import Backend, Capabilities, printable
from backprop_crosscheck.backends.numpy.learner_cells import cells_backprop, without_cells
from backprop_crosscheck.reference.network import forward, inputs_of
from backprop_crosscheck.reference.rules.optimizers import (
    OPTIMIZERS,
    WEIGHT_DECAY_MODES,
    start,
    update,
)
from backprop_crosscheck.reference.stack import KINDS
from backprop_crosscheck.reference.training import train_loop

FUNCTION = "backprop"


class LearnerBackend(Backend):
    """Runs the learner's function in its worker and ships what it returned as it returned it:
    no number is converted here (a complex, string or many-valued loss would lose what makes it
    wrong); the parent's checks of the wire (comparisons.isolate.wire) judge every value."""

    # momentum, Adam: the case's rule on its gradients, unless it returns "updated" itself
    capabilities = Capabilities(
        mode="yours",
        input_gradient=False,
        optimizers=OPTIMIZERS,
        layers=KINDS,
        weight_decay=WEIGHT_DECAY_MODES,
    )
    answering_function = FUNCTION

    def __init__(self, path: str, cells: list[str] | None = None):
        self.path, self.name = str(Path(path).resolve()), printable(Path(path).stem)
        self.cells = cells or []  # the recurrent kinds it writes in CS231n's signatures

    def unsupported(self, case):
        return without_cells(self.name, self.cells, case) or super().unsupported(case)

    def function(self):
        spec = importlib.util.spec_from_file_location(f"learner_{self.name}", self.path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if self.cells:
            return cells_backprop(module, self.cells)
        return getattr(module, FUNCTION)

    def run(self, case, dtype, device="cpu"):
        backprop, dtype = self.function(), np.dtype(dtype)
        params, X, Y = case.parameters(dtype), inputs_of(case, dtype), case.targets.astype(dtype)
        first = {}  # the first answer's intermediates

        def ask(params):
            copies = {n: p.copy() for n, p in params.items()}
            answer = _read(backprop(case, copies, X.copy(), Y.copy()), params)
            first.setdefault("answer", answer)
            return answer, answer.get("loss", forward(case, params, X, Y).loss)

        def one_step(params, state):
            answer, loss = ask(params)
            grads = answer["gradients"]
            if "updated" in answer:
                return loss, grads, answer["updated"], state
            return loss, grads, *update(case, params, grads, state)

        return train_loop(
            one_step,
            params,
            start(case, params),
            case.steps,
            lambda params: ask(params)[1],
            chain=lambda: first["answer"].get("intermediates"),
            loss_dtype=None,  # the losses as the function gave them: judged in the parent
        )


def _read(answer, params) -> dict:
    """The function's answer in one form; a ValueError saying what is wrong with it."""
    if not isinstance(answer, dict):
        raise ValueError(f"{FUNCTION} returned a {type(answer).__name__}, not a dict")
    if "gradients" not in answer:
        answer = {"gradients": answer}
    grads = answer["gradients"]
    missing = [n for n in params if n not in grads]
    if missing:
        raise ValueError(f"{FUNCTION} returned no gradient for {', '.join(missing)}")
    out = {"gradients": {n: np.asarray(g) for n, g in grads.items()}}
    for name, p in params.items():
        if out["gradients"][name].shape != p.shape:
            shape = out["gradients"][name].shape
            raise ValueError(
                f"{FUNCTION} returned dE/d{name} of shape {shape}; {name} is {p.shape}"
            )
    if "loss" in answer:
        out["loss"] = _one_number(answer["loss"])
    if answer.get("updated") is not None:
        out["updated"] = {n: np.asarray(answer["updated"][n]) for n in params}
    if answer.get("intermediates"):
        out["intermediates"] = {k: np.asarray(v) for k, v in answer["intermediates"].items()}
    return out


def _one_number(loss) -> np.ndarray:
    """The loss as the function gave it, as an array of its own dtype: one value as a 0-d array
    (a (1, 1) product is one number), anything else as it is — a complex, a string or many
    values stays what it was, for the parent to refuse."""
    array = np.asarray(loss)
    return array.reshape(()) if array.size == 1 else array
