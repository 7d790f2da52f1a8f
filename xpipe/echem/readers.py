"""Readers that turn battery-cycler files into one table (:class:`CyclerData`).

Supported files (``read_cycler`` picks the reader from the suffix, case-insensitive):

============  ==================  ==========================================================
suffix        ``format``          read with
============  ==================  ==========================================================
``.mpr``      ``biologic-mpr``    ``galvani.BioLogic.MPRfile`` (binary EC-Lab file)
``.mpt``      ``biologic-mpt``    the parser here (EC-Lab text export)
``.nda``      ``neware-nda``      ``NewareNDA``
``.ndax``     ``neware-ndax``     ``NewareNDA``
``.res``      ``arbin-res``       ``access_parser`` (Arbin's Access/Jet database)
``.csv``      ``csv``             the parser here (also ``.tsv`` and ``.txt``; delimiter
                                  sniffed; a ``.txt``/``.csv`` that starts with
                                  ``EC-Lab ASCII FILE`` is read as ``biologic-mpt``)
============  ==================  ==========================================================

The vendor libraries are imported inside the readers, so importing this module is cheap and
only the library of the format being read has to be installed.

Conventions of the returned table
---------------------------------
* ``time_s``: seconds since the first record, monotonic non-decreasing (test time, not step
  time); ``start`` is the wall-clock time of ``time_s == 0`` (naive or tz-aware as the file
  gives it). Pauses of a Neware test (timestamps running on while the step time stands
  still) are part of ``time_s``, so that ``start + time_s`` follows the wall clock.
* ``current_ma``: mA, positive = charge (oxidation of the working electrode), the sign
  convention of all three vendors.
* ``capacity_mah``: net charge passed since the first record (mAh, charge positive),
  cumulative over the whole file. Vendors whose counters restart at every step (Neware) or
  cycle (Arbin) and count charge and discharge separately are summed up here.
* ``direction``: +1 charge, -1 discharge, 0 rest (``|I| <= rest_current_ma`` or the cycler's
  own rest state).
* ``half_cycle``: 0 before the first segment with current, then 1, 2, 3 ... incremented at
  every change of current direction; rest rows keep the number of the segment before them.
* ``cycle``: 1-based; the cycler's counter where the file has one, otherwise a new cycle
  starts at each half-cycle with the direction of the first half-cycle.
* ``step``: the cycler's (program) step index, 1-based; derived from changes of direction if
  the file has none.

Errors: a missing file raises :class:`CyclerFileNotFoundError` (a ``FileNotFoundError``);
everything else that makes a file unusable raises :class:`CyclerReadError` with a message that
names the file and what was expected.
"""

from __future__ import annotations

import csv
import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMATS",
    "REST_CURRENT_MA",
    "CyclerData",
    "CyclerFileNotFoundError",
    "CyclerReadError",
    "read_arbin_res",
    "read_biologic_mpr",
    "read_biologic_mpt",
    "read_cycler",
    "read_cycler_csv",
    "read_neware",
]

PathLike = str | Path

REST_CURRENT_MA = 1e-6
"""Currents with ``|I|`` at or below this (mA) count as rest."""

FORMATS = ("biologic-mpr", "biologic-mpt", "neware-nda", "neware-ndax", "arbin-res", "csv")
"""The values of :attr:`CyclerData.format` (and of the ``format`` argument of read_cycler)."""

_SUFFIX_FORMAT = {
    ".mpr": "biologic-mpr",
    ".mpt": "biologic-mpt",
    ".nda": "neware-nda",
    ".ndax": "neware-ndax",
    ".res": "arbin-res",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
}

_CAPACITY_MODES = ("auto", "file", "integrate")

OLE_EPOCH = datetime(1899, 12, 30)
"""Day 0 of OLE automation dates (Arbin ``DateTime`` and ``Start_DateTime``)."""

_TIME_GAP_S = 2.0
"""Neware: a step where the timestamps advance this much more than the step time is a pause."""

_TIME_TOLERANCE_S = 5.0
"""Neware: largest accepted difference between the step-time axis and the timestamps."""


class CyclerReadError(ValueError):
    """A file that cannot be read as cycler data; the message names the file and what was
    expected."""


class CyclerFileNotFoundError(CyclerReadError, FileNotFoundError):
    """The file does not exist (both a :class:`CyclerReadError` and a FileNotFoundError)."""


@dataclass
class CyclerData:
    """One cycler file as equal-length numpy arrays (one element per record).

    Units and conventions are those of the module docstring: ``time_s`` seconds since the
    first record (test time), ``voltage_v`` volts, ``current_ma`` mA with charge positive,
    ``capacity_mah`` net mAh since the first record (charge positive), ``cycle`` 1-based,
    ``half_cycle`` 0 before the first current, ``direction`` +1/-1/0 for
    charge/discharge/rest, ``step`` the cycler's 1-based step index. ``start`` is the
    wall-clock time of ``time_s == 0`` or None; ``format`` is one of :data:`FORMATS`;
    ``meta`` holds what else the file told (program, channel, column names used, the reader
    library and its version, rows dropped, how time and capacity were built).
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


# --------------------------------------------------------------------------------------------
# entry point


def read_cycler(path: PathLike, format: str = "auto", columns: dict[str, str] | None = None,
                time_format: str | None = None, capacity: str = "auto", *,
                rest_current_ma: float = REST_CURRENT_MA) -> CyclerData:
    """Read a cycler file into a :class:`CyclerData`.

    ``format``: ``"auto"`` (from the suffix: ``.mpr .mpt .nda .ndax .res .csv .tsv .txt``,
    case-insensitive) or one of :data:`FORMATS`. ``columns`` and ``time_format`` apply to CSV
    files only (see :func:`read_cycler_csv`). ``capacity``: ``"auto"`` takes the cycler's own
    charge counter where the file has one and integrates the current (trapezoid) otherwise;
    ``"file"`` insists on the counter; ``"integrate"`` always integrates the current.
    ``rest_current_ma``: ``|I|`` at or below this (mA) is rest.
    """
    p = _check_file(path)
    fmt = _resolve_format(p, format)
    kw = {"capacity": capacity, "rest_current_ma": rest_current_ma}
    if fmt == "biologic-mpr":
        return read_biologic_mpr(p, **kw)
    if fmt == "biologic-mpt":
        return read_biologic_mpt(p, **kw)
    if fmt in ("neware-nda", "neware-ndax"):
        return read_neware(p, **kw)
    if fmt == "arbin-res":
        return read_arbin_res(p, **kw)
    return read_cycler_csv(p, columns=columns, time_format=time_format, **kw)


def _resolve_format(p: Path, format: str) -> str:
    fmt = (format or "auto").lower()
    if fmt != "auto":
        aliases = {s.lstrip("."): f for s, f in _SUFFIX_FORMAT.items()}
        fmt = aliases.get(fmt, fmt)
        if fmt not in FORMATS:
            raise ValueError(f"format must be 'auto' or one of {', '.join(FORMATS)}; "
                             f"got {format!r}")
        return fmt
    suffix = p.suffix.lower()
    if suffix not in _SUFFIX_FORMAT:
        raise CyclerReadError(
            f"{p}: cannot tell the cycler format from the suffix {p.suffix!r}; expected one of "
            f"{', '.join(_SUFFIX_FORMAT)} (or pass format= one of {', '.join(FORMATS)})")
    fmt = _SUFFIX_FORMAT[suffix]
    if fmt == "csv":
        with p.open("rb") as fh:
            head = fh.read(64).lstrip(b"\xef\xbb\xbf")
        if head.startswith(b"EC-Lab ASCII FILE"):
            fmt = "biologic-mpt"
    return fmt


# --------------------------------------------------------------------------------------------
# shared helpers


def _check_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        what = "is a directory" if p.is_dir() else "does not exist"
        raise CyclerFileNotFoundError(
            f"{p}: {what}; expected a cycler data file ({', '.join(_SUFFIX_FORMAT)})")
    if p.stat().st_size == 0:
        raise CyclerReadError(f"{p}: the file is empty; expected cycler data")
    return p


def _short(exc: BaseException, limit: int = 200) -> str:
    """An exception's message cut to ``limit`` characters (library messages may hold raw
    bytes of the file)."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_text(path: Path, what: str) -> tuple[str, str]:
    """Text of a file and its encoding; a binary file (NUL or many control bytes in its
    first 4 kB) raises CyclerReadError."""
    raw = path.read_bytes()
    head = raw[:4096]
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    if b"\x00" in head or control > 0.01 * len(head):
        raise CyclerReadError(f"{path}: binary content, not {what}")
    return _decode_text(raw)


