"""What every cycler reader shares: the table, the errors, the registry and small helpers.

:class:`CyclerData` is the one table every reader returns; :data:`REGISTRY` lists the formats
(each format module registers itself at import); the private helpers check a file, decode text
and turn the counters vendors write (charge per step, 0-based indices) into the conventions of
:mod:`xpipe.echem.readers`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import metadata
from os import PathLike as _OsPathLike
from pathlib import Path
from typing import Any

import numpy as np

from ...io.registry import FileFormat, Registry
from ...io.text import cut_last_row

PathLike = str | Path

REST_CURRENT_MA = 1e-6
"""Currents with ``|I|`` at or below this (mA) count as rest."""

OLE_EPOCH = datetime(1899, 12, 30)
"""Day 0 of OLE automation dates (Arbin ``DateTime`` and ``Start_DateTime``)."""

_CAPACITY_MODES = ("auto", "file", "integrate")


class CyclerReadError(ValueError):
    """A file that cannot be read as cycler data; the message names the file and what was
    expected.

    Examples
    --------
    >>> issubclass(CyclerReadError, ValueError)
    True
    """


class CyclerFileNotFoundError(CyclerReadError, FileNotFoundError):
    """The file does not exist (both a :class:`CyclerReadError` and a FileNotFoundError).

    Examples
    --------
    >>> issubclass(CyclerFileNotFoundError, FileNotFoundError)
    True
    """


@dataclass
class CyclerData:
    """One cycler file as equal-length numpy arrays (one element per record).

    Parameters
    ----------
    time_s : numpy.ndarray
        Seconds since the first record (test time), non-decreasing.
    voltage_v : numpy.ndarray
        Cell voltage in volts.
    current_ma : numpy.ndarray
        Current in mA, charge positive.
    capacity_mah : numpy.ndarray
        Net charge in mAh since the first record, charge positive.
    cycle : numpy.ndarray
        Cycle number, 1-based.
    half_cycle : numpy.ndarray
        Segment of one current direction: 0 before the first current, then 1, 2, ...
    direction : numpy.ndarray
        +1 charge, -1 discharge, 0 rest.
    step : numpy.ndarray
        The cycler's 1-based (program) step index.
    start : datetime or None
        Wall-clock time of ``time_s == 0``.
    source : str
        The file read.
    format : str
        One of :data:`~xpipe.echem.readers.FORMATS`.
    meta : dict
        What else the file told: program, channel, column names used, the reader library and
        its version, rows dropped, how time and capacity were built.

    Examples
    --------
    >>> import numpy as np
    >>> d = CyclerData(time_s=np.array([0.0, 3600.0]), voltage_v=np.array([3.2, 3.4]),
    ...                current_ma=np.array([1.0, 1.0]), capacity_mah=np.array([0.0, 1.0]),
    ...                cycle=np.array([1, 1]), half_cycle=np.array([1, 1]),
    ...                direction=np.array([1, 1]), step=np.array([1, 1]), start=None,
    ...                source="cell.csv", format="csv")
    >>> len(d), d.n_cycles, d.n_half_cycles
    (2, 1, 1)
    >>> d.charge_label().tolist()
    ['charge', 'charge']
    """

    time_s: np.ndarray
    voltage_v: np.ndarray
    current_ma: np.ndarray
    capacity_mah: np.ndarray
    cycle: np.ndarray
    half_cycle: np.ndarray
    direction: np.ndarray
    step: np.ndarray
    start: datetime | None
    source: str
    format: str
    meta: dict[str, Any] = field(default_factory=dict)

    COLUMNS = ("time_s", "voltage_v", "current_ma", "capacity_mah", "cycle", "half_cycle",
               "direction", "step")

    def __post_init__(self) -> None:
        n = len(self.time_s)
        for name in self.COLUMNS:
            if len(getattr(self, name)) != n:
                raise ValueError(f"CyclerData: column {name} has {len(getattr(self, name))} "
                                 f"values, time_s has {n}")

    def __len__(self) -> int:
        return int(len(self.time_s))

    def charge_label(self) -> np.ndarray:
        """``'charge'``, ``'discharge'`` or ``'rest'`` per record (from ``direction``)."""
        return np.where(self.direction > 0, "charge",
                        np.where(self.direction < 0, "discharge", "rest"))

    def as_columns(self) -> dict[str, np.ndarray]:
        """The per-record columns by name (``time_s``, ``voltage_v``, ... ``step``)."""
        return {name: getattr(self, name) for name in self.COLUMNS}

    @property
    def n_cycles(self) -> int:
        """Number of distinct cycle numbers."""
        return int(np.unique(self.cycle).size)

    @property
    def n_half_cycles(self) -> int:
        """Number of half-cycles (segments of one current direction)."""
        return int(self.half_cycle.max()) if len(self) else 0

    def __repr__(self) -> str:
        if not len(self):
            return f"CyclerData({self.format}, {self.source!r}, empty)"
        return (f"CyclerData({self.format}, {Path(self.source).name!r}, n={len(self)}, "
                f"{self.time_s[-1] / 3600:.3g} h, {self.voltage_v.min():.4f}-"
                f"{self.voltage_v.max():.4f} V, {self.n_cycles} cycles, "
                f"{self.n_half_cycles} half-cycles, start={self.start})")


class CyclerRegistry(Registry):
    """The cycler formats: a :class:`~xpipe.io.registry.Registry` that only reads files whose
    suffix some format claims.

    A file with a suffix no format claims is an error even when its content could be sniffed;
    among the known suffixes the content decides first (an EC-Lab text export saved as
    ``.csv`` is read as ``biologic-mpt``). A ``format=`` is a format name or a suffix without
    its dot; anything else is a ValueError listing the names.

    Parameters
    ----------
    family : str
        What the files hold, for messages (``"cycler"``).
    error : type of Exception
        Raised, naming the file, when no format claims a file.
    fallback : None
        Cycler files have no fallback format.

    Examples
    --------
    >>> reg = CyclerRegistry("cycler", error=CyclerReadError)
    >>> reg.register("text", read=str, suffixes=(".txt",))
    >>> reg["TXT"].name
    'text'
    >>> try:
    ...     reg["maccor"]
    ... except ValueError as exc:
    ...     print(exc)
    format must be 'auto' or one of text; got 'maccor'
    """

    def __getitem__(self, name: str) -> FileFormat:
        key = name.lower()
        for f in self:
            if f.name == key or "." + key in f.suffixes:
                return f
        raise ValueError(f"format must be 'auto' or one of {', '.join(self.names())}; "
                         f"got {name!r}")

    def detect(self, path: str | _OsPathLike[str]) -> FileFormat:
        p = Path(path)
        if self.by_suffix(p.suffix) is None:
            raise self.error(
                f"{p}: cannot tell the cycler format from the suffix {p.suffix!r}; expected one "
                f"of {', '.join(self.suffixes())} (or pass format= one of "
                f"{', '.join(self.names())})")
        return super().detect(p)


REGISTRY = CyclerRegistry("cycler", error=CyclerReadError, fallback=None)
"""The cycler formats, in sniff order (filled by the format modules at import)."""


def _table_options_ignored(reader: Callable[..., CyclerData]) -> Callable[..., CyclerData]:
    """``reader`` as the registry calls it: ``columns`` and ``time_format`` (options of
    delimited tables) are accepted and ignored."""

    def read(path: PathLike, *, columns: dict[str, str] | None = None,
             time_format: str | None = None, **kw: Any) -> CyclerData:
        return reader(path, **kw)

    read.__doc__ = reader.__doc__
    return read


# --------------------------------------------------------------------------------------------
# files and text


def _check_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        what = "is a directory" if p.is_dir() else "does not exist"
        raise CyclerFileNotFoundError(
            f"{p}: {what}; expected a cycler data file ({', '.join(REGISTRY.suffixes())})")
    if p.stat().st_size == 0:
        raise CyclerReadError(f"{p}: the file is empty; expected cycler data")
    return p


def _check_capacity_mode(capacity: str) -> str:
    if capacity not in _CAPACITY_MODES:
        raise ValueError(f"capacity must be one of {', '.join(_CAPACITY_MODES)}; "
                         f"got {capacity!r}")
    return capacity


def _short(exc: BaseException, limit: int = 200) -> str:
    """An exception's message cut to ``limit`` characters (library messages may hold raw
    bytes of the file)."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _library_version(dist: str) -> str:
    """``"<distribution> <version>"`` of an installed package (``unknown`` if not found)."""
    try:
        return f"{dist} {metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return f"{dist} unknown"


