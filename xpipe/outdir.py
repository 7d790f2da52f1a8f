"""Checks of an output folder before anything is written there.

``xpipe validate -o OUTDIR`` and ``xpipe run`` ask :func:`check_output_folder` for what would stop
a run from writing its results (a file in the way, a folder that is not writable or on a
read-only file system, a link planted at a name xpipe writes that leads out of the folder) and
:func:`free_space_warning` whether the file system is nearly full. Nothing here changes the
folder: the writability probe creates a temporary file and removes it.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["FREE_SPACE_MARGIN", "WRITTEN_NAMES", "check_output_folder", "free_space_warning"]

#: the names xpipe writes at the top of an output folder (``.xpipe``: checkpoints and caches)
WRITTEN_NAMES = ("results.h5", "summary.md", "summary.json", ".xpipe")
#: below this many free bytes a warning is given (not a refusal: a small run may still fit)
FREE_SPACE_MARGIN = 100 * 1024 * 1024

_MOVE = "choose another -o or move the file"
_PERMISSIONS = "choose another -o or fix its permissions"


def _existing_ancestor(path: Path) -> Path:
    """``path`` itself if it exists, else the nearest folder above it that does."""
    for p in (path, *path.parents):
        if os.path.lexists(p):
            return p
    return Path(path.anchor)


def _probe(folder: Path) -> OSError | None:
    """Create and remove a temporary file in ``folder``; the error if that fails."""
    try:
        fd, name = tempfile.mkstemp(prefix=".xpipe-probe-", dir=folder)
    except OSError as exc:
        return exc
    os.close(fd)
    try:
        os.unlink(name)
    except OSError as exc:
        return exc
    return None


def _writable(path: Path, base: Path) -> list[str]:
    """Problems writing into ``base``, the output folder or the folder it will be made in."""
    subject = f"output folder {path}" if base == path else f"output folder {path} cannot be made: {base}"
    try:
        read_only = bool(os.statvfs(base).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        return [f"{subject} is on a read-only file system: choose another -o"]
    failed = None if os.access(base, os.W_OK | os.X_OK) else OSError(errno.EACCES, "permission denied")
    failed = failed or _probe(base)
    if failed is None:
        return []
    if failed.errno == errno.EROFS:
        return [f"{subject} is on a read-only file system: choose another -o"]
    if failed.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return [f"{subject} is full (no space or quota left): free space or choose another -o"]
    reason = (failed.strerror or str(failed)).lower()
    return [f"{subject} is not writable ({reason}): {_PERMISSIONS}"]


def _planted(path: Path) -> list[str]:
    """The names xpipe writes, when something else is there: a link leading out, the wrong kind."""
    problems = []
    inside = path.resolve()
    for name in WRITTEN_NAMES:
        p = path / name
        if p.is_symlink():
            target = Path(os.path.realpath(p))
            if target != inside and inside not in target.parents:
                problems.append(f"{p} is a link to {target}, outside the output folder: remove the link "
                                "(xpipe writes only inside its output folder)")
                continue
        if name == ".xpipe" and p.exists() and not p.is_dir():
            problems.append(f"{p} is a file, where xpipe keeps its checkpoints in a folder: {_MOVE}")
        elif name != ".xpipe" and p.is_dir():
            problems.append(f"{p} is a folder, where xpipe writes a file: choose another -o or move the folder")
    return problems


def check_output_folder(path: str | Path) -> list[str]:
    """What would stop a run from writing into the output folder ``path``, one line each.

    Looked at: the path is a file, or a folder on the way to it is; the folder (or the folder it
    would be made in) is not writable, checked with :func:`os.access` and by creating and
    removing a temporary file; it is on a read-only file system; a link at a name xpipe writes
    there (``results.h5``, ``summary.md``, ``summary.json``, ``.xpipe``) leads out of it, or a
    folder stands where xpipe writes a file. Free space is :func:`free_space_warning`'s.

    Parameters
    ----------
    path : str or Path
        The output folder; it need not exist yet.

    Returns
    -------
    list of str
        The problems, each with what to do; empty when the folder can be used.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> check_output_folder(tmp / "out")
    []
    >>> _ = (tmp / "taken").write_text("not a folder")
    >>> check_output_folder(tmp / "taken")[0] == f"output folder {tmp / 'taken'} is a file, not a folder: " \\
    ...     "choose another -o or move the file"
    True
    >>> print(check_output_folder(tmp / "taken" / "out")[0].replace(str(tmp), "TMP"))
    output folder TMP/taken/out cannot be made: TMP/taken is a file, not a folder: choose another -o or move the file
    """
    path = Path(os.path.abspath(Path(path).expanduser()))
    if path.is_symlink() and not path.exists():
        return [f"output folder {path} is a link to {os.readlink(path)}, which does not exist: "
                "choose another -o or remove the link"]
    if path.exists() and not path.is_dir():
        return [f"output folder {path} is a file, not a folder: {_MOVE}"]
    base = _existing_ancestor(path)
    if not base.is_dir():
        return [f"output folder {path} cannot be made: {base} is a file, not a folder: {_MOVE}"]
    problems = _writable(path, base)
    if base == path:
        problems += _planted(path)
    return problems


def free_space_warning(path: str | Path, margin: int = FREE_SPACE_MARGIN) -> str | None:
    """A warning when the file system of the output folder ``path`` has less than ``margin``
    bytes free; None otherwise (or when it cannot be told).

    Parameters
    ----------
    path : str or Path
        The output folder; it need not exist yet.
    margin : int
        Bytes (default 100 MiB).

    Returns
    -------
    str or None

    Examples
    --------
    >>> import tempfile
    >>> free_space_warning(tempfile.mkdtemp(), margin=0) is None
    True
    >>> free_space_warning(tempfile.mkdtemp(), margin=2**70).startswith("only ")
    True
    """
    path = Path(os.path.abspath(Path(path).expanduser()))
    try:
        free = shutil.disk_usage(_existing_ancestor(path)).free
    except OSError:
        return None
    if free >= margin:
        return None
    return (f"only {free / 1e6:.0f} MB free on the file system of output folder {path}: a run stops "
            "when it is full (finished chunks are kept, xpipe run --resume continues)")
