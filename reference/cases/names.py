"""How reports, the walk-through and the pictures name a case's neurons, and when a case is
small enough to be shown scalar by scalar."""

from backprop_crosscheck.reference.cases.case import Case

SCALAR_LIMIT = 64  # parameters: up to this many, every scalar gets a row of its own


def shown_per_scalar(case: Case) -> bool:
    """Small enough for one row (one line, one label) per parameter."""
    return case.parameter_count <= SCALAR_LIMIT


def shown_per_neuron(case: Case) -> bool:
    """Small, dense and single-sample: every neuron's value is one number, as in the article."""
    return case.dense and shown_per_scalar(case) and case.inputs.shape[0] == 1


def neuron_names(case: Case) -> list[list[str]]:
    """i1, i2 …; h1, h2 … (first hidden layer), k1 … (second), …; prediction / o1, o2 …"""
    letters = "hkmnpq"
    names = [[f"i{j + 1}" for j in range(case.layers[0])]]
    for layer, width in enumerate(case.layers[1:-1]):
        names.append([f"{letters[layer % len(letters)]}{j + 1}" for j in range(width)])
    out = case.layers[-1]
    names.append(["prediction"] if out == 1 else [f"o{j + 1}" for j in range(out)])
    return names


def chain_names(case) -> list[str]:
    """The names of dE/d(each layer's output), input side first, in a Result's intermediates:
    a dense network's in the article's words (delta1 = dE/dz1, dE/da1, delta2, …), any other
    stack's dE/da1 … dE/daK."""
    if case.dense:
        return [f"{d}{layer}" for layer in range(1, case.depth + 1) for d in ("delta", "dE/da")]
    return [f"dE/da{k}" for k in range(1, len(case.stack) + 1)]
