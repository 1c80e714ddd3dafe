"""The conformance kit: every check of a backend, on the built-in cases and seeded random cases
in both dtypes, as ``crosscheck conformance NAME`` and as a pytest plugin.

A check id reads like a test id: ``gradients[tape-article-float32]``. The checks: the four
comparisons with the reference (loss, gradients, updated, final), the result's dtype, H·v, and
the oracles of comparisons/kit/oracles.py. An expected-failure file (``--xfail FILE``) names known
divergences by check-id pattern, each with its reason; strict: one that passes is reported.
"""

import dataclasses
import functools
import math
import re
import tomllib
from dataclasses import dataclass

import numpy as np
from backprop_crosscheck.backends.interface import BackendUnavailable, Unsupported
from backprop_crosscheck.comparisons.isolate.attempt import Attempt, attempt, one_line
from backprop_crosscheck.comparisons.isolate.guard import TimedOut, captured_output, time_limit
from backprop_crosscheck.comparisons.isolate.wire import NotNumbers
from backprop_crosscheck.comparisons.judge.judging import Check, judge
from backprop_crosscheck.comparisons.kit.oracles import (
    NEEDS,
    ORACLES,
    QUESTIONS,
    causal_variant,
    permuted_variant,
)
from backprop_crosscheck.comparisons.kit.suites import suite
from backprop_crosscheck.comparisons.run import make_check
from backprop_crosscheck.reference import load_case
from backprop_crosscheck.reference.cases.file import quoted, read_text
from backprop_crosscheck.reference.families.draw import (
    STACK_EVERY,
    attention_family_case,
    family_case,
    sequence_family_case,
)
from backprop_crosscheck.reference.precision import DTYPES, LOW, numpy_dtype
from backprop_crosscheck.reference.rules.optimizers import Optimizer
from backprop_crosscheck.reference.stack import walk

ACCURACY = ("loss", "gradients", "updated", "final")
CHECKS = (*ACCURACY, "dtype", "hvp", *ORACLES)
# checked in float64 and float32 alone: a low precision's directional derivatives pass through
# intermediates past its range (1/σ³ at a normalization) and its second order is rounding's to
# decide (docs/precision.md)
DIRECTIONAL = ("hvp", "hvp-symmetry", "forward-reverse")
# a mixed-precision case's checks are of its scaled loop alone: these oracles run the engine's
# plain loss (loss_value, per-sample runs, directional derivatives), not its mixed step
NOT_MIXED = (*DIRECTIONAL, "untracked-loss", "batch-sum", "dtype-honest")
STATUSES = ("pass", "fail", "error", "xfail", "xpass", "skip")
FAILING = ("fail", "error", "xpass")


class XfailError(ValueError):
    """A malformed expected-failure file: one line naming the file and the entry."""


@dataclass(frozen=True)
class Outcome:
    status: str  # pass | fail | error | skip | xfail | xpass
    message: str = ""


