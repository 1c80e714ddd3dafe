"""The suite's speed rests on xdist keeping each backend × case group on one worker.

The conformance tests of one backend and case share a cached run
(tests/comparisons/kit/test_conformance.py); ``--dist loadgroup`` sends a group to one worker by
appending ``@group`` to its tests' node ids. pytest 9.2 ignores that rename (pytest-xdist#1386),
and nothing fails: each worker recomputes the runs it gets and the suite takes ~1.5× as long.
This test makes that regression visible.
"""

import os

import pytest


@pytest.mark.xdist_group("grouping-check")
def test_loadgroup_keeps_a_group_on_one_worker(request):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("runs only under pytest-xdist (pytest -n 2 --dist loadgroup, the default)")
    if not request.config.getoption("loadgroup", False):
        pytest.skip("runs only with --dist loadgroup (the default in pyproject.toml)")
    assert request.node.nodeid.endswith("@grouping-check"), (
        f"pytest-xdist's --dist loadgroup did not take effect (node id {request.node.nodeid!r}): "
        "groups are split across workers and every conformance run is recomputed. "
        "pytest 9.2 with pytest-xdist 3.8 does this (pytest-xdist#1386); use the versions in "
        "constraints.txt (pip install -c constraints.txt -e '.[all]')"
    )
