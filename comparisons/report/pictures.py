"""Pictures: the network diagram with its forward and backward values, and trajectory plots.

matplotlib is optional (``pip install 'backprop-crosscheck[plot]'``); it is imported only here,
and only when a picture is asked for. Output is deterministic: a fixed SVG hash salt, no dates
or software versions in the metadata, text kept as text (so an SVG can be searched for its
numbers), and matplotlib's bundled DejaVu Sans font.
"""

import numpy as np
from backprop_crosscheck.comparisons.report import output_files
from backprop_crosscheck.reference import Case, train
from backprop_crosscheck.reference.cases.names import neuron_names, shown_per_neuron
from backprop_crosscheck.reference.network import backward_pass, forward

INSTALL = "pip install matplotlib  (or: pip install 'backprop-crosscheck[plot]')"
STYLE = {
    "svg.hashsalt": "backprop-crosscheck",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
}
FORMATS = (".svg", ".png")


class PictureError(Exception):
    """A picture cannot be made (matplotlib missing, unknown file type): one line, exit 2."""


def _matplotlib():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise PictureError(f"pictures need matplotlib, which is not installed: {INSTALL}") from None
    return matplotlib, Figure


def save(fig, path: str, option: str) -> None:
    kind = "svg" if str(path).lower().endswith(".svg") else "png"
    metadata = {"Date": None, "Creator": None} if kind == "svg" else {"Software": None}

    def write(f):
        fig.savefig(f, format=kind, metadata=metadata, dpi=150)

    output_files.write_file(path, option, write, binary=True)


def fmt(x) -> str:
    return f"{float(x):.7g}"


def diagram(case: Case, path: str) -> None:
    """The network as the article draws it, every neuron and edge with its numbers."""
    output_files.check_target(path, "--diagram", FORMATS)
    matplotlib, Figure = _matplotlib()
    with matplotlib.rc_context(STYLE):
        if shown_per_neuron(case):
            fig = _scalar_diagram(Figure, case)
        else:
            fig = _layer_diagram(Figure, case)
        save(fig, path, "--diagram")


