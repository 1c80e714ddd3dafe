"""`explain` walks a recurrent layer through time (issue #35, point 7): its first step inside the
cell and its last step back, with the case's numbers — held here to the layer run over one step
(a separate forward) and to the whole backward's dE/dX at the last step."""

import re

import numpy as np
from backprop_crosscheck.comparisons.explain.walkthrough import explain
from backprop_crosscheck.reference import load_case
from backprop_crosscheck.reference.layers import LAYERS
from backprop_crosscheck.reference.network import backward_pass, forward


def numbers(text: str, label: str) -> np.ndarray:
    """The bracketed numbers printed after ``label``."""
    found = re.search(re.escape(label) + r"[^\[]*\[([^\]]*)\]", text)
    assert found, label
    return np.array([float(v) for v in found.group(1).replace("…", "").split(",") if v.strip()])


def test_the_first_step_forward_is_the_layer_over_one_step():
    case = load_case("lstm")
    text, layer = explain(case), case.stack[0]
    assert "step 1 of 4" in text and "c_1 = f ⊙ c_0 + i ⊙ g" in text
    one_step, _ = LAYERS["lstm"].forward(case.inputs[:, :1], layer.initial, **layer.settings)
    printed = numbers(text, "h_1 = o ⊙ tanh(c_1) =")
    np.testing.assert_allclose(printed, one_step.ravel()[: printed.size], rtol=1e-5)


def test_the_last_step_back_gives_the_backwards_dE_dX_there():
    case = load_case("rnn")
    text, params = explain(case), case.parameters()
    fwd = forward(case, params, case.inputs, case.targets)
    dX = backward_pass(case, params, fwd, case.targets).gradients["X"]
    assert "step 3 of 3 back" in text and "dE/da_3 = dE/dh_3 ⊙ (1 − h²)" in text
    printed = numbers(text, "dE/dx_3 =")
    np.testing.assert_allclose(printed, dX[:, -1].ravel()[: printed.size], rtol=1e-5)


def test_explain_walks_attention_with_the_cases_numbers():
    """attention (one head, no projections): S = x·xᵀ/√2 for sample 0, each softmax row, and
    back each row of dE/dS summing to 0 — S held to plain arithmetic on the case's inputs."""
    import numpy as np
    from backprop_crosscheck.comparisons.explain.walkthrough import explain
    from backprop_crosscheck.reference import load_case

    case = load_case("attention")
    text = explain(case)
    x = case.inputs[0]
    s = x @ x.T / np.sqrt(2)
    first_row = "S[0] = [" + ", ".join(f"{v:.4g}" for v in s[0]) + "]"
    assert first_row in text
    p_rows = [line for line in text.splitlines() if line.strip().startswith("P[")]
    sums = [sum(float(v) for v in r.split("= [")[1].rstrip("]").split(", ")) for r in p_rows]
    assert len(p_rows) == 3 and all(abs(t - 1) < 1e-3 for t in sums)
    ds_rows = [line for line in text.splitlines() if line.strip().startswith("dE/dS[")]
    sums = [sum(float(v) for v in r.split("= [")[1].rstrip("]").split(", ")) for r in ds_rows]
    assert len(ds_rows) == 3 and all(abs(t) < 1e-3 for t in sums)