def _read_text(path: Path, what: str) -> tuple[str, str]:
    """Text of a file and its encoding; a binary file (NUL or many control bytes in its
    first 4 kB) raises CyclerReadError."""
    raw = path.read_bytes()
    head = raw[:4096]
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    if b"\x00" in head or control > 0.01 * len(head):
        raise CyclerReadError(f"{path}: binary content, not {what}")
    return _decode_text(raw)


def _decode_text(raw: bytes) -> tuple[str, str]:
    """Text of a file: UTF-8 (BOM removed), else cp1252, else latin-1; and the encoding."""
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _split_lines(text: str) -> list[str]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _line_numbers(lines: list[str], first: int) -> list[int]:
    """File line numbers (1-based) of the non-blank lines of ``lines``."""
    return [first + k for k, line in enumerate(lines) if line.strip()]


def _parse_numeric_rows(path: Path, rows: list[str], ncol: int, names: list[str],
                        decimal_comma: bool, first_line: int, raw_lines: list[str],
                        delimiter: str = "\t") -> np.ndarray:
    """Float table (rows x ncol) from delimited text rows; errors name the line and column."""
    line_of = _line_numbers(raw_lines, first_line)
    cells = []
    for k, row in enumerate(rows):
        parts = row.split(delimiter)
        if len(parts) < ncol:
            raise CyclerReadError(f"{path}: line {line_of[k]} has {len(parts)} fields, "
                                  f"expected {ncol} ({', '.join(names)})")
        cells.append(parts[:ncol])
    if decimal_comma:
        cells = [[c.replace(",", ".") for c in r] for r in cells]
    try:
        return np.array(cells, dtype=float)
    except ValueError:
        pass
    for k, r in enumerate(cells):
        for j, c in enumerate(r):
            try:
                float(c)
            except ValueError:
                raise CyclerReadError(
                    f"{path}: line {line_of[k]}, column {names[j]!r}: {c!r} is not a number"
                ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _check_last_row(path: Path, text: str, records: list[list[str]], line: int) -> None:
    """Refuse a table whose last record is cut off: the file has no line end after it, and
    it holds fewer fields than the three records before it, or its last field is written
    shorter than in them (see :func:`~xpipe.io.text.cut_last_row`; fields are not checked as
    numbers, a table may hold text columns). ``records`` are the last records split into
    fields, ``line`` the file line of the last one."""
    if text.endswith(("\n", "\r")) or not records:
        return
    if cut_last_row(records[-1], records[-4:-1], numbers=False):
        last = [f.strip() for f in records[-1] if f.strip()]
        raise CyclerReadError(
            f"{path}: line {line}, the last, is cut off: it ends without a line end in "
            f"{last[-1]!r}, shorter than the lines before; the file is incomplete")


def _find_column(names: list[str], candidates: tuple[str, ...]) -> str | None:
    """The first of ``candidates`` that ``names`` holds (exact, then case-insensitive)."""
    for c in candidates:
        if c in names:
            return c
    lower = {n.strip().lower(): n for n in names}
    for c in candidates:
        if c.lower() in lower:
            return lower[c.lower()]
    return None


# --------------------------------------------------------------------------------------------
# counters and times


def _ffill(values: np.ndarray) -> np.ndarray:
    """Non-finite values replaced by the last finite one before them (the first finite one
    for leading gaps; 0 when there is none)."""
    x = np.asarray(values, dtype=float)
    ok = np.isfinite(x)
    if ok.all():
        return x
    if not ok.any():
        return np.zeros_like(x)
    idx = np.where(ok, np.arange(x.size), 0)
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    first = int(np.argmax(ok))
    out[:first] = x[first]
    return out


def _current_from_charge(time_s: np.ndarray, charge_mah: np.ndarray) -> np.ndarray:
    """Current (mA) from a cumulative charge (mAh): the backward difference ``dQ/dt * 3600``
    assigned to the later record; the first record takes the value of the second, records
    with ``dt == 0`` the value before them."""
    t = np.asarray(time_s, dtype=float)
    q = np.asarray(charge_mah, dtype=float)
    n = t.size
    cur = np.full(n, np.nan)
    if n > 1:
        dt = np.diff(t)
        dq = np.diff(q)
        ok = dt > 0
        cur[1:][ok] = dq[ok] / dt[ok] * 3600.0
        cur[0] = cur[1]
    return _ffill(cur)


def _integrate_current(time_s: np.ndarray, current_ma: np.ndarray) -> np.ndarray:
    """Cumulative trapezoid integral of the current: charge in mAh since the first record."""
    t = np.asarray(time_s, dtype=float)
    i = np.asarray(current_ma, dtype=float)
    if t.size < 2:
        return np.zeros(t.size)
    inc = 0.5 * (i[1:] + i[:-1]) * np.diff(t) / 3600.0
    return np.concatenate([[0.0], np.cumsum(inc)])


def _unwrap_resets(counter: np.ndarray, boundary: np.ndarray | None = None) -> np.ndarray:
    """A counter that restarts (at step or cycle changes) made cumulative.

    Wherever the counter falls (by more than 1e-6 of its largest magnitude) from one record
    to the next, and ``boundary[i - 1]`` is true when given (a step/cycle change between
    records ``i - 1`` and ``i``), the value before the fall is added to everything after it.
    """
    x = np.asarray(counter, dtype=float)
    if x.size < 2:
        return x.copy()
    tol = 1e-6 * float(np.nanmax(np.abs(x))) if np.isfinite(x).any() else 0.0
    prev = x[:-1]
    fall = x[1:] < prev - tol
    if boundary is not None:
        fall &= boundary
    offset = np.concatenate([[0.0], np.cumsum(np.where(fall, prev, 0.0))])
    return x + offset


def _one_based(values: np.ndarray) -> np.ndarray:
    """Integer counter shifted to start at 1 when it is 0-based (its minimum is 0)."""
    x = np.asarray(values, dtype=float)
    x = np.where(np.isfinite(x), x, 0.0)
    out = np.rint(x).astype(np.int64)
    if out.size and out.min() == 0:
        out = out + 1
    return out


def _as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, datetime.min.time())
    return None


def _ole_to_datetime(days: float) -> datetime:
    """OLE automation date (days since 1899-12-30, fraction = time of day) as a naive
    datetime, rounded to the microsecond."""
    return OLE_EPOCH + timedelta(microseconds=round(float(days) * 86400e6))