def _library_version(dist: str) -> str:
    """``"<distribution> <version>"`` of an installed package (``unknown`` if not found)."""
    from importlib import metadata

    try:
        return f"{dist} {metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return f"{dist} unknown"


def _check_capacity_mode(capacity: str) -> str:
    if capacity not in _CAPACITY_MODES:
        raise ValueError(f"capacity must be one of {', '.join(_CAPACITY_MODES)}; "
                         f"got {capacity!r}")
    return capacity


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


def _assemble(path: Path, fmt: str, *, time_s: np.ndarray, voltage_v: np.ndarray,
              current_ma: np.ndarray | None, capacity_mah: np.ndarray | None,
              capacity: str, rest_current_ma: float, start: datetime | None,
              meta: dict[str, Any], cycle: np.ndarray | None = None,
              step: np.ndarray | None = None, rest: np.ndarray | None = None,
              describe_row: Callable[[int], str] | None = None) -> CyclerData:
    """Validate the raw columns of one file and derive the rest of the table.

    ``time_s`` may start anywhere (it is shifted to start at 0 and ``start``, the wall-clock
    time of the raw ``time_s == 0``, moves with it). ``cycle`` and ``step`` must already be
    1-based. ``rest`` marks records the cycler itself calls rest. ``capacity_mah`` is the
    file's net charge counter, None when the file has none.
    """
    _check_capacity_mode(capacity)
    describe_row = describe_row or (lambda i: f"record {i}")
    t = np.asarray(time_s, dtype=float)
    n = t.size
    if n == 0:
        raise CyclerReadError(f"{path}: no data records; expected cycler data ({fmt})")
    arrays = {"voltage_v": voltage_v, "current_ma": current_ma, "capacity_mah": capacity_mah,
              "cycle": cycle, "step": step, "rest": rest}
    for name, a in arrays.items():
        if a is not None and len(a) != n:
            raise CyclerReadError(f"{path}: column {name} has {len(a)} values, time has {n}")
    v = np.asarray(voltage_v, dtype=float)
    cur = None if current_ma is None else np.asarray(current_ma, dtype=float)
    cap = None if capacity_mah is None else np.asarray(capacity_mah, dtype=float)

    # rows without a usable time, voltage, current or capacity are dropped and counted
    keep = np.ones(n, dtype=bool)
    dropped: dict[str, int] = {}
    for name, a in (("time_s", t), ("voltage_v", v), ("current_ma", cur),
                    ("capacity_mah", cap)):
        if a is None:
            continue
        bad = ~np.isfinite(a) & keep
        if bad.any():
            dropped[name] = int(bad.sum())
            keep &= ~bad
    meta["dropped_nonfinite_rows"] = int(n - keep.sum())
    if dropped:
        meta["dropped_nonfinite_by_column"] = dropped
    if not keep.any():
        raise CyclerReadError(f"{path}: no record has a finite time and voltage "
                              f"({n} records, all dropped)")
    rows = np.flatnonzero(keep)
    t, v = t[keep], v[keep]
    cur = None if cur is None else cur[keep]
    cap = None if cap is None else cap[keep]
    cycle = None if cycle is None else np.asarray(cycle)[keep]
    step = None if step is None else np.asarray(step)[keep]
    rest = None if rest is None else np.asarray(rest, dtype=bool)[keep]

    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise CyclerReadError(
            f"{path}: time goes backwards at {describe_row(int(rows[i]))} "
            f"({t[i - 1]:.6g} s -> {t[i]:.6g} s); expected non-decreasing test time")
    t0 = float(t[0])
    t = t - t0
    if start is not None and t0:
        start = start + timedelta(seconds=t0)

    # current and capacity
    if capacity == "file" and cap is None:
        raise CyclerReadError(f"{path}: capacity='file' but the file has no charge counter "
                              f"(columns used: {meta.get('columns', {})})")
    if capacity == "integrate" and cur is None:
        raise CyclerReadError(f"{path}: capacity='integrate' needs a current column "
                              f"(columns used: {meta.get('columns', {})})")
    if cur is None:
        if cap is None:
            cur = np.zeros(t.size)
            meta.setdefault("current_source", "none in the file: 0")
        else:
            cur = _current_from_charge(t, cap)
            meta.setdefault("current_source", "derivative of the capacity")
    else:
        meta.setdefault("current_source", "file")
    if cap is None or capacity == "integrate":
        cap = _integrate_current(t, cur)
        meta["capacity_source"] = "trapezoid integral of the current"
    else:
        cap = cap - cap[0]
        meta.setdefault("capacity_source", "file")

    direction = np.zeros(t.size, dtype=np.int8)
    direction[cur > rest_current_ma] = 1
    direction[cur < -rest_current_ma] = -1
    if rest is not None:
        direction[rest] = 0
    meta["rest_current_ma"] = float(rest_current_ma)

    half_cycle, hc_dir = _half_cycles(direction)
    if cycle is None:
        cycle = _derive_cycles(half_cycle, hc_dir)
        meta.setdefault("cycle_source", "derived: a cycle starts with each half-cycle in the "
                                        "direction of the first one")
    else:
        meta.setdefault("cycle_source", "file")
    if step is None:
        step = np.concatenate([[1], 1 + np.cumsum(direction[1:] != direction[:-1])])
        meta.setdefault("step_source", "derived from changes of direction")
    else:
        meta.setdefault("step_source", "file")

    return CyclerData(
        time_s=t.astype(np.float64), voltage_v=v.astype(np.float64),
        current_ma=cur.astype(np.float64), capacity_mah=cap.astype(np.float64),
        cycle=np.asarray(cycle).astype(np.int64), half_cycle=half_cycle.astype(np.int64),
        direction=direction, step=np.asarray(step).astype(np.int64), start=start,
        source=str(path), format=fmt, meta=meta)


