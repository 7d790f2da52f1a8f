"""Small conversions for the inspection report: ranges, times, units and metadata as JSON values.

Examples
--------
>>> import numpy as np
>>> span(np.array([3.0, np.nan, 1.0]))
[1.0, 3.0]
>>> unit_of("Ewe/V"), unit_of("Voltage(V)"), unit_of("capacity_mah"), unit_of("cycle")
('V', 'V', 'mAh', None)
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any

import numpy as np

#: Characters kept of one text value in the report's metadata.
MAX_TEXT = 200
#: Entries kept of the report's metadata.
MAX_ENTRIES = 60

_PAREN_UNIT = re.compile(r"^(.*?)\s*[(\[]([^()\[\]]{1,12})[)\]]\s*$")
_NAME_UNITS = {"_s": "s", "_h": "h", "_v": "V", "_ma": "mA", "_mah": "mAh", "_ev": "eV",
               "_kev": "keV", "_deg": "deg", "_m": "m", "_rad": "rad", "_a": "A"}


def span(values: Any) -> list[float] | None:
    """``[min, max]`` of the finite values, or None when there are none.

    Parameters
    ----------
    values : array_like
        Numbers (NaN and infinities are left out).

    Returns
    -------
    list of two floats, or None

    Examples
    --------
    >>> span([2, 5, 3]), span([float("nan")])
    ([2.0, 5.0], None)
    """
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        return None
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return None
    return [float(arr.min()), float(arr.max())]


def iso(value: Any) -> str | None:
    """A time as ISO 8601 text: a datetime as it is (naive stays naive), epoch seconds in UTC.

    Parameters
    ----------
    value : datetime, float or None
        A wall-clock time, or seconds since the Unix epoch.

    Returns
    -------
    str or None

    Examples
    --------
    >>> iso(0.0), iso(datetime(2025, 3, 14, 9, 0)), iso(None)
    ('1970-01-01T00:00:00+00:00', '2025-03-14T09:00:00', None)
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(seconds):
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def unit_of(column: str) -> str | None:
    """The unit a column's name states: ``name/unit`` (EC-Lab), ``name (unit)`` or
    ``name[unit]`` (Neware, Arbin, CSV), or xpipe's own ``name_unit`` (``voltage_v``).

    Parameters
    ----------
    column : str
        A column title as the file writes it.

    Returns
    -------
    str or None
        None when the name states no unit.

    Examples
    --------
    >>> unit_of("time/s"), unit_of("Current[mA]"), unit_of("energy_ev"), unit_of("Ns")
    ('s', 'mA', 'eV', None)
    """
    text = str(column).strip()
    found = _PAREN_UNIT.match(text)
    if found:
        return found.group(2).strip() or None
    if "/" in text:
        unit = text.rpartition("/")[2].strip()
        return unit or None
    lower = text.lower()
    for suffix in sorted(_NAME_UNITS, key=len, reverse=True):
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return _NAME_UNITS[suffix]
    return None


def plain(value: Any) -> Any:
    """A value as JSON can hold it: numbers (NaN as None), text (cut to :data:`MAX_TEXT`),
    booleans, None, and short lists of those; anything else as its text.

    Parameters
    ----------
    value : object

    Returns
    -------
    object

    Examples
    --------
    >>> plain(np.float32(1.5)), plain(float("nan")), plain((1, "a")), plain(b"ab")
    (1.5, None, [1, 'a'], 'ab')
    """
    if value is None or isinstance(value, bool | str):
        return value if not isinstance(value, str) else value[:MAX_TEXT]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")[:MAX_TEXT]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple) and len(value) <= 16:
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray) and value.size <= 16:
        return [plain(v) for v in value.ravel().tolist()]
    return str(value)[:MAX_TEXT]


def flat(mapping: Any, prefix: str = "", out: dict | None = None) -> dict[str, Any]:
    """A metadata mapping flattened to ``key.subkey: value`` with JSON values, at most
    :data:`MAX_ENTRIES` entries.

    Parameters
    ----------
    mapping : dict
        What a reader put in its object's metadata.
    prefix : str
        Put before every key.
    out : dict or None
        Filled in place when given.

    Returns
    -------
    dict

    Examples
    --------
    >>> flat({"format": "XDI", "xdi": {"Mono.name": "Si(111)"}})
    {'format': 'XDI', 'xdi.Mono.name': 'Si(111)'}
    """
    out = {} if out is None else out
    if not isinstance(mapping, dict):
        return out
    for key, value in mapping.items():
        if len(out) >= MAX_ENTRIES:
            break
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat(value, name + ".", out)
        else:
            out[name] = plain(value)
    return out
