"""`crosscheck sweep`: statistics, exit status, and reproducible failure files."""

import importlib.metadata

import pytest

from backprop_crosscheck.backends import registry
from backprop_crosscheck.comparisons.cli import main
from backprop_crosscheck.comparisons.sweep import sweep_case
from backprop_crosscheck.reference import load_case


@pytest.fixture
def offw3(monkeypatch):
    points = [
        importlib.metadata.EntryPoint("offw3", "fake_backends:OffW3", registry.ENTRY_POINT_GROUP)
    ]
    monkeypatch.setattr(registry.importlib.metadata, "entry_points", lambda group: points)


def test_sweep_passes_and_prints_the_margin(capsys, tmp_path):
    # seeds 23..25: small networks, so fd's two forward passes per parameter stay cheap
    argv = ["sweep", "--cases", "3", "--seed", "23", "--backends", "numpy,fd"]
    code = main([*argv, "--save-failures", str(tmp_path / "f")])
    out = capsys.readouterr().out
    assert code == 0
    assert "seeds 23..25" in out and "worst/tol" in out
    assert out.count(" 3 ") >= 4  # 3 cases for each backend × dtype row
    assert not (tmp_path / "f").exists()


def test_sweep_covers_the_promised_space():
    cases = [sweep_case(seed) for seed in range(200)]
    assert {c.depth for c in cases} == {1, 2, 3, 4}
    assert max(max(c.layers) for c in cases) > 24 and min(min(c.layers) for c in cases) == 1
    assert {c.inputs.shape[0] for c in cases} >= {1, 16}
    assert {c.steps for c in cases} == {1, 2, 3, 4, 5}
    assert {a for c in cases for a in c.activations} == {"identity", "sigmoid", "tanh", "relu"}
    assert any(c.frozen for c in cases) and any(c.biases is not None for c in cases)


def test_sweep_failure_is_saved_as_a_reproducing_case_file(capsys, tmp_path, offw3):
    folder = tmp_path / "failures"
    code = main(["sweep", "--cases", "2", "--backends", "offw3", "--dtype", "float64",
                 "--save-failures", str(folder)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1 and "2 failing runs" in out
    saved = sorted(folder.iterdir())
    assert [p.name for p in saved] == ["random-0-offw3-float64.toml", "random-1-offw3-float64.toml"]
    case = load_case(saved[0])
    assert case.layers == sweep_case(0).layers
    assert main(["report", str(saved[0]), "--backends", "offw3"]) == 1  # it reproduces
