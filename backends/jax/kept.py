"""JAX's compiled programs kept on disk from one process to the next.

JAX's own persistent cache (JAX_COMPILATION_CACHE_DIR) spares a new process XLA's compiling,
not the rest: to find a program there, every process traces the harness's Python again and
lowers it to XLA (~0.1 s a program; a sweep's JAX worker has ~50 of them, docs/benchmark-notes.md).
A ``KeptProgram`` keeps the compiled executable itself (``jax.experimental.serialize_executable``)
in that same folder, under ``crosscheck-programs/``, so a later process loads it without tracing,
lowering or compiling anything. No folder (JAX_COMPILATION_CACHE_DIR unset or empty): nothing is
kept between processes, and a program is JAX's plain ``jit``.

An entry's name is a hash of everything a compiled program bakes in: the program's own key
(FrameworkBackend.compile's: engine, purpose, architecture, loss, masks, frozen tensors, the
optimizer's structure), its arguments' tree, shapes, dtypes and weak types, JAX's x64 switch and
default matmul precision, the device, XLA_FLAGS, the versions of Python, NumPy, JAX, jaxlib and
optax, and the text of every module of backends/ and reference/ — a change to any of them is a
new entry, never a stale program. An entry that cannot be read, or fails its first run, is
compiled afresh and written again; a program that cannot be serialized (closed-over constants)
is compiled and not kept.

Each version of that code (every edit of backends/ or reference/, every upgrade) keeps its
programs in a folder of its own under ``crosscheck-programs/``; a process marks its version's
folder used and removes those of all but the ``VERSIONS_KEPT`` most recently used — without it
the folder only grew: a 100-case sweep keeps 8 MB of programs a version, the test suite 22 MB.
"""

import contextlib
import functools
import hashlib
import os
import pickle
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from backprop_crosscheck.backends.framework import Program

SUBFOLDER = "crosscheck-programs"
VERSIONS_KEPT = 3  # a developer's branches, an upgrade and the install before it
OWN_COMPILE = {"xla_cpu_enable_fast_math": False}  # XLA's default: the program is unchanged


class KeptProgram(Program):
    """A Program whose executables, one per argument signature, are kept in ``folder``."""

    def __init__(self, jax, key: tuple, folder: Path):
        super().__init__(jax.jit)
        self.jax, self.folder = jax, claimed(folder)
        self.key = canonical(key)
        self.executables = {}  # argument signature -> jax.stages.Compiled

    def bind(self, function):
        self.function = function
        return self.call

    def call(self, *args):
        leaves, tree = self.jax.tree_util.tree_flatten(args)
        signature = (str(tree), *(aval_of(self.jax, leaf) for leaf in leaves))
        executable = self.executables.get(signature)
        if executable is not None:
            return executable(*args)
        path = self.folder / f"{self.entry_name(signature)}.pickle"
        try:
            with open(path, "rb") as file:
                executable = load(self.jax, file.read())
            out = executable(*args)  # its first run proves it: one that fails is compiled anew
        except Exception:  # noqa: BLE001 - missing, truncated, from elsewhere: compiled here
            executable = self.compile_and_keep(args, path)
            out = executable(*args)
        self.executables[signature] = executable
        return out

    def compile_and_keep(self, args: tuple, path: Path):
        """Compiled here, and kept at ``path`` when it is XLA's own fresh compile. An
        executable JAX loaded from its persistent cache cannot be kept: serialized a second
        time, XLA:CPU's loses its kernels ("Function add_select_fusion not found" when run). So
        the compile asks an option that changes nothing in the program but JAX's cache key
        (fast math off, as it is), and JAX is told not to write it to its cache: a kept
        program's compile never finds one there."""
        jax = self.jax
        hits = cache_hits(jax)
        before = hits[0]
        lowered = self.compiled.lower(*args)
        try:
            with jax_config().persistent_cache_min_compile_time_secs(float("inf")):
                executable = lowered.compile(compiler_options=OWN_COMPILE)
        except Exception:  # noqa: BLE001 - a compiler that refuses the option: plain, not kept
            return lowered.compile()
        if hits[0] == before:
            keep(jax, executable, path)
        return executable

    def entry_name(self, signature: tuple) -> str:
        jax = self.jax
        config = (
            bool(jax.config.jax_enable_x64),
            str(jax.config.jax_default_matmul_precision),
            os.environ.get("XLA_FLAGS", ""),
        )
        described = repr((self.key, signature, config, str(jax.devices()[0]), code_version(jax)))
        return hashlib.sha256(described.encode()).hexdigest()


