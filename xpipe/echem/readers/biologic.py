"""BioLogic EC-Lab files: binary ``.mpr`` (read with yadg, else galvani) and the ``.mpt`` text
export (read here).

Both hold the same EC-Lab columns (``time/s``, ``Ewe/V``, ``I/mA``, ``(Q-Qo)/mA.h``,
``cycle number``, ``Ns``, ``mode``), so both end in one table builder; the binary reader names
its columns as the text export does (quantity ``/`` unit). A ``.mpr`` file starts with
``BIO-LOGIC MODULAR FILE``, a ``.mpt`` export with ``EC-Lab ASCII FILE``; an export saved as
``.csv`` or ``.txt`` is recognised by that first line. The ``.mpr`` reading itself lives in
:mod:`.eclab_mpr`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from datetime import datetime
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
    _current_from_charge,
    _find_column,
    _library_version,
    _line_numbers,
    _parse_numeric_rows,
    _read_text,
    _split_lines,
    _table_options_ignored,
)
from .eclab_mpr import MPR_MAGIC, mpr_columns

_BL_TIME = ("time/s",)
_BL_VOLTAGE = ("Ewe/V", "<Ewe>/V", "Ecell/V", "<Ecell>/V", "Ewe-Ece/V", "<Ewe-Ece>/V")
_BL_CURRENT = {"I/mA": 1.0, "<I>/mA": 1.0, "I/A": 1e3, "<I>/A": 1e3, "I/µA": 1e-3,
               "<I>/µA": 1e-3}
_BL_NET_CHARGE = {"(Q-Qo)/mA.h": 1.0, "(Q-Qo)/C": 1 / 3.6}
_BL_DQ = {"dq/mA.h": 1.0, "dQ/mA.h": 1.0, "dq/C": 1 / 3.6, "dQ/C": 1 / 3.6}

_MPT_MAGIC = b"EC-Lab ASCII FILE"


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
    found = ", ".join(names)
    t_name = _find_column(names, _BL_TIME)
    if t_name is None:
        raise CyclerReadError(f"{path}: no time column 'time/s'; columns found: {found}")
    v_name = _find_column(names, _BL_VOLTAGE)
    if v_name is None:
        raise CyclerReadError(f"{path}: no voltage column (expected one of "
                              f"{', '.join(_BL_VOLTAGE)}); columns found: {found}")
    used = {"time_s": t_name, "voltage_v": v_name}
    t = np.asarray(cols[t_name], dtype=float)
    v = np.asarray(cols[v_name], dtype=float)
    current, cap = _biologic_current_capacity(cols, t, used, meta)
    cycle, step = _biologic_counters(cols, used, meta)
    rest = None
    if mode is not None:
        rest = np.asarray(mode) == 3
        meta["rest_from"] = "EC-Lab mode 3 (rest) or |I| <= rest_current_ma"
    meta["columns"] = used
    meta["columns_found"] = names
    return _assemble(path, fmt, time_s=t, voltage_v=v, current_ma=current, capacity_mah=cap,
                     capacity=capacity, rest_current_ma=rest_current_ma, start=start, meta=meta,
                     cycle=cycle, step=step, rest=rest, describe_row=describe_row)


def _biologic_current_capacity(cols: dict[str, np.ndarray], t: np.ndarray, used: dict[str, str],
                               meta: dict[str, Any]) -> tuple[np.ndarray | None,
                                                              np.ndarray | None]:
    """Current (mA) and net charge (mAh) from the EC-Lab columns there are (None if none)."""
    names = list(cols)
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
    return current, cap


def _biologic_counters(cols: dict[str, np.ndarray], used: dict[str, str],
                       meta: dict[str, Any]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """1-based cycle and step from EC-Lab's 0-based ``cycle number`` and ``Ns``."""
    names = list(cols)
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
    return cycle, step


# --------------------------------------------------------------------------------------------
# .mpr