def _half_cycles(direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-cycle number per record and the direction of half-cycles 1, 2, ...

    0 before the first record with current; +1 at every change of direction between records
    with current; rest records keep the number of the half-cycle before them.
    """
    n = direction.size
    nz = np.flatnonzero(direction)
    hc = np.zeros(n, dtype=np.int64)
    if nz.size == 0:
        return hc, np.zeros(0, dtype=np.int8)
    dn = direction[nz]
    change = np.concatenate([[True], dn[1:] != dn[:-1]])
    hc_nz = np.cumsum(change)
    pos = np.searchsorted(nz, np.arange(n), side="right") - 1
    ok = pos >= 0
    hc[ok] = hc_nz[pos[ok]]
    return hc, dn[change]


def _derive_cycles(half_cycle: np.ndarray, hc_dir: np.ndarray) -> np.ndarray:
    """Cycle per record: a new cycle starts at each half-cycle with the first one's direction."""
    cycle = np.ones(half_cycle.size, dtype=np.int64)
    if hc_dir.size == 0:
        return cycle
    starts = np.cumsum(hc_dir == hc_dir[0])
    sel = half_cycle > 0
    cycle[sel] = starts[half_cycle[sel] - 1]
    return cycle


def _one_based(values: np.ndarray) -> np.ndarray:
    """Integer counter shifted to start at 1 when it is 0-based (its minimum is 0)."""
    x = np.asarray(values, dtype=float)
    x = np.where(np.isfinite(x), x, 0.0)
    out = np.rint(x).astype(np.int64)
    if out.size and out.min() == 0:
        out = out + 1
    return out


# --------------------------------------------------------------------------------------------
# BioLogic


_BL_TIME = ("time/s",)
_BL_VOLTAGE = ("Ewe/V", "<Ewe>/V", "Ecell/V", "<Ecell>/V")
_BL_CURRENT = {"I/mA": 1.0, "<I>/mA": 1.0, "I/A": 1e3, "<I>/A": 1e3, "I/µA": 1e-3,
               "<I>/µA": 1e-3}
_BL_NET_CHARGE = {"(Q-Qo)/mA.h": 1.0, "(Q-Qo)/C": 1 / 3.6}
_BL_DQ = {"dq/mA.h": 1.0, "dQ/mA.h": 1.0, "dq/C": 1 / 3.6, "dQ/C": 1 / 3.6}


def _pick_scaled(names: list[str], table: dict[str, float]) -> tuple[str, float] | None:
    name = _find_column(names, tuple(table))
    if name is None:
        return None
    lower = {k.lower(): s for k, s in table.items()}
    return name, table.get(name, lower.get(name.lower(), 1.0))


def _biologic_table(path: Path, fmt: str, cols: dict[str, np.ndarray], mode: np.ndarray | None,
                    start: datetime | None, meta: dict[str, Any], capacity: str,
                    rest_current_ma: float,
                    describe_row: Callable[[int], str] | None = None) -> CyclerData:
    """CyclerData from EC-Lab columns (the same names in .mpr and .mpt files)."""
    names = list(cols)
    used: dict[str, str] = {}
    found = ", ".join(names)
    t_name = _find_column(names, _BL_TIME)
    if t_name is None:
        raise CyclerReadError(f"{path}: no time column 'time/s'; columns found: {found}")
    v_name = _find_column(names, _BL_VOLTAGE)
    if v_name is None:
        raise CyclerReadError(f"{path}: no voltage column (expected one of "
                              f"{', '.join(_BL_VOLTAGE)}); columns found: {found}")
    used["time_s"], used["voltage_v"] = t_name, v_name
    t = np.asarray(cols[t_name], dtype=float)
    v = np.asarray(cols[v_name], dtype=float)

    current = None
    pick = _pick_scaled(names, _BL_CURRENT)
    if pick is not None:
        current = np.asarray(cols[pick[0]], dtype=float) * pick[1]
        used["current_ma"] = pick[0]
    cap = None
    pick_q = _pick_scaled(names, _BL_NET_CHARGE)
    pick_dq = _pick_scaled(names, _BL_DQ)
    if pick_q is not None:
        cap = np.asarray(cols[pick_q[0]], dtype=float) * pick_q[1]
        used["capacity_mah"] = pick_q[0]
    elif pick_dq is not None:
        dq = np.asarray(cols[pick_dq[0]], dtype=float) * pick_dq[1]
        cap = np.cumsum(np.where(np.isfinite(dq), dq, 0.0))
        used["capacity_mah"] = f"cumulative sum of {pick_dq[0]}"
        meta["capacity_source"] = f"cumulative sum of {pick_dq[0]}"
    if current is None and pick_dq is not None:
        dq = np.asarray(cols[pick_dq[0]], dtype=float) * pick_dq[1]
        current = _current_from_charge(t, np.cumsum(np.where(np.isfinite(dq), dq, 0.0)))
        used["current_ma"] = f"{pick_dq[0]} / dt * 3600"
        meta["current_source"] = f"{pick_dq[0]} divided by the time step"

    cycle = None
    c_name = _find_column(names, ("cycle number",))
    if c_name is not None:
        cycle = np.rint(np.asarray(cols[c_name], dtype=float)).astype(np.int64) + 1
        used["cycle"] = f"{c_name} + 1"
        meta["cycle_source"] = "file ('cycle number', 0-based in EC-Lab)"
    step = None
    s_name = _find_column(names, ("Ns",))
    if s_name is not None:
        step = np.rint(np.asarray(cols[s_name], dtype=float)).astype(np.int64) + 1
        used["step"] = f"{s_name} + 1"
        meta["step_source"] = "file ('Ns', the 0-based sequence of the technique)"
    rest = None
    if mode is not None:
        rest = np.asarray(mode) == 3
        meta["rest_from"] = "EC-Lab mode 3 (rest) or |I| <= rest_current_ma"
    meta["columns"] = used
    meta["columns_found"] = names
    return _assemble(path, fmt, time_s=t, voltage_v=v, current_ma=current, capacity_mah=cap,
                     capacity=capacity, rest_current_ma=rest_current_ma, start=start, meta=meta,
                     cycle=cycle, step=step, rest=rest, describe_row=describe_row)


def read_biologic_mpr(path: PathLike, *, capacity: str = "auto",
                      rest_current_ma: float = REST_CURRENT_MA) -> CyclerData:
    """Read a BioLogic EC-Lab ``.mpr`` file with galvani.

    Uses ``time/s``, ``Ewe/V``, ``I/mA`` (absent in OCV files: current 0; absent in some GCPL
    files: ``dq/mA.h`` / dt), ``(Q-Qo)/mA.h`` (else the cumulative sum of ``dq/mA.h``, else
    the integrated current), ``cycle number`` (0-based in the file), ``Ns`` (step, 0-based in
    the file) and the mode bits of ``flags`` (mode 3 = rest). ``start`` is the file's
    acquisition start plus the first ``time/s``.
    """
    p = _check_file(path)
    _check_capacity_mode(capacity)
    try:
        from galvani import BioLogic
    except ImportError as exc:
        raise CyclerReadError(f"{p}: reading BioLogic .mpr files needs the galvani package "
                              f"(pip install galvani)") from exc
    try:
        mpr = BioLogic.MPRfile(str(p))
        data = mpr.data
        names = list(data.dtype.names or ())
    except Exception as exc:
        raise CyclerReadError(f"{p}: not a readable BioLogic .mpr file ({_short(exc)})") from exc
    cols = {n: np.asarray(data[n]) for n in names if n != "flags"}
    mode = None
    if "flags" in names:
        mode = np.asarray(data["flags"]).astype(np.int64) & 0x03
    meta: dict[str, Any] = {
        "reader": _library_version("galvani"),
        "mpr_version": getattr(mpr, "version", None),
    }
    for key in ("startdate", "enddate"):
        value = getattr(mpr, key, None)
        if value is not None:
            meta[key] = str(value)
    start = _as_datetime(getattr(mpr, "timestamp", None))
    return _biologic_table(p, "biologic-mpr", cols, mode, start, meta, capacity,
                           rest_current_ma)


_ECLAB_DATE = re.compile(
    r"(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})\s+(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"\s*([AaPp][Mm])?")


def _parse_eclab_datetime(text: str) -> tuple[datetime, str]:
    """Date and time as EC-Lab writes them, and the layout assumed.

    ``mm/dd/yyyy HH:MM:SS(.fff)`` (also with ``-``), ``dd.mm.yyyy HH:MM:SS`` (``.`` is the
    day-first locales' separator), ``yyyy-mm-dd HH:MM:SS``; month and day swap when the
    first number exceeds 12; two-digit years are 20xx; an AM/PM suffix is honoured.
    """
    m = _ECLAB_DATE.search(text)
    if m is None:
        raise ValueError(f"{text.strip()!r} is not a date like mm/dd/yyyy HH:MM:SS.fff")
    a, sep, b, c, hh, mm, ss, frac, ampm = m.groups()
    if len(a) == 4:
        year, month, day, layout = int(a), int(b), int(c), "yyyy-mm-dd"
    elif sep == ".":
        day, month, year, layout = int(a), int(b), int(c), "dd.mm.yyyy"
    else:
        month, day, year, layout = int(a), int(b), int(c), f"mm{sep}dd{sep}yyyy"
        if month > 12 >= day:
            month, day, layout = day, month, f"dd{sep}mm{sep}yyyy"
    if year < 100:
        year += 2000
    hour = int(hh)
    if ampm:
        hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
    micro = int((frac or "0")[:6].ljust(6, "0"))
    return datetime(year, month, day, hour, int(mm), int(ss), micro), layout


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


def read_biologic_mpt(path: PathLike, *, capacity: str = "auto",
                      rest_current_ma: float = REST_CURRENT_MA) -> CyclerData:
    """Read a BioLogic EC-Lab text export (``.mpt``).

    Layout: ``EC-Lab ASCII FILE``, ``Nb header lines : N``, header lines (technique, ``Run on
    channel``, ``Acquisition started on : mm/dd/yyyy HH:MM:SS.fff``, settings ...), line N
    holds the tab-separated column names, the data follow tab-separated. Decimal commas
    (day-first locales) and cp1252/latin-1 text are accepted; an export without header
    (first line = column names) too. Columns as in :func:`read_biologic_mpr`; ``mode``
    3 marks rest.
    """
    p = _check_file(path)
    _check_capacity_mode(capacity)
    text, encoding = _read_text(p, "an EC-Lab text export")
    lines = _split_lines(text)
    if not lines:
        raise CyclerReadError(f"{p}: the file is empty; expected an EC-Lab text export")
    meta: dict[str, Any] = {"reader": f"{_library_version('xpipe')} (EC-Lab text parser)",
                            "encoding": encoding}
    if lines[0].strip().startswith("EC-Lab ASCII FILE"):
        m = re.match(r"\s*Nb header lines\s*:\s*(\d+)", lines[1] if len(lines) > 1 else "")
        if m is None:
            raise CyclerReadError(f"{p}: line 2 should read 'Nb header lines : N' "
                                  f"(EC-Lab text export); found {lines[1:2]!r}")
        n_header = int(m.group(1))
        if n_header < 3 or n_header > len(lines):
            raise CyclerReadError(f"{p}: 'Nb header lines : {n_header}' does not fit a file "
                                  f"of {len(lines)} lines")
    elif "\t" in lines[0] and "time/s" in lines[0].lower():
        n_header = 1
    else:
        raise CyclerReadError(f"{p}: not an EC-Lab text export; expected the first line "
                              f"'EC-Lab ASCII FILE' (found {lines[0][:60]!r})")
    header = lines[: n_header - 1]
    names = lines[n_header - 1].split("\t")
    while names and not names[-1].strip():
        names.pop()
    names = [n.strip() for n in names]
    if not names:
        raise CyclerReadError(f"{p}: line {n_header} should hold the tab-separated column "
                              f"names; it is empty")

    start = None
    info: dict[str, str] = {}
    for line in header[2:]:
        if " : " in line:
            key, _, value = line.partition(" : ")
            info.setdefault(key.strip(), value.strip())
        elif line.strip() and "technique" not in meta and not line.startswith(("\t", " ")):
            meta["technique"] = line.strip()
    if "Acquisition started on" in info:
        stamp = info["Acquisition started on"]
        try:
            start, layout = _parse_eclab_datetime(stamp)
            meta["start_layout"] = layout
        except ValueError as exc:
            msg = (f"{p}: could not read 'Acquisition started on : {stamp}' "
                   f"(expected mm/dd/yyyy HH:MM:SS.fff); start left as None ({exc})")
            meta["start_warning"] = msg
            warnings.warn(msg, stacklevel=2)
    for key in ("Run on channel", "Loaded Setting File", "Device", "User", "Comments",
                "Electrode material", "Electrolyte", "Characteristic mass"):
        if info.get(key):
            meta[key.lower().replace(" ", "_")] = info[key]
    if "run_on_channel" in meta:
        meta["channel"] = meta.pop("run_on_channel")

    rows = [line for line in lines[n_header:] if line.strip()]
    first_data_line = n_header + 1
    if not rows:
        raise CyclerReadError(f"{p}: no data lines after the {n_header} header lines")
    decimal_comma = (any("," in r for r in rows[:50]) and not any("." in r for r in rows[:50]))
    meta["decimal_comma"] = bool(decimal_comma)
    ncol = len(names)
    table = _parse_numeric_rows(p, rows, ncol, names, decimal_comma, first_data_line,
                                lines[n_header:])
    cols = {name: table[:, j] for j, name in enumerate(names)}
    mode = None
    if "mode" in cols:
        mode = np.rint(cols.pop("mode")).astype(np.int64)
    meta["header_lines"] = n_header

    line_of = _line_numbers(lines[n_header:], first_data_line)
    return _biologic_table(p, "biologic-mpt", cols, mode, start, meta, capacity,
                           rest_current_ma, describe_row=lambda i: f"line {line_of[i]}")


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


# --------------------------------------------------------------------------------------------
# Neware


_NEWARE_REQUIRED = ("Time", "Voltage", "Current(mA)", "Step", "Cycle")
_NEWARE_REST = ("Rest", "Pause")


def read_neware(path: PathLike, *, capacity: str = "auto",
                rest_current_ma: float = REST_CURRENT_MA) -> CyclerData:
    """Read a Neware ``.nda`` or ``.ndax`` file with NewareNDA.

    Time: NewareNDA's ``Time`` is the step time (it restarts at every step; the ``.nda``
    version 130 files give test time instead). The test time is the step time accumulated
    over steps, so the resolution of ``Time`` is kept (the ``Timestamp`` column has 1 s
    resolution in many files). Where the timestamps advance more than 2 s beyond the step
    time between two records (the test was paused), the difference is inserted so that
    ``start + time_s`` stays on the wall clock; steps of the timestamps backwards (clock
    corrections) are ignored. Both are listed in ``meta``; if the result still differs from
    the timestamps by more than 5 s and the timestamps are monotonic, the timestamps are used
    (``meta['time_source']`` says which).

    Capacity: NewareNDA's charge and discharge counters restart at every step; the net
    charge is the running sum of (charge - discharge) over steps. ``cycle``: NewareNDA's
    ``Cycle`` (its default: a new cycle at a charge step after a discharge, Neware's "charge
    first" statistic). ``step``: ``Step_Index`` (the program step). Status ``Rest`` or
    ``Pause`` is rest.
    """
    p = _check_file(path)
    _check_capacity_mode(capacity)
    with p.open("rb") as fh:
        magic = fh.read(6)
    if magic == b"NEWARE":
        fmt = "neware-nda"
    elif magic.startswith(b"PK\x03\x04"):  # .ndax files are zip archives
        fmt = "neware-ndax"
    else:
        fmt = "neware-ndax" if p.suffix.lower() == ".ndax" else "neware-nda"
    kind = ".ndax" if fmt == "neware-ndax" else ".nda"
    try:
        from NewareNDA.NewareNDA import read_nda, read_nda_metadata
        from NewareNDA.NewareNDAx import read_ndax, read_ndax_metadata
    except ImportError as exc:
        raise CyclerReadError(f"{p}: reading Neware {kind} files needs the NewareNDA package "
                              f"(pip install NewareNDA)") from exc
    # NewareNDA logs its failures before raising them; the exception carries the same text
    log = logging.getLogger("newarenda")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            # pandas deprecations inside NewareNDA are nothing the caller can act on
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            if fmt == "neware-ndax":
                df = read_ndax(str(p), software_cycle_number=True, cycle_mode="chg")
            else:
                df = read_nda(str(p), software_cycle_number=True, cycle_mode="chg")
    except Exception as exc:
        raise CyclerReadError(f"{p}: not a readable Neware {kind} file ({_short(exc)})") from exc
    finally:
        log.setLevel(level)
    names = [str(c) for c in df.columns]
    missing = [c for c in _NEWARE_REQUIRED if c not in names]
    if missing:
        raise CyclerReadError(f"{p}: Neware data without column(s) {', '.join(missing)}; "
                              f"columns found: {', '.join(names)}")
    meta: dict[str, Any] = {"reader": _library_version("NewareNDA"),
                            "columns_found": names}
    try:
        if fmt == "neware-ndax":
            raw_meta = read_ndax_metadata(str(p))
            info = dict((raw_meta.get("TestInfo") or {}).get("TestInfo") or {})
            info.pop("MULTI_RANGE", None)
            meta["neware"] = info
            if info.get("StepName"):
                meta["program"] = info["StepName"]
            if info.get("ChlID"):
                meta["channel"] = "-".join(str(info.get(k, "?"))
                                           for k in ("DevID", "UnitID", "ChlID"))
        else:
            meta["neware"] = dict(read_nda_metadata(str(p)))
    except Exception as exc:  # the metadata are optional
        meta["metadata_error"] = str(exc)
    if len(df) == 0:
        raise CyclerReadError(f"{p}: no data records in the Neware file")

    step_seq = df["Step"].to_numpy().astype(np.int64)
    boundary = step_seq[1:] != step_seq[:-1]
    step_time = df["Time"].to_numpy().astype(np.float64)
    t, start = _neware_time(df, step_time, boundary, meta)

    cur = df["Current(mA)"].to_numpy().astype(np.float64)
    cap = None
    qc_name, qd_name = "Charge_Capacity(mAh)", "Discharge_Capacity(mAh)"
    if qc_name in names and qd_name in names:
        qc = _unwrap_resets(df[qc_name].to_numpy().astype(np.float64), boundary)
        qd = _unwrap_resets(df[qd_name].to_numpy().astype(np.float64), boundary)
        cap = qc - qd
        meta["capacity_source"] = ("file: running sum over steps of Charge_Capacity - "
                                   "Discharge_Capacity (counters restart at each step)")
    rest = None
    if "Status" in names:
        status = df["Status"].astype(str).to_numpy()
        rest = np.isin(status, _NEWARE_REST)
    step_name = "Step_Index" if "Step_Index" in names else "Step"
    step = _one_based(df[step_name].to_numpy())
    cycle = _one_based(df["Cycle"].to_numpy())
    meta["cycle_source"] = ("file: NewareNDA Cycle (software_cycle_number=True, "
                            "cycle_mode='chg')")
    meta["columns"] = {"time_s": "Time (accumulated step time)", "voltage_v": "Voltage",
                       "current_ma": "Current(mA)",
                       "capacity_mah": f"{qc_name} - {qd_name}" if cap is not None else "",
                       "cycle": "Cycle", "step": step_name, "datetime": "Timestamp"}
    return _assemble(p, fmt, time_s=t, voltage_v=df["Voltage"].to_numpy().astype(np.float64),
                     current_ma=cur, capacity_mah=cap, capacity=capacity,
                     rest_current_ma=rest_current_ma, start=start, meta=meta, cycle=cycle,
                     step=step, rest=rest, describe_row=lambda i: f"record {i} (Index "
                     f"{int(df['Index'].iloc[i]) if 'Index' in names else i + 1})")


def _neware_time(df: Any, step_time: np.ndarray, boundary: np.ndarray,
                 meta: dict[str, Any]) -> tuple[np.ndarray, datetime | None]:
    """Test time (s, from 0) and start of a NewareNDA table; see :func:`read_neware`."""
    # step time restarts at a step boundary where it falls: add the previous step's end
    t = _unwrap_resets(step_time, boundary)
    t = t - t[0]
    ts = None
    start = None
    if "Timestamp" in df.columns:
        stamps = df["Timestamp"]
        if len(stamps) and not stamps.isna().any():
            ts = (stamps - stamps.iloc[0]).dt.total_seconds().to_numpy().astype(np.float64)
            first = stamps.iloc[0]
            start = first.to_pydatetime() if hasattr(first, "to_pydatetime") else first
        elif len(stamps) and not stamps.isna().iloc[0]:
            start = stamps.iloc[0].to_pydatetime()
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
        if ts is None:
            meta["time_source"] = "step time (not monotonic, no timestamps)"
            return t, start
        meta["time_source"] = "Timestamp (the step time does not accumulate to a monotonic axis)"
        return ts, start
    if ts is None:
        meta["time_source"] = "accumulated step time (no timestamps)"
        return t, start
    extra = np.diff(ts) - np.diff(t)
    gaps = np.flatnonzero(extra > _TIME_GAP_S)
    back = np.flatnonzero(extra < -_TIME_GAP_S)
    if gaps.size:
        add = np.zeros(t.size)
        add[gaps + 1] = extra[gaps]
        t = t + np.cumsum(add)
        meta["pauses"] = [(int(i) + 1, round(float(extra[i]), 3)) for i in gaps[:50]]
        meta["pause_total_s"] = round(float(extra[gaps].sum()), 3)
    if back.size:
        meta["timestamp_steps_back"] = [(int(i) + 1, round(float(extra[i]), 3))
                                        for i in back[:50]]
    deviation = float(np.max(np.abs(t - ts)))
    meta["max_timestamp_deviation_s"] = round(deviation, 3)
    if deviation > _TIME_TOLERANCE_S and not back.size and np.all(np.diff(ts) >= 0):
        meta["time_source"] = (f"Timestamp (accumulated step time differs by {deviation:.1f} s)")
        return ts, start
    meta["time_source"] = ("accumulated step time" if not gaps.size else
                           "accumulated step time + pauses from the timestamps")
    return t, start


# --------------------------------------------------------------------------------------------
# Arbin


_ARBIN_REQUIRED = ("Data_Point", "Test_Time", "Voltage", "Current")


def read_arbin_res(path: PathLike, *, capacity: str = "auto",
                   rest_current_ma: float = REST_CURRENT_MA) -> CyclerData:
    """Read an Arbin ``.res`` file (a Microsoft Access/Jet database) with access_parser.

    ``Channel_Normal_Table`` sorted by ``Data_Point``: ``Test_Time`` (s), ``Voltage`` (V),
    ``Current`` (A, converted to mA), ``Charge_Capacity`` and ``Discharge_Capacity`` (Ah,
    cumulative within a cycle and restarting with each cycle in Arbin files: summed up here,
    net = charge - discharge, in mAh), ``Cycle_Index``, ``Step_Index``. ``Global_Table`` gives
    ``Start_DateTime`` (OLE automation date, the wall-clock time of ``Test_Time == 0``),
    ``Test_Name``, ``Channel_Number`` and ``Schedule_File_Name``.
    """
    p = _check_file(path)
    _check_capacity_mode(capacity)
    try:
        from access_parser import AccessParser
    except ImportError as exc:
        raise CyclerReadError(f"{p}: reading Arbin .res files needs the access-parser package "
                              f"(pip install access-parser)") from exc
    try:
        db = AccessParser(str(p))
        tables = list(getattr(db, "catalog", {}) or {})
        if "Channel_Normal_Table" not in tables:
            raise ValueError(f"no table Channel_Normal_Table (tables: {', '.join(tables)})")
        raw = db.parse_table("Channel_Normal_Table")
    except Exception as exc:
        raise CyclerReadError(f"{p}: not a readable Arbin .res file ({_short(exc)})") from exc
    names = list(raw)
    missing = [c for c in _ARBIN_REQUIRED if c not in names]
    if missing:
        raise CyclerReadError(f"{p}: Channel_Normal_Table without column(s) "
                              f"{', '.join(missing)}; columns found: {', '.join(names)}")
    cols = {k: np.array(v, dtype=float) for k, v in raw.items()
            if k in _ARBIN_REQUIRED or k in ("Step_Index", "Cycle_Index", "Charge_Capacity",
                                              "Discharge_Capacity", "DateTime", "Test_ID")}
    order = np.argsort(cols["Data_Point"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    if order.size == 0:
        raise CyclerReadError(f"{p}: no data records in Channel_Normal_Table")

    meta: dict[str, Any] = {"reader": _library_version("access-parser"),
                            "columns_found": names}
    start = None
    try:
        glob = db.parse_table("Global_Table")
    except Exception as exc:  # the global table is optional
        glob = {}
        meta["metadata_error"] = str(exc)
    for key in ("Test_Name", "Channel_Number", "Schedule_File_Name", "Creator", "Comments",
                "Channel_Index"):
        values = glob.get(key) or []
        if values:
            meta[key.lower()] = values[0]
    if "channel_number" in meta:
        meta["channel"] = meta["channel_number"]
    if "schedule_file_name" in meta:
        meta["program"] = meta["schedule_file_name"]
    starts = glob.get("Start_DateTime") or []
    if starts and starts[0] is not None:
        start = _ole_to_datetime(starts[0])
    elif "DateTime" in cols and np.isfinite(cols["DateTime"][0]):
        start = (_ole_to_datetime(cols["DateTime"][0])
                 - timedelta(seconds=float(cols["Test_Time"][0])))
    if "DateTime" in cols and start is not None:
        wall = (cols["DateTime"] - cols["DateTime"][0]) * 86400.0
        dev = np.nanmax(np.abs(wall - (cols["Test_Time"] - cols["Test_Time"][0])))
        meta["max_datetime_deviation_s"] = round(float(dev), 3)
    if "Test_ID" in cols:
        meta["test_ids"] = sorted({int(x) for x in cols["Test_ID"] if np.isfinite(x)})

    boundary = None
    if "Cycle_Index" in cols or "Step_Index" in cols:
        change = np.zeros(order.size - 1, dtype=bool)
        for key in ("Cycle_Index", "Step_Index"):
            if key in cols:
                change |= np.diff(cols[key]) != 0
        boundary = change
    cap = None
    if "Charge_Capacity" in cols and "Discharge_Capacity" in cols:
        qc = _unwrap_resets(cols["Charge_Capacity"], boundary)
        qd = _unwrap_resets(cols["Discharge_Capacity"], boundary)
        cap = (qc - qd) * 1000.0
        resets = int(np.sum(np.diff(cols["Charge_Capacity"]) < 0)
                     + np.sum(np.diff(cols["Discharge_Capacity"]) < 0))
        meta["capacity_source"] = ("file: Charge_Capacity - Discharge_Capacity (Ah x 1000), "
                                   f"summed over {resets} counter restarts")
    cycle = _one_based(cols["Cycle_Index"]) if "Cycle_Index" in cols else None
    step = _one_based(cols["Step_Index"]) if "Step_Index" in cols else None
    meta["columns"] = {"time_s": "Test_Time", "voltage_v": "Voltage",
                       "current_ma": "Current (A x 1000)",
                       "capacity_mah": "Charge_Capacity - Discharge_Capacity (Ah x 1000)",
                       "cycle": "Cycle_Index", "step": "Step_Index"}
    dp = cols["Data_Point"]
    return _assemble(p, "arbin-res", time_s=cols["Test_Time"], voltage_v=cols["Voltage"],
                     current_ma=cols["Current"] * 1000.0, capacity_mah=cap, capacity=capacity,
                     rest_current_ma=rest_current_ma, start=start, meta=meta, cycle=cycle,
                     step=step, describe_row=lambda i: f"Data_Point {int(dp[i])}")


# --------------------------------------------------------------------------------------------
# CSV / TSV / TXT


_CSV_KEYS = {
    # key: (scale to our unit, role)
    "time_s": (1.0, "time"),
    "time_min": (60.0, "time"),
    "time_h": (3600.0, "time"),
    "datetime": (1.0, "datetime"),
    "voltage_v": (1.0, "voltage"),
    "current_ma": (1.0, "current"),
    "current_a": (1e3, "current"),
    "current_ua": (1e-3, "current"),
    "capacity_mah": (1.0, "capacity"),
    "capacity_ah": (1e3, "capacity"),
    "cycle": (1.0, "cycle"),
    "step": (1.0, "step"),
}

# spellings recognised without a mapping, compared after lower-casing and dropping everything
# that is not a letter or digit ("Test Time (s)" -> "testtimes", "<I>/mA" -> "ima")
_CSV_AUTO = {
    "time_s": ("times", "testtimes", "totaltimes", "elapsedtimes", "timesec", "testtimesec",
               "time"),
    "time_min": ("timemin", "testtimemin"),
    "time_h": ("timeh", "testtimeh", "timehr", "timehours", "testtimeh"),
    "datetime": ("datetime", "timestamp", "date", "absolutetime", "realtime", "systemtime"),
    "voltage_v": ("voltagev", "ewev", "ecellv", "voltage", "potentialv", "potential",
                  "voltv", "uv", "ev"),
    "current_ma": ("currentma", "ima", "curma"),
    "current_a": ("currenta", "ia"),
    "current_ua": ("currentua", "iua", "currentµa", "iµa"),
    "capacity_mah": ("capacitymah", "qqomah", "netcapacitymah", "capmah", "chargemah"),
    "capacity_ah": ("capacityah", "qqoah", "netcapacityah"),
    "cycle": ("cycle", "cyclenumber", "cycleindex", "cycleno", "cycleid"),
    "step": ("step", "stepindex", "ns", "stepnumber", "stepno", "stepid"),
}


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-zµ]", "", name.lower())


def _sniff_delimiter(sample: list[str], suffix: str) -> str:
    text = "\n".join(sample)
    try:
        return csv.Sniffer().sniff(text, delimiters=",;\t|").delimiter
    except csv.Error:
        pass
    if suffix == ".tsv" or "\t" in sample[0]:
        return "\t"
    counts = {d: sample[0].count(d) for d in ",;|"}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _parse_datetimes(path: Path, column: str, values: list[str], time_format: str | None,
                     line_of: list[int]) -> list[datetime]:
    out = []
    for k, s in enumerate(values):
        s = s.strip()
        try:
            if time_format:
                out.append(datetime.strptime(s, time_format))
            else:
                iso = s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s
                out.append(datetime.fromisoformat(iso))
        except ValueError:
            hint = (f"time_format {time_format!r}" if time_format else
                    "ISO 8601 (pass time_format= a strptime pattern for other layouts)")
            raise CyclerReadError(f"{path}: line {line_of[k]}, column {column!r}: {s!r} is "
                                  f"not a date and time in {hint}") from None
    aware = {d.tzinfo is not None for d in out}
    if len(aware) > 1:
        raise CyclerReadError(f"{path}: column {column!r} mixes times with and without a "
                              f"time zone")
    return out


def read_cycler_csv(path: PathLike, columns: dict[str, str] | None = None,
                    time_format: str | None = None, *, capacity: str = "auto",
                    rest_current_ma: float = REST_CURRENT_MA) -> CyclerData:
    """Read a delimited text table (``.csv``, ``.tsv``, ``.txt``; delimiter sniffed).

    ``columns`` maps our names to the file's column names: ``time_s`` (or ``time_min``,
    ``time_h``), ``datetime``, ``voltage_v``, ``current_ma`` (or ``current_a``,
    ``current_ua``), ``capacity_mah`` (or ``capacity_ah``; net charge, charge positive),
    ``cycle``, ``step``. Without ``columns`` our names and common spellings (``time/s``,
    ``Ewe/V``, ``I/mA``, ``Voltage``, ``Current(mA)``, ``Capacity(mAh)``, ``Cycle``, ...,
    case-insensitive) are looked for. A time column or a ``datetime`` column and a voltage
    column are required; without current the capacity is differentiated, without capacity
    the current is integrated, with neither the current is 0. ``datetime`` values are ISO
    8601 unless ``time_format`` (a strptime pattern) is given; they give ``start`` and, when
    there is no time column, the time axis. ``cycle`` and ``step`` counters that start at 0
    are shifted to start at 1. Lines starting with ``#`` before the header are skipped; a
    decimal comma is accepted with ``;`` or tab delimiters.
    """
    p = _check_file(path)
    _check_capacity_mode(capacity)
    text, encoding = _read_text(p, "a delimited text table")
    lines = _split_lines(text)
    n_skip = 0
    while n_skip < len(lines) and (not lines[n_skip].strip()
                                   or lines[n_skip].lstrip().startswith("#")):
        n_skip += 1
    if n_skip >= len(lines):
        raise CyclerReadError(f"{p}: no header line; expected a table with a header line")
    delim = _sniff_delimiter(lines[n_skip:n_skip + 20], p.suffix.lower())
    header = [h.strip().strip('"').strip("'") for h in
              next(csv.reader([lines[n_skip]], delimiter=delim))]
    found = ", ".join(header)
    body_raw = lines[n_skip + 1:]
    line_of = _line_numbers(body_raw, n_skip + 2)
    body = [line for line in body_raw if line.strip()]
    if not body:
        raise CyclerReadError(f"{p}: header but no data lines (columns found: {found})")
    records = list(csv.reader(body, delimiter=delim))
    meta: dict[str, Any] = {"reader": f"{_library_version('xpipe')} (CSV parser)",
                            "encoding": encoding,
                            "delimiter": delim, "columns_found": header}

    # which file column holds what
    if columns is None:
        mapping = _auto_columns(header)
        meta["columns_detected"] = True
    else:
        mapping = {}
        for key, col in columns.items():
            if key not in _CSV_KEYS:
                raise ValueError(f"columns: unknown key {key!r}; expected some of "
                                 f"{', '.join(_CSV_KEYS)}")
            name = col if col in header else _find_column(header, (col,))
            if name is None:
                raise CyclerReadError(f"{p}: no column {col!r} (mapped to {key}); columns "
                                      f"found: {found}")
            mapping[key] = name
    roles: dict[str, str] = {}
    for key in mapping:
        role = _CSV_KEYS[key][1]
        if role in roles:
            raise ValueError(f"columns: both {roles[role]} and {key} given; use one")
        roles[role] = key
    if "voltage" not in roles:
        raise CyclerReadError(f"{p}: no voltage column (voltage_v; looked for e.g. voltage_v, "
                              f"Ewe/V, Voltage(V)); columns found: {found}")
    if "time" not in roles and "datetime" not in roles:
        raise CyclerReadError(f"{p}: no time column (time_s, time_min, time_h or datetime; "
                              f"looked for e.g. time_s, time/s, Test Time (s)); columns found: "
                              f"{found}")
    meta["columns"] = dict(mapping)
    index = {name: j for j, name in enumerate(header)}
    if len(index) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        used_dup = [h for h in dup if h in mapping.values()]
        if used_dup:
            raise CyclerReadError(f"{p}: column name(s) {', '.join(used_dup)} appear more "
                                  f"than once; columns found: {found}")
        index = {}
        for j, name in enumerate(header):
            index.setdefault(name, j)
    ncol = len(header)
    for k, r in enumerate(records):
        if len(r) < ncol and any(index[c] >= len(r) for c in mapping.values()):
            raise CyclerReadError(f"{p}: line {line_of[k]} has {len(r)} fields, expected "
                                  f"{ncol} ({found})")
    decimal_comma = delim != "," and any("," in r[index[mapping[roles['voltage']]]]
                                         for r in records[:20])
    meta["decimal_comma"] = decimal_comma

    def numeric(key: str) -> np.ndarray:
        j = index[mapping[key]]
        vals = [r[j].strip() if j < len(r) else "" for r in records]
        if decimal_comma:
            vals = [s.replace(",", ".") for s in vals]
        out = np.empty(len(vals))
        for k, s in enumerate(vals):
            if not s or s.lower() in ("nan", "na", "n/a", "none", "null", "-"):
                out[k] = np.nan
                continue
            try:
                out[k] = float(s)
            except ValueError:
                raise CyclerReadError(f"{p}: line {line_of[k]}, column {mapping[key]!r} "
                                      f"({key}): {s!r} is not a number") from None
        return out * _CSV_KEYS[key][0]

    start = None
    t = None
    if "time" in roles:
        t = numeric(roles["time"])
    stamps = None
    if "datetime" in roles:
        j = index[mapping["datetime"]]
        try:
            stamps = _parse_datetimes(p, mapping["datetime"], [r[j] for r in records],
                                      time_format, line_of)
        except CyclerReadError as exc:
            # a date column found by name only is optional when there is a time column
            if columns is not None or t is None:
                raise
            meta["datetime_ignored"] = str(exc)
    if stamps is not None:
        wall = np.array([(d - stamps[0]).total_seconds() for d in stamps])
        if t is None:
            t = wall
            start = stamps[0]
            meta["time_source"] = f"{mapping['datetime']} (wall clock)"
        else:
            start = stamps[0] - timedelta(seconds=float(t[0])) if np.isfinite(t[0]) else None
            ok = np.isfinite(t)
            if ok.any():
                dev = np.max(np.abs(wall[ok] - (t[ok] - t[0])))
                meta["max_datetime_deviation_s"] = round(float(dev), 3)
    if "time_source" not in meta:
        meta["time_source"] = mapping[roles["time"]]
    v = numeric(roles["voltage"])
    cur = numeric(roles["current"]) if "current" in roles else None
    cap = numeric(roles["capacity"]) if "capacity" in roles else None
    cycle = step = None
    if "cycle" in roles:
        c = numeric("cycle")
        cycle = _one_based(_ffill(c))
    if "step" in roles:
        s = numeric("step")
        step = _one_based(_ffill(s))
    return _assemble(p, "csv", time_s=t, voltage_v=v, current_ma=cur, capacity_mah=cap,
                     capacity=capacity, rest_current_ma=rest_current_ma, start=start,
                     meta=meta, cycle=cycle, step=step,
                     describe_row=lambda i: f"line {line_of[i]}")


def _auto_columns(header: list[str]) -> dict[str, str]:
    """Our keys -> the file's column names, by the spellings of ``_CSV_AUTO``."""
    normed = [_norm(h) for h in header]
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    roles: set[str] = set()
    # exact canonical names first, then the common spellings
    for key in _CSV_KEYS:
        if key in header:
            mapping[key] = key
            taken.add(key)
            roles.add(_CSV_KEYS[key][1])
    for key, spellings in _CSV_AUTO.items():
        role = _CSV_KEYS[key][1]
        if role in roles:
            continue
        for sp in spellings:
            hits = [h for h, nh in zip(header, normed) if nh == sp and h not in taken]
            if hits:
                mapping[key] = hits[0]
                taken.add(hits[0])
                roles.add(role)
                break
    return mapping

