"""Shrunk reproducers: smaller cases stay valid, a failing case shrinks to a local minimum that
still fails the same quantity, and the standalone script reproduces the harness's numbers."""

import ast
import contextlib
import importlib.util
import inspect
import io
import os
import re
import runpy
import sys

import numpy as np
import pytest
from backprop_crosscheck.backends.registry import BUILTIN
from backprop_crosscheck.comparisons.run import check_backends, make_check
from backprop_crosscheck.comparisons.sweep.repro_script import framework_of, repro_script
from backprop_crosscheck.comparisons.sweep.shards import sweep_case
from backprop_crosscheck.comparisons.sweep.shrink import (
    Shrunk,
    fails_the_same,
    save_shrunk,
    shrink,
    worst_kind,
)
from backprop_crosscheck.reference import load_case, network, train
from backprop_crosscheck.reference.cases.file import dump_case
from backprop_crosscheck.reference.cases.smaller import smaller, without_layer
from backprop_crosscheck.reference.network import loss_value
from backprop_crosscheck.reference.rules.optimizers import Optimizer
from support.mutants import MutantBackend

from backprop_crosscheck import get_backend


@pytest.mark.parametrize("seed", [3, 9, 21])
def test_every_smaller_case_is_a_valid_case_file(tmp_path, seed):
    case = sweep_case(seed)
    for what, small in smaller(case):
        path = tmp_path / "small.toml"
        path.write_text(dump_case(small))
        again = load_case(path)  # the case file's own validation: shapes, names, frozen set
        assert again.layers == small.layers, what
        assert np.isfinite(train(again).loss).all(), what


def test_a_hidden_identity_layer_removed_leaves_the_loss_unchanged():
    """W_l·W_l+1 joins the neighbours of an identity layer exactly: the same function."""
    case = load_case("deep").replace(activations=("sigmoid", "identity", "sigmoid"))
    joined = without_layer(case, 2)
    assert joined.layers == (case.layers[0], case.layers[1], case.layers[3])
    np.testing.assert_allclose(
        loss_value(joined, joined.parameters()), loss_value(case, case.parameters()), rtol=1e-12
    )


def judged(backend, case, dtype="float64"):
    (row,) = check_backends([backend], [make_check(case, dtype)])
    return row[0][0]


MUTANTS = {
    # mutant: what the minimal case must keep for the mistake to show
    "fprime_of_activation": lambda c: any(a != "identity" for a in c.activations),
    "tanh_prime_of_z": lambda c: "tanh" in c.activations,
    "bias_sign_flip": lambda c: c.biases is not None,
    "forgot_half": lambda c: bool(set(c.parameter_names) - c.frozen),  # any loss: all doubled
}


@pytest.mark.parametrize("bug", MUTANTS)
def test_a_failing_case_shrinks_to_a_local_minimum_that_fails_the_same_way(bug):
    backend = MutantBackend(bug)
    seed = next(s for s in range(64) if judged(backend, sweep_case(s)).status == "fail")
    shrunk = shrink(sweep_case(seed), backend, "float64", {})
    small = shrunk.case
    assert MUTANTS[bug](small), small
    assert small.steps == 1 and small.inputs.shape[0] == 1 and max(small.layers) <= 2
    assert fails_the_same(judged(backend, small), shrunk.kind)
    for what, smaller_still in smaller(small):  # nothing one step smaller fails the same way
        assert not fails_the_same(judged(backend, smaller_still), shrunk.kind), what


FRAMEWORKS = [name for name in BUILTIN if framework_of(name)]  # every engine's adapter
ACTIVATION_SETS = {  # the frameworks' scripts run; every activation's NumPy rows: the test below
    "relu-sigmoid-tanh": ("relu", "sigmoid", "tanh"),
    "leaky-gelu-gelu_tanh": ("leaky_relu", "gelu", "gelu_tanh"),
}


def small_case(activations=ACTIVATION_SETS["relu-sigmoid-tanh"]):
    """The built-in deep case with these activations, biases, mse, two steps."""
    return load_case("deep").replace(activations=activations, steps=2, leaky_slope=0.2)


@pytest.fixture(scope="module", params=list(ACTIVATION_SETS))
def activations(request):
    return ACTIVATION_SETS[request.param]


