"""`crosscheck explain --html FILE`: the walk-through as one self-contained, interactive page.

The page steps through the beats of walkthrough.py beside it — every neuron's forward value,
the error, every δ and gradient with the path it flows along, every update — over all of the case's
SGD steps, with the loss curve growing beside it. With backends (a runner.Run), each beat shows
what every backend reports of its numbers beside the reference's, and a disagreement in red with
its size against the tolerance, and the backend's diagnosis.

Everything the page needs is inline (SVG, CSS, script, the beats as JSON); nothing is fetched.
The same case and run give the same bytes: no dates, no random ids, numbers as text.
"""

import html
import json

import numpy as np
from backprop_crosscheck.comparisons.explain.page_assets import SCRIPT, STYLE
from backprop_crosscheck.comparisons.explain.walkthrough import Beat, Probe, beats, num
from backprop_crosscheck.comparisons.judge.compare import errors, extra
from backprop_crosscheck.reference import Case
from backprop_crosscheck.reference.cases.names import neuron_names, shown_per_neuron
from backprop_crosscheck.reference.conditioning import adam_allowance
from backprop_crosscheck.reference.network import forward

STAGES = {
    "forward": "Forward pass",
    "error": "Error",
    "backward": "Backward pass (chain rule)",
    "update": "Update",
}
NOT_REPORTED = {
    "forward": "Backends report no activations: the forward pass is checked through the Error.",
    "backward": "Backends report the first step's gradients only.",
    "update": "Backends report the parameters after the first step and after the last.",
}
CURVE = (320, 150, 44, 14)  # the loss curve's width, height, left and right margins


def page(case: Case, run=None) -> str:
    """The page for ``case``; with ``run`` (runner.Run of the same case), its backends too."""
    found = beats(case)
    frames, known = [], 0
    for beat in found:
        known += beat.stage == "error"
        frames.append(frame(case, beat, known, run))
    data = {"frames": frames, "curve": curve_points(case, found)}
    body = [
        f"<h1>{esc(case.name)}: backpropagation step by step</h1>",
        f"<p class='about'>{esc(about(case))}</p>",
        backends_block(run) if run is not None else "",
        "<div class='stage'>",
        "<div class='pictures'>",
        stack_svg(case)
        if not case.dense
        else network_svg(case)
        if shown_per_neuron(case)
        else layers_svg(case),
        curve_svg(case, found),
        attention_svg(case),
        "</div>",
        "<div class='explain'>",
        "<nav aria-label='step through'>"
        "<button id='first' title='first (Home)' aria-label='first'>«</button>"
        "<button id='prev' title='back (←)' aria-label='back'>‹</button>"
        "<span id='counter' aria-live='polite'></span>"
        "<button id='next' title='on (→)' aria-label='on'>›</button>"
        "<button id='last' title='last (End)' aria-label='last'>»</button></nav>",
        "<h2 id='title'></h2>",
        "<div id='lines'></div>",
        "<div id='checks'></div>",
        "</div></div>",
        "<p class='keys'>Keys: ← → one beat, Home / End the first and last. Every number is "
        "the hand-derived NumPy reference's (float64), as <code>crosscheck explain</code> "
        "prints it.</p>",
    ]
    script_data = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    script_data = script_data.replace("<", "\\u003c")  # no "</script>" inside the data
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        "<link rel='icon' href='data:,'>\n"
        f"<title>{esc(case.name)} — backprop-crosscheck explain</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + f"\n<script type='application/json' id='walk-data'>{script_data}</script>\n"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def esc(text: str) -> str:
    return html.escape(str(text), quote=True)


STEP_WORD = {"sgd": "SGD", "momentum": "momentum", "adam": "Adam"}


def about(case: Case) -> str:
    dense = [f"layers {list(case.layers)}", f"activation {', '.join(case.activations)}"]
    network = dense if case.dense else [f"a stack of {len(case.stack)} layers"]
    parts = [
        *network,
        f"loss {case.loss}",
        f"learning rate a = {num(case.learning_rate)}",
        f"{case.steps} {STEP_WORD[case.optimizer.name]} step{'s' * (case.steps != 1)}",
        f"batch {case.inputs.shape[0]}",
    ]
    text = "; ".join(parts)
    return f"{case.description} — {text}" if case.description else text


