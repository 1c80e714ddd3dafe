"""The text and Markdown reports, rendered with tabulate from the runs' comparisons alone."""

import numpy as np
from backprop_crosscheck.comparisons.judge.compare import QUANTITIES, quantity_of
from backprop_crosscheck.comparisons.judge.tolerance import modelled
from backprop_crosscheck.comparisons.run import Run, verdict
from backprop_crosscheck.reference.cases.names import (
    neuron_names,
    shown_per_neuron,
    shown_per_scalar,
)
from backprop_crosscheck.reference.network import forward
from tabulate import tabulate

STATUS = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP", "error": "ERROR", "unsupported": "n/a"}
SUMMARY = ["backend", "version", "status", *QUANTITIES, "max rel", "rtol / atol", "worst"]
HVP_SUMMARY = ["backend", "how", "status", "max abs", "max rel", "rtol / atol", "worst"]


def fmt(x) -> str:
    return f"{float(x):.10g}"


def err(x) -> str:
    return f"{float(x):.2e}" if x else "0"


def reference_tensors(run: Run, quantity: str) -> dict:
    return run.hvp.reference if quantity == "hvp" else quantity_of(run.reference, quantity)


def backend_tensors(c, quantity: str) -> dict:
    return c.hvp if quantity == "hvp" else quantity_of(c.result, quantity)


def first_numbers(a, count: int = 4) -> str:
    values = np.asarray(a[0]).ravel()
    more = " …" if values.size > count else ""
    return ", ".join(fmt(v) for v in values[:count]) + more


def tolerance(c) -> str:
    return f"{c.tolerance.rtol:g} / {c.tolerance.atol:g}"


class ValueTables:
    """The report's tables of numbers: the forward pass, and each quantity's values per
    backend beside the reference's (a part of Renderer)."""

    def forward_table(self, case) -> str:
        """Every neuron's value, the Error and Δ: the article's first numbers."""
        fwd = forward(case, case.parameters(), case.inputs, case.targets)
        names = neuron_names(case)
        rows = [
            [names[layer][j], fmt(a[0, j])]
            for layer, a in enumerate(fwd.a)
            for j in range(a.shape[1])
        ]
        rows.append(["Error", fmt(fwd.loss)])
        for j, name in enumerate(names[-1]):
            delta = fwd.prediction[0, j] - case.targets[0, j]
            rows.append(["Δ" if len(names[-1]) == 1 else f"Δ ({name})", fmt(delta)])
        return self.table(rows, ["neuron", "value"])

    def stack_table(self, case) -> str:
        """A layer stack's layers, each with its output's shape and first numbers."""
        fwd = forward(case, case.parameters(), case.inputs, case.targets)
        x = fwd.outputs[0]
        rows = [["input", "", "×".join(map(str, x.shape)), first_numbers(x)]]
        for layer, a in zip(case.stack, fwd.outputs[1:], strict=True):
            rows.append(
                [layer.label, layer.describe(), "×".join(map(str, a.shape)), first_numbers(a)]
            )
        rows.append(["Error", case.loss, "", fmt(fwd.loss)])
        return self.table(rows, ["layer", "kind", "output", "first values (sample 0)"])

    def values_table(self, run, ran, quantity) -> str:
        headers = ["parameter" if quantity != "loss" else "step", "reference"]
        headers += [c.backend for c in ran]
        bad = {c.backend: {(m.quantity, m.label) for m in c.agreement.mismatches} for c in ran}
        rows = []
        for name, ref in reference_tensors(run, quantity).items():
            for index in np.ndindex(ref.shape):
                label = str(index[0]) if quantity == "loss" else run.case.scalar_label(name, index)
                key = f"loss[step {index[0]}]" if quantity == "loss" else label
                row = [label, fmt(ref[index])]
                for c in ran:
                    theirs = backend_tensors(c, quantity).get(name)
                    if theirs is None:  # not returned (a learner's dE/dX): not compared
                        row.append("—")
                        continue
                    value = fmt(theirs[index])
                    row.append(value + (" ✗" if (quantity, key) in bad[c.backend] else ""))
                rows.append(row)
        if quantity != "loss" and run.case.aliases:
            aliases = list(run.case.aliases)  # the case's own order: the article's w1 … w6
            rows.sort(key=lambda r: aliases.index(r[0]) if r[0] in aliases else len(aliases))
        return self.table(rows, headers)

    def tensor_table(self, run, ran, quantities=QUANTITIES) -> str:
        """Per tensor, each backend's max abs / rel error (from its agreement), ✗ if off."""
        headers = ["quantity", "tensor"] + [f"{c.backend} abs / rel" for c in ran]
        rows = []
        for quantity in quantities:
            for name in reference_tensors(run, quantity):
                row = [quantity, name]
                for c in ran:
                    if (quantity, name) not in c.agreement.per_tensor:
                        row.append("—")
                        continue
                    abs_error, rel_error = c.agreement.per_tensor[(quantity, name)]
                    bad, _ = c.agreement.counts[(quantity, name)]
                    row.append(f"{err(abs_error)} / {err(rel_error)}{' ✗' if bad else ''}")
                rows.append(row)
        return self.table(rows, headers)


class Renderer(ValueTables):
    def __init__(self, markdown: bool = False, verbose: bool = False):
        self.markdown, self.verbose = markdown, verbose
        self.fmt = "github" if markdown else "simple"

    def heading(self, text: str, level: int = 2) -> str:
        if self.markdown:
            return f"{'#' * level} {text}"
        return f"=== {text} ===" if level == 2 else f"{text}:"

    def table(self, rows, headers) -> str:
        return tabulate(rows, headers=headers, tablefmt=self.fmt, disable_numparse=True)

    def bullets(self, lines: list[str]) -> list[str]:
        if not lines:
            return []
        return ["\n".join(f"- {n}" if self.markdown else f"  {n}" for n in lines)]

    def render(self, runs: list[Run]) -> str:
        blocks = [self.run(r) for r in runs]
        passed, warnings = verdict(runs)
        bold = "**" if self.markdown else ""
        blocks += [f"{bold}warning: {w}{bold}" for w in warnings]
        blocks.append(f"{bold}verdict: {'PASS' if passed else 'FAIL'}{bold}")
        return "\n\n".join(blocks) + "\n"

    def run(self, run: Run) -> str:
        case = run.case
        plural = "s" if case.steps != 1 else ""
        title = (
            f"{case.name} · {run.dtype} · {run.device} · {case.steps} step{plural}"
            f" · {case.parameter_count} parameters"
        )
        out = [self.heading(title)] + ([] if case.mixed is None else [mixed_words(case)])
        if not case.dense:
            out += [self.heading("Layers (reference forward pass)", 3), self.stack_table(case)]
        elif shown_per_neuron(case) and case.mixed is None:  # the float64 forward
            out += [self.heading("Forward pass (reference)", 3), self.forward_table(case)]
        out += self.value_sections(run)
        out += [self.heading("Summary", 3), self.summary(run)]
        out += self.bullets(self.notes(run.comparisons))
        if run.hvp is not None:
            out += self.hvp_section(run)
        return "\n\n".join(out)

    def value_sections(self, run: Run) -> list[str]:
        case, ran = run.case, ran_of(run.comparisons)
        if not shown_per_scalar(case):
            return [self.heading("Max abs / rel error per tensor", 3), self.tensor_table(run, ran)]
        sections = [
            ("Loss per step", "loss"),
            ("Gradients dE/dparameter (first step)", "gradients"),
            ("Parameters after the first update", "updated"),
        ]
        if case.steps > 1:
            sections.append((f"Parameters after step {case.steps}", "final"))
        out = []
        for title, quantity in sections:
            out += [self.heading(title, 3), self.values_table(run, ran, quantity)]
        if run.reference.scale is not None:
            out += [self.heading("Loss scale before each step (dynamic)", 3), self.scales(run, ran)]
        return out

    def scales(self, run, ran) -> str:
        """The loss scale step by step: the reference's and each backend's (✗ where it differs:
        the step whose overflow the backend decided otherwise came before it)."""
        rows = []
        for t, want in enumerate(run.reference.scale):
            row = [str(t), f"{want:.10g}"]
            for c in ran:
                theirs = c.result.scale
                got = theirs[t] if theirs is not None and len(theirs) > t else np.nan
                row.append(f"{got:.10g}" + ("" if got == want else " ✗"))
            rows.append(row)
        return self.table(rows, ["step", "reference", *(c.backend for c in ran)])

    def notes(self, comparisons) -> list[str]:
        """Each backend's message, what it printed, and why its tolerance is looser."""
        notes = []
        for c in comparisons:
            if c.message:
                prefixed = c.message.startswith(f"{c.backend}:")
                notes.append(c.message if prefixed else f"{c.backend}: {c.message}")
            if c.diagnosis is not None:
                notes.append(f"{c.backend}: diagnosis: {c.diagnosis.summary()}")
            if c.output:
                lines = c.output.splitlines()
                more = f" … ({len(lines)} lines; all in --format json)" if len(lines) > 1 else ""
                notes.append(f"{c.backend} printed: {lines[0][:100]}{more}")
            if c.trace and self.verbose:
                notes.append(f"{c.backend}: where it raised:")
                notes += [f"    {line}" for line in c.trace.splitlines()]
            if c.tolerance_reason and c.agreement is not None:
                notes.append(f"{c.backend}: tolerance {tolerance(c)} because {c.tolerance_reason}")
        return notes

    def hvp_section(self, run: Run) -> list[str]:
        check = run.hvp
        ran = ran_of(check.comparisons)
        out = [self.heading(f"Hessian-vector product H·v (direction: seed {check.seed})", 3)]
        if shown_per_scalar(run.case):
            out.append(self.values_table(run, ran, "hvp"))
        else:
            out.append(self.tensor_table(run, ran, ("hvp",)))
        rows = []
        for c in check.comparisons:
            a = c.agreement
            rows.append(
                [
                    c.backend,
                    c.method,
                    STATUS[c.status],
                    err(a.max_abs_error["hvp"]) if a else "",
                    err(a.max_rel_error["hvp"]) if a else "",
                    tolerance(c),
                    f"{a.worst} ({a.worst_ratio:.2g}× tol)" if a and a.worst_ratio > 0 else "",
                ]
            )
        out.append(self.table(rows, HVP_SUMMARY))
        return out + self.bullets(
            self.notes([c for c in check.comparisons if c.status != "unsupported"])
        )

    def summary(self, run) -> str:
        rows = []
        for c in run.comparisons:
            a = c.agreement
            errors = [err(a.max_abs_error[q]) for q in QUANTITIES] if a else [""] * 4
            worst = ""
            if a and a.worst_ratio > 0:
                worst = f"{a.worst} ({a.worst_quantity}, {a.worst_ratio:.2g}× tol)"
            max_rel = err(max(a.max_rel_error.values())) if a else ""
            rows.append(
                [
                    c.backend,
                    c.version or "-",
                    STATUS[c.status],
                    *errors,
                    max_rel,
                    tolerance(c),
                    worst,
                ]
            )
        legend = "\n  (loss … final: max abs error against the float64 reference)"
        return self.table(rows, SUMMARY) + ("" if self.markdown else legend)


def mixed_words(case) -> str:
    """A mixed-precision case's line under its heading: what it is, what it is held to."""
    tol = modelled(case.mixed.compute, case)
    return (
        f"{case.mixed}. The parameters are held to float32's tolerance; the loss and gradients "
        f"to {case.mixed.compute}'s too (rtol {tol.rtol:.3g}, atol {tol.atol:.3g}), carried "
        "through the update (docs/tolerances.md#mixed-precision)."
    )


def ran_of(comparisons) -> list:
    """The comparisons that produced values to show."""
    return [c for c in comparisons if c.agreement is not None]


def render_text(runs: list[Run], verbose: bool = False) -> str:
    return Renderer(markdown=False, verbose=verbose).render(runs)


def render_markdown(runs: list[Run], verbose: bool = False) -> str:
    return Renderer(markdown=True, verbose=verbose).render(runs)
