"""The registry: built-ins by name, plugins by entry point, clear errors."""

import importlib.metadata
import importlib.util

import pytest
from backprop_crosscheck.backends import (
    Backend,
    UnknownBackend,
    backend_names,
    get_backend,
    registry,
)
from backprop_crosscheck.reference import load_case
from backprop_crosscheck.reference.precision import DTYPES

BUILTINS = [
    "numpy",
    "fd",
    "torch",
    "torch-func",
    "jax",
    "jax-fwd",
    "autograd",
    "tensorflow",
    "torch-compile",
    "keras-jax",
    "keras-torch",
    "keras-tensorflow",
    "mlx",
    "tinygrad",
]


def test_builtins_are_registered_in_order():
    assert backend_names()[: len(BUILTINS)] == BUILTINS


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_has_name_hint_and_capabilities(name):
    b = get_backend(name)
    assert isinstance(b, Backend) and b.name == name
    assert b.install_hint.startswith("pip install")
    assert {"float64", "float32"} <= set(b.capabilities.dtypes) <= set(DTYPES)


def test_unknown_backend_lists_known_names():
    with pytest.raises(
        UnknownBackend, match=r"unknown backend 'pytorch' \(known: numpy, fd, torch"
    ):
        get_backend("pytorch")


def test_missing_framework_is_a_skip_with_the_install_hint(monkeypatch):
    b = get_backend("torch")
    monkeypatch.setattr(b, "module", "torch_not_installed_here")
    reason = b.skip_reason("float64", "cpu")
    assert "torch_not_installed_here is not installed" in reason
    assert "pip install torch==2.13.0" in reason


@pytest.mark.parametrize(
    "folder, available",
    [("empty", False), ("package", True)],
    ids=["a-folder-named-like-it-is-no-framework", "a-package-is-one"],
)
def test_a_folder_named_like_the_framework_is_not_the_framework(
    monkeypatch, tmp_path, folder, available
):
    """`python -m backprop_crosscheck` from a folder holding one named mlx (a download, a
    clone's checkout) found a namespace package there: the backend ran and every row was an
    ERROR (No module named 'mlx.core') where a skip with the install hint was due."""
    (tmp_path / "fw_named_folder").mkdir()
    if folder == "package":
        (tmp_path / "fw_named_folder" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    b = get_backend("mlx")
    monkeypatch.setattr(b, "module", "fw_named_folder")
    assert b.available() is available
    if not available:
        reason = b.skip_reason("float32", "cpu")
        assert "fw_named_folder is not installed; install it with" in reason


def test_an_engine_of_two_imports_names_the_one_missing(monkeypatch):
    """keras-jax needs keras and jax: its skip names the one not installed."""
    b = get_backend("keras-jax")
    monkeypatch.setattr(b, "module", "json")  # installed everywhere
    monkeypatch.setattr(b, "requires", ("jax_not_installed_here",))
    assert not b.available()
    assert b.skip_reason("float64", "cpu").startswith(
        "keras-jax: jax_not_installed_here is not installed; install it with: pip install keras"
    )


def test_a_backend_on_request_runs_only_when_named():
    """torch-compile compiles every shape (seconds each): not in a run that names no backend,
    but listed, and run when named."""
    assert "torch-compile" in backend_names()
    assert "torch-compile" not in registry.default_backend_names()
    assert set(registry.default_backend_names()) == {
        n for n in backend_names() if not get_backend(n).on_request
    }
    from backprop_crosscheck.comparisons.cli.plan import chosen_backends

    assert [b.name for b in chosen_backends("torch-compile")] == ["torch-compile"]
    assert "torch-compile" not in [b.name for b in chosen_backends(None)]


def test_unsupported_device_is_a_skip():
    assert "device cuda is not supported" in get_backend("numpy").skip_reason("float64", "cuda")


def fake_entry_points(**points):
    return lambda group: [
        importlib.metadata.EntryPoint(name, value, group) for name, value in points.items()
    ]


def test_plugin_found_through_entry_point(monkeypatch):
    monkeypatch.setattr(
        registry.importlib.metadata,
        "entry_points",
        fake_entry_points(mine="backprop_crosscheck.backends.numpy.reference:NumpyBackend"),
    )
    assert backend_names()[-1] == "mine"
    b = get_backend("mine")
    assert b.name == "mine"
    assert b.run(load_case("article"), "float64").loss.shape == (2,)


def test_broken_plugin_is_listed_and_errors_when_run(monkeypatch):
    monkeypatch.setattr(
        registry.importlib.metadata, "entry_points", fake_entry_points(broken="no_such_module:X")
    )
    b = get_backend("broken")
    assert b.name == "broken"
    with pytest.raises(RuntimeError, match="no_such_module:X failed to load"):
        b.run(load_case("article"), "float64")


def test_example_plugin_is_installed_and_registered():
    """The README's worked example (examples/tape-autodiff) must keep working."""
    try:
        importlib.metadata.version("tape-autodiff")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("example plugin not installed: pip install -e examples/tape-autodiff")
    assert "tape" in backend_names()
    assert get_backend("tape").version() == "0.1.0"


def test_autograds_gelu_without_scipy_is_na_with_the_install_hint(monkeypatch):
    """autograd's erf is autograd.scipy's: an install without SciPy runs every case but gelu's,
    and says why (the scoreboard's own venv found it: the extra did not pull SciPy in)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda m, *a: None if m == "scipy" else real(m, *a)
    )
    b = get_backend("autograd")
    assert "gelu needs SciPy (pip install scipy)" in b.unsupported(load_case("classification"))
    assert b.unsupported(load_case("batch")) is None


def test_tinygrad_without_clang_is_a_skip_that_says_so(monkeypatch):
    """tinygrad's CPU device compiles with clang: without it every run would be an error."""
    b = get_backend("tinygrad")
    monkeypatch.setattr(b, "available", lambda: True)
    monkeypatch.delenv("DEV", raising=False)
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert "compiles with clang: apt install clang" in b.skip_reason("float64", "cpu")
