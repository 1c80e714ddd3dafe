"""Case files (TOML, the format of docs/cli.md#case-files): the built-in ones, reading a file
safely, writing one.

Every problem raises CaseError("<file>: <field> …") — one line, naming the file and the field;
the fields themselves are validated in case_fields.py.
"""

import os
import re
import stat
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
from backprop_crosscheck.reference.cases.case import Case, CaseError
from backprop_crosscheck.reference.cases.fields import (  # noqa: F401 - the case-file API
    DEFAULT_LIMITS,
    NO_LIMITS,
    Limits,
    parse_case,
)
from backprop_crosscheck.reference.cases.values import quoted  # noqa: F401 - the case-file API
from backprop_crosscheck.reference.stack import walk

MAX_FILE_BYTES = 32 * 1024 * 1024  # a case file larger than this is refused, unread


def builtin_case_names() -> list[str]:
    folder = resources.files("backprop_crosscheck.reference") / "cases"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_case(spec: str | Path, limits: Limits = DEFAULT_LIMITS) -> Case:
    """A built-in case by name (``article``) or a case file by path."""
    spec = str(spec)
    if spec in builtin_case_names():
        text = (
            resources.files("backprop_crosscheck.reference") / "cases" / f"{spec}.toml"
        ).read_text("utf-8")
        return parse_case(_toml(text, spec), source=spec, name=spec, limits=limits)
    path = Path(spec)
    where = quoted(spec)
    if not path.exists() and not spec.endswith(".toml"):
        known = ", ".join(builtin_case_names())
        raise CaseError(f"{where}: no built-in case or file of that name (built-in: {known})")
    case = parse_case(_toml(read_text(path), spec), source=spec, name=path.stem, limits=limits)
    if reserved(case.name):  # its own id, never a built-in's: a check id names one case
        case = case.replace(name=spec.replace("\\", "/"))
    return case


def reserved(name: str) -> bool:
    """Whether a case file may not go by ``name``: a built-in's, or the conformance kit's id of
    a random case (``random-3.1``, ``sequence-0.2``, ``attention-1.0``) — its reports, check
    ids and expected failures would be theirs."""
    return (
        name in builtin_case_names()
        or re.fullmatch(r"(random|sequence|attention)-\d+\.\d+", name) is not None
    )


def read_text(path: str | Path) -> str:
    """A regular file's text, refused unread when it is something else (a FIFO would block
    forever, /dev/zero never ends) or larger than MAX_FILE_BYTES."""
    where = quoted(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise CaseError(f"{where}: no such file") from None
    except OSError as e:
        raise CaseError(f"{where}: cannot read: {e.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise CaseError(f"{where}: not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        os.close(fd)
        mib = MAX_FILE_BYTES // 2**20
        raise CaseError(f"{where}: {info.st_size:,} bytes, over the {mib} MiB limit")
    with open(fd, "rb") as f:
        try:
            return f.read(MAX_FILE_BYTES + 1).decode("utf-8")
        except UnicodeDecodeError as e:
            raise CaseError(f"{where}: cannot read: not UTF-8 text ({e.reason})") from None
        except OSError as e:
            raise CaseError(f"{where}: cannot read: {e.strerror}") from None


def _toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CaseError(f"{quoted(source)}: invalid TOML: {e}") from None
    except RecursionError:
        raise CaseError(f"{quoted(source)}: invalid TOML: nested too deeply") from None


def dump_case(case: Case) -> str:
    """The case as a TOML case file that load_case reads back to the same numbers."""

    def value(x) -> str:
        if isinstance(x, np.ndarray):
            return value(x.tolist())
        if isinstance(x, list | tuple):
            return "[" + ", ".join(value(v) for v in x) + "]"
        if isinstance(x, str):
            return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(x, bool):
            return "true" if x else "false"
        return repr(x)  # int, or float: repr round-trips exactly

    lines = [
        f"name = {value(case.name)}",
        f"description = {value(case.description)}",
        f"loss = {value(case.loss)}",
        f"learning_rate = {value(case.learning_rate)}",
        f"steps = {value(case.steps)}",
        f"inputs = {value(case.inputs)}",
        f"targets = {value(case.targets)}",
    ]
    if case.dense:
        lines[2:2] = [
            f"layers = {value(list(case.layers))}",
            f"activation = {value(list(case.activations))}",
        ]
        lines.append(f"weights = {value(list(case.weights))}")
    if case.biases is not None:
        lines.append(f"biases = {value(list(case.biases))}")
    if case.frozen:
        lines.append(f"frozen = {value(sorted(case.frozen))}")
    if any(layer.kind == "leaky_relu" for layer in walk(case.stack)):
        lines.append(f"leaky_slope = {value(case.leaky_slope)}")
    if case.optimizer.name != "sgd":
        lines.append(f"optimizer = {value(case.optimizer.name)}")
        lines += [f"{k} = {value(v)}" for k, v in case.optimizer.settings().items()]
    if case.mixed is not None:
        lines.append("\n[mixed_precision]")
        lines += [f"{k} = {value(v)}" for k, v in case.mixed.settings().items()]
    if case.aliases:
        lines.append("\n[aliases]")
        lines += [f"{alias} = {value(target)}" for alias, target in case.aliases.items()]
    if not case.dense:
        lines += _stack_tables(case.stack, "stack", value)
    return "\n".join(lines) + "\n"


def _stack_tables(stack, where: str, value) -> list[str]:
    """A layer stack's [[stack]] tables (a residual's block as [[stack.block]] after it)."""
    lines = []
    for layer in stack:
        lines += ["", f"[[{where}]]", f"kind = {value(layer.kind)}"]
        lines += [f"{k} = {value(v)}" for k, v in layer.settings.items()]
        lines += [f"{k} = {value(v)}" for k, v in layer.initial.items()]
        if layer.mask is not None:
            lines.append(f"mask = {value(layer.mask.astype(int))}")
        for k, a in layer.given.items():
            lines.append(f"{k} = {value(a)}")
        lines += _stack_tables(layer.block, f"{where}.block", value)
    return lines
