"""`crosscheck explain --html`: the interactive walk-through, loaded in a real headless Chromium
and stepped with key presses and clicks; what it shows at each stage is held against the
article's numbers (and ones computed here from the article's weights, by plain arithmetic).

The browser tests skip where no Chromium is installed (`apt-get install chromium`; CI's
.ci/run installs it and sets CROSSCHECK_REQUIRE_BROWSER=1, which turns the skip into a failure).
"""

import json
import os
import re

import pytest
from backprop_crosscheck.comparisons.cli import main
from backprop_crosscheck.reference import load_case, train
from support.browser import Chromium, find_chromium

CHROMIUM = find_chromium()
HINT = "no Chromium here: apt-get install chromium (or set CROSSCHECK_CHROMIUM to a Chrome)"
if CHROMIUM is None and os.environ.get("CROSSCHECK_REQUIRE_BROWSER"):
    raise RuntimeError(f"CROSSCHECK_REQUIRE_BROWSER is set but there is {HINT}")
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason=HINT)
pytestmark = pytest.mark.xdist_group("browser")  # one worker: one Chromium, one article page

OFF_W3 = "support.fake_backends:OffW3"  # the article's w3 gradient off by 1e-3, nothing else
RAISING = "support.fake_backends:Raising"  # raises instead of answering


def write_page(path, *argv) -> int:
    return main(["explain", *argv, "--html", str(path), "--in-process"])


@pytest.fixture(scope="module")
def article_page(tmp_path_factory):
    path = tmp_path_factory.mktemp("page") / "article.html"
    assert write_page(path, "article", "--backends", f"numpy,{OFF_W3}") == 1  # OffW3 fails
    return path


# -- the file itself ---------------------------------------------------------------------------


def test_the_same_run_writes_the_same_bytes(article_page, tmp_path):
    again = tmp_path / "again.html"
    write_page(again, "article", "--backends", f"numpy,{OFF_W3}")
    assert again.read_bytes() == article_page.read_bytes()


def test_nothing_is_fetched_from_anywhere(article_page):
    text = article_page.read_text()
    assert not re.search(r"\bsrc\s*=", text)
    assert re.findall(r"\bhref\s*=\s*'([^']*)'", text) == ["data:,"]  # the empty favicon
    assert "http:" not in text and "https:" not in text and "@import" not in text
    assert text.count("<script") == 2  # the data and the plain script, both inline


def test_case_text_cannot_break_out_of_the_page(tmp_path):
    case = tmp_path / "hostile.toml"
    case.write_text(
        'name = "hostile"\n'
        'description = "</script><script>alert(1)</script> <b>&amp;</b>"\n'
        'layers = [1, 1]\nactivation = "identity"\nloss = "half_sse"\n'
        "learning_rate = 0.1\nsteps = 1\ninputs = [[1.0]]\ntargets = [[0.5]]\n"
        "weights = [[[0.3]]]\n"
    )
    out = tmp_path / "hostile.html"
    assert write_page(out, str(case)) == 0
    text = out.read_text()
    assert text.count("<script") == 2
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--html", "page.txt"], "--html page.txt: the file must end in .html or .htm"),
        (["--html", "/no/such/folder/page.html"], "no such folder"),
        (["--html", "p.html", "--backends", "numpy,,torch"], "has an empty name"),
        (["--html", "p.html", "--backends", "nosuch"], "unknown backend 'nosuch'"),
    ],
    ids=["not-html", "no-folder", "empty-backend-name", "unknown-backend"],
)
def test_bad_usage_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["explain", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "p.html").exists()


def test_the_text_says_each_backends_verdict(capsys, tmp_path):
    code = write_page(tmp_path / "p.html", "article", "--backends", f"numpy,{OFF_W3}")
    out = capsys.readouterr().out
    assert code == 1
    assert "  numpy: PASS" in out
    assert "  OffW3: FAIL — gradients W1: 1/4 mismatched, worst w3" in out
    assert "why: first wrong: dE/dW1" in out


