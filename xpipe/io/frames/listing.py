"""How the inputs of a recipe are listed: entries to file paths, and the listing mode.

While an experiment is still writing its files (``xpipe watch``), inputs are listed within
:func:`inputs_listing`: ``"missing_ok"`` lists what exists so far (a glob may match nothing yet,
an HDF5 file or dataset may not exist yet), ``"deferred"`` lists nothing at all (the caller
lists the frames itself later).

Examples
--------
>>> with inputs_listing("missing_ok"):
...     print(_listing_mode("frames/*.cbf"))
missing_ok
>>> _listing_mode("frames/*.cbf")
'strict'
"""

from __future__ import annotations

import contextvars
import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import natural_key

_LISTING: contextvars.ContextVar[tuple[str, tuple[str, ...] | None]] = contextvars.ContextVar(
    "xpipe_inputs_listing", default=("strict", None))
_LISTINGS = ("strict", "missing_ok", "deferred")


@contextmanager
def inputs_listing(mode: str, entries: str | list[str] | None = None) -> Iterator[None]:
    """Within this block, :func:`xpipe.io.frames.expand_inputs` lists inputs the ``mode`` way.

    Parameters
    ----------
    mode : str
        ``"strict"`` (the default): every entry must match an existing file. ``"missing_ok"``:
        an entry that matches nothing yet gives no frames, and so does an HDF5 file that cannot
        be opened yet or lacks its dataset so far. ``"deferred"``: nothing is listed; for
        validating a recipe whose frames are listed later, as they are written.
    entries : str, list of str or None
        A recipe's ``files`` value: the mode applies to that value only, other inputs are
        listed strictly. None: to every input.

    Returns
    -------
    context manager
        Restores the previous mode on exit.

    Examples
    --------
    >>> from xpipe.io.frames import expand_inputs
    >>> with inputs_listing("deferred"):
    ...     expand_inputs("frames/*.cbf", Path("/nowhere"))
    []
    """
    if mode not in _LISTINGS:
        raise ValueError(f"unknown inputs listing {mode!r}; expected one of {', '.join(_LISTINGS)}")
    token = _LISTING.set((mode, None if entries is None else _entries_key(entries)))
    try:
        yield
    finally:
        _LISTING.reset(token)


def _entries_key(entries: str | list[str]) -> tuple[str, ...]:
    return (entries,) if isinstance(entries, str) else tuple(entries)


def _listing_mode(entries: str | list[str]) -> str:
    mode, only = _LISTING.get()
    return mode if only is None or only == _entries_key(entries) else "strict"


def _glob_pattern(path_part: str, base_dir: Path) -> str:
    """Glob pattern for an entry: the base directory is literal, only the entry may hold wildcards."""
    pattern = os.path.expanduser(path_part)
    if os.path.isabs(pattern):
        return pattern
    return os.path.join(glob.escape(str(base_dir)), pattern)


def _entry_paths(entry: str, path_part: str, base_dir: Path, missing_ok: bool) -> list[str]:
    """The files an entry's path part names (a glob sorted naturally, or one file).

    Raises ``FileNotFoundError`` naming the entry when it matches nothing (unless
    ``missing_ok``).
    """
    pattern = Path(path_part).expanduser()
    pattern = Path(os.path.normpath(pattern if pattern.is_absolute() else base_dir / pattern))
    if glob.has_magic(str(Path(path_part).expanduser())) and not pattern.is_file():
        paths = sorted(glob.glob(_glob_pattern(path_part, base_dir)), key=natural_key)
        paths = [os.path.normpath(p) for p in paths if os.path.isfile(p)]
        if not paths and not missing_ok:
            raise FileNotFoundError(f"no file matches '{entry}' (looked in {pattern.parent})")
        return paths
    if pattern.is_file():
        return [str(pattern)]
    if missing_ok:
        return []
    raise FileNotFoundError(f"file '{entry}' does not exist (looked for {pattern})")
