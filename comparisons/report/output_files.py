"""Writing what the user asked for into a file: checked before the run, written atomically.

- checked first (``check_target``): the folder exists, the target is not a folder, and it can be
  written — so a typo costs one line and exit 2 before minutes of work, not after;
- a symbolic link is written *through* (its target is replaced, the link stays);
- a regular file is replaced atomically (a reader never sees half a report) and keeps its
  mode; a new file gets the mode the umask gives (0644 under the usual 022);
- something that is not a regular file (``/dev/stdout``, a pipe) is written into directly;
- the temporary file never outlives a failure: full disk, Ctrl-C, unwritable target.
"""

import os
import stat
import tempfile
from pathlib import Path

from backprop_crosscheck.reference.cases.file import quoted


class OutputError(Exception):
    """The file cannot be written: one line, exit status 2."""


def check_target(path: str, option: str, suffixes: tuple[str, ...] = ()) -> None:
    where = f"{option} {quoted(path)}"
    if not str(path).strip():
        raise OutputError(f"{option}: an empty path; name a file")
    if suffixes and not str(path).lower().endswith(suffixes):
        raise OutputError(f"{where}: the file must end in {' or '.join(suffixes)}")
    target, direct = _resolve(path, where)
    if direct or target.exists():
        if not os.access(target, os.W_OK):
            raise OutputError(f"{where}: not writable")
        return
    if not target.parent.is_dir():
        raise OutputError(f"{where}: no such folder {quoted(str(target.parent))}")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise OutputError(f"{where}: cannot create files in {quoted(str(target.parent))}")


def check_folder(path: str, option: str) -> None:
    """A folder to write files into: it is one (or can be made: its nearest existing parent is
    a writable folder)."""
    where = f"{option} {quoted(path)}"
    if not str(path).strip():
        raise OutputError(f"{option}: an empty path; name a folder")
    folder = Path(os.path.realpath(path))
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{where}: is a file, not a folder")
    existing = next(p for p in [folder, *folder.parents] if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{where}: cannot write files in {quoted(str(existing))}")


def _resolve(path: str, where: str) -> tuple[Path, bool]:
    """(the file to write, whether to write into it directly rather than replace it)."""
    try:
        mode = os.stat(path).st_mode  # through symbolic links
    except FileNotFoundError:
        return Path(os.path.realpath(path)), False
    except OSError as e:
        raise OutputError(f"{where}: {e.strerror}") from None
    if stat.S_ISDIR(mode):
        raise OutputError(f"{where}: is a folder, not a file")
    if not stat.S_ISREG(mode):  # /dev/stdout, a pipe, a terminal
        return Path(path), True
    return Path(os.path.realpath(path)), False


def write_file(path: str, option: str, write, binary: bool = False) -> None:
    """Call ``write(file)`` to fill ``path`` (see the module's rules)."""
    check_target(path, option)
    target, direct = _resolve(path, f"{option} {quoted(path)}")
    mode, encoding = ("wb", None) if binary else ("w", "utf-8")
    try:
        if direct:
            with open(target, mode, encoding=encoding) as f:
                write(f)
        else:
            _replace(target, mode, encoding, write)
    except OSError as e:
        raise OutputError(f"{option} {quoted(path)}: {e.strerror or e}") from None


def write_text(path: str, option: str, text: str) -> None:
    write_file(path, option, lambda f: f.write(text))


def _replace(target: Path, mode: str, encoding, write) -> None:
    keep = stat.S_IMODE(target.stat().st_mode) if target.exists() else _new_file_mode()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), keep)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _new_file_mode() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask
