"""Frame times: dates as detectors and scan logs write them, file times, scan-log matching.

Examples
--------
>>> from xpipe.io.frames.times import parse_time
>>> parse_time("2011/Oct/13 19:05:12.3").isoformat()
'2011-10-13T19:05:12.300000'
"""

from __future__ import annotations

import csv
import os
import re
from datetime import datetime, timedelta, timezone
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from .base import FrameRef, FrameTime

_ISO = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")
_PILATUS_OLD = re.compile(r"(\d{4})/(\w{3})/(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(\.\d+)?")
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}


def parse_time(text: str) -> datetime | None:
    """Parse a timestamp as detectors write them.

    Parameters
    ----------
    text : str
        Text holding an ISO 8601 date, a Pilatus ``2011/Oct/13 19:05:12.3``, a TIFF
        ``2025:03:14 09:00:00`` or a ctime ``Thu Mar 14 09:00:00 2025``.

    Returns
    -------
    datetime or None
        The time (aware when the text states a UTC offset), None when none is found.

    Examples
    --------
    >>> parse_time("# 2025-03-14T09:00:00.5+01:00").isoformat()
    '2025-03-14T09:00:00.500000+01:00'
    >>> parse_time("2025:03:14 09:00:00").isoformat()
    '2025-03-14T09:00:00'
    >>> parse_time("no date here") is None
    True
    """
    text = text.strip()
    m = _ISO.search(text)
    if m:
        try:
            return datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
        except ValueError:  # looks like a date but is none (month 13, hour 25, ...)
            return None
    m = _PILATUS_OLD.search(text)
    if m and m.group(2).lower() in _MONTHS:
        frac = float(m.group(7) or 0.0)
        try:
            start = datetime(int(m.group(1)), _MONTHS[m.group(2).lower()], int(m.group(3)),
                             int(m.group(4)), int(m.group(5)), int(m.group(6)))
        except ValueError:
            return None
        return start + timedelta(seconds=frac)
    for fmt in ("%Y:%m:%d %H:%M:%S", "%a %b %d %H:%M:%S %Y", "%a %b %d %H:%M:%S.%f %Y"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    return None


def mtime(path: str) -> datetime:
    """File modification time, as an aware UTC datetime.

    Parameters
    ----------
    path : str
        An existing file.

    Returns
    -------
    datetime
        Its modification time (UTC).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "f.txt")
    >>> _ = open(path, "w").write("x")
    >>> os.utime(path, (0, 1710406800))
    >>> mtime(path).isoformat()
    '2024-03-14T09:00:00+00:00'
    """
    return datetime.fromtimestamp(os.path.getmtime(path), timezone.utc)


#: Scan-log numbers from this value on are epoch seconds (1e8 s after 1970 is 1973-03-03).
EPOCH_MIN_S = 1e8
#: ... and below this one (year 5138); larger numbers are most likely epoch milliseconds.
EPOCH_MAX_S = 1e11
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_log_time(text: str) -> datetime | None:
    """A scan-log time: a date, or a plain number of epoch seconds as SPEC and Bluesky write them.

    A number is taken as epoch seconds when it lies in [1e8, 1e11) (1973 to 5138); other
    numbers raise ValueError saying why: relative seconds (below 1e8) have no start to count
    from, and larger ones are likely epoch milliseconds.

    Parameters
    ----------
    text : str
        A date as :func:`parse_time` reads them, or epoch seconds (``1710406800.123``).

    Returns
    -------
    datetime or None
        The time (epoch seconds give an aware UTC datetime exact to the microsecond), None
        when the text is neither a date nor a number.

    Examples
    --------
    >>> parse_log_time("1710406800.123").isoformat()
    '2024-03-14T09:00:00.123000+00:00'
    >>> parse_log_time("2024-03-14T09:00:00").isoformat()
    '2024-03-14T09:00:00'
    """
    text = text.strip()
    if _NUMBER.fullmatch(text):
        value = Decimal(text)
        if not EPOCH_MIN_S <= value < EPOCH_MAX_S:
            if value < EPOCH_MIN_S:
                why = ("below 1e8, so not epoch seconds; seconds relative to some start cannot be placed "
                       "in time")
            else:
                why = "1e11 or more, too large for epoch seconds (epoch milliseconds? divide by 1000)"
            raise ValueError(f"the number {text} is {why}; write ISO 8601 times or epoch seconds")
        whole = int(value.to_integral_value(rounding=ROUND_FLOOR))
        micro = int(((value - whole) * 1_000_000).to_integral_value(rounding=ROUND_HALF_EVEN))
        return _EPOCH + timedelta(seconds=whole, microseconds=micro)
    return parse_time(text)


def read_scan_log(path: str, file_column: str, start_column: str, end_column: str | None) -> list[tuple[str, datetime, datetime | None]]:
    """Rows (file or scan id, start, end) of a scan-log CSV. Errors name the file and row.

    Times are ISO 8601 (or another format :func:`parse_time` reads) or epoch seconds, told apart
    by the text itself (see :func:`parse_log_time`); ISO times without a UTC offset are local
    times, epoch seconds are UTC.

    Parameters
    ----------
    path : str
        The CSV file (a header row naming the columns).
    file_column, start_column : str
        Columns of the file name or scan id, and of the start time.
    end_column : str or None
        Column of the end time, or None.

    Returns
    -------
    list of (str, datetime, datetime or None)
        One tuple per row; the end is None without ``end_column`` or when a cell is blank.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> _ = open(path, "w").write("scan,start\\n1355639,2024-03-14T09:00:00\\n")
    >>> [(i, t.isoformat(), e) for i, t, e in read_scan_log(path, "scan", "start", None)]
    [('1355639', '2024-03-14T09:00:00', None)]
    """
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        for col in [file_column, start_column] + ([end_column] if end_column else []):
            if col not in cols:
                raise ValueError(f"scan log '{path}' has no column '{col}' (columns: {', '.join(cols)})")
        for i, row in enumerate(reader, start=2):
            times = []
            for col in [start_column] + ([end_column] if end_column else []):
                text = row[col] or ""
                try:
                    t = parse_log_time(text)
                except ValueError as exc:
                    raise ValueError(f"scan log '{path}' line {i}, column '{col}': {exc}") from None
                if t is None and col == start_column:
                    raise ValueError(
                        f"scan log '{path}' line {i}: cannot read time '{text}' in column '{col}' "
                        "(expected ISO 8601, e.g. 2024-03-14T09:00:00.123, or epoch seconds, e.g. 1710406800.123)"
                    )
                times.append(t)
            rows.append((row[file_column].strip(), times[0], times[1] if end_column else None))
    return rows


def match_scan_log(refs: list[FrameRef], rows: list[tuple[str, datetime, datetime | None]]) -> list[FrameTime | None]:
    """Time of each frame from scan-log rows, matched on the file name, its stem, or a scan id
    that the file name starts with (``1355639`` matches ``1355639_summed.xye``).

    Parameters
    ----------
    refs : list of FrameRef
        The frames.
    rows : list of (str, datetime, datetime or None)
        Scan-log rows as :func:`read_scan_log` gives them.

    Returns
    -------
    list of FrameTime or None
        Per frame, its start and exposure in seconds (end minus start, None without an end);
        None where no row matches.

    Examples
    --------
    >>> rows = [("1355639", datetime(2024, 3, 14, 9), datetime(2024, 3, 14, 9, 5))]
    >>> t = match_scan_log([FrameRef("/d/1355639_summed.xye"), FrameRef("/d/other.xye")], rows)
    >>> t[0].start.isoformat(), t[0].exposure_s, t[1]
    ('2024-03-14T09:00:00', 300.0, None)
    """
    out: list[FrameTime | None] = []
    for ref in refs:
        hit = _matching_row(ref.path, rows)
        if hit is None:
            out.append(None)
        else:
            start, end = hit
            exposure = (end - start).total_seconds() if end is not None else None
            out.append(FrameTime(start, exposure, "scan_log"))
    return out


def _matching_row(path: str, rows) -> tuple[datetime, datetime | None] | None:
    """(start, end) of the row naming ``path``: an exact name or stem, else the longest scan id
    the stem starts with; None when no row matches."""
    name = os.path.basename(path)
    stem = os.path.splitext(name)[0]
    hit = None
    prefix_len = -1
    for ident, start, end in rows:
        ident_name = os.path.basename(ident)
        if not ident_name:  # a blank id would prefix-match any name starting with '_'
            continue
        if ident_name in (name, stem):  # an exact match beats any prefix match
            return start, end
        if len(ident_name) > prefix_len and re.match(
            re.escape(ident_name) + r"(?![0-9A-Za-z])", stem
        ):
            hit, prefix_len = (start, end), len(ident_name)
    return hit
