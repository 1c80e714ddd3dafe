"""`crosscheck bench --peers`: the harness's verdict beside the tools a learner who wrote a
backward pass by hand would otherwise reach for — ``torch.autograd.gradcheck`` on a
``torch.autograd.Function`` whose backward is theirs, and ``jax.test_util.check_grads`` on a
``jax.custom_vjp`` function (issue #38, point 3).

For each built-in case (float64) and each listed mistake it can hold (reference/mistakes.py),
the hand-written backward is the reference's with that one mistake:

- gradcheck: the Function's forward is the case's loss at the initial parameters (the
  reference's forward pass), its backward the mistaken gradients; gradcheck holds it to its own
  central differences, every parameter entry. Timed from the call to its answer, torch already
  imported. Caught: it reports a mismatch. Named: never — it says which input's Jacobian is
  off, not what was done wrong.
- check_grads: the same loss and backward as a ``jax.custom_vjp`` (float64, JAX's x64 switch on
  around it alone), held by ``check_grads(…, order=1, modes=["rev"])`` to differences along
  random directions. Timed after one untimed call on the case (JAX's first call traces).
- the harness: what ``crosscheck check`` computes for a learner's file with that mistake — the
  reference's steps and the learner's (reference/mistakes.py ``train_with``), judged with the
  harness's tolerance and, when they differ, diagnosed. Timed in this process, no worker.
  Caught: FAIL. Named: the diagnosis names that mistake (or one it cannot be told from).

gradcheck sees one gradient at one point; the harness sees the case's whole trajectory — the
loss at every step, the first gradients, the updated and final parameters — so it also catches
the mistakes in the update (a learning rate applied twice, a frozen parameter moved, momentum
not carried). Each row says which caught it.
"""

import contextlib
import importlib
import importlib.util
import time

import numpy as np
from backprop_crosscheck.backends.numpy.reference import NumpyBackend
from backprop_crosscheck.comparisons.isolate.attempt import attempts
from backprop_crosscheck.comparisons.isolate.wire import result_of
from backprop_crosscheck.comparisons.judge.diagnosis import diagnose, forget_mistaken_runs
from backprop_crosscheck.comparisons.judge.judging import agreed
from backprop_crosscheck.comparisons.run import make_check
from backprop_crosscheck.reference.cases.file import builtin_case_names, load_case
from backprop_crosscheck.reference.mistakes import mistaken_gradients, mistakes_for, train_with
from backprop_crosscheck.reference.network import forward, inputs_of, train


class Mistaken(NumpyBackend):
    """A learner's backward with one mistake, as ``crosscheck check`` runs it: the reference
    (every layer, loss and optimizer it runs) with that one line changed."""

    def __init__(self, mistake: str):
        self.name = self.mistake = mistake

    def run(self, case, dtype, device="cpu"):
        return train_with(case, self.mistake, np.dtype(dtype))


def harness(case, mistake: str) -> dict:
    """The harness on a learner's run with ``mistake``: the seconds to its verdict (the
    reference's steps, the learner's, their agreement as the judge computes it), the seconds to
    its diagnosis after that, whether it failed the run and whether the diagnosis named the
    mistake. Each timed from the start: no time is the difference of two others."""
    backend = Mistaken(mistake)
    forget_mistaken_runs()  # a learner's `crosscheck check` diagnoses once: nothing kept
    start = time.perf_counter()
    check = make_check(case, "float64")
    tried, _ = attempts(backend, check)
    agree = diagnosis = None
    if tried.status == "answered":  # else the judge's "error": neither caught nor named
        got, tolerance = result_of(tried.value), check.tolerance(backend, 1)
        check, agree = agreed(backend, check, got, 1, tolerance)
    verdict_s = time.perf_counter() - start
    caught = agree is not None and not agree.passed
    if caught:
        with contextlib.suppress(Exception):  # as the judge does: the verdict stands without
            diagnosis = diagnose(case, check.reference, got, "float64", tolerance)
    return {
        "harness_s": verdict_s,
        "harness_named_s": time.perf_counter() - start,
        "harness_caught": caught,
        "harness_named": diagnosis is not None and mistake in (diagnosis.mistake, *diagnosis.also),
    }