def page_data(path) -> dict:
    text = path.read_text()
    raw = re.search(r"<script type='application/json' id='walk-data'>(.*?)</script>", text, re.S)
    return json.loads(raw.group(1))


def test_every_step_of_a_trajectory_is_walked_through(tmp_path):
    path = tmp_path / "deep.html"  # 3 steps, batch of 2: matrix form; b1 frozen
    assert write_page(path, "deep", "--backends", f"numpy,{RAISING}") == 1  # Raising errs
    frames = page_data(path)["frames"]
    errors = [f for f in frames if f["stage"] == "error"]
    assert [f["title"] for f in errors] == [
        "Step 1 of 3: Error",
        "Step 2 of 3: Error",
        "Step 3 of 3: Error",
        "After step 3: error with the new weights",
    ]
    assert [f["known"] for f in errors] == [1, 2, 3, 4]
    losses = [float(f["lines"][0].rsplit("= ", 1)[1]) for f in errors]
    assert losses == pytest.approx(list(train(load_case("deep")).loss), rel=1e-9)
    updates = {}
    for f in frames:
        if f["stage"] == "update":
            updates.setdefault(f["title"][:11], []).append({r["what"] for r in f["checks"]})
    first, middle, last = (updates[f"Step {k} of 3"] for k in (1, 2, 3))
    assert all(any("(updated)" in w for w in rows) for rows in first)
    assert middle == [set()] * len(middle)  # backends report no middle step's parameters …
    assert all(f["note"] for f in frames if f["stage"] == "update" and not f["checks"])  # … said
    assert all(any("(final)" in w for w in rows) for rows in last)
    assert "Raising: ERROR — raised RuntimeError: engine exploded" in path.read_text()


@pytest.mark.parametrize("case", ["article", "deep"])
def test_intermediates_that_are_not_numbers_are_left_out(tmp_path, case):
    path = tmp_path / "odd.html"
    assert write_page(path, case, "--backends", "support.fake_backends:OddIntermediates") == 0
    frames = page_data(path)["frames"]
    shown_whats = {r["what"] for f in frames for r in f["checks"]}
    assert not any(w.startswith(("Δ", "δ", "dE/da")) for w in shown_whats)
    assert any(w.startswith("dE/d") for w in shown_whats)  # the gradients still are


# -- in the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip(HINT)
    with Chromium(CHROMIUM) as b:
        yield b


def shown(b) -> dict:
    """What the page shows now: the beat's title and lines, lit elements, the backends' rows,
    the diagram's labels, the loss curve's points."""
    return b.js(
        """(() => {
        const q = (s) => [...document.querySelectorAll(s)];
        return {
          counter: document.getElementById('counter').textContent,
          title: document.getElementById('title').textContent,
          lines: q('#lines div').map((d) => d.textContent).join('\\n'),
          lit: q('#network .lit').map((e) => e.id), path: q('#network .path').map((e) => e.id),
          off: q('#network .off').map((e) => e.id),
          rows: q('#checks tr').slice(1).map((r) => ({
            cells: [...r.cells].map((c) => c.textContent), off: r.className === 'off'})),
          why: q('#checks .why').map((p) => p.textContent),
          labels: Object.fromEntries(q('[data-label]').map((e) => [e.id, e.textContent])),
          curve: document.getElementById('loss-line').getAttribute('points').trim(),
        };
        })()"""
    )


@pytest.fixture(scope="module")
def article_walk(browser, article_page):
    """Every beat of the article's page, reached one → key press at a time."""
    browser.open(article_page.as_uri())
    beats = [shown(browser)]
    total = int(beats[0]["counter"].split(" / ")[1])
    for _ in range(total - 1):
        browser.key("ArrowRight")
        beats.append(shown(browser))
    return beats


def beat_with(walk, text: str) -> dict:
    found = [b for b in walk if text in b["lines"]]
    assert found, f"no beat shows {text!r}"
    return found[0]


