"""The text and Markdown reports, rendered with tabulate."""

import numpy as np
from tabulate import tabulate

from comparisons.compare import tensors_of
from comparisons.explain import neuron_names
from comparisons.runner import Run
from reference.network import forward

SMALL = 64  # networks with at most this many parameters get one row per parameter
STATUS = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP", "error": "ERROR", "unsupported": "n/a"}


def reference_tensors(run: Run, quantity: str) -> dict:
    return run.hvp.reference if quantity == "hvp" else tensors_of(run.reference, quantity)


def backend_tensors(c, quantity: str) -> dict:
    return c.hvp if quantity == "hvp" else tensors_of(c.result, quantity)


def fmt(x) -> str:
    return f"{float(x):.10g}"


def err(x) -> str:
    return f"{float(x):.2e}" if x else "0"


def get_backend_capability(name: str) -> str:
    from backends import get_backend

    return get_backend(name).capabilities.hvp or "-"


class Renderer:
    def __init__(self, markdown: bool = False):
        self.markdown = markdown
        self.fmt = "github" if markdown else "simple"

    def heading(self, text: str, level: int = 2) -> str:
        if self.markdown:
            return f"{'#' * level} {text}"
        return f"=== {text} ===" if level == 2 else f"{text}:"

    def table(self, rows, headers) -> str:
        return tabulate(rows, headers=headers, tablefmt=self.fmt, disable_numparse=True)

    def render(self, runs: list[Run]) -> str:
        blocks = [self.run(r) for r in runs]
        verdict = "PASS" if all(r.passed for r in runs) else "FAIL"
        blocks.append(
            f"{'**' if self.markdown else ''}verdict: {verdict}{'**' if self.markdown else ''}"
        )
        return "\n\n".join(blocks) + "\n"

    def run(self, run: Run) -> str:
        case = run.case
        title = (
            f"{case.name} · {run.dtype} · {run.device} · {case.steps} step"
            f"{'s' if case.steps != 1 else ''} · {case.parameter_count} parameters"
        )
        out = [self.heading(title)]
        ran = [c for c in run.comparisons if c.agreement is not None]
        if case.parameter_count <= SMALL and case.inputs.shape[0] == 1:
            out.append(self.heading("Forward pass (reference)", 3))
            out.append(self.forward_table(case))
        if case.parameter_count <= SMALL:
            out.append(self.heading("Loss per step", 3))
            out.append(self.values_table(run, ran, "loss"))
            out.append(self.heading("Gradients dE/dparameter (first step)", 3))
            out.append(self.values_table(run, ran, "gradients"))
            out.append(self.heading("Parameters after the first update", 3))
            out.append(self.values_table(run, ran, "updated"))
            if case.steps > 1:
                out.append(self.heading(f"Parameters after step {case.steps}", 3))
                out.append(self.values_table(run, ran, "final"))
        else:
            out.append(self.heading("Max abs / rel error per tensor", 3))
            out.append(self.tensor_table(run, ran))
        out.append(self.heading("Summary", 3))
        out.append(self.summary(run))
        out += self.notes(run.comparisons)
        if run.hvp is not None:
            out += self.hvp_section(run)
        return "\n\n".join(out)

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

    def notes(self, comparisons) -> list[str]:
        notes = [
            c.message if c.message.startswith(f"{c.backend}:") else f"{c.backend}: {c.message}"
            for c in comparisons
            if c.message
        ]
        if not notes:
            return []
        return ["\n".join(f"- {n}" if self.markdown else f"  {n}" for n in notes)]

    def hvp_section(self, run: Run) -> list[str]:
        check = run.hvp
        ran = [c for c in check.comparisons if c.agreement is not None]
        out = [self.heading(f"Hessian-vector product H·v (direction: seed {check.seed})", 3)]
        if run.case.parameter_count <= SMALL:
            out.append(self.values_table(run, ran, "hvp"))
        else:
            out.append(self.tensor_table(run, ran, ("hvp",)))
        headers = ["backend", "how", "status", "max abs", "max rel", "rtol / atol", "worst"]
        rows = []
        for c in check.comparisons:
            a = c.agreement
            rows.append([
                c.backend,
                get_backend_capability(c.backend),
                STATUS[c.status],
                err(a.max_abs_error["hvp"]) if a else "",
                err(a.max_rel_error["hvp"]) if a else "",
                f"{c.tolerance.rtol:g} / {c.tolerance.atol:g}",
                f"{a.worst} ({a.worst_ratio:.2g}× tol)" if a and a.worst_ratio > 0 else "",
            ])  # fmt: skip
        out.append(self.table(rows, headers))
        return out + self.notes([c for c in check.comparisons if c.status != "unsupported"])

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
                    value = fmt(backend_tensors(c, quantity)[name][index])
                    row.append(value + (" ✗" if (quantity, key) in bad[c.backend] else ""))
                rows.append(row)
        if quantity != "loss" and run.case.aliases:
            aliases = list(run.case.aliases)  # the case's own order: the article's w1 … w6
            rows.sort(key=lambda r: aliases.index(r[0]) if r[0] in aliases else len(aliases))
        return self.table(rows, headers)

    def tensor_table(self, run, ran, quantities=("loss", "gradients", "updated", "final")) -> str:
        headers = ["quantity", "tensor"] + [f"{c.backend} abs / rel" for c in ran]
        rows = []
        for quantity in quantities:
            for name, ref in reference_tensors(run, quantity).items():
                row = [quantity, name]
                for c in ran:
                    got = np.asarray(backend_tensors(c, quantity)[name], dtype=np.float64)
                    with np.errstate(invalid="ignore", divide="ignore"):
                        diff = np.abs(got - ref)
                        rel = np.where(diff == 0, 0, diff / np.abs(ref))
                    mark = (
                        " ✗"
                        if any(
                            m.tensor == name and m.quantity == quantity
                            for m in c.agreement.mismatches
                        )
                        else ""
                    )
                    row.append(f"{err(np.max(diff))} / {err(np.max(rel))}{mark}")
                rows.append(row)
        return self.table(rows, headers)

    def summary(self, run) -> str:
        headers = [
            "backend",
            "version",
            "status",
            "loss",
            "gradients",
            "updated",
            "final",
            "max rel",
            "rtol / atol",
            "worst",
        ]
        rows = []
        for c in run.comparisons:
            a = c.agreement
            errors = (
                [err(a.max_abs_error[q]) for q in ("loss", "gradients", "updated", "final")]
                if a
                else [""] * 4
            )
            worst = (
                f"{a.worst} ({a.worst_quantity}, {a.worst_ratio:.2g}× tol)"
                if a and a.worst_ratio > 0
                else ""
            )
            rows.append(
                [
                    c.backend,
                    c.version or "-",
                    STATUS[c.status],
                    *errors,
                    err(max(a.max_rel_error.values())) if a else "",
                    f"{c.tolerance.rtol:g} / {c.tolerance.atol:g}",
                    worst,
                ]
            )
        return self.table(rows, headers) + (
            ""
            if self.markdown
            else "\n  (loss … final: max abs error against the float64 reference)"
        )


def render_text(runs: list[Run]) -> str:
    return Renderer(markdown=False).render(runs)


def render_markdown(runs: list[Run]) -> str:
    return Renderer(markdown=True).render(runs)