def frame(case: Case, beat: Beat, known: int, run) -> dict:
    after = beat.step == case.steps
    if after:
        title = f"After step {case.steps}: {STAGES[beat.stage].lower()} with the new weights"
    else:
        title = f"Step {beat.step + 1} of {case.steps}: {STAGES[beat.stage]}"
    if beat.stage == "update":
        title += f" (learning rate a = {num(case.learning_rate)}; gradients of the OLD weights)"
    out = {
        "stage": beat.stage,
        "title": title,
        "lines": [line.strip() for line in beat.lines],
        "focus": list(beat.focus),
        "path": list(beat.path),
        "shows": [list(pair) for pair in beat.shows],
        "known": known,
    }
    if run is not None:
        out["checks"] = checks(case, beat, run)
        out["note"] = "" if out["checks"] else NOT_REPORTED.get(beat.stage, "")
    return out


def checks(case: Case, beat: Beat, run) -> list[dict]:
    """Every backend's value of every number of the beat that backends report."""
    rows = []
    for c in run.comparisons:
        if c.status not in ("pass", "fail") or c.result is None:
            continue
        for probe in beat.probes:
            got = reported(c.result, probe)
            if got is None:
                continue
            rows.append(check_row(case, c, probe, got))
    return rows


def reported(result, probe: Probe):
    """The backend's value of a probe: a scalar, or the whole tensor; None where it does not
    report it (intermediates are optional) or reports it in another shape."""
    if probe.quantity == "loss":
        tensors = {"loss": result.loss}
    elif probe.quantity == "intermediates":
        tensors = result.intermediates or {}
    else:
        tensors = getattr(result, probe.quantity)
    try:  # intermediates are whatever the backend sent: only numbers of the right shape count
        values = np.asarray(tensors[probe.tensor], dtype=np.float64)
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    if probe.index is None:
        return values if values.shape == np.shape(probe.want) else None
    fits = values.ndim == len(probe.index) and all(
        0 <= i < n for i, n in zip(probe.index, values.shape, strict=True)
    )
    return values[probe.index] if fits else None


def check_row(case: Case, c, probe: Probe, got) -> dict:
    allowance = adam_allowance(case, c.tolerance.rtol, c.tolerance.atol) or {}
    more = extra(allowance, probe.quantity, probe.tensor)  # the report's own, entry by entry
    if probe.index is not None and np.ndim(more):
        more = np.asarray(more)[probe.index]
    ok, diff, allowed, excess = errors(got, probe.want, c.tolerance, more)
    where = probe.label
    if probe.index is None:  # a tensor: its worst entry speaks for it
        flat = int(np.argmax(excess.ravel())) if excess.size else 0
        index = tuple(int(i) for i in np.unravel_index(flat, excess.shape))
        entry = (
            case.scalar_label(probe.tensor, index)
            if probe.tensor[0] in "Wb"
            else (f"{probe.tensor}[{','.join(map(str, index))}]")
        )
        where = f"{probe.label}, worst entry {entry}"
        pick = (lambda a: np.asarray(a).ravel()[flat]) if excess.size else (lambda a: np.nan)
        got, want = pick(got), pick(probe.want)
        ok, diff, allowed, excess = bool(ok.all()), pick(diff), pick(allowed), pick(excess)
    else:
        want = probe.want
    bad = not bool(ok)
    row = {
        "who": c.backend,
        "what": where,
        "got": num(got),
        "want": num(want),
        "off": f"{float(diff):.3g}",
        "allowed": f"{float(allowed):.3g}",
        "ratio": f"{float(excess):.2g}",
        "bad": bad,
    }
    if bad and c.diagnosis is not None:
        row["why"] = c.diagnosis.summary()
    return row


def backends_block(run) -> str:
    rows = []
    for c in run.comparisons:
        version = f" {c.version}" if c.version else ""
        tol = f"rtol {c.tolerance.rtol:g}, atol {c.tolerance.atol:g}"
        text = f"{c.backend}{version}: {c.status.upper()}"
        if c.status in ("pass", "fail"):
            text += f" ({run.dtype}, tolerance {tol})"
        if c.message:
            text += f" — {c.message}"
        if c.diagnosis is not None:
            text += f". Why: {c.diagnosis.summary()}"
        rows.append(f"<li class='{esc(c.status)}'>{esc(text)}</li>")
    return (
        "<section class='backends'><h2>Backends beside the reference</h2><ul>"
        + "".join(rows)
        + "</ul></section>"
    )


# The diagram: ids the beats name (n<layer>-<j> neurons, e<layer>-<i>-<j> edges) and labels
# whose text the beats set (v- values, d- deltas, w- weights, g- gradients, "error").

COLUMN, ROW, RADIUS = 300, 160, 36


