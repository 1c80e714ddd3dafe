"""Pictures: the diagram and the trajectory plot are written, valid and deterministic; the
SVG carries the article's numbers as text; without matplotlib the message says how to install."""

import builtins
import importlib.util
import xml.etree.ElementTree as ET

import pytest
from backprop_crosscheck.comparisons.cli import main

pytestmark = pytest.mark.xdist_group("matplotlib")  # imported on one worker, not both (~1 s)

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="matplotlib not installed: pip install matplotlib (or make test)",
)

ARTICLE_NUMBERS = [
    "2",
    "3",
    "0.85",
    "0.48",
    "0.191",
    "-0.809",
    "0.3272405",
    "w1 = 0.11",
    "∂E/∂w1 = -0.22652",
    "w1* = 0.121326",
    "w2 = 0.21",
    "∂E/∂w2 = -0.33978",
    "w2* = 0.226989",
    "w3 = 0.12",
    "∂E/∂w3 = -0.2427",
    "w3* = 0.132135",
    "w4 = 0.08",
    "∂E/∂w4 = -0.36405",
    "w4* = 0.0982025",
    "w5 = 0.14",
    "∂E/∂w5 = -0.68765",
    "w5* = 0.1743825",
    "w6 = 0.15",
    "∂E/∂w6 = -0.38832",
    "w6* = 0.169416",
]


def svg_text(path) -> str:
    root = ET.parse(path).getroot()  # also proves the file is well-formed XML
    assert root.tag.endswith("svg")
    return "\n".join("".join(el.itertext()) for el in root.iter() if el.tag.endswith("text"))


@needs_matplotlib
def test_article_diagram_svg_shows_every_number(tmp_path, capsys):
    path = tmp_path / "article.svg"
    assert main(["explain", "--diagram", str(path)]) == 0
    text = svg_text(path)
    for number in ARTICLE_NUMBERS:
        assert number in text, number


@needs_matplotlib
def test_the_adam_diagram_shows_adams_update(tmp_path, capsys):
    """w* by the case's rule: Adam's first step moves every article weight by a = 0.05
    (w1 .11 → .16, w5 .14 → .19), not by a·dE/dw (0.121326)."""
    path = tmp_path / "adam.svg"
    assert main(["explain", "adam", "--diagram", str(path)]) == 0
    text = svg_text(path)
    assert "w1* = 0.16" in text and "w5* = 0.19" in text and "adam" in text
    assert "w1* = 0.121326" not in text


@needs_matplotlib
def test_diagram_is_byte_identical_run_to_run(tmp_path, capsys):
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    main(["explain", "--diagram", str(a)])
    main(["explain", "--diagram", str(b)])
    assert a.read_bytes() == b.read_bytes()


@needs_matplotlib
@pytest.mark.parametrize("case", ["batch", "deep", "drift"])
def test_diagram_png_for_other_cases(tmp_path, capsys, case):
    from matplotlib.image import imread

    path = tmp_path / f"{case}.png"
    assert main(["explain", case, "--diagram", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert imread(path).shape[0] > 100


@needs_matplotlib
def test_large_network_is_drawn_per_layer(tmp_path, capsys):
    from backprop_crosscheck.reference.cases.file import dump_case
    from backprop_crosscheck.reference.families.draw import random_case

    case = random_case(3, max_width=32, max_depth=3)
    assert case.parameter_count > 64
    src = tmp_path / "big.toml"
    src.write_text(dump_case(case))
    path = tmp_path / "big.svg"
    assert main(["explain", str(src), "--diagram", str(path)]) == 0
    text = svg_text(path)
    assert "‖∂E/∂W1‖" in text and "W1[0,0]" not in text


@needs_matplotlib
def test_trajectory_plot(tmp_path, capsys):
    path = tmp_path / "drift.svg"
    code = main(
        ["report", "drift", "--dtype", "all", "--backends", "numpy,fd", "--plot", str(path)]
    )
    assert code == 1  # float32 honestly drifts on this case
    text = svg_text(path)
    assert "drift · float64" in text and "drift · float32" in text and "allowed" in text


def test_wrong_picture_suffix_is_a_usage_error(capsys):
    assert main(["explain", "--diagram", "net.pdf"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--diagram net.pdf" in err and ".svg or .png" in err


def test_missing_matplotlib_says_how_to_install(tmp_path, capsys, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    code = main(["explain", "--diagram", str(tmp_path / "a.svg")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "matplotlib, which is not installed: pip install matplotlib" in err
    assert not (tmp_path / "a.svg").exists()