def read_biologic_mpr(path: PathLike, *, capacity: str = "auto",
                      rest_current_ma: float = REST_CURRENT_MA) -> CyclerData:
    """Read a BioLogic EC-Lab ``.mpr`` file (with yadg; with galvani where yadg cannot).

    Uses ``time/s``, ``Ewe/V`` (``<Ewe>/V``, ``Ecell/V`` where the file has no ``Ewe``),
    ``I/mA`` or ``<I>/mA`` (absent in OCV files: current 0; absent in some GCPL files:
    ``dq/mA.h`` / dt), ``(Q-Qo)/mA.h`` or ``(Q-Qo)/C`` (else the cumulative sum of ``dq``,
    else the integrated current), ``cycle number`` (0-based in the file), ``Ns`` (step,
    0-based in the file) and the mode bits of the flag byte (mode 3 = rest). Each column is
    converted by the unit the reader gives it (``C`` to mAh: / 3.6; ``A`` to mA: * 1000).

    Parameters
    ----------
    path : str or Path
        The ``.mpr`` file.
    capacity : {"auto", "file", "integrate"}
        Where the charge comes from: the file's counter when it has one (``auto``), only the
        counter (``file``), or the integrated current (``integrate``).
    rest_current_ma : float
        ``|I|`` at or below this (mA) is rest.

    Returns
    -------
    CyclerData
        ``format`` ``'biologic-mpr'``; ``start`` is the file's acquisition start plus the
        first ``time/s``; ``meta['reader']`` names the library that read it.

    Examples
    --------
    A file that is not an ``.mpr`` file is a :class:`CyclerReadError` naming it:

    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "cell.mpr"
    >>> _ = path.write_text("time/s,Ewe/V\\n0,3.1\\n")
    >>> try:
    ...     read_biologic_mpr(path)
    ... except CyclerReadError as exc:
    ...     print(str(exc).replace(str(path), "cell.mpr"))
    cell.mpr: not a readable BioLogic .mpr file (it does not start with 'BIO-LOGIC MODULAR FILE'; found b'time/s,Ewe/V\\n0,3.1\\n')
    """
    p = _check_file(path)
    _check_capacity_mode(capacity)
    cols, mode, start, meta = mpr_columns(p)
    return _biologic_table(p, "biologic-mpr", cols, mode, start, meta, capacity,
                           rest_current_ma)


# --------------------------------------------------------------------------------------------
# .mpt


