"""One time axis: frame and scan times on the cycler's clock, and the cell's state at those times.

The cycler clock is the cycler record's ``time_s`` (seconds since its first record, whose wall
time is ``CyclerData.start``). A frame taken at wall time ``t`` sits at
``(t - start).total_seconds() + offset_s`` on it; ``offset_s`` corrects a beamline clock that is
off from the cycler's (positive when the frame clock is behind).

Ex situ samples have no shared clock: they are placed on a chosen half-cycle by the voltage
(or charge) they were stopped at. On a flat plateau a voltage matches a long stretch of the
curve, and the placement says so through its uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
from scipy.optimize import minimize_scalar

from .readers import CyclerData

_UTC = timezone.utc


class AlignmentError(ValueError):
    """Times that cannot be put on the cycler clock (e.g. naive and zone-aware clocks mixed).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> try:
    ...     cycler_seconds([datetime(2024, 5, 14, 9, 30)],
    ...                    datetime(2024, 5, 14, 9, 0, tzinfo=timezone.utc))
    ... except AlignmentError as exc:
    ...     print(str(exc).split(" (")[0])
    the cycler and the frames disagree on time zones
    """


def _comparable(t: datetime, start: datetime, timezone: str | None) -> tuple[datetime, datetime]:
    if (t.tzinfo is None) == (start.tzinfo is None):
        return t, start
    if timezone is None:
        raise AlignmentError(
            "the cycler and the frames disagree on time zones (one gives UTC offsets, the other "
            "local wall time); set echem.timezone to the zone of the local times, e.g. 'Europe/Berlin'"
        )
    try:
        zone = ZoneInfo(timezone)
    except Exception:
        raise AlignmentError(f"echem.timezone {timezone!r} is not a known time zone name (e.g. 'Europe/Paris')") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=zone)
    else:
        start = start.replace(tzinfo=zone)
    return t, start


def cycler_seconds(times: list[datetime | None], start: datetime, offset_s: float = 0.0,
                   timezone: str | None = None) -> np.ndarray:
    """Seconds on the cycler clock for wall times (NaN where a time is unknown).

    Parameters
    ----------
    times : list of datetime or None
        Wall-clock times of frames or scans.
    start : datetime
        Wall-clock time of the cycler's ``time_s == 0`` (``CyclerData.start``).
    offset_s : float
        Seconds added to every time: positive when the frame clock is behind the cycler's.
    timezone : str or None
        IANA zone (``'Europe/Berlin'``) of the naive times when the other clock is zone-aware.

    Returns
    -------
    numpy.ndarray
        Seconds on the cycler clock, one per time (NaN where the time is None).

    Examples
    --------
    >>> from datetime import datetime
    >>> start = datetime(2024, 5, 14, 9, 0)
    >>> cycler_seconds([datetime(2024, 5, 14, 9, 30), None], start, offset_s=5.0).tolist()
    [1805.0, nan]
    """
    out = np.full(len(times), np.nan)
    for i, t in enumerate(times):
        if t is None:
            continue
        a, b = _comparable(t, start, timezone)
        out[i] = (a - b).total_seconds() + offset_s
    return out


def epoch_to_datetime(seconds: float | None, aware: bool) -> datetime | None:
    """A POSIX timestamp as a datetime: local naive, or UTC-aware when the other clock is aware.

    Parameters
    ----------
    seconds : float or None
        Seconds since 1970-01-01 UTC.
    aware : bool
        True for a UTC-aware datetime, False for naive local time.

    Returns
    -------
    datetime or None
        None when ``seconds`` is None or not finite.

    Examples
    --------
    >>> epoch_to_datetime(86400.0, aware=True)
    datetime.datetime(1970, 1, 2, 0, 0, tzinfo=datetime.timezone.utc)
    >>> epoch_to_datetime(float("nan"), aware=False) is None
    True
    """
    if seconds is None or not np.isfinite(seconds):
        return None
    return datetime.fromtimestamp(float(seconds), _UTC) if aware else datetime.fromtimestamp(float(seconds))


@dataclass
class CellState:
    """The cycler record sampled at given times (NaN / -1 outside the record).

    Parameters
    ----------
    time_s : numpy.ndarray
        The times asked for, seconds on the cycler clock.
    voltage_v, current_ma, capacity_mah : numpy.ndarray
        Voltage (V), current (mA) and net charge (mAh) interpolated at those times.
    cycle, half_cycle, direction : numpy.ndarray
        Of the last record at or before each time (-1, -1 and 0 outside the record).
    inside : numpy.ndarray
        True where the time lies within the record.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.echem.readers import CyclerData
    >>> cyc = CyclerData(np.arange(5) * 1800.0, np.array([3.2, 3.3, 3.4, 3.3, 3.2]),
    ...                  np.array([1.0, 1, 1, -1, -1]), np.array([0.0, 0.5, 1.0, 0.5, 0.0]),
    ...                  np.ones(5, int), np.array([1, 1, 1, 2, 2]), np.array([1, 1, 1, -1, -1]),
    ...                  np.ones(5, int), None, "cell.csv", "csv")
    >>> s = state_at(cyc, [900.0, 9000.0])
    >>> s.inside.tolist(), s.cycle.tolist()
    ([True, False], [1, -1])
    """

    time_s: np.ndarray
    voltage_v: np.ndarray
    current_ma: np.ndarray
    capacity_mah: np.ndarray
    cycle: np.ndarray
    half_cycle: np.ndarray
    direction: np.ndarray
    inside: np.ndarray


def state_at(cyc: CyclerData, time_s) -> CellState:
    """Voltage, current and charge interpolated linearly at ``time_s``; cycle, half-cycle and
    direction of the last record at or before each time. Times outside the record get NaN.

    Parameters
    ----------
    cyc : CyclerData
        The cycler record.
    time_s : array_like
        Seconds on the cycler clock.

    Returns
    -------
    CellState
        The state at each time.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.echem.readers import CyclerData
    >>> cyc = CyclerData(np.arange(5) * 1800.0, np.array([3.2, 3.3, 3.4, 3.3, 3.2]),
    ...                  np.array([1.0, 1, 1, -1, -1]), np.array([0.0, 0.5, 1.0, 0.5, 0.0]),
    ...                  np.ones(5, int), np.array([1, 1, 1, 2, 2]), np.array([1, 1, 1, -1, -1]),
    ...                  np.ones(5, int), None, "cell.csv", "csv")
    >>> s = state_at(cyc, [900.0, 9000.0])
    >>> np.round(s.voltage_v, 3).tolist(), s.half_cycle.tolist(), s.direction.tolist()
    ([3.25, nan], [1, -1], [1, 0])
    """
    t = np.asarray(time_s, dtype=float)
    ct = cyc.time_s
    inside = np.isfinite(t) & (t >= ct[0]) & (t <= ct[-1])

    def interp(y):
        out = np.interp(np.where(inside, t, ct[0]), ct, y)
        return np.where(inside, out, np.nan)

    idx = np.clip(np.searchsorted(ct, np.where(inside, t, ct[0]), side="right") - 1, 0, ct.size - 1)

    def label(y):
        return np.where(inside, np.asarray(y)[idx], -1).astype(np.int64)

    return CellState(t, interp(cyc.voltage_v), interp(cyc.current_ma), interp(cyc.capacity_mah),
                     label(cyc.cycle), label(cyc.half_cycle), np.where(inside, cyc.direction[idx], 0).astype(np.int8), inside)


@dataclass
class OffsetFit:
    """Clock offset found by matching voltages logged with the frames to the cycler curve.

    Parameters
    ----------
    offset_s : float
        Seconds to add to the frame clock (positive when it is behind the cycler's).
    offset_err_s : float
        Its one-sigma uncertainty (s).
    rms_v : float
        Residual rms of the voltages (V) at the best offset.
    n_points : int
        Frames inside the record at the best offset.

    Examples
    --------
    >>> fit = OffsetFit(offset_s=60.0, offset_err_s=0.5, rms_v=0.001, n_points=10)
    >>> fit.offset_s - 2 * fit.offset_err_s
    59.0
    """

    offset_s: float
    offset_err_s: float
    rms_v: float
    n_points: int


def estimate_offset(cyc: CyclerData, time_s, voltage_v, search_s: tuple[float, float] = (-7200.0, 7200.0)) -> OffsetFit:
    """The ``offset_s`` that best puts frames logged at ``time_s`` (frame clock, seconds after the
    cycler start) with measured ``voltage_v`` onto the cycler curve: least squares over a grid
    as fine as the cycler's sampling, then refined with Brent's method. The error is the curvature
    estimate sigma / sqrt(sum (dV/dt)^2), with sigma the residual rms.

    Parameters
    ----------
    cyc : CyclerData
        The cycler record.
    time_s : array_like
        Frame times, seconds after the cycler start on the frame clock.
    voltage_v : array_like
        Voltage (V) logged with each frame; NaN frames are left out.
    search_s : tuple of float
        Smallest and largest offset tried (s).

    Returns
    -------
    OffsetFit
        The best offset (s), its uncertainty (s), the residual rms (V) and the frames used.

    Examples
    --------
    Frames whose clock is 60 s behind the cycler's:

    >>> import numpy as np
    >>> from xpipe.echem.readers import CyclerData
    >>> cyc = CyclerData(np.arange(5) * 1800.0, np.array([3.2, 3.3, 3.4, 3.3, 3.2]),
    ...                  np.array([1.0, 1, 1, -1, -1]), np.array([0.0, 0.5, 1.0, 0.5, 0.0]),
    ...                  np.ones(5, int), np.array([1, 1, 1, 2, 2]), np.array([1, 1, 1, -1, -1]),
    ...                  np.ones(5, int), None, "cell.csv", "csv")
    >>> frames_s = np.arange(600.0, 6600.0, 600.0) - 60.0
    >>> logged_v = np.interp(frames_s + 60.0, cyc.time_s, cyc.voltage_v)
    >>> fit = estimate_offset(cyc, frames_s, logged_v, search_s=(-600.0, 600.0))
    >>> round(fit.offset_s, 1), fit.n_points
    (60.0, 10)
    """
    t = np.asarray(time_s, dtype=float)
    v = np.asarray(voltage_v, dtype=float)
    ok = np.isfinite(t) & np.isfinite(v)
    t, v = t[ok], v[ok]
    if t.size < 3:
        raise AlignmentError(f"estimating the clock offset needs at least 3 frames with a logged voltage, found {t.size}")
    ct = cyc.time_s

    def cost(off: float) -> float:
        s = t + off
        inside = (s >= ct[0]) & (s <= ct[-1])
        if inside.sum() < 3 or inside.mean() < 0.5:
            return np.inf
        r = np.interp(s[inside], ct, cyc.voltage_v) - v[inside]
        return float(np.mean(r**2)) * (1.0 + (1.0 - inside.mean()))

    dt = float(np.median(np.diff(ct))) if ct.size > 1 else 1.0
    n = int(min(200000, max(50, (search_s[1] - search_s[0]) / max(dt, 1e-3))))
    grid = np.linspace(search_s[0], search_s[1], n)
    costs = np.array([cost(o) for o in grid])
    if not np.isfinite(costs).any():
        raise AlignmentError("no clock offset in the search range puts the logged frames inside the cycler record")
    k = int(np.nanargmin(costs))
    step = grid[1] - grid[0]
    res = minimize_scalar(cost, bracket=None, bounds=(grid[k] - step, grid[k] + step), method="bounded",
                          options={"xatol": 1e-3})
    best = float(res.x)
    s = t + best
    inside = (s >= ct[0]) & (s <= ct[-1])
    resid = np.interp(s[inside], ct, cyc.voltage_v) - v[inside]
    rms = float(np.sqrt(np.mean(resid**2)))
    slope = np.gradient(cyc.voltage_v, ct) if ct.size > 1 else np.zeros(1)
    dvdt = np.interp(s[inside], ct, slope)
    denom = float(np.sqrt(np.sum(dvdt**2)))
    err = rms / denom if denom > 0 else np.inf
    return OffsetFit(best, float(err), rms, int(inside.sum()))


@dataclass
class Placement:
    """Where an ex situ sample sits on the cycler clock.

    Parameters
    ----------
    time_s : float
        Seconds on the cycler clock (NaN when unplaced).
    time_err_s : float
        Its uncertainty (s).
    how : str
        ``'clock'``, ``'voltage'``, ``'capacity'`` or ``'unplaced'``.
    note : str
        Why the placement is uncertain or approximate, if it is.

    Examples
    --------
    >>> Placement(1200.0, 30.0, "voltage").how
    'voltage'
    """

    time_s: float
    time_err_s: float
    how: str      # 'clock', 'voltage', 'capacity', 'unplaced'
    note: str = ""


def half_cycle_of(cyc: CyclerData, which: int | str) -> int:
    """The half-cycle number for 'first_charge', 'first_discharge' or an explicit number.

    Parameters
    ----------
    cyc : CyclerData
        The cycler record.
    which : int or {"first_charge", "first_discharge"}
        An explicit half-cycle number (checked to be in the record) or the first of a kind.

    Returns
    -------
    int
        The half-cycle number.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.echem.readers import CyclerData
    >>> cyc = CyclerData(np.arange(5) * 1800.0, np.array([3.2, 3.3, 3.4, 3.3, 3.2]),
    ...                  np.array([1.0, 1, 1, -1, -1]), np.array([0.0, 0.5, 1.0, 0.5, 0.0]),
    ...                  np.ones(5, int), np.array([1, 1, 1, 2, 2]), np.array([1, 1, 1, -1, -1]),
    ...                  np.ones(5, int), None, "cell.csv", "csv")
    >>> half_cycle_of(cyc, "first_discharge")
    2
    """
    if isinstance(which, int):
        if which not in set(cyc.half_cycle.tolist()):
            raise AlignmentError(f"half-cycle {which} is not in the cycler record (it has 1..{int(cyc.half_cycle.max())})")
        return which
    want = {"first_charge": 1, "first_discharge": -1}[which]
    rows = np.flatnonzero((cyc.direction == want) & (cyc.half_cycle > 0))
    if rows.size == 0:
        raise AlignmentError(f"the cycler record has no {'charge' if want > 0 else 'discharge'} half-cycle")
    return int(cyc.half_cycle[rows[0]])


def place(cyc: CyclerData, value: float, half_cycle: int, by: str = "voltage", tolerance: float = 0.002) -> Placement:
    """Time at which ``by`` ('voltage' or 'capacity', mAh) reached ``value`` during ``half_cycle``.

    Every crossing within the half-cycle is found (noise makes a plateau cross many times); the
    placement is their middle and its uncertainty half their spread, widened to the stretch where
    the curve stays within ``tolerance`` of the value. Outside the half-cycle's range, the sample
    is placed at the nearer end and the note says so.

    Parameters
    ----------
    cyc : CyclerData
        The cycler record.
    value : float
        The voltage (V) or net charge (mAh) the sample was stopped at.
    half_cycle : int
        The half-cycle to place it on.
    by : {"voltage", "capacity"}
        What ``value`` is.
    tolerance : float
        Records within this of ``value`` (V or mAh) widen the uncertainty.

    Returns
    -------
    Placement
        Time (s on the cycler clock) and its uncertainty (s).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.echem.readers import CyclerData
    >>> cyc = CyclerData(np.arange(5) * 1800.0, np.array([3.2, 3.3, 3.4, 3.3, 3.2]),
    ...                  np.array([1.0, 1, 1, -1, -1]), np.array([0.0, 0.5, 1.0, 0.5, 0.0]),
    ...                  np.ones(5, int), np.array([1, 1, 1, 2, 2]), np.array([1, 1, 1, -1, -1]),
    ...                  np.ones(5, int), None, "cell.csv", "csv")
    >>> p = place(cyc, 3.35, half_cycle=1)
    >>> p.how, round(p.time_s, 1), p.time_err_s
    ('voltage', 2700.0, 0.0)
    """
    rows = np.flatnonzero((cyc.half_cycle == half_cycle) & (cyc.direction != 0))
    if rows.size < 2:
        return Placement(np.nan, np.nan, "unplaced", f"half-cycle {half_cycle} has fewer than two records")
    t = cyc.time_s[rows]
    y = (cyc.voltage_v if by == "voltage" else cyc.capacity_mah)[rows]
    unit = "V" if by == "voltage" else "mAh"
    d = y - value
    lo_end = int(np.argmin(y))
    hi_end = int(np.argmax(y))
    if value < y.min() or value > y.max():
        k = lo_end if value < y.min() else hi_end
        return Placement(float(t[k]), 0.0, by, f"{value:g} {unit} is outside the half-cycle's range "
                         f"{y.min():.4g}-{y.max():.4g} {unit}; placed at its {'start' if k == 0 else 'nearest end'}")
    sign = np.sign(d)
    cross = np.flatnonzero(sign[:-1] * sign[1:] <= 0)
    tc = []
    for i in cross:
        if d[i] == d[i + 1]:
            tc.append(t[i])
        else:
            tc.append(t[i] + (t[i + 1] - t[i]) * d[i] / (d[i] - d[i + 1]))
    tc = np.array(tc)
    near = t[np.abs(d) <= tolerance]
    span_lo = min(tc.min(), near.min()) if near.size else tc.min()
    span_hi = max(tc.max(), near.max()) if near.size else tc.max()
    mid = 0.5 * (tc.min() + tc.max())
    err = max(mid - span_lo, span_hi - mid)
    note = f"{tc.size} crossings" if tc.size > 1 else ""
    return Placement(float(mid), float(err), by, note)


def decimate(n: int, limit: int) -> np.ndarray:
    """Indices keeping at most ``limit`` of ``n`` evenly spaced rows (first and last kept).

    Parameters
    ----------
    n : int
        Number of rows.
    limit : int
        Most rows to keep.

    Returns
    -------
    numpy.ndarray
        Sorted row indices.

    Examples
    --------
    >>> decimate(10, 4).tolist()
    [0, 3, 6, 9]
    """
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def clock_datetime(start: datetime, seconds: float) -> datetime:
    """The wall-clock time of a point on the cycler clock.

    Parameters
    ----------
    start : datetime
        Wall-clock time of the cycler's ``time_s == 0``.
    seconds : float
        Seconds on the cycler clock.

    Returns
    -------
    datetime
        ``start`` plus ``seconds``.

    Examples
    --------
    >>> from datetime import datetime
    >>> clock_datetime(datetime(2024, 5, 14, 9, 0), 90.0)
    datetime.datetime(2024, 5, 14, 9, 1, 30)
    """
    return start + timedelta(seconds=float(seconds))
