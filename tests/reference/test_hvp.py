"""Second-order checks: the hand-derived H·v against the article's Hessian written out by
hand and against differences of the gradient; a mutant whose gradient is right but whose
second derivative is wrong is caught by H·v and not by the gradient check."""

import json

import numpy as np
import pytest
from backprop_crosscheck.backends import get_backend
from backprop_crosscheck.comparisons.cli import main
from backprop_crosscheck.comparisons.run import run_case
from backprop_crosscheck.reference import load_case
from backprop_crosscheck.reference.families.draw import random_case
from backprop_crosscheck.reference.finite_differences import hvp_by_differences
from backprop_crosscheck.reference.hvp import direction, hvp


def article_hessian(i1=2.0, i2=3.0, t=1.0, w=(0.11, 0.21, 0.12, 0.08, 0.14, 0.15)):
    """The article's 6×6 Hessian of ½(p − t)², by hand: H = J·Jᵀ + Δ·∂²p, with
    J = ∂p/∂(w1..w6) = (i1·w5, i2·w5, i1·w6, i2·w6, h1, h2) and ∂²p/∂w1∂w5 = i1,
    ∂²p/∂w2∂w5 = i2, ∂²p/∂w3∂w6 = i1, ∂²p/∂w4∂w6 = i2 (all other second partials 0)."""
    w1, w2, w3, w4, w5, w6 = w
    h1, h2 = i1 * w1 + i2 * w2, i1 * w3 + i2 * w4
    delta = h1 * w5 + h2 * w6 - t
    J = np.array([i1 * w5, i2 * w5, i1 * w6, i2 * w6, h1, h2])
    S = np.zeros((6, 6))
    for a, b, value in [(0, 4, i1), (1, 4, i2), (2, 5, i1), (3, 5, i2)]:
        S[a, b] = S[b, a] = value
    return np.outer(J, J) + delta * S


# the article's w1..w6 as (tensor, index)
ARTICLE = [
    ("W1", (0, 0)),
    ("W1", (1, 0)),
    ("W1", (0, 1)),
    ("W1", (1, 1)),
    ("W2", (0, 0)),
    ("W2", (1, 0)),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_article_hvp_matches_the_hessian_written_by_hand(seed):
    case = load_case("article")
    v = direction(case, seed)
    hv = hvp(case, v)
    v_flat = np.array([v[t][i] for t, i in ARTICLE])
    expected = article_hessian() @ v_flat
    np.testing.assert_allclose([hv[t][i] for t, i in ARTICLE], expected, rtol=1e-13, atol=1e-15)


def _id(seed):
    c = random_case(seed)
    return f"seed{seed}-{'.'.join(c.activations)}-{c.loss}"


@pytest.mark.parametrize("seed", range(40), ids=_id)
def test_hvp_matches_differences_of_the_gradient(seed):
    case = random_case(seed)
    v = direction(case, seed)
    exact, approx = hvp(case, v), hvp_by_differences(case, v)
    for name in exact:
        np.testing.assert_allclose(exact[name], approx[name], rtol=1e-6, atol=1e-8, err_msg=name)


def test_frozen_parameters_get_no_direction():
    case = load_case("deep")
    v = direction(case)
    assert not v["b1"].any() and v["W1"].any()


def test_report_hvp_json(capsys):
    code = main(["report", "--hvp", "3", "--backends", "numpy,fd,tape", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    section = doc["runs"][0]["hvp"]
    assert section["direction_seed"] == 3
    statuses = {b["backend"]: b["status"] for b in section["backends"]}
    assert statuses == {"numpy": "pass", "fd": "pass", "tape": "unsupported"}
    expected = article_hessian() @ np.array(
        [direction(load_case("article"), 3)[t][i] for t, i in ARTICLE]
    )
    np.testing.assert_allclose(
        section["reference"]["W2"], [[expected[4]], [expected[5]]], rtol=1e-12
    )


def test_report_hvp_text_and_markdown(capsys):
    assert main(["report", "--hvp", "--backends", "numpy,tape"]) == 0
    out = capsys.readouterr().out
    assert "Hessian-vector product H·v (direction: seed 0)" in out and "n/a" in out
    assert main(["report", "--hvp", "--backends", "numpy", "--format", "markdown"]) == 0
    assert "### Hessian-vector product" in capsys.readouterr().out


class DetachedSigmoidTorch:
    """A torch adapter whose sigmoid has a custom backward that is right to first order but
    not differentiable itself: it saves its output *detached*, so a second derivative through
    it loses the f'' term. Built lazily: torch is imported only when the test runs."""

    @staticmethod
    def make():
        import torch
        from backprop_crosscheck.backends.torch.backend import TorchBackend

        class Sigmoid(torch.autograd.Function):
            @staticmethod
            def forward(ctx, z):
                s = torch.sigmoid(z)
                ctx.save_for_backward(s.detach())  # the bug: cut from the graph
                return s

            @staticmethod
            def backward(ctx, grad):
                (s,) = ctx.saved_tensors
                return grad * s * (1 - s)

        class Mutant(TorchBackend):
            name = "torch-detached-sigmoid"

            def setup(self, dtype, device):
                super().setup(dtype, device)
                self.acts = {**self.acts, "sigmoid": Sigmoid.apply}

        return Mutant()


@pytest.mark.skipif(
    not get_backend("torch").available(), reason="needs torch: pip install torch==2.13.0"
)
def test_second_order_mutant_is_caught_by_hvp_only():
    mutant = DetachedSigmoidTorch.make()
    run = run_case(load_case("batch"), [mutant], "float64", hvp_seed=0)
    (first,) = run.comparisons
    (second,) = run.hvp.comparisons
    assert first.status == "pass", first.message  # gradients, updates: all right
    assert second.status == "fail"  # H·v: wrong
    assert second.agreement.worst.startswith(("W1", "b1"))  # the sigmoid layer's parameters