def network_svg(case: Case) -> str:
    names, params = neuron_names(case), case.parameters()
    tallest = max(case.layers)
    width, height = 80 + COLUMN * case.depth + 250, ROW * tallest

    def at(layer, j):
        top = (tallest - case.layers[layer]) * ROW / 2
        return 80 + COLUMN * layer, 60 + top + ROW * j

    parts = [
        f"<svg id='network' viewBox='0 0 {width} {height}' role='img' "
        f"aria-label='the network, neuron by neuron'>"
    ]
    labels = []
    for layer in range(1, case.depth + 1):
        W = params[f"W{layer}"]
        for i, j in np.ndindex(W.shape):
            (x0, y0), (x1, y1) = at(layer - 1, i), at(layer, j)
            key = f"e{layer}-{i}-{j}"
            parts.append(
                f"<line class='edge' id='{key}' x1='{x0}' y1='{y0:g}' x2='{x1}' y2='{y1:g}'/>"
            )
            t = 0.5 + 0.25 * np.sign(y1 - y0) if W.shape[1] > 1 else 0.5
            lx, ly = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
            name = case.scalar_label(f"W{layer}", (i, j))
            labels.append(label(f"w-{key}", lx, ly - 4, f"{name} = {num(W[i, j])}"))
            labels.append(label(f"g-{key}", lx, ly + 12, "", "grad"))
    for layer, count in enumerate(case.layers):
        for j in range(count):
            x, y = at(layer, j)
            key = f"n{layer}-{j}"
            value = num(case.inputs[0, j]) if layer == 0 else ""
            parts.append(
                f"<g class='neuron' id='{key}'><circle cx='{x}' cy='{y:g}' r='{RADIUS}'/>"
                f"<text class='name{' long' * (len(names[layer][j]) > 4)}' x='{x}' "
                f"y='{y - 6:g}'>{esc(names[layer][j])}</text>"
                f"</g>"
            )
            labels.append(label(f"v-{key}", x, y + 12, value, "value"))
            if layer:
                labels.append(label(f"d-{key}", x, y + RADIUS + 16, "", "grad"))
    for j in range(case.layers[-1]):
        x, y = at(case.depth, j)
        labels.append(
            label(
                f"t-{j}",
                x + RADIUS + 8,
                y + 4,
                f"actual = {num(case.targets[0, j])}",
                "target",
                "start",
            )
        )
    x, y = at(case.depth, 0)
    labels.append(label("error", x + RADIUS + 8, y + 22, "", "error", "start"))
    return "".join(parts + labels) + "</svg>"


def label(key, x, y, text, kind="weight", anchor="middle") -> str:
    return (
        f"<text class='label {kind}' id='{key}' data-label='' x='{x:.1f}' y='{y:.1f}' "
        f"text-anchor='{anchor}'>{esc(text)}</text>"
    )


def layers_svg(case: Case) -> str:
    """Larger or batched networks: one box per layer, one arrow per weight matrix."""
    batch, names = case.inputs.shape[0], ["X (inputs)"]
    names += [f"a{layer}: {act}" for layer, act in enumerate(case.activations, start=1)]
    weights = [
        f"W{layer}" + (f", b{layer}" if case.biases is not None else "")
        for layer in range(1, case.depth + 1)
    ]
    return boxes_svg(
        [(what, f"{batch}×{n}") for what, n in zip(names, case.layers, strict=True)], 260, weights
    )


def stack_svg(case: Case) -> str:
    """A layer stack: one box per layer (its kind and output shape), an arrow into each."""
    fwd = forward(case, case.parameters(), case.inputs, case.targets)
    names = ["X (inputs)"] + [f"{k}: {layer.kind}" for k, layer in enumerate(case.stack, 1)]
    shapes = ["×".join(map(str, np.shape(a))) for a in fwd.outputs]
    return boxes_svg(list(zip(names, shapes, strict=True)), 170)