# The article's numbers; one step on, computed here from its weights by plain arithmetic.
W = dict(w1=0.11, w2=0.21, w3=0.12, w4=0.08, w5=0.14, w6=0.15)
DELTA = 0.191 - 1.0
NEW = dict(
    w1=W["w1"] - 0.05 * DELTA * W["w5"] * 2,
    w2=W["w2"] - 0.05 * DELTA * W["w5"] * 3,
    w3=W["w3"] - 0.05 * DELTA * W["w6"] * 2,
    w4=W["w4"] - 0.05 * DELTA * W["w6"] * 3,
    w5=W["w5"] - 0.05 * DELTA * 0.85,
    w6=W["w6"] - 0.05 * DELTA * 0.48,
)
NEXT_PREDICTION = (2 * NEW["w1"] + 3 * NEW["w2"]) * NEW["w5"] + (
    2 * NEW["w3"] + 3 * NEW["w4"]
) * NEW["w6"]


@needs_browser
def test_the_article_stage_by_stage(article_walk):
    assert f"{NEXT_PREDICTION:.10g}" == "0.2557457808"
    stages = [
        ("h1 = i1·w1 + i2·w2 = 2×0.11 + 3×0.21 = 0.85", "n1-0", "v-n1-0", "0.85"),
        ("h2 = i1·w3 + i2·w4 = 2×0.12 + 3×0.08 = 0.48", "n1-1", "v-n1-1", "0.48"),
        ("prediction = h1·w5 + h2·w6 = 0.85×0.14 + 0.48×0.15 = 0.191", "n2-0", "v-n2-0", "0.191"),
        (
            "Error = ½·Σ(prediction - actual)² = ½·((0.191 - 1)²) = 0.3272405",
            "n2-0",
            "error",
            "Error = 0.3272405",
        ),
        (
            "Δ = dE/dprediction = prediction - actual = 0.191 - 1 = -0.809",
            "n2-0",
            "d-n2-0",
            "Δ = -0.809",
        ),
        (
            "w5* = w5 - a·dE/dw5 = 0.14 - 0.05×(-0.68765) = 0.1743825",
            "e2-0-0",
            "w-e2-0-0",
            "w5* = 0.1743825",
        ),
        (
            f"prediction = h1·w5 + h2·w6 = 0.923619×0.1743825 + 0.5588775×0.169416 = "
            f"{NEXT_PREDICTION:.10g}",
            "n2-0",
            "v-n2-0",
            "0.2557457808",
        ),
    ]
    order = []
    for line, lit, label, text in stages:
        beat = beat_with(article_walk, line)
        assert beat["lit"] == [lit]
        assert beat["labels"][label] == text
        order.append(article_walk.index(beat))
    assert order == sorted(order)  # forward, error, backward, update, then one step on
    assert beat_with(article_walk, "0.2557457808")["title"].startswith("After step 1")


@needs_browser
def test_a_gradient_is_its_chain_rule_product_along_its_path(article_walk):
    beat = beat_with(article_walk, "dE/dw1 = Δ·w5·i1 = (-0.809)×0.14×2 = -0.22652")
    assert beat["lit"] == ["e1-0-0"]  # w1 …
    assert set(beat["path"]) == {"e2-0-0", "e1-0-0"}  # … reached from the output through w5
    assert beat["labels"]["g-e1-0-0"] == "∂E/∂w1 = -0.22652"
    assert beat["title"] == "Step 1 of 1: Backward pass (chain rule)"


@needs_browser
def test_each_update_shows_old_weight_gradient_rate_and_new_weight(article_walk):
    for name, new in NEW.items():
        beat = beat_with(article_walk, f"{name}* = {name} - a·dE/d{name} = {W[name]:g} - 0.05×")
        assert beat["lines"].endswith(f"= {new:.10g}")


@needs_browser
def test_the_loss_curve_grows_with_each_error(article_walk):
    points = [len(b["curve"].split()) if b["curve"] else 0 for b in article_walk]
    first_error = article_walk.index(beat_with(article_walk, "Error = ½·Σ"))
    assert points[:first_error] == [0] * first_error
    assert points[first_error] == 1
    assert points[-1] == 2 and "0.2769571714" in article_walk[-1]["lines"]