def peer_cases() -> list[str]:
    """The built-in cases the peers run on: those with a float64 run (a mixed-precision case's
    masters are float32: float64 is n/a for it, for the harness as for a peer's check)."""
    return [name for name in builtin_case_names() if load_case(name).mixed is None]


def has_effect(case, mistake: str) -> bool:
    """Whether the mistake changes anything of the case's trajectory (a tanh mistake on a
    network without tanh does not: no tool can catch it there)."""
    right, wrong = train(case), train_with(case, mistake)
    pairs = [(right.loss, wrong.loss)] + [
        (getattr(right, q)[n], getattr(wrong, q)[n])
        for q in ("gradients", "updated", "final")
        for n in getattr(right, q)
    ]
    return any(not np.array_equal(a, b) for a, b in pairs)


def gradcheck(torch, case, mistake: str) -> tuple[float, bool]:
    """(seconds to gradcheck's answer, caught) for the hand-written backward with ``mistake``."""
    names = list(case.parameters())
    X, Y = inputs_of(case, np.float64), case.targets.astype(np.float64)

    class Hand(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *tensors):
            params = {n: t.detach().numpy() for n, t in zip(names, tensors, strict=True)}
            ctx.params = params
            return torch.tensor(forward(case, params, X, Y).loss, dtype=torch.float64)

        @staticmethod
        def backward(ctx, g):
            grads = mistaken_gradients(case, ctx.params, X, Y, mistake)
            return tuple(g * torch.from_numpy(np.asarray(grads[n], np.float64)) for n in names)

    inputs = tuple(
        torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in case.parameters().values()
    )
    start = time.perf_counter()
    caught = not torch.autograd.gradcheck(Hand.apply, inputs, raise_exception=False)
    return time.perf_counter() - start, caught


def check_grads(jax, case, mistake: str) -> tuple[float, bool]:
    """(seconds to check_grads' answer, caught) for the hand-written backward with ``mistake``,
    after one untimed call (JAX traces on its first)."""
    from jax.test_util import check_grads as check

    names = list(case.parameters())
    X, Y = inputs_of(case, np.float64), case.targets.astype(np.float64)

    def numbers(tensors) -> dict:
        return {n: np.asarray(t, np.float64) for n, t in zip(names, tensors, strict=True)}

    @jax.custom_vjp
    def loss(*tensors):
        return jax.numpy.asarray(forward(case, numbers(tensors), X, Y).loss)

    def backward(tensors, g):
        grads = mistaken_gradients(case, numbers(tensors), X, Y, mistake)
        return tuple(g * jax.numpy.asarray(grads[n], jax.numpy.float64) for n in names)

    loss.defvjp(lambda *tensors: (loss(*tensors), tensors), backward)

    def caught() -> bool:
        try:
            check(loss, args, order=1, modes=["rev"])
        except AssertionError:
            return True
        return False

    with jax.enable_x64(True):  # float64 here alone: the switch leaks into nothing else
        args = tuple(jax.numpy.asarray(p, jax.numpy.float64) for p in case.parameters().values())
        caught()
        start = time.perf_counter()
        found = caught()
        return time.perf_counter() - start, found


