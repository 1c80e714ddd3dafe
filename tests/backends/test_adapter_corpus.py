"""Adapters written against earlier documented APIs keep giving clean verdicts as the kit adds
cases (issue #40, point 1): on every built-in case and dtype, PASS where they can, n/a saying
what to declare or implement where they cannot — never an error. The corpus
(tests/corpus/adapters/): the tape engine's adapter as written before layer stacks (it declares
nothing of layers, activations or losses), a plain Backend written for dense networks, a
micrograd-style engine (scalar Values in NumPy object arrays) behind a dense FrameworkBackend,
and a dense PaddlePaddle adapter written from Paddle's docs (`tox -e paddle` runs it)."""

import importlib.util
import re

import pytest
from support.cli import report_json
from support.paths import ROOT, TESTS

from backprop_crosscheck import builtin_case_names

CORPUS = TESTS / "corpus" / "adapters"
ADAPTERS = {
    "old-tape": f"{CORPUS / 'old_tape.py'}:OldTape",
    "plain-dense": f"{CORPUS / 'plain_dense.py'}:PlainDense",
    "micrograd-style": f"{CORPUS / 'micrograd_style.py'}:MicrogradStyle",
    "paddle-dense": f"{CORPUS / 'paddle_dense.py'}:PaddleDense",
}
NEEDS = {  # the engine an adapter of the corpus needs, and how to get it
    "old-tape": (
        "crosscheck_tape",
        "the tape example engine is not installed: make test installs it",
    ),
    "paddle-dense": ("paddle", "PaddlePaddle is not installed: tox -e paddle runs this"),
}


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_every_built_in_case_is_a_pass_or_a_clean_na(capsys, adapter):
    module, why = NEEDS.get(adapter, ("numpy", ""))
    if importlib.util.find_spec(module) is None:
        pytest.skip(why)
    argv = [*builtin_case_names(), "--backends", ADAPTERS[adapter], "--dtype", "all"]
    _, doc = report_json(capsys, *argv)
    rows = [(r["case"], r["dtype"], b) for r in doc["runs"] for b in r["backends"]]
    errors = [
        f"{case} {dtype}: {b['message']}" for case, dtype, b in rows if b["status"] == "error"
    ]
    assert errors == []
    statuses = {(case, dtype): b["status"] for case, dtype, b in rows}
    assert statuses[("article", "float64")] == statuses[("deep", "float32")] == "pass"
    assert statuses[("conv", "float64")] == "unsupported"
    na = [b["message"] for case, _, b in rows if b["status"] == "unsupported"]
    assert all(m.strip() for m in na)


class Named:
    def __init__(self, name=None, text=""):
        if name is not None:
            self.name = name
        self.text = text

    def __str__(self):
        return self.text


@pytest.mark.parametrize(
    "dtype, spelled",
    [
        (Named("float64"), "float64"),  # NumPy's, JAX's
        (Named(text="torch.float32"), "float32"),  # torch's: no .name
        (Named(text="mlx.core.float32"), "float32"),
        (Named("FLOAT64"), "float64"),  # Paddle's DataType
        (Named(text="VarType.FP32"), "float32"),  # Paddle's older one
    ],
    ids=["numpy", "torch", "mlx", "paddle", "paddle-fp32"],
)
def test_a_dtype_reaches_the_adapter_as_float64_or_float32(dtype, spelled):
    """Issue #40, point 3: the harness passed Paddle's "FLOAT64" on to tensor(), where the docs
    promise "float64"/"float32"."""
    from backprop_crosscheck.backends.engine_layers import dtype_name

    assert dtype_name(dtype) == spelled


# what docs/adapters.md says the framework base uses of xp for a dense network ("the namespace")
DOCUMENTED = ("sum", "mean", "tanh", "where", "logaddexp", "max", "exp", "log")