@needs_browser
def test_a_disagreeing_backend_is_red_with_its_size_and_why(article_walk):
    w3 = beat_with(article_walk, "dE/dw3 = Δ·w6·i1")
    rows = {r["cells"][0]: r for r in w3["rows"]}
    assert not rows["numpy"]["off"] and rows["numpy"]["cells"][2] == "-0.2427"
    bad = rows["OffW3"]
    assert bad["off"] and bad["cells"][1:5] == ["dE/dw3", "-0.2417", "-0.2427", "0.001"]
    assert bad["cells"][5].startswith("OFF: ") and "× the allowed" in bad["cells"][5]
    assert w3["off"] == ["e1-0-1"]  # the edge of w3, in red
    assert w3["why"] and w3["why"][0].startswith("OffW3: first wrong: dE/dW1")
    w1 = beat_with(article_walk, "dE/dw1 = Δ·w5·i1")
    assert w1["off"] == [] and not any(r["off"] for r in w1["rows"])
    assert [r["cells"][0] for r in w1["rows"]] == ["numpy", "OffW3"]


@needs_browser
def test_forward_beats_say_what_backends_do_not_report(article_walk):
    h1 = beat_with(article_walk, "h1 = i1·w1")
    assert h1["rows"] == []
    error = beat_with(article_walk, "Error = ½·Σ")
    assert {r["cells"][1] for r in error["rows"]} == {"Error before step 1"}


@needs_browser
def test_keys_and_buttons_move_and_stop_at_the_ends(browser, article_page):
    browser.open(article_page.as_uri())
    total = int(shown(browser)["counter"].split(" / ")[1])
    moves = [  # (key press or button click, the beat it lands on)
        ("ArrowLeft", 1),
        ("End", total),
        ("ArrowRight", total),
        ("Home", 1),
        ("#next", 2),
        ("#last", total),
        ("#prev", total - 1),
        ("#first", 1),
    ]
    for move, beat in moves:
        browser.click(move) if move.startswith("#") else browser.key(move)
        assert shown(browser)["counter"] == f"{beat} / {total}", move
    assert shown(browser)["lines"].startswith("h1 = ")
    assert browser.console_errors() == []


@needs_browser
@pytest.mark.parametrize("case", ["kink"])  # per neuron, 2 steps (matrix form: the batch test)
def test_no_console_errors_at_any_beat(tmp_path, browser, case):
    path = tmp_path / f"{case}.html"
    assert write_page(path, case) == 0
    browser.events.clear()
    browser.open(path.as_uri())
    total = int(shown(browser)["counter"].split(" / ")[1])
    for _ in range(total - 1):
        browser.key("ArrowRight")
    assert shown(browser)["counter"] == f"{total} / {total}"
    assert browser.console_errors() == []


def opened(browser, tmp_path, case: str, backends: str):
    """The browser, showing the first beat of the case's page with those backends."""
    path = tmp_path / f"{case}.html"
    assert write_page(path, case, "--backends", backends) == 0
    browser.events.clear()
    browser.open(path.as_uri())
    return browser


def every_beat(browser) -> list[dict]:
    """What the page shows at each beat, from the one shown now to the last."""
    walk = [shown(browser)]
    while walk[-1]["counter"].split(" / ")[0] != walk[-1]["counter"].split(" / ")[1]:
        browser.key("ArrowRight")
        walk.append(shown(browser))
    return walk


@needs_browser
def test_batched_networks_step_per_layer_in_matrix_form(tmp_path, browser):
    first = shown(opened(browser, tmp_path, "batch", "numpy"))
    assert first["lit"] == ["n1"] and "z1 = a0·W1 + b1, shape (4, 3)" in first["lines"]
    browser.key("End")
    last = shown(browser)
    assert last["title"].startswith("After step 1") and "Error = half_sse(a2, Y)" in last["lines"]
    browser.key("Home")
    walk = every_beat(browser)
    w1 = next(b for b in walk if "dE/dW1 = a0ᵀ·δ1" in b["lines"])
    assert w1["lit"] == ["e1"] and w1["path"] == ["e1", "e2"]
    (row,) = [r for r in w1["rows"] if r["cells"][1].startswith("dE/dW1")]
    assert row["cells"][0] == "numpy" and not row["off"]
    assert re.fullmatch(r"dE/dW1, worst entry W1\[\d,\d\]", row["cells"][1])
    assert len(walk[-1]["curve"].split()) == 2  # the loss before the step and after it
    assert browser.console_errors() == []


