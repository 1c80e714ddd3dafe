"""What the other engines' adapters promise, checked where the engine is installed (`tox -e
engines`; elsewhere a skip naming the engine): torch-compile really runs Inductor's compiled
code, in one graph; Keras runs two backends one after the other in one process (the pytest
door's case)."""

import os

import numpy as np
import pytest

from backprop_crosscheck import get_backend, load_case, train


def installed(*modules):
    for m in modules:
        pytest.importorskip(m, reason=f"pip install {m} (tox -e engines)")


@pytest.mark.skipif(
    "torch-compile" not in os.environ.get("CROSSCHECK_BACKENDS", ""),
    reason="torch-compile runs on request: CROSSCHECK_BACKENDS=torch-compile (tox -e engines)",
)
def test_torch_compile_runs_one_compiled_graph_and_agrees():
    installed("torch")
    from torch._dynamo.utils import counters

    counters.clear()
    case = load_case("batch")
    got = get_backend("torch-compile").run(case, "float64")
    assert counters["stats"]["unique_graphs"] >= 1  # Dynamo captured (and Inductor compiled) it
    assert not counters["graph_break"], dict(counters["graph_break"])
    for name, g in train(case).gradients.items():
        np.testing.assert_allclose(got.gradients[name], g, rtol=1e-12, atol=1e-14)


def test_keras_runs_two_backends_one_after_the_other_in_one_process():
    installed("keras", "jax", "torch")
    case = load_case("batch")
    runs = [get_backend(n).run(case, "float32") for n in ("keras-jax", "keras-torch", "keras-jax")]
    want = train(case).loss
    for run in runs:
        np.testing.assert_allclose(run.loss, want, rtol=1e-5)


def test_the_tensorflow_backends_keras_is_on_tensorflow_after_keras_on_jax_ran():
    """Keras's optimizers of the `tensorflow` backend on Keras-on-JAX would be float32-grade
    (docs/divergences/keras-jax.md): after keras-jax in the same process it is reloaded."""
    installed("keras", "jax", "tensorflow")
    case = load_case("adam").replace(
        optimizer=load_case("adam").optimizer.__class__(
            "adam", epsilon_placement="before_correction"
        )
    )
    get_backend("keras-jax").run(case, "float64")
    got = get_backend("tensorflow").run(case, "float64")
    for name, p in train(case).final.items():
        np.testing.assert_allclose(got.final[name], p, rtol=1e-10, atol=1e-12)


def test_dynamo_traces_the_layer_structure_torch_compile_reads():
    """torch-compile's engine reads the reference's layers inside the graph Dynamo captures
    (``layer.own(params)`` at every layer, backends/engine_layers.py): whatever the reference
    keeps on a Layer must be readable there — a functools.cached_property takes a lock Dynamo
    cannot trace, and broke every torch-compile run. Dynamo's own eager backend, no Inductor:
    ~2 s, most of it importing Dynamo, so it runs in every suite, not only in tox -e engines."""
    installed("torch")
    import torch

    case = load_case("conv")
    params = {n: torch.tensor(p) for n, p in case.parameters().items()}

    def total(params):
        return sum(t.sum() for layer in case.stack for t in layer.own(params).values())

    traced = torch.compile(total, backend="eager", fullgraph=True)
    assert torch.equal(traced(params), total(params))