def folder_for(jax) -> Path | None:
    """Where programs are kept: beside JAX's own persistent cache, or None (not kept, also
    where this JAX lacks what keeping uses)."""
    base = jax.config.jax_compilation_cache_dir
    try:
        jax_config().persistent_cache_min_compile_time_secs  # noqa: B018
        jax.monitoring.register_event_listener  # noqa: B018
    except AttributeError:
        return None
    return Path(base) / SUBFOLDER / code_version(jax)[:16] if base else None


@functools.cache
def claimed(folder: Path) -> Path:
    """This code version's folder, marked used now (once a process); the other versions' beyond
    the most recently used ``VERSIONS_KEPT`` removed. A folder that cannot be written: nothing
    is kept there (``keep`` says nothing either)."""
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        os.utime(folder)
        forget_old(folder.parent, VERSIONS_KEPT)
    return folder


def forget_old(programs: Path, keep: int) -> None:
    """Remove every version folder in ``programs`` but the ``keep`` most recently used, and the
    entries kept before there were version folders (they are never looked for again). A
    process still running an old version finds its entries gone and compiles them again."""
    found = list(programs.iterdir())
    versions = sorted((p for p in found if p.is_dir()), key=used, reverse=True)
    for old in versions[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    for entry in found:
        if entry.suffix == ".pickle" and entry.is_file():
            entry.unlink(missing_ok=True)


def used(folder: Path) -> float:
    try:
        return folder.stat().st_mtime
    except OSError:  # removed meanwhile, by another process
        return 0.0


def jax_config():
    """JAX's configuration states (their context managers are not exported)."""
    from jax._src import config

    return config


@functools.cache
def cache_hits(jax) -> list[int]:
    """How many times JAX's persistent cache answered a compile in this process, counted."""
    hits = [0]

    def listener(event: str, **_):
        if event == "/jax/compilation_cache/cache_hits":
            hits[0] += 1

    jax.monitoring.register_event_listener(listener)
    return hits


def built_in(cls) -> bool:
    """Whether every class ``cls`` is made of is the harness's own (its code is hashed into
    every entry's name): a plugin's subclass is not, and keeps nothing."""
    return all(
        c.__module__.split(".")[0] in ("backprop_crosscheck", "abc", "builtins")
        for c in cls.__mro__
    )


def aval_of(jax, leaf) -> tuple:
    """What jit tells apart in an argument: shape, dtype and weak type."""
    aval = jax.typeof(leaf)
    return (aval.shape, str(aval.dtype), bool(getattr(aval, "weak_type", False)))


def canonical(value):
    """``value`` with every set sorted, so that its repr is the same in every process (a
    frozenset's order follows the string hash, which differs from process to process)."""
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted(map(repr, (canonical(v) for v in value)))))
    if isinstance(value, (tuple, list)):
        return tuple(canonical(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((repr(k), canonical(v)) for k, v in value.items()))
    return value


@functools.cache
def code_version(jax) -> str:
    """The harness's own modules and the versions of what runs and compiles them, hashed."""
    from importlib.metadata import version

    backends = Path(__file__).resolve().parents[1]  # reference/ beside it, checkout or installed
    digest = hashlib.sha256()
    for root in (backends, backends.parent / "reference"):
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    versions = [sys.version, np.__version__, jax.__version__]
    for distribution in ("jaxlib", "optax"):
        try:
            versions.append(version(distribution))
        except ImportError:  # PackageNotFoundError: optax is needed by the optimizers alone
            versions.append(None)
    digest.update(repr(versions).encode())
    return digest.hexdigest()


def load(jax, data: bytes):
    from jax.experimental import serialize_executable

    serialized, in_tree, out_tree = pickle.loads(data)
    return serialize_executable.deserialize_and_load(serialized, in_tree, out_tree)


def keep(jax, executable, path: Path) -> None:
    """Write the executable at ``path`` (atomically); one that cannot be serialized, or a
    folder that cannot be written, is simply not kept."""
    from jax.experimental import serialize_executable

    try:
        data = pickle.dumps(serialize_executable.serialize(executable))
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as file:
            file.write(data)
        os.replace(file.name, path)
    except Exception:  # noqa: BLE001 - not kept: the next process compiles it again
        return