def case_names(random: int = 6, seed: int = 0, version: str | None = None) -> list[str]:
    """The suite's built-in cases (comparisons/kit/suites.py; the newest by default), then
    ``random`` cases in shape families of three, from family ``seed`` on — a suite without
    layer stacks passes over the stack families — and, from suite 3 on, half as many again
    from the sequence families (sequence-F.M), from suite 4 on as many again from the
    attention families (attention-F.M)."""
    chosen = suite(version)
    wanted, families, f = math.ceil(random / 3), [], seed
    while len(families) < wanted:
        if chosen.stacks or f % STACK_EVERY != STACK_EVERY - 1:
            families.append(f)
        f += 1
    drawn = [f"random-{f}.{m}" for f in families for m in range(3)][:random]
    if chosen.sequences:  # on top: half as many from the sequence families, seed on
        drawn += [f"sequence-{seed + k // 3}.{k % 3}" for k in range(random // 2)]
    if chosen.attention:  # and from suite 4 on, as many from the attention families
        drawn += [f"attention-{seed + k // 3}.{k % 3}" for k in range(random // 2)]
    return list(chosen.builtin) + drawn


@functools.cache
def case_named(name: str):
    if name.startswith("random-"):
        return family_case(*map(int, name.removeprefix("random-").split(".")))
    if name.startswith("sequence-"):
        return sequence_family_case(*map(int, name.removeprefix("sequence-").split(".")))
    if name.startswith("attention-"):
        return attention_family_case(*map(int, name.removeprefix("attention-").split(".")))
    return load_case(name)


@functools.cache
def check_for(case_name: str, dtype: str, timeout: float | None) -> Check:
    return make_check(case_named(case_name), dtype, hvp_seed=1, timeout=timeout)


def evaluate(backend, case_name: str, dtype: str, timeout: float | None = None) -> dict:
    """{check: Outcome} of every check of one backend on one case and dtype, here (in the
    parent: ``ask`` in the backend's worker, then ``verdicts`` here)."""
    return verdicts(backend, case_name, dtype, timeout, ask(backend, case_name, dtype, timeout))


def ask(backend, case_name: str, dtype: str, timeout: float | None = None) -> dict:
    """Everything the kit asks the backend on one case and dtype, as plain data: the run's and
    H·v's attempts and each oracle's answers (or why it has none). What runs in its worker
    (where a plugin's declaration becomes the plugin itself: declared.running)."""
    from backprop_crosscheck.comparisons.isolate.declared import running

    backend = running(backend)
    check = check_for(case_name, dtype, timeout)
    first, second = attempt(backend, check, 1), attempt(backend, check, 2)
    asked = {"first": first.to_plain(), "second": second.to_plain(), "oracles": {}}
    if first.status != "answered":
        return asked
    for name, question in QUESTIONS.items():
        if applies(name, case_name, dtype):
            asked["oracles"][name] = fenced(question, backend, check)
    return asked


def fenced(question, backend, check: Check) -> dict:
    """An oracle's questions under the same fences as a run: {"answers": …} or why not."""
    try:
        with captured_output(), time_limit(check.timeout):
            return {"answers": question(backend, check.case, check.dtype)}
    except (BackendUnavailable, Unsupported) as e:  # beyond it, found as it ran: as a run's
        return {"status": "skip", "message": str(e)}
    except TimedOut:
        return {"status": "error", "message": f"timed out after {check.timeout:g} s (--timeout)"}
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - the backend's error, never the kit's
        return {"status": "error", "message": f"raised {type(e).__name__}: {one_line(e)}"}


def verdicts(backend, case_name: str, dtype: str, timeout, asked) -> dict:
    """{check: Outcome} from what the backend answered (``ask``), judged here."""
    check = check_for(case_name, dtype, timeout)
    first = judge(backend, check, 1, Attempt.from_plain(asked.get("first")))
    outcomes = {q: accuracy(first, q) for q in ACCURACY}
    outcomes["dtype"] = dtype_outcome(first, dtype)
    second = judge(backend, check, 2, Attempt.from_plain(asked.get("second")))
    outcomes["hvp"] = accuracy(second, "hvp")
    for name, oracle in ORACLES.items():
        answered = asked.get("oracles", {}).get(name, {"answers": {}})
        missing = NEEDS[name](backend) if name in NEEDS else None
        if not applies(name, case_name, dtype):  # not asked: nothing to judge
            outcomes[name] = Outcome("skip", f"{name} does not apply to {case_name} in {dtype}")
        elif missing:  # beyond what it declares: a skip, whatever its run did
            outcomes[name] = Outcome("skip", missing)
        else:
            outcomes[name] = oracle_outcome(oracle, answered, backend, check, first)
    return outcomes


def accuracy(comparison, quantity: str) -> Outcome:
    """``quantity`` of a judged backend against the reference."""
    if comparison.status in ("skip", "unsupported"):
        return Outcome("skip", comparison.message)
    if comparison.status == "error":
        return Outcome("error", comparison.message)
    bad = [m for m in comparison.agreement.mismatches if m.quantity == quantity]
    if not bad:
        return Outcome("pass")
    shown = "; ".join(
        f"{m.label} = {m.got!r} vs {m.expected!r} (up to {m.allowed:.3g} allowed)" for m in bad[:3]
    )
    why = f" — diagnosis: {comparison.diagnosis.summary()}" if comparison.diagnosis else ""
    return Outcome("fail", f"{len(bad)} mismatched: {shown}{why}")


def not_judged(comparison) -> Outcome:
    """The outcome of a check whose run was not judged: a skip where the run was skipped (or
    the case is beyond the backend), else the run's error."""
    skipped = comparison.status in ("skip", "unsupported")
    return Outcome("skip" if skipped else "error", comparison.message)


def dtype_outcome(comparison, dtype: str) -> Outcome:
    if comparison.status not in ("pass", "fail"):
        return not_judged(comparison)
    wrong = [
        f"{what} {n} is {np.asarray(t).dtype}"
        for what in ("gradients", "final")
        for n, t in getattr(comparison.result, what).items()
        if np.asarray(t).dtype != numpy_dtype(dtype)
    ]
    return Outcome("fail", f"asked for {dtype}: {wrong[0]}") if wrong else Outcome("pass")


def oracle_outcome(oracle, answered: dict, backend, check: Check, first) -> Outcome:
    if first.status not in ("pass", "fail"):
        return not_judged(first)
    if "answers" not in answered:
        return Outcome(answered.get("status", "error"), answered.get("message", ""))
    try:
        return Outcome(*oracle(answered["answers"], backend, check.case, check.dtype, first))
    except (NotNumbers, KeyError, TypeError, ValueError) as e:
        return Outcome("error", f"answered something that is not numbers: {one_line(e)}")


def applies(check: str, case_name: str, dtype: str) -> bool:
    """Whether a check means anything on this case and dtype (a property of the case, not of
    the backend: a backend that cannot do a check reports a skip with its reason)."""
    case = case_named(case_name)
    if check in DIRECTIONAL and dtype in LOW:
        return False
    if check in NOT_MIXED and case.mixed is not None:
        return False
    if check == "batch-sum":
        return case.inputs.shape[0] > 1
    if check == "frozen":
        return bool(case.frozen)
    if check == "dtype-honest":
        return dtype != "float64"
    if check == "relu-kink":
        return relu_near_kink(case)
    if check == "causality":
        return causal_variant(case) is not None
    if check == "permutation":
        return permuted_variant(case) is not None
    return True


def relu_near_kink(case) -> bool:
    from backprop_crosscheck.reference.network import forward

    step = np.finfo(np.float64).eps ** (1 / 3)
    if not case.dense:
        return False  # relu_kink is written for dense layers
    fwd = forward(case, case.parameters(), case.inputs, case.targets)
    return any(
        act == "relu" and np.any(np.abs(z) < step)
        for z, act in zip(fwd.z, case.activations, strict=True)
    )


def check_id(check: str, backend: str, case_name: str, dtype: str) -> str:
    """``gradients[torch-article-float32]``: a case file's own name, never its path."""
    return f"{check}[{backend}-{case_label(case_name)}-{dtype}]"


def case_label(case_name: str) -> str:
    return case_named(case_name).name if case_name.lower().endswith(".toml") else case_name


def load_xfail(*paths: str) -> "Expected":
    """[(check-id pattern, reason)] from TOML files of ``[[xfail]]`` tables (one backend's
    known divergences a file: tests/known-divergences/), in the order given."""
    return Expected([entry for path in paths for entry in _xfail_entries(path)])


def _xfail_entries(path: str) -> list[tuple]:
    """Each ``[[xfail]]`` table: one ``reason`` and the checks it explains — ``check = "…"``
    or ``checks = ["…", …]`` (one reason, a list of checks: each still expected to fail) —
    and, optionally, ``when``: the cause in the case (a layer kind, an optimizer, a loss, an
    optimizer setting), so that an entry such as ``gradients[mlx-*-float64]`` holds for every
    case with that cause, random ones too, and only for those."""
    where = quoted(path)
    try:
        data = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as e:
        raise XfailError(f"{where}: invalid TOML: {e}") from None
    except RecursionError:
        raise XfailError(f"{where}: invalid TOML: nested too deeply") from None
    if set(data) - {"xfail"} or not isinstance(data.get("xfail", []), list):
        raise XfailError(
            f'{where}: expected only [[xfail]] tables (reason = "…", check = "…" or checks = […])'
        )
    entries = []
    for i, entry in enumerate(data.get("xfail", [])):
        field = f"xfail[{i}]"
        keys = set(entry) - {"when", "strict"} if isinstance(entry, dict) else None
        if keys not in ({"check", "reason"}, {"checks", "reason"}):
            raise XfailError(
                f'{where}: {field} must have reason = "…" and one of check = "…" or checks = […]'
            )
        checks = [entry["check"]] if "check" in entry else entry["checks"]
        if not isinstance(checks, list) or not checks:
            raise XfailError(f"{where}: {field}: checks must be a non-empty list of patterns")
        for text in [*checks, entry["reason"]]:
            if not (isinstance(text, str) and text.strip()):
                raise XfailError(
                    f"{where}: {field}: every check and the reason must be non-empty strings"
                )
        when = _when(entry.get("when"), f"{where}: {field}.when")
        strict = entry.get("strict", True)
        if not isinstance(strict, bool):
            raise XfailError(f"{where}: {field}.strict must be true or false")
        reason = entry["reason"] if strict else Lenient(entry["reason"])
        entries += [(check, reason, when) for check in checks]
    return entries


class Lenient(str):
    """The reason of an entry with ``strict = false``: its checks may pass on some cases (a
    self-consistency check of a run known to compute in a lower precision fails only when the
    case's numbers make the rounding large enough); a pass is then a pass, not an xpass."""


WHEN = {"kinds", "optimizers", "losses"}  # and any field of the optimizer rule, for a convention


def _when(value, where: str) -> dict | None:
    """An entry's cause, validated: {"kinds": [...], "optimizers": [...], "losses": [...],
    an optimizer field: its value}."""
    if value is None:
        return None
    settings = {f.name for f in dataclasses.fields(Optimizer)}
    if not isinstance(value, dict) or not value or set(value) - WHEN - settings:
        known = ", ".join(sorted(WHEN | settings))
        raise XfailError(f"{where} must be a table of a case's causes (known: {known})")
    for key in WHEN & set(value):
        if not (isinstance(value[key], list) and all(isinstance(v, str) for v in value[key])):
            raise XfailError(f"{where}.{key} must be a list of names")
    return value


def holds(when: dict | None, case) -> bool:
    """Whether the case has the entry's cause (every condition of it); no cause: always."""
    if when is None:
        return True
    if case is None:
        return False
    kinds = {layer.kind for layer in walk(case.stack)}
    rule = case.optimizer
    return all(
        bool(kinds & set(v))
        if key == "kinds"
        else rule.name in v
        if key == "optimizers"
        else case.loss in v
        if key == "losses"
        else getattr(rule, key) == v
        for key, v in when.items()
    )


def matches(identifier: str, pattern: str) -> bool:
    """``*`` any run of characters, ``?`` one; everything else literal (brackets included:
    ``gradients[tape-article-*]``)."""
    return Pattern(pattern).matches(identifier)


class Pattern:
    """An expected failure's check pattern, read once: the pieces between its stars, each found
    at its leftmost place after the one before (glob's rule) — no backtracking, whatever the
    pattern (``*?*?…!``); compiled on first use into its file's own table, no shared cache to
    outgrow (70,000 patterns took minutes when a 65,536-entry cache of compiled ones
    thrashed). A piece without '?' is plain text."""

    def __init__(self, pattern: str):
        self.pieces = [_piece(text) for text in pattern.split("*")]

    def matches(self, identifier: str) -> bool:
        first, *rest = self.pieces
        if not rest:  # no '*': the whole identifier
            return len(identifier) == first.width and first.at(identifier, 0)
        if not first.at(identifier, 0):
            return False
        start, last = first.width, rest[-1]
        for piece in rest[:-1]:
            found = piece.find(identifier, start)
            if found < 0:
                return False
            start = found + piece.width
        end = len(identifier) - last.width  # the last piece ends the identifier
        return end >= start and last.at(identifier, end)


class _Text:
    """A piece of plain text."""

    def __init__(self, text: str):
        self.text, self.width = text, len(text)

    def at(self, identifier: str, i: int) -> bool:
        return identifier.startswith(self.text, i)

    def find(self, identifier: str, start: int) -> int:
        return identifier.find(self.text, start)


class _Wild(_Text):
    """A piece with '?': a regex of fixed width, '?' any one character."""

    def __init__(self, text: str):
        super().__init__(text)
        self.regex = re.compile("".join("." if c == "?" else re.escape(c) for c in text), re.S)

    def at(self, identifier: str, i: int) -> bool:
        return self.regex.match(identifier, i) is not None

    def find(self, identifier: str, start: int) -> int:
        found = self.regex.search(identifier, start)
        return -1 if found is None else found.start()


def _piece(text: str) -> _Text:
    return _Wild(text) if "?" in text else _Text(text)


class Expected(list):
    """The expected-failure entries, [(pattern, reason)], looked up fast: a pattern without
    wildcards by a dict; the others by the text before their first wildcard (a dict per length
    of it), so a lookup tries only the patterns that can match its start — the first in file
    order wins. It remembers which ones matched."""

    def __init__(self, entries):
        entries = [(*e, None) if len(e) == 2 else tuple(e) for e in entries]  # (pattern, reason)
        super().__init__(entries)
        self.exact, self.used, self.compiled = {}, set(), {}  # compiled: on first use
        self.wild: dict[int, dict[str, list]] = {}  # prefix length -> prefix -> entries
        self.caused = []  # the entries with a cause (``when``): tried in file order, after
        for i, (pattern, reason, when) in enumerate(entries):
            cut = [k for k in (pattern.find("*"), pattern.find("?")) if k >= 0]
            if when is not None:
                self.caused.append((i, pattern, reason, when))
            elif not cut:
                self.exact.setdefault(pattern, (i, reason))
            else:
                prefix = pattern[: min(cut)]
                self.wild.setdefault(len(prefix), {}).setdefault(prefix, []).append(
                    (i, pattern, reason)
                )

    def reason(self, identifier: str, case=None) -> str | None:
        """The first entry's reason (in file order) whose pattern matches ``identifier`` and
        whose cause, if it names one, ``case`` has."""
        best = (*self.exact[identifier], identifier) if identifier in self.exact else None
        for length, by_prefix in self.wild.items():
            for i, pattern, reason in by_prefix.get(identifier[:length], ()):
                if best is not None and i > best[0]:
                    break  # in file order: an earlier entry already matched
                if self.pattern(pattern).matches(identifier):
                    best = (i, reason, pattern)
                    break
        for i, pattern, reason, when in self.caused:
            if best is not None and i > best[0]:
                break
            if self.pattern(pattern).matches(identifier) and holds(when, case):
                best = (i, reason, pattern)
                break
        if best is None:
            return None
        self.used.add(best[2])
        return best[1]

    def pattern(self, text: str) -> Pattern:
        if text not in self.compiled:
            self.compiled[text] = Pattern(text)
        return self.compiled[text]

    def unmatched(self, dtypes=None) -> list[str]:
        """The entries that matched no check of the run: stale, or a typo — but for one that
        names a dtype the run did not ask for (``…-bfloat16]`` in a float64 and float32 run:
        one file of known divergences serves every ``--dtype``)."""

        def asked(pattern: str) -> bool:
            named = pattern.rstrip("]").rsplit("-", 1)[-1]
            return dtypes is None or named not in DTYPES or named in dtypes

        return [p for p, _, _ in self if p not in self.used and asked(p)]


def expected(outcome: Outcome, identifier: str, xfail, case=None) -> Outcome:
    """Apply the expected-failure list (strict: an expected failure that passes is an xpass,
    unless its entry says ``strict = false``);
    ``case``: the Case, for the entries that name a cause."""
    xfail = xfail if isinstance(xfail, Expected) else Expected(xfail)
    reason = xfail.reason(identifier, case)
    if reason is None or outcome.status == "skip":
        return outcome
    if outcome.status == "pass":
        if isinstance(reason, Lenient):
            return outcome
        return Outcome("xpass", f"expected to fail ({reason}) but passed")
    return Outcome("xfail", f"{reason} — {outcome.message}")