def peer_rows(cases=None, progress=None, mistakes=None) -> list[dict]:
    """A row per (case, mistake that changes something of it): each tool's time, and whether
    it caught (and named) it. ``progress(done, case)`` after each case; ``mistakes``: these
    alone (default: every listed one)."""
    import torch

    jax = importlib.import_module("jax") if importlib.util.find_spec("jax") else None
    gradcheck(torch, load_case("article"), "sign_flip")  # torch's first call warms up apart
    rows = []
    for done, name in enumerate(cases or peer_cases(), start=1):
        case = load_case(name)
        listed = [m for m in mistakes_for(case) if mistakes is None or m in mistakes]
        for mistake in filter(lambda m: has_effect(case, m), listed):
            g_seconds, g_caught = gradcheck(torch, case, mistake)
            j_seconds, j_caught = check_grads(jax, case, mistake) if jax else (None, None)
            rows.append(
                {
                    "case": name,
                    "mistake": mistake,
                    "parameters": case.parameter_count,
                    "gradcheck_s": g_seconds,
                    "gradcheck_caught": g_caught,
                    "check_grads_s": j_seconds,
                    "check_grads_caught": j_caught,
                    **harness(case, mistake),
                }
            )
        if progress is not None:
            progress(done, name)
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Per case: the median time of each tool, and what each caught (check_grads' None where
    JAX is not installed)."""

    def median(mine, key):
        values = [r[key] for r in mine if r[key] is not None]
        return float(np.median(values)) if values else None

    found = []
    for case in dict.fromkeys(r["case"] for r in rows):
        mine = [r for r in rows if r["case"] == case]
        found.append(
            {
                "case": case,
                "parameters": mine[0]["parameters"],
                "mistakes": len(mine),
                "gradcheck median": median(mine, "gradcheck_s"),
                "check_grads median": median(mine, "check_grads_s"),
                "harness median": median(mine, "harness_s"),
                "with its diagnosis": median(mine, "harness_named_s"),
                "gradcheck caught": sum(r["gradcheck_caught"] for r in mine),
                "check_grads caught": sum(bool(r["check_grads_caught"]) for r in mine),
                "harness caught": sum(r["harness_caught"] for r in mine),
                "harness named": sum(r["harness_named"] for r in mine),
            }
        )
    return found


def render(rows: list[dict], fmt: str = "text") -> str:
    """The per-case table and the totals (text), or every row and the table (json)."""
    import json

    from tabulate import tabulate

    table = summary(rows)
    if fmt == "json":
        doc = {"schema": "backprop-crosscheck/peers/1", "rows": rows, "cases": table}
        return json.dumps(doc, indent=2) + "\n"
    faster = sum(t["harness median"] <= t["gradcheck median"] for t in table)
    jax_faster = sum(t["harness median"] <= (t["check_grads median"] or 0) for t in table)

    def peer(r) -> bool:
        return bool(r["gradcheck_caught"] or r["check_grads_caught"])

    only = sorted({r["mistake"] for r in rows if r["harness_caught"] and not peer(r)})
    missed = sorted({r["mistake"] for r in rows if peer(r) and not r["harness_caught"]})
    lines = [
        tabulate(
            [
                [
                    t["case"],
                    t["parameters"],
                    t["mistakes"],
                    f"{1e3 * t['gradcheck median']:.2f}",
                    _ms(t["check_grads median"]),
                    f"{1e3 * t['harness median']:.2f}",
                    f"{1e3 * t['with its diagnosis']:.2f}",
                    t["gradcheck caught"],
                    t["check_grads caught"],
                    t["harness caught"],
                    t["harness named"],
                ]
                for t in table
            ],
            headers=[
                "case",
                "parameters",
                "mistakes",
                "gradcheck ms",
                "check_grads ms",
                "harness ms",
                "+ diagnosis ms",
                "gradcheck caught",
                "check_grads caught",
                "harness caught",
                "named",
            ],
        ),
        "",
        f"{len(rows)} (case, mistake) pairs, medians per case: the harness's verdict at least as "
        f"fast as gradcheck's on {faster} of {len(table)} cases, as check_grads' on {jax_faster}",
        f"caught by the harness alone: {', '.join(only) or 'none'}",
        f"caught by a peer and missed by the harness: {', '.join(missed) or 'none'}",
    ]
    return "\n".join(lines) + "\n"


def _ms(seconds) -> str:
    return "-" if seconds is None else f"{1e3 * seconds:.2f}"
