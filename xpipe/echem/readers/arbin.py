"""Arbin ``.res`` files: a Microsoft Access/Jet database, read with access_parser.

The records are in ``Channel_Normal_Table``; ``Global_Table`` holds the test's start and name.
Arbin's charge and discharge counters restart with each cycle; here they become one net charge.
"""

from __future__ import annotations

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
    _library_version,
    _ole_to_datetime,
    _one_based,
    _short,
    _table_options_ignored,
    _unwrap_resets,
)

_ARBIN_REQUIRED = ("Data_Point", "Test_Time", "Voltage", "Current")
_ARBIN_OPTIONAL = ("Step_Index", "Cycle_Index", "Charge_Capacity", "Discharge_Capacity",
                   "DateTime", "Test_ID")
_ARBIN_GLOBAL = ("Test_Name", "Channel_Number", "Schedule_File_Name", "Creator", "Comments",
                 "Channel_Index")
# the first bytes of a Jet (Access 97-2003) or ACE (Access 2007+) database
_ACCESS_MAGIC = (b"\x00\x01\x00\x00Standard Jet DB", b"\x00\x01\x00\x00Standard ACE DB")


def read_arbin_res(path: PathLike, *, capacity: str = "auto",
                   rest_current_ma: float = REST_CURRENT_MA) -> CyclerData:
    """Read an Arbin ``.res`` file (a Microsoft Access/Jet database) with access_parser.

    ``Channel_Normal_Table`` sorted by ``Data_Point``: ``Test_Time`` (s), ``Voltage`` (V),
    ``Current`` (A, converted to mA), ``Charge_Capacity`` and ``Discharge_Capacity`` (Ah,
    cumulative within a cycle and restarting with each cycle in Arbin files: summed up here,
    net = charge - discharge, in mAh), ``Cycle_Index``, ``Step_Index``. ``Global_Table`` gives
    ``Start_DateTime`` (OLE automation date, the wall-clock time of ``Test_Time == 0``),
    ``Test_Name``, ``Channel_Number`` and ``Schedule_File_Name``.

    Parameters
    ----------
    path : str or Path
        The ``.res`` file.
    capacity : {"auto", "file", "integrate"}
        Where the charge comes from: the file's counters (``auto``, ``file``) or the
        integrated current (``integrate``).
    rest_current_ma : float
        ``|I|`` at or below this (mA) is rest.

    Returns
    -------
    CyclerData
        ``format`` ``'arbin-res'``; ``meta`` holds the test name, channel and schedule.

    Examples
    --------
    A file that is not an Access database is a :class:`CyclerReadError` naming it:

    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "cell.res"
    >>> _ = path.write_text("Data_Point,Test_Time\\n1,0\\n")
    >>> try:
    ...     read_arbin_res(path)
    ... except CyclerReadError as exc:
    ...     print(str(exc).replace(str(path), "cell.res"))
    cell.res: not a readable Arbin .res file (Failed to parse DB file header. Check it is a valid access database)
    """
    p = _check_file(path)
    _check_capacity_mode(capacity)
    db, names, cols = _arbin_records(p)
    meta: dict[str, Any] = {"reader": _library_version("access-parser"),
                            "columns_found": names}
    start = _arbin_global(p, db, cols, meta)
    if "Test_ID" in cols:
        meta["test_ids"] = sorted({int(x) for x in cols["Test_ID"] if np.isfinite(x)})
    cap = _arbin_capacity(cols, meta)
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
                     step=step, describe_row=lambda i: f"Data_Point {dp[i]:.15g}")


