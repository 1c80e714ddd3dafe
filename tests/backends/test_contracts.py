"""docs/adapters.md's contracts (issue #40, point 4) held to the code in both directions: every
field an adapter may set, every field of the Layer a layer op is given and of the optimizer
rule it reads — named there if and only if the code has it — and the worked object-style
optimizer run as written, on the built-in momentum case."""

import dataclasses
import importlib.util
import re

import pytest
from backprop_crosscheck.backends.framework import FrameworkBackend
from backprop_crosscheck.comparisons.run import check_backends, make_check
from backprop_crosscheck.reference import load_case
from backprop_crosscheck.reference.rules.optimizers import Optimizer
from backprop_crosscheck.reference.stack import Layer
from support.paths import ROOT

PAGE = (ROOT / "docs" / "adapters.md").read_text(encoding="utf-8")
CONTRACTS = PAGE[PAGE.index("## The contracts") :]


def table_after(title: str) -> set[str]:
    """The backticked names in the first column of the table after ``title``."""
    rows = CONTRACTS[CONTRACTS.index(title) :].split("\n\n")[1].splitlines()[2:]
    return {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}


def settable() -> tuple[set[str], set[str]]:
    """(every data attribute of FrameworkBackend and its bases, those the page says the base
    class sets as it runs)."""
    names = {
        name
        for cls in FrameworkBackend.__mro__
        if cls.__module__.startswith("backprop_crosscheck")
        for name, value in vars(cls).items()
        if not name.startswith("_") and not callable(value) and not isinstance(value, property)
    }
    runs = CONTRACTS[CONTRACTS.index("Set by the base class as it runs") :].split("\n\n")[0]
    return names, set(re.findall(r"`(\w+)`", runs))


def test_every_field_an_adapter_may_set_is_written_down_and_no_other():
    names, internal = settable()
    assert table_after("**What an adapter may set**") == names - internal
    assert internal <= names


def test_the_layer_an_op_is_given_is_written_down_field_by_field():
    assert table_after("**The Layer a layer op is given**") == {
        f.name for f in dataclasses.fields(Layer)
    }


def test_the_optimizer_rule_is_written_down_field_by_field():
    assert table_after("**What `optimizer(case)` reads**") == {
        f.name for f in dataclasses.fields(Optimizer)
    }


def test_the_object_style_optimizer_runs_as_written():
    if importlib.util.find_spec("autograd") is None:
        pytest.skip("the example subclasses the autograd backend: make test installs autograd")
    code = re.search(r"```python\n(.*?)```", CONTRACTS, re.DOTALL).group(1)
    names = {}
    exec(code, names)  # noqa: S102 - the page's own example
    backend = names["ObjectStyle"]()
    checks = [make_check(load_case("momentum"), d) for d in ("float64", "float32")]
    statuses = [row[0][0].status for row in check_backends([backend], checks)]
    assert statuses == ["pass", "pass"]
    dampened = make_check(load_case("momentum_dampened"), "float64")
    (row,) = check_backends([backend], [dampened])
    assert row[0][0].status == "unsupported" and "never dampens" in row[0][0].message