def _scalar_diagram(Figure, case: Case):
    params, result = case.parameters(), train(case)
    fwd = forward(case, params, case.inputs, case.targets)
    names = neuron_names(case)
    tallest = max(case.layers)
    width, height = len(case.layers) + 0.6, tallest + 0.6
    fig = Figure(figsize=(2.6 * width, 2.6 * height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-0.7, len(case.layers) - 0.1)
    ax.set_ylim(-0.5, tallest + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")

    def y(layer, j):
        return (tallest - case.layers[layer]) / 2 + (case.layers[layer] - 1 - j) + 0.5

    _draw_edges(ax, case, params, result, y)
    for layer, width in enumerate(case.layers):
        for j in range(width):
            value = fwd.a[layer][0, j]
            ax.add_patch(matplotlib_circle(layer, y(layer, j)))
            text = f"{names[layer][j]}\n{fmt(value)}"
            if layer > 0 and f"b{layer}" in params:
                text += f"\nb = {fmt(params[f'b{layer}'][j])}"
            ax.text(layer, y(layer, j), text, ha="center", va="center", fontsize=8, zorder=5)
    out = case.layers[-1]
    dE_dout = backward_pass(case, params, fwd, case.targets).dE_da[case.depth]
    for j in range(out):
        t = case.targets[0, j]
        # the article's Δ = prediction − actual is dE/dprediction for half_sse; other losses
        # show their own dE/dprediction (cross-entropy: softmax or σ of the logits, minus t)
        d = (
            f"Δ = {fmt(dE_dout[0, j])}"
            if case.loss == "half_sse"
            else (f"dE/dout = {fmt(dE_dout[0, j])}")
        )
        ax.text(
            len(case.layers) - 0.72,
            y(case.depth, j),
            f"actual = {fmt(t)}\n{d}",
            ha="left",
            va="center",
            fontsize=8,
        )
    rule = "" if case.optimizer.name == "sgd" else f", {case.optimizer.name}"  # w* by its rule
    how = f"{case.loss}{rule}, learning rate {fmt(case.learning_rate)}"
    footer = f"Error = {fmt(fwd.loss)}   ({how})   next Error = {fmt(result.loss[1])}"
    ax.text(-0.65, -0.35, footer, ha="left", fontsize=9)
    return fig


def _draw_edges(ax, case: Case, params: dict, result, y) -> None:
    """Every weight as an edge, labelled with its value, its gradient and its new value."""
    for layer in range(1, case.depth + 1):
        W = params[f"W{layer}"]
        for i in range(W.shape[0]):
            for j in range(W.shape[1]):
                x0, y0, x1, y1 = layer - 1, y(layer - 1, i), layer, y(layer, j)
                ax.plot([x0, x1], [y0, y1], color="#888888", lw=1, zorder=1)
                # where edges cross (several targets), labels slide apart along their edges
                t = 0.5 + 0.2 * np.sign(y1 - y0) if W.shape[1] > 1 else 0.5
                label = case.scalar_label(f"W{layer}", (i, j))
                grad = result.gradients[f"W{layer}"][i, j]
                new = result.updated[f"W{layer}"][i, j]
                text = f"{label} = {fmt(W[i, j])}\n∂E/∂{label} = {fmt(grad)}\n{label}* = {fmt(new)}"
                ax.text(
                    x0 + t * (x1 - x0),
                    y0 + t * (y1 - y0),
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    zorder=3,
                    bbox={"fc": "white", "ec": "#cccccc", "pad": 1.5},
                )


def matplotlib_circle(x, y):
    from matplotlib.patches import Circle

    return Circle((x, y), 0.2, fc="#e8f0fe", ec="#3366aa", lw=1.2, zorder=4)


def _layer_diagram(Figure, case: Case):
    """One box per layer, one arrow per weight tensor with its gradient's size."""
    from matplotlib.patches import FancyBboxPatch

    result = train(case)
    fig = Figure(figsize=(3.0 * len(case.layers), 3.2))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-0.6, len(case.layers) - 0.4)
    ax.set_ylim(-0.9, 1.2)
    ax.axis("off")
    for layer, width in enumerate(case.layers):
        ax.add_patch(
            FancyBboxPatch(
                (layer - 0.3, 0.1), 0.6, 0.8, boxstyle="round,pad=0.02", fc="#e8f0fe", ec="#3366aa"
            )
        )
        what = "inputs" if layer == 0 else case.activations[layer - 1]
        ax.text(layer, 0.5, f"{width} neurons\n{what}", ha="center", va="center")
    for layer in range(1, case.depth + 1):
        g = result.gradients[f"W{layer}"]
        ax.annotate(
            "", xy=(layer - 0.3, 0.5), xytext=(layer - 0.7, 0.5), arrowprops={"arrowstyle": "->"}
        )
        text = (
            f"W{layer} {g.shape[0]}×{g.shape[1]}\n‖∂E/∂W{layer}‖ = {fmt(np.linalg.norm(g))}"
            f"\nmax |∂E/∂W| = {fmt(np.abs(g).max())}"
        )
        ax.text(layer - 0.5, -0.1, text, ha="center", va="top", fontsize=8)
    title = f"{case.name}: batch {case.inputs.shape[0]}, {case.loss} = {fmt(result.loss[0])}"
    ax.text(-0.55, 1.05, f"{title} → {fmt(result.loss[1])} after one step", ha="left")
    return fig


def trajectory_plot(runs, path: str) -> None:
    """Per run (case × dtype): the loss per step of every backend over the reference's, and
    |backend − reference| per step on a log scale — where float32 drift shows."""
    output_files.check_target(path, "--plot", FORMATS)
    matplotlib, Figure = _matplotlib()
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(5.0 * len(runs), 6.0))
        axes = fig.subplots(2, len(runs), squeeze=False)
        for col, run in enumerate(runs):
            top, bottom = axes[0][col], axes[1][col]
            steps = np.arange(len(run.reference.loss))
            top.plot(steps, run.reference.loss, color="black", lw=3, alpha=0.35, label="reference")
            for c in run.comparisons:
                if c.result is None or np.shape(c.result.loss) != np.shape(run.reference.loss):
                    continue
                loss = np.asarray(c.result.loss, dtype=np.float64)
                top.plot(steps, loss, marker=".", lw=1, label=c.backend)
                err = np.abs(loss - run.reference.loss)
                err = np.where(err > 0, err, np.nan)  # exact agreement: nothing to draw
                bottom.semilogy(steps, err, marker=".", lw=1, label=c.backend)
            top.set_title(f"{run.case.name} · {run.dtype}")
            top.set_ylabel("loss")
            top.legend(fontsize=7)
            tol = run.tolerance
            allowed = tol.atol + tol.rtol * np.abs(run.reference.loss)
            bottom.semilogy(
                steps, allowed, color="grey", ls="--", lw=1, label="allowed (default tolerance)"
            )
            bottom.set_ylabel("|backend − reference| of the loss (exact: not drawn)")
            bottom.set_xlabel("step")
            bottom.legend(fontsize=7)
        fig.tight_layout()
        save(fig, path, "--plot")