def _arbin_records(p: Path) -> tuple[Any, list[str], dict[str, np.ndarray]]:
    """The database, the column names of ``Channel_Normal_Table`` and the columns used,
    sorted by ``Data_Point``."""
    try:  # optional library, imported when a .res file is read
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
    cols = {k: _float_column(p, k, v) for k, v in raw.items()
            if k in _ARBIN_REQUIRED or k in _ARBIN_OPTIONAL}
    order = np.argsort(cols["Data_Point"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    if order.size == 0:
        raise CyclerReadError(f"{p}: no data records in Channel_Normal_Table")
    return db, names, cols


def _float_column(p: Path, name: str, values: Any) -> np.ndarray:
    """A column of ``Channel_Normal_Table`` as floats (None is NaN); a value that is not a
    number is a CyclerReadError naming the column."""
    try:
        return np.array(values, dtype=float)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CyclerReadError(f"{p}: Channel_Normal_Table column {name} holds a value that is "
                              f"not a number ({_short(exc)})") from None


def _arbin_start(p: Path, glob: dict, cols: dict[str, np.ndarray]) -> datetime | None:
    """The wall-clock time of ``Test_Time == 0``: ``Start_DateTime``, else the first
    ``DateTime`` less the first ``Test_Time``; a date out of the calendar is a CyclerReadError."""
    starts = glob.get("Start_DateTime") or []
    try:
        if starts and starts[0] is not None:
            return _ole_to_datetime(starts[0])
        if "DateTime" in cols and np.isfinite(cols["DateTime"][0]):
            return (_ole_to_datetime(cols["DateTime"][0])
                    - timedelta(seconds=float(cols["Test_Time"][0])))
    except (TypeError, ValueError, OverflowError) as exc:
        raise CyclerReadError(f"{p}: the test's start date is not a date the calendar holds "
                              f"({_short(exc)})") from None
    return None


def _arbin_global(p: Path, db: Any, cols: dict[str, np.ndarray],
                  meta: dict[str, Any]) -> datetime | None:
    """Test name, channel and schedule of ``Global_Table`` into ``meta``; the wall-clock time
    of ``Test_Time == 0``."""
    try:
        glob = db.parse_table("Global_Table")
    except Exception as exc:  # the global table is optional
        glob = {}
        meta["metadata_error"] = str(exc)
    for key in _ARBIN_GLOBAL:
        values = glob.get(key) or []
        if values:
            meta[key.lower()] = values[0]
    if "channel_number" in meta:
        meta["channel"] = meta["channel_number"]
    if "schedule_file_name" in meta:
        meta["program"] = meta["schedule_file_name"]
    start = _arbin_start(p, glob, cols)
    if "DateTime" in cols and start is not None:
        wall = (cols["DateTime"] - cols["DateTime"][0]) * 86400.0
        dev = np.abs(wall - (cols["Test_Time"] - cols["Test_Time"][0]))
        dev = dev[np.isfinite(dev)]
        if dev.size:
            meta["max_datetime_deviation_s"] = round(float(dev.max()), 3)
    return start


def _arbin_capacity(cols: dict[str, np.ndarray], meta: dict[str, Any]) -> np.ndarray | None:
    """Net charge (mAh) from the charge and discharge counters, summed over their restarts
    at cycle or step changes; None when the file has no counters."""
    if "Charge_Capacity" not in cols or "Discharge_Capacity" not in cols:
        return None
    boundary = None
    if "Cycle_Index" in cols or "Step_Index" in cols:
        change = np.zeros(cols["Data_Point"].size - 1, dtype=bool)
        for key in ("Cycle_Index", "Step_Index"):
            if key in cols:
                change |= np.diff(cols[key]) != 0
        boundary = change
    qc = _unwrap_resets(cols["Charge_Capacity"], boundary)
    qd = _unwrap_resets(cols["Discharge_Capacity"], boundary)
    resets = int(np.sum(np.diff(cols["Charge_Capacity"]) < 0)
                 + np.sum(np.diff(cols["Discharge_Capacity"]) < 0))
    meta["capacity_source"] = ("file: Charge_Capacity - Discharge_Capacity (Ah x 1000), "
                               f"summed over {resets} counter restarts")
    return (qc - qd) * 1000.0


def _sniff_res(head: bytes) -> bool:
    return head.startswith(_ACCESS_MAGIC)


REGISTRY.register("arbin-res", read=_table_options_ignored(read_arbin_res), suffixes=(".res",),
                  sniff=_sniff_res, description="Arbin database (access_parser)")
