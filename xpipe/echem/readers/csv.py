"""Delimited text tables (``.csv``, ``.tsv``, ``.txt``): any cycler's export, or a hand-made
table, with the delimiter sniffed and the columns found by name.

Our column names (``time_s``, ``voltage_v``, ...) and common spellings (``time/s``, ``Ewe/V``,
``Current(mA)``, ...) are recognised without a mapping; a ``columns=`` mapping names the
file's columns otherwise. Tables have no fixed first line, so this format has no sniff.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from .assemble import _assemble
from .base import (
    REGISTRY,
    REST_CURRENT_MA,
    CyclerData,
    CyclerReadError,
    PathLike,
    _check_capacity_mode,
    _check_file,
    _check_last_row,
    _ffill,
    _find_column,
    _library_version,
    _line_numbers,
    _one_based,
    _read_text,
    _split_lines,
)

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

_MISSING = ("nan", "na", "n/a", "none", "null", "-")


def read_cycler_csv(path: PathLike, columns: dict[str, str] | None = None,
                    time_format: str | None = None, *, capacity: str = "auto",
                    rest_current_ma: float = REST_CURRENT_MA) -> CyclerData:
    """Read a delimited text table (``.csv``, ``.tsv``, ``.txt``; delimiter sniffed).

    A time column or a ``datetime`` column and a voltage column are required; without
    current the capacity is differentiated, without capacity the current is integrated, with
    neither the current is 0. ``datetime`` values give ``start`` and, when there is no time
    column, the time axis. ``cycle`` and ``step`` counters that start at 0 are shifted to
    start at 1. Lines starting with ``#`` before the header are skipped; a decimal comma is
    accepted with ``;`` or tab delimiters.

    Parameters
    ----------
    path : str or Path
        The table.
    columns : dict or None
        Our names -> the file's column names: ``time_s`` (or ``time_min``, ``time_h``),
        ``datetime``, ``voltage_v``, ``current_ma`` (or ``current_a``, ``current_ua``),
        ``capacity_mah`` (or ``capacity_ah``; net charge, charge positive), ``cycle``,
        ``step``. None looks for our names and common spellings (``time/s``, ``Ewe/V``,
        ``I/mA``, ``Voltage``, ``Current(mA)``, ``Capacity(mAh)``, ``Cycle``, ...,
        case-insensitive).
    time_format : str or None
        strptime pattern of the ``datetime`` values; None reads ISO 8601.
    capacity : {"auto", "file", "integrate"}
        Where the charge comes from: the capacity column when there is one (``auto``), only
        that column (``file``), or the integrated current (``integrate``).
    rest_current_ma : float
        ``|I|`` at or below this (mA) is rest.

    Returns
    -------
    CyclerData
        ``format`` ``'csv'``; ``meta`` names the delimiter and the columns used.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "cell.csv"
    >>> _ = path.write_text("Test Time (min);Potential;I (uA)\\n0;3,20;500\\n"
    ...                     "60;3,30;500\\n120;3,40;-500\\n")
    >>> d = read_cycler_csv(path, columns={"time_min": "Test Time (min)",
    ...                                    "voltage_v": "Potential", "current_ua": "I (uA)"})
    >>> d.meta["delimiter"], d.meta["decimal_comma"]
    (';', True)
    >>> d.time_s.tolist(), d.current_ma.tolist(), d.half_cycle.tolist()
    ([0.0, 3600.0, 7200.0], [0.5, 0.5, -0.5], [1, 1, 2])
    >>> round(float(d.capacity_mah[-1]), 3)
    0.5
    """
    p = _check_file(path)
    _check_capacity_mode(capacity)
    table = _csv_table(p)
    mapping, roles = _csv_mapping(p, table.header, columns)
    if columns is None:
        table.meta["columns_detected"] = True
    table.meta["columns"] = dict(mapping)
    table.use(mapping, roles)
    t, start = _csv_time(table, roles, time_format, explicit=columns is not None)
    v = table.numeric(roles["voltage"])
    cur = table.numeric(roles["current"]) if "current" in roles else None
    cap = table.numeric(roles["capacity"]) if "capacity" in roles else None
    cycle = step = None
    if "cycle" in roles:
        cycle = _one_based(_ffill(table.numeric("cycle")))
    if "step" in roles:
        step = _one_based(_ffill(table.numeric("step")))
    line_of = table.line_of
    return _assemble(p, "csv", time_s=t, voltage_v=v, current_ma=cur, capacity_mah=cap,
                     capacity=capacity, rest_current_ma=rest_current_ma, start=start,
                     meta=table.meta, cycle=cycle, step=step,
                     describe_row=lambda i: f"line {line_of[i]}")


@dataclass
class _Table:
    """The split records of one delimited file, and the columns chosen from them."""

    path: Path
    header: list[str]
    records: list[list[str]]
    line_of: list[int]
    meta: dict[str, Any]
    mapping: dict[str, str] | None = None
    index: dict[str, int] | None = None
    decimal_comma: bool = False

    @property
    def found(self) -> str:
        return ", ".join(self.header)

    def use(self, mapping: dict[str, str], roles: dict[str, str]) -> None:
        """Column positions of ``mapping``; checks the records are long enough for them."""
        p, header, found = self.path, self.header, self.found
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
        for k, r in enumerate(self.records):
            if len(r) < ncol and any(index[c] >= len(r) for c in mapping.values()):
                raise CyclerReadError(f"{p}: line {self.line_of[k]} has {len(r)} fields, "
                                      f"expected {ncol} ({found})")
        j_volt = index[mapping[roles["voltage"]]]
        self.decimal_comma = self.meta["delimiter"] != "," and any(
            "," in r[j_volt] for r in self.records[:20])
        self.meta["decimal_comma"] = self.decimal_comma
        self.mapping, self.index = mapping, index

    def texts(self, key: str) -> list[str]:
        """The raw cells of the column mapped to ``key``."""
        j = self.index[self.mapping[key]]
        return [r[j] for r in self.records]

    def numeric(self, key: str) -> np.ndarray:
        """The column mapped to ``key`` as floats in our unit (NaN where empty or missing)."""
        j = self.index[self.mapping[key]]
        vals = [r[j].strip() if j < len(r) else "" for r in self.records]
        if self.decimal_comma:
            vals = [s.replace(",", ".") for s in vals]
        out = np.empty(len(vals))
        for k, s in enumerate(vals):
            if not s or s.lower() in _MISSING:
                out[k] = np.nan
                continue
            try:
                out[k] = float(s)
            except ValueError:
                raise CyclerReadError(f"{self.path}: line {self.line_of[k]}, column "
                                      f"{self.mapping[key]!r} ({key}): {s!r} is not a "
                                      f"number") from None
        return out * _CSV_KEYS[key][0]


def _csv_table(p: Path) -> _Table:
    """Header and records of the file: ``#`` lines before the header skipped, delimiter
    sniffed, blank lines dropped."""
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
              _records(p, [lines[n_skip]], delim, [n_skip + 1])[0]]
    body_raw = lines[n_skip + 1:]
    line_of = _line_numbers(body_raw, n_skip + 2)
    body = [line for line in body_raw if line.strip()]
    if not body:
        raise CyclerReadError(f"{p}: header but no data lines (columns found: "
                              f"{', '.join(header)})")
    meta: dict[str, Any] = {"reader": f"{_library_version('xpipe')} (CSV parser)",
                            "encoding": encoding,
                            "delimiter": delim, "columns_found": header}
    records = _records(p, body, delim, line_of)
    _check_last_row(p, text, records[-4:], line_of[-1])
    return _Table(p, header, records, line_of, meta)


def _records(p: Path, rows: list[str], delim: str, line_of: list[int]) -> list[list[str]]:
    """The fields of each row; a row the csv module refuses (a field over its size limit, a
    stray quote) is a CyclerReadError naming the file line."""
    reader = csv.reader(rows, delimiter=delim)
    try:
        return list(reader)
    except csv.Error as exc:
        k = max(reader.line_num - 1, 0)
        line = line_of[k] if k < len(line_of) else k + 1
        size = len(rows[k]) if k < len(rows) else 0
        raise CyclerReadError(f"{p}: line {line} ({size} characters) cannot be split into "
                              f"fields ({exc}); expected a delimited table of cycler "
                              "records") from None


def _csv_mapping(p: Path, header: list[str],
                 columns: dict[str, str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """Our keys -> the file's column names, and each role (time, voltage, ...) -> its key."""
    found = ", ".join(header)
    if columns is None:
        mapping = _auto_columns(header)
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
    return mapping, roles


def _csv_time(table: _Table, roles: dict[str, str], time_format: str | None,
              explicit: bool) -> tuple[np.ndarray, datetime | None]:
    """Time axis (s) and start, from the time column, the date column or both.

    A date column found by name only (not ``explicit``) is ignored, and noted in ``meta``,
    when it cannot be read and there is a time column.
    """
    mapping, meta = table.mapping, table.meta
    start = None
    t = table.numeric(roles["time"]) if "time" in roles else None
    stamps = None
    if "datetime" in roles:
        try:
            stamps = _parse_datetimes(table.path, mapping["datetime"], table.texts("datetime"),
                                      time_format, table.line_of)
        except CyclerReadError as exc:
            if explicit or t is None:
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
    return t, start


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


REGISTRY.register("csv", read=read_cycler_csv, suffixes=(".csv", ".tsv", ".txt"),
                  description="delimited text table (delimiter sniffed, columns by name)")