SCALE = 0.01  # a value below this share of its tensor's largest is measured against that
FLOOR = 1e-6  # and a tensor of exact zeros (a masked input's gradient) against this
EXACT = 1e-18  # where an exact agreement is drawn on the log scale


def ladder_errors(runs) -> dict[str, dict[str, np.ndarray]]:
    """{engine: {dtype: every relative error of its runs}}: |backend − reference| over the
    reference's |value| — or over a hundredth of its tensor's largest where the value is smaller
    (a sum that cancels to nearly 0 has no relative error worth reading), at least FLOOR —
    every loss, gradient and parameter value of every case."""
    found = {}
    for run in runs:
        for c in run.comparisons:
            if c.result is None or c.status not in ("pass", "fail"):
                continue
            errors = []
            for want, got in _values(run.reference, c.result):
                want, got = np.asarray(want, np.float64), np.asarray(got, np.float64)
                if want.shape == got.shape and want.size:
                    floor = max(SCALE * np.abs(want).max(), FLOOR)
                    scale = np.maximum(np.abs(want), floor)
                    errors.append((np.abs(got - want) / scale).ravel())
            by_dtype = found.setdefault(c.backend, {})
            by_dtype[run.dtype] = np.concatenate([by_dtype.get(run.dtype, []), *errors])
    return found


def _values(reference, result):
    yield reference.loss, result.loss
    for what in ("gradients", "updated", "final"):
        theirs = getattr(result, what)
        for name, want in getattr(reference, what).items():
            if name in theirs:
                yield want, theirs[name]


def ladder_plot(runs, path: str) -> None:
    """The precision ladder: per engine, the distribution of its relative errors against the
    float64 reference in each dtype (a box: the middle half; whiskers: 1st to 99th percentile;
    a cross: the worst), each dtype's unit roundoff a dashed line — at a glance how far each
    engine's bfloat16 is from exact."""
    from backprop_crosscheck.reference.precision import DTYPES, unit_roundoff

    output_files.check_target(path, "--ladder", FORMATS)
    matplotlib, Figure = _matplotlib()
    errors = ladder_errors(runs)
    dtypes = [d for d in DTYPES if any(d in e for e in errors.values())]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(1.2 + 1.4 * len(dtypes), 1.0 + 1.6 * max(len(errors), 1)))
        axes = fig.subplots(max(len(errors), 1), 1, squeeze=False, sharex=True)
        for row, (engine, by_dtype) in enumerate(sorted(errors.items())):
            ax = axes[row][0]
            for x, dtype in enumerate(dtypes):
                ax.axhline(unit_roundoff(dtype), color="grey", lw=0.6, ls="--")
                if dtype not in by_dtype:
                    continue
                e = np.maximum(by_dtype[dtype], EXACT)
                low, q1, q3, high = np.percentile(e, [1, 25, 75, 99])
                ax.vlines(x, low, high, color="black", lw=1)
                ax.fill_between([x - 0.3, x + 0.3], q1, q3, color="tab:blue", alpha=0.6)
                ax.plot([x - 0.3, x + 0.3], [np.median(e)] * 2, color="black", lw=1.5)
                ax.plot(x, e.max(), marker="x", color="tab:red")
            ax.set_yscale("log")
            ax.set_ylabel(f"{engine}\nrelative error")
        axes[-1][0].set_xticks(range(len(dtypes)), dtypes)
        cases = sorted({r.case.name for r in runs})
        axes[0][0].set_title(
            f"precision ladder: {len(cases)} case{'s' if len(cases) > 1 else ''} "
            "(dashed: each dtype's unit roundoff)"
        )
        fig.tight_layout()
        save(fig, path, "--ladder")