def documented_layers() -> dict[str, set[str]]:
    """docs/adapters.md's table: each layer kind → what its fallback asks of xp."""
    text = (ROOT / "docs" / "adapters.md").read_text(encoding="utf-8")
    rows = text.split("| layer kind | what its fallback asks of `xp` |")[1].split("\n\n")[0]
    table = {}
    for kinds, asks in re.findall(r"^ *\| (`[\w`, ]+`) \| (.+?) \|$", rows, re.MULTILINE):
        for kind in re.findall(r"`(\w+)`", kinds):
            table[kind] = set(re.findall(r"`(\w+)`", asks))
    return table


def minimal_autograd(names):
    """HIPS autograd's backend with an xp that has exactly ``names``."""
    from backprop_crosscheck.backends.autograd.backend import AutogradBackend

    class Minimal:
        def __init__(self, full):
            for name in names:
                setattr(self, name, getattr(full, name))

    class MinimalAutograd(AutogradBackend):
        name = "minimal-autograd"

        def setup(self, dtype, device):
            super().setup(dtype, device)
            self.xp = Minimal(self.xp)

    return MinimalAutograd()


def every_documented_name() -> set[str]:
    return set(DOCUMENTED).union(*documented_layers().values())


def test_the_base_class_asks_of_xp_only_what_the_docs_list():
    """Issue #40, point 3: on every built-in case and dtype — every activation, loss, optimizer
    and layer kind — a namespace of the documented functions and nothing else gives what
    autograd's whole namespace gives (a use of anything more would be an n/a naming it)."""
    if importlib.util.find_spec("autograd") is None:
        pytest.skip("autograd is not installed: make test installs it")
    from backprop_crosscheck.backends.autograd.backend import AutogradBackend
    from backprop_crosscheck.comparisons.run import check_backends, make_check
    from backprop_crosscheck.reference import load_case

    assert {"conv2d", "batch_norm", "lstm", "attention"} <= set(documented_layers())
    minimal = minimal_autograd(every_documented_name())
    cases = builtin_case_names()
    checks = [make_check(load_case(n), d) for n in cases for d in ("float64", "float32")]
    rows = list(check_backends([minimal, AutogradBackend()], checks))
    differ = {
        (check.case.name, check.dtype): (mine.status, mine.message)
        for check, ((mine, _), (full, _)) in zip(checks, rows, strict=True)
        if mine.status != full.status
    }
    assert differ == {}
    passed = sum(mine.status == "pass" for (mine, _), _ in rows)
    assert passed >= len(rows) // 2  # the rest n/a by autograd's optimizer conventions


# a case of each kind, and one name its fallback asks of xp (docs/adapters.md's table)
WITHOUT = [
    ("conv", "einsum", "conv2d"),
    ("conv_bn", "zeros", "conv2d"),
    ("ties", "argmax", "max_pool2d"),
    ("norm", "sqrt", "batch_norm"),
    ("rnn", "concatenate", "rnn"),
    ("attention", "swapaxes", "attention"),
]


@pytest.mark.parametrize("case, missing, kind", WITHOUT, ids=[f"{c}-{m}" for c, m, _ in WITHOUT])
def test_a_namespace_without_a_listed_name_is_na_naming_the_harness_line(case, missing, kind):
    """Take one documented name away: the case is n/a (never an error), saying which name the
    harness's code asked for, at which of its lines, and which hook would replace it."""
    if importlib.util.find_spec("autograd") is None:
        pytest.skip("autograd is not installed: make test installs it")
    from backprop_crosscheck.comparisons.run import check_backends, make_check
    from backprop_crosscheck.reference import load_case

    assert missing in documented_layers()[kind]
    backend = minimal_autograd(every_documented_name() - {missing})
    [((row, _),)] = list(check_backends([backend], [make_check(load_case(case), "float64")]))
    assert row.status == "unsupported", row.message
    assert f"'{missing}'" in row.message and f"cannot run {kind} layers" in row.message
    assert re.search(r"failed at backends/[\w/]+\.py:\d+ \([<>\w]+\)", row.message), row.message
    assert "self.layer_ops" in row.message
