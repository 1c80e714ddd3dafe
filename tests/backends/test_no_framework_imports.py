"""Importing the harness imports no framework (checked in a subprocess: clean sys.modules)."""

import subprocess
import sys

import pytest
from support.paths import ROOT

FRAMEWORKS = ["torch", "jax", "jaxlib", "autograd", "tensorflow", "tape_autodiff", "matplotlib"]

IMPORTS = {
    "packages": "import backprop_crosscheck, backprop_crosscheck.comparisons",
    "every-adapter-module": (
        "import importlib; from backprop_crosscheck.backends.registry import BUILTIN\n"
        "for target in BUILTIN.values(): importlib.import_module(target.split(':')[0])"
    ),
    "registry-instantiates-all": (
        "from backprop_crosscheck.backends import all_backends; all_backends()"
    ),
    "versions-and-availability": (
        "from backprop_crosscheck.backends import all_backends\n"
        "for b in all_backends(): b.available(); b.version(); b.skip_reason('float64', 'cpu')"
    ),
    "cli-module": "import backprop_crosscheck.comparisons.cli.commands",
    "workers-module": "import backprop_crosscheck.comparisons.isolate.workers",
    # the report itself: a framework is imported in its worker process, never in this one
    "report-in-workers": (
        "import contextlib, io\nfrom backprop_crosscheck.comparisons.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['report', '--backends', 'numpy,autograd,tape', '--dtype', 'all']) == 0"
    ),
}


@pytest.mark.parametrize("code", IMPORTS.values(), ids=IMPORTS.keys())
def test_no_framework_is_imported(code):
    probe = code + f"\nimport sys; print(','.join(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported: {out.stdout.strip()}"


def test_reference_has_no_framework_import_statement():
    """reference/ is hand-derived NumPy: not even a lazy import of an autodiff package."""
    import re

    root = ROOT / "reference"
    pattern = re.compile(r"^\s*(import|from)\s+(torch|jax|autograd|tensorflow)\b", re.M)
    offenders = [p.name for p in root.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