@needs_browser
def test_readable_on_a_phone_sized_screen(browser, article_page):
    browser.screen(375, 667, mobile=True)
    try:
        browser.events.clear()
        browser.open(article_page.as_uri())
        for key in ["End", "Home"] + ["ArrowRight"] * 9:  # the last beat, then dE/dw3's table
            browser.key(key)
            assert browser.js("document.documentElement.scrollWidth") <= 375
        assert "dE/dw3" in shown(browser)["lines"]
        overhang = browser.js(
            "[...document.querySelectorAll('#lines div, #checks td.verdict, #checks .why')]"
            ".map((e) => e.getBoundingClientRect().right - document.documentElement.clientWidth)"
        )
        assert len(overhang) >= 4 and max(overhang) <= 0  # nothing cut off at the right edge
        sizes = browser.js(
            "[...document.querySelectorAll('#lines div, #checks td')]"
            ".map((e) => parseFloat(getComputedStyle(e).fontSize))"
        )
        assert min(sizes) >= 12
        heights = browser.js(
            "[...document.querySelectorAll('nav button')].map((b) => b.offsetHeight)"
        )
        assert min(heights) >= 40  # thumb-sized
        assert browser.console_errors() == []
    finally:
        browser.screen(1280, 900)


@needs_browser
def test_a_layer_stack_steps_layer_by_layer(tmp_path, browser):
    pytest.importorskip(
        "torch", reason="torch is the second engine here: pip install torch==2.13.0"
    )
    walk = every_beat(opened(browser, tmp_path, "conv", "numpy,torch"))
    assert walk[0]["lit"] == ["n1"] and "conv2d kernel 2×1×3×3" in walk[0]["lines"]
    conv = next(b for b in walk if "dE/dkernel1 = " in b["lines"])
    assert conv["lit"] == ["e1"] and conv["path"] == [f"e{k}" for k in range(1, 6)]
    rows = [r for r in conv["rows"] if r["cells"][1].startswith("dE/dkernel1")]
    assert [r["cells"][0] for r in rows] == ["numpy", "torch"] and not any(r["off"] for r in rows)
    assert browser.console_errors() == []


def test_the_page_draws_each_heads_attention_weights(tmp_path):
    """mha: 2 heads, 4 steps, causal — a 4×4 map per head, the keys after each query grey, each
    row's weights the softmax of its scores (held here to P computed by plain arithmetic from
    the case's numbers for head 1's first two rows)."""
    path = tmp_path / "mha.html"
    assert main(["explain", "mha", "--html", str(path)]) == 0
    page = path.read_text(encoding="utf-8")
    (svg,) = re.findall(r"<svg class='attention'.*?</svg>", page)
    cells = re.findall(r"fill='([^']*)'><title>P\[(\d+),(\d+)\] = ([^<]*)</title>", svg)
    assert len(cells) == 2 * 4 * 4
    masked = {(int(i), int(j)) for fill, i, j, _ in cells if fill == "#ddd"}
    assert masked == {(i, j) for i in range(4) for j in range(4) if j > i}
    import numpy as np

    case = load_case("mha")
    layer = case.stack[0]
    x, p = case.inputs[0], layer.initial
    q = (x @ p["Wq"] + p["bq"])[:, :2]  # head 1: the first two columns
    k = (x @ p["Wk"] + p["bk"])[:, :2]
    scores = q @ k.T / np.sqrt(2)
    row1 = np.exp(scores[1, :2]) / np.exp(scores[1, :2]).sum()
    shown = {(int(i), int(j)): float(w) for _, i, j, w in cells[:16]}
    assert shown[0, 0] == 1.0
    assert abs(shown[1, 0] - row1[0]) < 1e-6 and abs(shown[1, 1] - row1[1]) < 1e-6