def requested(backend) -> bool:
    """A backend that runs on request only (torch-compile: seconds of compiling) is run when
    CROSSCHECK_BACKENDS names it, as the kit runs it."""
    return not backend.on_request or backend.name in os.environ.get("CROSSCHECK_BACKENDS", "")


@pytest.fixture(scope="module")
def scripts(tmp_path_factory, activations) -> dict:
    """Every framework's script for small_case(), float32, no tolerance: {name: (its exit
    status, what it printed)}. Run here, each as its own __main__ (as `python SCRIPT` runs it),
    so the frameworks this test process already imported are not imported again; that the
    scripts need nothing of the harness is test_a_standalone_script_imports_no_harness's."""
    folder = tmp_path_factory.mktemp("scripts")
    runs = {}
    for name in FRAMEWORKS:
        backend = get_backend(name)
        if backend.skip_reason("float32", "cpu") is not None or not requested(backend):
            continue
        path = folder / f"{name}.py"
        path.write_text(repro_script(small_case(activations), name, "float32", 0.0, 0.0))
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), pytest.raises(SystemExit) as exited:
            runpy.run_path(str(path), run_name="__main__")
        runs[name] = (exited.value.code, printed.getvalue())
    return runs


@pytest.mark.parametrize("name", ["deep", "conv_bn", "residual"])
def test_a_scripts_reference_and_adapter_are_their_own_source(name):
    """The script holds reference/'s modules and the adapter's verbatim (less their imports of
    the project), for a dense network and a layer stack alike, so run alone its reference
    trains the case to the harness's numbers exactly."""
    from backprop_crosscheck.backends.torch.backend import TorchBackend

    case = load_case(name)
    script = repro_script(case, "torch", "float64", 1e-9, 1e-11)
    assert inspect.getsource(network.backward_pass) in script
    assert inspect.getsource(TorchBackend.loss_and_grads) in script
    names = {"__name__": "script"}
    exec(script, names)  # noqa: S102 - our own generated text; __name__ is not "__main__"
    mine, theirs = names["train"](names["CASE"]), train(case)
    np.testing.assert_array_equal(mine.loss, theirs.loss)
    for tensor, g in theirs.gradients.items():
        np.testing.assert_array_equal(mine.gradients[tensor], g)


@pytest.mark.parametrize("backend", list(FRAMEWORKS))
def test_a_standalone_script_imports_no_harness(backend):
    """NumPy, its framework and the standard library: nothing else, so it runs anywhere."""
    tree = ast.parse(repro_script(small_case(), backend, "float32", 1e-4, 1e-5))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    engines = {
        "torch",
        "jax",
        "optax",
        "autograd",
        "tensorflow",
        "keras",
        "mlx",
        "tinygrad",
        "paddle",
    }
    assert "numpy" in imported and framework_of(backend) in imported
    others = imported - {"numpy", "ml_dtypes", *engines}  # ml_dtypes: bfloat16, on asking
    assert others <= sys.stdlib_module_names, others - sys.stdlib_module_names


@pytest.mark.parametrize("backend", ["torch", "paddle"])
def test_a_scripts_modules_define_each_name_once(backend):
    """The script is every module in one namespace: two modules' functions of one name (the
    reference's split_heads and the engines' attention helper's) would leave one calling the
    other's — an attention case's script raised on the first head split."""
    tree = ast.parse(repro_script(load_case("mha"), backend, "float64", 1e-9, 1e-11))
    names = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert sorted({n for n in names if names.count(n) > 1}) == []


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="pip install torch==2.13.0 (make test)"
)
def test_an_attention_cases_script_runs_and_agrees(tmp_path):
    path = tmp_path / "mha.py"
    path.write_text(repro_script(load_case("mha"), "torch", "float64", 1e-9, 1e-11))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(SystemExit) as exited:
        runpy.run_path(str(path), run_name="__main__")
    assert exited.value.code == 0, printed.getvalue()[-500:]
    assert printed.getvalue().splitlines()[-1] == "torch float64: agrees with the NumPy reference"


