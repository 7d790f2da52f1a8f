"""What xpipe reads from any file: ``xpipe inspect FILE [--json]``.

The first thing to run when a file does not behave. :func:`inspect_file` asks every reader
family's registry whether it claims the file (see :mod:`xpipe.inspect.detect`), reads it with
the strongest claim's public reader, and reports what came out: the family and format, how the
format was chosen, the blocks, groups, regions, scans or frame datasets, the columns with their
units, the number of points or frames and a frame's shape and data type, the ranges, the
timestamps, and every warning the reader raised or logged. A file the readers refuse gets the
refusal, naming the file and what was expected. Nothing read is executed or unpickled, and a
frame stack is never loaded whole: its frames are listed from the file's metadata and one
frame is read.

The JSON report
---------------
``xpipe inspect FILE --json`` prints one object, schema ``xpipe.inspect/1``. Its keys
(:data:`KEYS`) are always all present, ``null`` where they do not apply:

``schema``
    ``"xpipe.inspect/1"``; a change to the keys or their meaning gets a new number.
``path``
    The file as given. ``size_bytes``: its size (null when it cannot be read).
``ok``
    True when a reader read the file; ``error`` is then null, else the one-line refusal.
``family``
    ``frames``, ``pattern``, ``xas``, ``xps``, ``cycler``, ``poni``, ``recipe`` or
    ``structure`` (see :data:`~xpipe.inspect.detect.FAMILIES`); for a refused file, the
    family whose refusal ``error`` is.
``format``, ``format_description``
    The format the family's registry chose (``cbf``, ``xdi``, ``vamas``, ``biologic-mpr``...).
``detected_by``
    ``content`` (the format's signature or header), ``suffix``, ``fallback`` (the family's
    catch-all) or ``family`` (asked for with ``--family``).
``candidates``
    Every family that claims the file, strongest first: ``{family, format, detected_by,
    outcome, error}`` with ``outcome`` ``read``, ``refused``, ``error`` (the reader failed in
    an unexpected way) or ``not tried``.
``items``
    The file's parts: ``{name, kind, n_points, ranges, timestamp, details}``, ``kind`` one of
    ``scan``, ``group`` (Athena), ``entry`` (NeXus), ``block`` (VAMAS), ``region`` (SPECS),
    ``spectrum``, ``dataset`` (HDF5 frames), ``section`` (recipe), ``site`` (CIF).
``columns``
    ``{name, unit, role}``: the file's columns as it names them, with the unit the file
    states, and what xpipe uses each for (``energy``, ``i0``, ``time_s``...).
``n_points``
    Points, records or frames in all (PONI: calibrations; CIF: sites).
``frames``
    For frame files: ``{count, frame_shape, dtype, datasets}``, ``datasets`` a list of
    ``{path, frames, shape, dtype, chunks, compression}`` for HDF5.
``ranges``
    ``name: [min, max]`` with the unit in the name: ``energy_ev``, ``binding_energy_ev``,
    ``two_theta_deg`` (or ``q_per_angstrom``), ``time_s``, ``voltage_v``, ``current_ma``,
    ``capacity_mah``, ``first_frame_counts``...
``timestamps``
    ``{first, last, source}``: ISO 8601 times and where they come from (``header``,
    ``hdf5``, ``file``, ``file header``).
``warnings``
    What the reader warned or logged (warnings, log records at WARNING and above, printed
    lines), one string each.
``notes``
    What the report adds: ambiguous claims, assumed units, skipped groups.
``metadata``
    Further values the reader found, flattened to ``key: value`` (format-specific, not part
    of the stable schema).

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "cell.csv"
>>> _ = path.write_text("time/s,Ewe/V,I/mA\\n0,3.2,2\\n900,3.3,2\\n1800,3.4,-2\\n")
>>> report = inspect_file(path)
>>> report.ok, report.family, report.format, report.detected_by, report.n_points
(True, 'cycler', 'csv', 'suffix', 3)
>>> list(report.to_dict()) == list(KEYS)
True
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..echem.readers import CyclerReadError
from ..io.frames import FrameReadError
from ..io.patterns import PatternReadError
from ..xas.scan import XasReadError
from ..xps.readers import XpsReadError
from .describe_frames import (
    describe_frames,
    describe_pattern,
    describe_poni,
    describe_recipe,
    describe_structure,
)
from .describe_spectra import describe_cycler, describe_xas, describe_xps
from .detect import FAMILIES, WHY, Candidate, candidates, read_head
from .render import render_text

__all__ = ["CANDIDATE_KEYS", "COLUMN_KEYS", "ITEM_KEYS", "KEYS", "SCHEMA", "Inspection",
           "format_exception", "inspect_file", "render_text"]

SCHEMA = "xpipe.inspect/1"
#: The keys of the JSON report, in order.
KEYS = ("schema", "path", "size_bytes", "ok", "error", "family", "format", "format_description",
        "detected_by", "candidates", "items", "columns", "n_points", "frames", "ranges",
        "timestamps", "warnings", "notes", "metadata")
#: The keys of each entry of ``candidates``, ``items`` and ``columns``.
CANDIDATE_KEYS = ("family", "format", "detected_by", "outcome", "error")
ITEM_KEYS = ("name", "kind", "n_points", "ranges", "timestamp", "details")
COLUMN_KEYS = ("name", "unit", "role")
#: Warnings kept in a report.
MAX_WARNINGS = 50

DESCRIBE: dict[str, Callable[[Path, str], dict[str, Any]]] = {
    "frames": describe_frames, "pattern": describe_pattern, "xas": describe_xas,
    "xps": describe_xps, "cycler": describe_cycler, "poni": describe_poni,
    "recipe": describe_recipe, "structure": describe_structure,
}
#: Exceptions that mean "the reader refused the file"; anything else is an unexpected failure.
REFUSALS = (FrameReadError, PatternReadError, XasReadError, XpsReadError, CyclerReadError,
            ValueError, OSError, EOFError)


@dataclass
class Inspection:
    """What xpipe reads from one file; :meth:`to_dict` is the JSON report (see the module).

    Parameters
    ----------
    path : str
        The file as given.
    ok : bool
        Whether a reader read it.
    error : str or None
        The one-line refusal when not.
    exit_code : int
        What ``xpipe inspect`` returns: 0 read, 1 refused by the readers, 2 not a readable
        file at all (missing, a folder, no permission).

    Examples
    --------
    >>> r = Inspection("a.txt", ok=False, error="a.txt: no such file", exit_code=2)
    >>> r.to_dict()["schema"], r.to_dict()["ok"], r.to_dict()["items"]
    ('xpipe.inspect/1', False, [])
    """

    path: str
    ok: bool = False
    error: str | None = None
    exit_code: int = 1
    size_bytes: int | None = None
    family: str | None = None
    format: str | None = None
    format_description: str | None = None
    detected_by: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    columns: list[dict[str, Any]] = field(default_factory=list)
    n_points: int | None = None
    frames: dict[str, Any] | None = None
    ranges: dict[str, Any] = field(default_factory=dict)
    timestamps: dict[str, Any] = field(
        default_factory=lambda: {"first": None, "last": None, "source": None})
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: the unexpected exception of a reader, for ``--debug`` (not in the report)
    exception: BaseException | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: every key of :data:`KEYS`, in order."""
        out = {key: getattr(self, key) for key in KEYS if key != "schema"}
        return {"schema": SCHEMA, **out}

    def text(self) -> str:
        """The report as ``xpipe inspect`` prints it (see :func:`render_text`)."""
        return render_text(self.to_dict())


