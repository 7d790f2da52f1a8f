"""From the raw columns of one cycler file to a :class:`CyclerData`.

Every reader ends in :func:`_assemble`: it drops records without a usable time, voltage,
current or charge, checks that time never goes back, fills in current or capacity from the
other when the file lacks one, and derives direction, half-cycles, cycles and steps where the
file has none. What was done is written into ``meta``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from .base import (
    CyclerData,
    CyclerReadError,
    _check_capacity_mode,
    _current_from_charge,
    _integrate_current,
)


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
    cols = _raw_columns(path, fmt, time_s=time_s, voltage_v=voltage_v, current_ma=current_ma,
                        capacity_mah=capacity_mah, cycle=cycle, step=step, rest=rest)
    cols, rows = _drop_nonfinite(path, cols, meta)
    t, start = _test_time(path, cols["time_s"], rows, start, describe_row)
    cur, cap = _current_and_capacity(path, t, cols["current_ma"], cols["capacity_mah"],
                                     capacity, meta)
    direction = _direction(cur, cols["rest"], rest_current_ma)
    meta["rest_current_ma"] = float(rest_current_ma)
    half_cycle, cycle, step = _cycles_and_steps(direction, cols["cycle"], cols["step"], meta)
    return CyclerData(
        time_s=t.astype(np.float64), voltage_v=cols["voltage_v"].astype(np.float64),
        current_ma=cur.astype(np.float64), capacity_mah=cap.astype(np.float64),
        cycle=np.asarray(cycle).astype(np.int64), half_cycle=half_cycle.astype(np.int64),
        direction=direction, step=np.asarray(step).astype(np.int64), start=start,
        source=str(path), format=fmt, meta=meta)


def _raw_columns(path: Path, fmt: str, **columns: np.ndarray | None) -> dict[str, Any]:
    """The columns as arrays (None where the file has none), all as long as ``time_s``."""
    t = np.asarray(columns.pop("time_s"), dtype=float)
    n = t.size
    if n == 0:
        raise CyclerReadError(f"{path}: no data records; expected cycler data ({fmt})")
    for name, a in columns.items():
        if a is not None and len(a) != n:
            raise CyclerReadError(f"{path}: column {name} has {len(a)} values, time has {n}")
    out: dict[str, Any] = {"time_s": t, "voltage_v": np.asarray(columns["voltage_v"], dtype=float)}
    for name in ("current_ma", "capacity_mah"):
        a = columns[name]
        out[name] = None if a is None else np.asarray(a, dtype=float)
    for name in ("cycle", "step"):
        a = columns[name]
        out[name] = None if a is None else np.asarray(a)
    out["rest"] = None if columns["rest"] is None else np.asarray(columns["rest"], dtype=bool)
    return out


def _drop_nonfinite(path: Path, cols: dict[str, Any],
                    meta: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
    """Rows without a finite time, voltage, current or capacity dropped and counted in
    ``meta``; the kept columns and the raw indices of the kept rows."""
    n = cols["time_s"].size
    keep = np.ones(n, dtype=bool)
    dropped: dict[str, int] = {}
    for name in ("time_s", "voltage_v", "current_ma", "capacity_mah"):
        a = cols[name]
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
    kept = {name: None if a is None else a[keep] for name, a in cols.items()}
    return kept, np.flatnonzero(keep)


def _test_time(path: Path, t: np.ndarray, rows: np.ndarray, start: datetime | None,
               describe_row: Callable[[int], str]) -> tuple[np.ndarray, datetime | None]:
    """Time shifted to start at 0 (and ``start`` with it); time going back is an error."""
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise CyclerReadError(
            f"{path}: time goes backwards at {describe_row(int(rows[i]))} "
            f"({t[i - 1]:.6g} s -> {t[i]:.6g} s); expected non-decreasing test time")
    t0 = float(t[0])
    t = t - t0
    if start is not None and t0:
        try:
            start = start + timedelta(seconds=t0)
        except OverflowError:
            raise CyclerReadError(
                f"{path}: the first record's test time ({t0:.6g} s) puts the start out of "
                "the calendar") from None
    return t, start


def _current_and_capacity(path: Path, t: np.ndarray, cur: np.ndarray | None,
                          cap: np.ndarray | None, capacity: str,
                          meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Current (mA) and net charge since the first record (mAh), each from the file or, when
    missing (or ``capacity='integrate'``), from the other."""
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
    return cur, cap


def _direction(cur: np.ndarray, rest: np.ndarray | None, rest_current_ma: float) -> np.ndarray:
    """+1 charge, -1 discharge, 0 rest (``|I| <= rest_current_ma`` or the cycler's rest)."""
    direction = np.zeros(cur.size, dtype=np.int8)
    direction[cur > rest_current_ma] = 1
    direction[cur < -rest_current_ma] = -1
    if rest is not None:
        direction[rest] = 0
    return direction


def _cycles_and_steps(direction: np.ndarray, cycle: np.ndarray | None, step: np.ndarray | None,
                      meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-cycles, and cycles and steps from the file or derived from the direction."""
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
    return half_cycle, cycle, step


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