def test_a_shrunk_cross_entropy_adam_failure_gets_a_script_that_shows_it(tmp_path):
    """Every loss and optimizer the reference has: softmax cross-entropy under Adam, torch in
    float32 held to no tolerance at all (so it fails), saved as a sweep saves a shrunk case."""
    torch = get_backend("torch")
    if torch.skip_reason("float32", "cpu"):
        pytest.skip(torch.skip_reason("float32", "cpu"))
    case = load_case("classification").replace(optimizer=Optimizer("adam"), steps=3)
    (row,) = check_backends([torch], [make_check(case, "float32", rtol=0.0, atol=0.0)])
    failed = row[0][0]
    assert failed.status == "fail"
    shrunk = Shrunk(case, case, failed, worst_kind(failed))
    saved = save_shrunk(tmp_path, shrunk, "torch", "float32")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(SystemExit) as exited:
        runpy.run_path(saved["script"], run_name="__main__")
    assert exited.value.code == 1
    lines = printed.getvalue().splitlines()
    assert lines[-1] == "torch float32: disagrees with the NumPy reference"
    first = next(line for line in lines if line.startswith("gradients W1:"))
    want = float(re.search(r"vs numpy (\S+)", first).group(1))
    assert want in {float(f"{x:.10g}") for x in train(case).gradients["W1"].ravel()}


@pytest.mark.xdist_group("standalone-scripts")  # one worker runs the scripts, once
@pytest.mark.parametrize("backend", list(FRAMEWORKS))
def test_the_standalone_script_reproduces_the_harness_numbers(scripts, activations, backend):
    """With no tolerance, the script reports every tensor as off. Its NumPy numbers are the
    reference's; its framework's are the reference's within the float32 tolerance, and not
    equal to them (float32 rounds)."""
    if backend not in scripts:
        why = get_backend(backend).skip_reason("float32", "cpu") or (
            f"{backend} runs on request only: name it in CROSSCHECK_BACKENDS (tox -e engines)"
        )
        pytest.skip(why)
    code, printed = scripts[backend]
    assert code == 1
    assert printed.strip().endswith(f"{backend} float32: disagrees with the NumPy reference")
    reference = train(small_case(activations))
    for line in printed.splitlines()[:-1]:
        m = re.fullmatch(
            rf"(\w+) (\w+): \d+/\d+ disagree; at \[([\d, ]+)\] "
            rf"{re.escape(backend)} (\S+) vs numpy (\S+) \(.*\)",
            line,
        )
        quantity, name, where, got, want = m.groups()
        index = tuple(int(i) for i in where.split(", "))
        expected = {"loss": {"loss": reference.loss}}.get(quantity) or getattr(reference, quantity)
        assert float(want) == pytest.approx(expected[name][index], rel=1e-9)
        assert float(got) == pytest.approx(expected[name][index], rel=1e-4, abs=1e-6)
    assert {line.split(":")[0] for line in printed.splitlines()[:-1]} >= {
        "gradients W1",
        "final W3",
    }


@pytest.mark.parametrize(
    "seed", [4 * 8, 9 * 8, 14 * 8, 19 * 8], ids=["image", "features", "conv", "tokens"]
)
def test_every_smaller_stack_is_a_valid_case_file(tmp_path, seed):
    """Issue #40, point 7: shrinking a layer stack offers only cases that read back."""
    case = sweep_case(seed)
    assert not case.dense
    for what, small in smaller(case):
        path = tmp_path / "small.toml"
        path.write_text(dump_case(small))
        again = load_case(path)
        assert again.architecture == small.architecture, what
        assert np.isfinite(train(again).loss).all(), what


def test_a_failing_layer_stack_shrinks_and_still_fails_the_same_way():
    """conv_bn's batch norm made to treat its statistics as constants (torch): the shrunk case
    keeps the batch norm and fails the same quantity; it has one step and fewer samples, the
    relu gone — every simplification it could take. Before, shrinking a stack raised
    IndexError."""
    pytest.importorskip("torch", reason="the mutant is torch's batch norm: make test installs it")
    from support.stack_mutants import StackMutant

    backend = StackMutant("bn_constant_stats")
    if backend.skip_reason("float64", "cpu"):
        pytest.skip(backend.skip_reason("float64", "cpu"))
    case = load_case("conv_bn")
    shrunk = shrink(case, backend, "float64", {})
    small = shrunk.case
    assert "batch_norm" in small.architecture and "relu" not in small.architecture
    assert small.steps == 1 and small.inputs.shape[0] < case.inputs.shape[0]
    assert fails_the_same(judged(backend, small), shrunk.kind)