_ECLAB_DATE = re.compile(
    r"(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})\s+(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"\s*([AaPp][Mm])?")

_MPT_INFO_KEYS = ("Run on channel", "Loaded Setting File", "Device", "User", "Comments",
                  "Electrode material", "Electrolyte", "Characteristic mass")


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


def read_biologic_mpt(path: PathLike, *, capacity: str = "auto",
                      rest_current_ma: float = REST_CURRENT_MA) -> CyclerData:
    """Read a BioLogic EC-Lab text export (``.mpt``).

    Layout: ``EC-Lab ASCII FILE``, ``Nb header lines : N``, header lines (technique, ``Run on
    channel``, ``Acquisition started on : mm/dd/yyyy HH:MM:SS.fff``, settings ...), line N
    holds the tab-separated column names, the data follow tab-separated. Decimal commas
    (day-first locales) and cp1252/latin-1 text are accepted; an export without header
    (first line = column names) too. Columns as in :func:`read_biologic_mpr`; ``mode``
    3 marks rest.

    Parameters
    ----------
    path : str or Path
        The text export (any suffix).
    capacity : {"auto", "file", "integrate"}
        Where the charge comes from: ``(Q-Qo)/mA.h`` when there (``auto``), only that
        (``file``), or the integrated current (``integrate``).
    rest_current_ma : float
        ``|I|`` at or below this (mA) is rest.

    Returns
    -------
    CyclerData
        ``format`` ``'biologic-mpt'``; ``start`` from ``Acquisition started on``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> rows = ["mode\\ttime/s\\tEwe/V\\tI/mA\\t(Q-Qo)/mA.h", "1\\t0\\t3.20\\t1.0\\t0",
    ...         "1\\t1800\\t3.30\\t1.0\\t0.5", "1\\t3600\\t3.40\\t1.0\\t1.0"]
    >>> text = "\\n".join(["EC-Lab ASCII FILE", "Nb header lines : 4",
    ...                    "Acquisition started on : 05/14/2024 09:30:00.000"] + rows)
    >>> path = Path(tempfile.mkdtemp()) / "gcpl.mpt"
    >>> _ = path.write_text(text)
    >>> d = read_biologic_mpt(path)
    >>> d.format, len(d), d.start
    ('biologic-mpt', 3, datetime.datetime(2024, 5, 14, 9, 30))
    >>> float(d.capacity_mah[-1]), d.direction.tolist()
    (1.0, [1, 1, 1])
    """
    p = _check_file(path)
    _check_capacity_mode(capacity)
    text, encoding = _read_text(p, "an EC-Lab text export")
    lines = _split_lines(text)
    if not lines:
        raise CyclerReadError(f"{p}: the file is empty; expected an EC-Lab text export")
    meta: dict[str, Any] = {"reader": f"{_library_version('xpipe')} (EC-Lab text parser)",
                            "encoding": encoding}
    n_header = _mpt_header_lines(p, lines)
    names = _mpt_column_names(p, lines, n_header)
    start = _mpt_header_info(p, lines[: n_header - 1], meta)
    rows = [line for line in lines[n_header:] if line.strip()]
    first_data_line = n_header + 1
    if not rows:
        technique = f" ({meta['technique']})" if meta.get("technique") else ""
        raise CyclerReadError(f"{p}: no data lines after the {n_header} header lines: the "
                              f"technique{technique} recorded nothing, there is no time, "
                              f"voltage or current to read")
    names = _mpt_names_with_data(names, rows, meta)
    decimal_comma = (any("," in r for r in rows[:50]) and not any("." in r for r in rows[:50]))
    meta["decimal_comma"] = bool(decimal_comma)
    table = _parse_numeric_rows(p, rows, len(names), names, decimal_comma, first_data_line,
                                lines[n_header:])
    line_of = _line_numbers(lines[n_header:], first_data_line)
    _check_last_row(p, text, [r.split("\t") for r in rows[-4:]], line_of[-1])
    cols = {name: table[:, j] for j, name in enumerate(names)}
    mode = None
    if "mode" in cols:
        mode = np.rint(cols.pop("mode")).astype(np.int64)
    meta["header_lines"] = n_header
    return _biologic_table(p, "biologic-mpt", cols, mode, start, meta, capacity,
                           rest_current_ma, describe_row=lambda i: f"line {line_of[i]}")


def _mpt_header_lines(p: Path, lines: list[str]) -> int:
    """N of ``Nb header lines : N`` (the line of the column names); 1 without a header."""
    if lines[0].strip().startswith("EC-Lab ASCII FILE"):
        m = re.match(r"\s*Nb header lines\s*:\s*(\d+)", lines[1] if len(lines) > 1 else "")
        if m is None:
            raise CyclerReadError(f"{p}: line 2 should read 'Nb header lines : N' "
                                  f"(EC-Lab text export); found {lines[1:2]!r}")
        n_header = int(m.group(1))
        if n_header < 3 or n_header > len(lines):
            raise CyclerReadError(f"{p}: 'Nb header lines : {n_header}' does not fit a file "
                                  f"of {len(lines)} lines")
        return n_header
    if "\t" in lines[0] and "time/s" in lines[0].lower():
        return 1
    raise CyclerReadError(f"{p}: not an EC-Lab text export; expected the first line "
                          f"'EC-Lab ASCII FILE' (found {lines[0][:60]!r})")


_ANGLED_UNIT = re.compile(r"^<([^<>/]+)/([^<>]+)>$")


def _mpt_column_names(p: Path, lines: list[str], n_header: int) -> list[str]:
    """The tab-separated column names on line ``n_header``; an average written with its unit
    inside the brackets (``<Ewe/V>``, older EC-Lab versions) is named as the others are
    (``<Ewe>/V``)."""
    names = lines[n_header - 1].split("\t")
    while names and not names[-1].strip():
        names.pop()
    names = [_ANGLED_UNIT.sub(r"<\1>/\2", n.strip()) for n in names]
    if not names:
        raise CyclerReadError(f"{p}: line {n_header} should hold the tab-separated column "
                              f"names; it is empty")
    return names


def _mpt_names_with_data(names: list[str], rows: list[str], meta: dict[str, Any]) -> list[str]:
    """The names that label data: EC-Lab may write names after an empty one (``Rwe-ce/Ohm``,
    ``""``, ``Ewe-Ece/V``) that no data line fills; when no line holds more fields than the
    names before the empty one, the names from the empty one on are dropped (listed in
    ``meta['names_without_data']``)."""
    if "" not in names:
        return names
    k = names.index("")
    widest = max(len(r.rstrip("\t\r ").split("\t")) for r in rows)
    if widest > k:
        return names
    meta["names_without_data"] = names[k + 1:]
    return names[:k]


def _mpt_header_info(p: Path, header: list[str], meta: dict[str, Any]) -> datetime | None:
    """Technique, channel and settings of the header into ``meta``; the acquisition start."""
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
            warnings.warn(msg, stacklevel=3)
    for key in _MPT_INFO_KEYS:
        if info.get(key):
            meta[key.lower().replace(" ", "_")] = info[key]
    if "run_on_channel" in meta:
        meta["channel"] = meta.pop("run_on_channel")
    return start


def _sniff_mpr(head: bytes) -> bool:
    return head.startswith(MPR_MAGIC)


def _sniff_mpt(head: bytes) -> bool:
    return head[:64].lstrip(b"\xef\xbb\xbf").startswith(_MPT_MAGIC)


REGISTRY.register("biologic-mpr", read=_table_options_ignored(read_biologic_mpr),
                  suffixes=(".mpr",), sniff=_sniff_mpr,
                  description="BioLogic EC-Lab binary file (yadg, else galvani)")
REGISTRY.register("biologic-mpt", read=_table_options_ignored(read_biologic_mpt),
                  suffixes=(".mpt",), sniff=_sniff_mpt,
                  description="BioLogic EC-Lab text export")