@contextlib.contextmanager
def _captured() -> Iterator[list[str]]:
    """Collect what a reader warns, logs (WARNING and above) or prints, instead of showing it."""
    messages: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                messages.append(f"{record.levelname.lower()} ({record.name}): {record.getMessage()}")
            except Exception:  # noqa: BLE001, S110 - a badly formatted record is not worth a failure
                pass

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = [_Keep(logging.WARNING)]
    printed = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed):
            warnings.simplefilter("always")
            try:
                yield messages
            finally:
                messages.extend(f"{w.category.__name__}: {w.message}" for w in caught)
    finally:
        root.handlers = saved
        messages.extend(f"printed: {line.strip()}" for line in printed.getvalue().splitlines()
                        if line.strip())


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _not_a_file(report: Inspection, p: Path) -> bool:
    """Fill the report of a path that cannot be inspected at all; False when it can."""
    problem = None
    if not p.exists():
        problem = "no such file" if not p.is_symlink() else "a link to a file that does not exist"
    elif p.is_dir():
        problem = "is a folder; expected a file"
    elif not p.is_file():
        problem = "is not a regular file (a device, pipe or socket); expected a file"
    else:
        try:
            report.size_bytes = p.stat().st_size
            read_head(p)
        except OSError as exc:
            problem = f"cannot be read: {exc.strerror or exc}"
    if problem is None:
        return False
    report.error, report.exit_code = f"{p}: {problem}", 2
    return True


def _attempt(report: Inspection, cand: Candidate, p: Path) -> tuple[dict | None, str, list[str]]:
    """Read ``p`` as ``cand``: (the report's fields or None, outcome, captured warnings)."""
    with _captured() as caught:
        try:
            fields = DESCRIBE[cand.family](p, cand.format)
        except REFUSALS as exc:
            return None, f"refused: {_one_line(exc) or type(exc).__name__}", caught
        except Exception as exc:  # noqa: BLE001 - an unexpected failure is reported, not raised
            report.exception = report.exception or exc
            return None, f"error: {type(exc).__name__}: {_one_line(exc)}", caught
    return fields, "read", caught


def _fill(report: Inspection, cand: Candidate, fields: dict[str, Any]) -> None:
    report.ok, report.exit_code, report.error = True, 0, None
    for key, value in fields.items():
        if key == "notes":
            report.notes.extend(value)
        elif value is not None:
            setattr(report, key, value)