def boxes_svg(boxes: list, step: int, weights: list | None = None) -> str:
    """(name, size) boxes left to right — n<k> each, its value label v-n<k> — and the arrow e<k>
    into each after the first, with its weights' label w-e<k> and gradient label g-e<k>."""
    width = step * (len(boxes) - 1) + 160
    parts = [
        f"<svg id='network' viewBox='0 0 {width} 210' role='img' "
        f"aria-label='the network, layer by layer'>"
    ]
    for k, (what, size) in enumerate(boxes):
        x = 20 + step * k
        parts.append(
            f"<g class='neuron' id='n{k}'><rect x='{x}' y='40' width='120' height='90' rx='8'/>"
            f"<text class='name' x='{x + 60}' y='68'>{esc(what)}</text>"
            f"<text class='label value' x='{x + 60}' y='90' text-anchor='middle'>"
            f"{esc(size)}</text></g>"
        )
        parts.append(label(f"v-n{k}", x + 60, 114, "", "value"))
        if k:
            x0 = x - step + 120
            parts.append(f"<line class='edge' id='e{k}' x1='{x0}' y1='85' x2='{x}' y2='85'/>")
            if weights:
                parts.append(label(f"w-e{k}", (x0 + x) / 2, 76, weights[k - 1]))
            parts.append(label(f"g-e{k}", (x0 + x) / 2, 160, "", "grad"))
    parts.append(label("error", 20, 196, "", "error", "start"))
    return "".join(parts) + "</svg>"


def curve_points(case: Case, found: list[Beat]) -> list[list[float]]:
    losses = [float(b.probes[0].want) for b in found if b.stage == "error"]
    width, height, left, right = CURVE
    low, high = min(losses), max(losses)
    span = high - low or 1.0
    points = []
    for k, loss in enumerate(losses):
        x = left + (width - left - right) * k / max(len(losses) - 1, 1)
        y = 12 + (height - 40) * (high - loss) / span
        points.append([round(x, 2), round(y, 2)])
    return points


def curve_svg(case: Case, found: list[Beat]) -> str:
    losses = [float(b.probes[0].want) for b in found if b.stage == "error"]
    width, height, left, right = CURVE
    bottom = height - 28
    return (
        f"<svg id='curve' viewBox='0 0 {width} {height}' role='img' aria-label='the loss curve'>"
        f"<line class='axis' x1='{left}' y1='{bottom}' x2='{width - right}' y2='{bottom}'/>"
        f"<line class='axis' x1='{left}' y1='8' x2='{left}' y2='{bottom}'/>"
        f"<text class='tick' x='{left - 4}' y='16' text-anchor='end'>{max(losses):.4g}</text>"
        f"<text class='tick' x='{left - 4}' y='{bottom}' text-anchor='end'>"
        f"{min(losses):.4g}</text>"
        f"<text class='tick' x='{(width + left) / 2:g}' y='{height - 6}' text-anchor='middle'>"
        f"Error before each step (0 … {case.steps})</text>"
        "<polyline id='loss-line' points=''/><circle id='loss-dot' r='4' cx='-10' cy='-10'/>"
        "</svg>"
    )


def attention_svg(case: Case) -> str:
    """Each attention layer's weights P for sample 0, one heat map per head (rows: queries,
    columns: keys; the darker, the more weight; a masked key grey) — the reference's at the
    case's initial parameters. Fused kernels keep their weights to themselves: an engine's
    are not drawn, its gradients are held to these."""
    from backprop_crosscheck.comparisons.explain.stack_walkthrough import attention_in
    from backprop_crosscheck.reference.network import forward

    fwd = forward(case, case.parameters(), case.inputs, case.targets)
    maps = [
        (inner, saved)
        for layer, kept in zip(case.stack, fwd.saved, strict=True)
        for saved, inner in attention_in(layer, kept)
    ]
    parts = []
    for inner, saved in maps:
        weights, allowed = saved.p[0], saved.allowed[0, 0]
        heads, tq, tk = weights.shape
        cell = max(4, min(24, 160 // max(tq, tk)))
        width, height = heads * (tk * cell + 12), tq * cell + 22
        parts.append(
            f"<svg class='attention' viewBox='0 0 {width} {height}' role='img' "
            f"aria-label='attention {esc(inner.label)}: the weights of sample 0, head by head'>"
            f"<text class='tick' x='0' y='12'>attention {esc(inner.label)}: P, sample 0, "
            f"{heads} head{'s' if heads > 1 else ''}</text>"
        )
        for h in range(heads):
            left = h * (tk * cell + 12)
            for i in range(tq):
                for j in range(tk):
                    w = weights[h, i, j]
                    fill = (
                        "#ddd"
                        if not allowed[i, j]
                        else f"rgba(40,90,200,{0 if np.isnan(w) else float(w):.3f})"
                    )
                    parts.append(
                        f"<rect x='{left + j * cell}' y='{18 + i * cell}' width='{cell - 1}' "
                        f"height='{cell - 1}' fill='{fill}'><title>P[{i},{j}] = {w:.6g}"
                        "</title></rect>"
                    )
        parts.append("</svg>")
    return "".join(parts)
