"""The suite's two stages (docs/testing.md, "Two stages"): what `make test` leaves to
`make test-engines` is what tests/conftest.py says — no more (a typo in its case list would
silently drop a case from both stages' first one) and no less."""

import pytest
from backprop_crosscheck.comparisons.kit import suites
from conftest import FIRST_STAGE_CASES, engines_stage

DOOR = "tests/comparisons/kit/test_conformance.py::test_gradients"


def test_the_first_stage_cases_are_conformance_cases():
    assert set(FIRST_STAGE_CASES) <= set(suites.suite(None).builtin)


@pytest.mark.parametrize(
    ("nodeid", "later"),
    [
        (f"{DOOR}[jax-gpt-float64]", True),  # a slow engine on a case of a later kind
        (f"{DOOR}[fd-gpt-float32]@conformance-fd-float32", True),  # xdist's group suffix
        (f"{DOOR}[jax-padded-float32]", False),  # one of JAX's attention paths: here
        (f"{DOOR}[jax-article-float64]", False),  # dense and layer stacks: here
        (f"{DOOR}[jax-random-0.0-float64]", False),  # the random case: here
        (f"{DOOR}[torch-gpt-float64]", False),  # every other engine: every case here
        (f"{DOOR}[jax-fwd-article-float64]", True),  # jax-fwd's door: all later
        ("tests/comparisons/kit/test_conformance.py::test_available[jax-fwd]", True),
        ("tests/comparisons/kit/test_conformance.py::test_available[jax]", False),
        ("tests/reference/test_families.py::test_x[jax-gpt-float64]", False),  # not the door
    ],
    ids=lambda v: v.split("::")[-1].split("@")[0] if isinstance(v, str) else str(v).lower(),
)
def test_what_runs_in_the_engines_stage_alone(nodeid, later):
    assert engines_stage(nodeid) is later