def _choose(report: Inspection, cand: Candidate, asked: bool) -> None:
    report.family, report.format = cand.family, cand.format
    report.format_description = cand.description
    report.detected_by = "family" if asked else cand.detected_by


def _without_path(reason: str, p: Path) -> str:
    """A reader's message without the file name it starts with (the report names it once)."""
    for lead in (f"'{p}'", str(p)):
        if reason.startswith(lead):
            return reason[len(lead):].lstrip(":[] ").strip() or reason
    return reason


def _refusal(report: Inspection, tried: list[tuple[Candidate, str]], p: Path) -> None:
    cand, outcome = tried[0]
    reason = outcome.split(": ", 1)[1]
    if cand.detected_by == "fallback":
        reason = _without_path(reason, p)
        reason = (f"{p}: no xpipe reader recognises this file: no format's signature matches its "
                  f"content and no format reads the suffix '{p.suffix}'; read as {cand.family} "
                  f"({cand.format}, the catch-all) it was refused: {reason}")
    report.error = reason if str(p) in reason or p.name in reason else f"{p}: {reason}"
    report.exit_code = 1


def inspect_file(path: str | os.PathLike[str], family: str | None = None) -> Inspection:
    """Tell what xpipe reads from ``path``: family, format and why, parts, columns, ranges, times.

    The families that claim the file are tried strongest claim first (content, then suffix,
    then a family's catch-all), and only at the strongest level there is: when the formats
    that recognise a file's content refuse it, the report says so rather than read it with
    a catch-all. The first that reads it is reported.

    Parameters
    ----------
    path : str or Path
        The file.
    family : str or None
        Read it as this family only (a key of :data:`~xpipe.inspect.detect.FAMILIES`).

    Returns
    -------
    Inspection
        ``ok`` and ``exit_code`` 0 when read; ``exit_code`` 1 with ``error`` when the readers
        refuse it, 2 when it is no readable file (missing, a folder, no permission).

    Raises
    ------
    ValueError
        An unknown ``family``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "noise.bin").write_bytes(bytes(range(256)) * 4)
    >>> r = inspect_file(folder / "noise.bin")
    >>> r.ok, r.exit_code, r.error.split(": ", 2)[1]
    (False, 1, 'no xpipe reader recognises this file')
    >>> inspect_file(folder / "gone.h5").exit_code
    2
    """
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    p = Path(path)
    report = Inspection(str(path))
    if _not_a_file(report, p):
        return report
    if report.size_bytes == 0:
        report.error = f"{p}: the file is empty (0 bytes)"
        return report
    found = candidates(p, family)
    report.candidates = [{"family": c.family, "format": c.format,
                          "detected_by": "family" if family else c.detected_by,
                          "outcome": "not tried", "error": None} for c in found]
    if not found:
        report.error = (f"{p}: no {family + ' ' if family else ''}reader claims this file "
                        f"(suffix '{p.suffix}')")
        return report
    level = found[0].detected_by
    tried: list[tuple[Candidate, str]] = []
    for i, cand in enumerate(found):
        if cand.detected_by != level and family is None:
            break
        fields, outcome, caught = _attempt(report, cand, p)
        entry = report.candidates[i]
        entry["outcome"], entry["error"] = outcome.split(": ", 1)[0], (
            outcome.split(": ", 1)[1] if fields is None else None)
        if not tried or fields is not None:
            _choose(report, cand, family is not None)
            report.warnings = list(dict.fromkeys(caught))[:MAX_WARNINGS]
        if fields is not None:
            _fill(report, cand, fields)
            _ambiguity(report, cand, found[i + 1:], tried, p)
            return report
        tried.append((cand, outcome))
    _refusal(report, tried, p)
    return report


def _ambiguity(report: Inspection, chosen: Candidate, rest: list[Candidate],
               tried: list[tuple[Candidate, str]], p: Path) -> None:
    """Notes for a file that several families claim equally: which were passed over, and why."""
    for cand, outcome in tried:
        reason = _without_path(outcome.split(": ", 1)[1], p)
        reason = reason if len(reason) <= 160 else reason[:157] + "..."
        report.notes.append(
            f"{cand.family} ({cand.format}) also claims it, by {WHY[cand.detected_by]}, and "
            f"refused it: {reason}; if the file is "
            f"{cand.family}, that refusal is what to fix (--family {cand.family} shows it alone)")
    same = [c for c in rest if c.detected_by == chosen.detected_by]
    if chosen.detected_by == "content" or not same:
        return
    others = ", ".join(f"{c.family} ({c.format})" for c in same)
    report.notes.append(f"{WHY[chosen.detected_by]} is claimed by other families too: {others}; "
                        f"shown as {chosen.family}, the first that reads it; --family chooses")


def format_exception(report: Inspection) -> str:
    """The traceback of a reader's unexpected failure, for ``--debug`` ('' when none).

    Parameters
    ----------
    report : Inspection

    Returns
    -------
    str

    Examples
    --------
    >>> format_exception(Inspection("a"))
    ''
    """
    exc = report.exception
    return "".join(traceback.format_exception(exc)) if exc is not None else ""
