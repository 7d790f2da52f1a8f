"""The numeric table of a pattern file, and the checks every pattern passes.

A format module reads its own header (a fixed number of lines, an x scale, a unit stated in
it) and hands the lines to :func:`build_pattern`, which finds the data rows, picks the
columns, drops NaN and non-numeric rows (up to :data:`MAX_DROPPED_FRACTION`), puts the axis in
increasing order and reads ``key: value`` pairs and a date from the header lines.

Examples
--------
>>> lines = ["# 2theta intensity"] + [f"{10 + i / 10:.1f} {i}" for i in range(12)]
>>> p = build_pattern("p.xy", lines, reader="columns", unit="2th_deg")
>>> p.n_points, float(p.x[-1]), p.header_lines
(12, 11.1, ['2theta intensity'])
"""

from __future__ import annotations

import io
import re

import numpy as np

from ..frames import FrameTime, parse_time
from ..text import ABSURD_VALUE, cut_last_row
from .base import MAX_DROPPED_FRACTION, MIN_POINTS, Pattern, PatternReadError

_SPLIT = re.compile(r"[,;\s]+")
_KEY_VALUE = re.compile(r"^([A-Za-z_][\w .()/\[\]-]{0,60}?)\s*[:=]\s*(.+)$")
_EXPOSURE = re.compile(
    r"(?i)\b(?:exposure(?:[ _]?time)?|count(?:ing)?[ _]?time|acq(?:uisition)?[ _]?time)\b"
    r"[^0-9\n]{0,12}([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*(ms|s\b|sec)?"
)
#: pyFAI unit tokens that a column-title line may carry.
_PYFAI_TOKENS = ("2th_deg", "2th_rad", "q_nm^-1", "q_A^-1", "d*2_A^-2", "r_mm", "chi_deg")


def build_pattern(path: str, lines: list[str], *, reader: str, unit: str,
                  columns: list[int] | tuple[int, ...] | None = None, fixed_header: int = 0,
                  x_scale: float = 1.0, three_columns: bool = False,
                  title_unit: bool = True, complete: bool = True,
                  stated_points: int | None = None) -> Pattern:
    """The pattern a file's lines hold, once its format has read its own header.

    Parameters
    ----------
    path : str
        The file (named in every error).
    lines : list of str
        All lines of the file.
    reader : str
        The format's name, recorded in the pattern and named in errors.
    unit : str
        Radial unit of the x column (one of ``PATTERN_UNITS``).
    columns : sequence of int or None
        0-based columns of x, intensity and optionally sigma; default: 2 columns are (x,
        intensity), 3 are (x, intensity, sigma).
    fixed_header : int
        Lines at the start that are header whatever they hold.
    x_scale : float
        Factor from the file's x to ``unit`` (0.01 for centidegrees).
    three_columns : bool
        The format has exactly 3 columns (x, intensity, sigma) unless ``columns`` is given.
    title_unit : bool
        Refuse a file whose column-title line names another pyFAI unit than ``unit``.
    complete : bool
        False when the file's last line has no line end: a last row shorter than the rows
        before it is then taken as cut off, and refused.
    stated_points : int or None
        The number of points the file's header states (Fit2D, GSAS); fewer data rows are
        refused.

    Returns
    -------
    Pattern
        Increasing x in ``unit``, with the header lines, their ``key: value`` pairs and time.

    Raises
    ------
    PatternReadError
        No numeric rows, mixed column counts, too many NaN rows, fewer than
        :data:`MIN_POINTS` points, a value beyond :data:`ABSURD_VALUE`, a last row cut off,
        fewer rows than the header states, or an x axis that is not monotonic.

    Examples
    --------
    >>> lines = ["x y"] + [f"{20 - i} {i}" for i in range(10)]  # high to low angle
    >>> p = build_pattern("p.dat", lines, reader="columns", unit="2th_deg")
    >>> float(p.x[0]), float(p.intensity[0]), p.header
    (11.0, 9.0, {})
    >>> cut = [f"{10 + i / 10:.2f} {100 + i:.3f}" for i in range(12)] + ["11.20 11"]
    >>> try:
    ...     build_pattern("p.xy", cut, reader="columns", unit="2th_deg", complete=False)
    ... except PatternReadError as exc:
    ...     print(str(exc)[:47])
    'p.xy' line 13: the last row is cut off ('11.20
    """
    header_lines, data, first_line, dropped, bad_example = _table(path, lines, fixed_header)
    if not complete:
        _check_last_row(path, lines)
    if stated_points is not None and data.shape[0] + dropped < stated_points:
        raise PatternReadError(
            f"'{path}': its header states {stated_points} points, but the file holds "
            f"{data.shape[0] + dropped} data rows (ending at line {first_line[-1]}); the file is "
            "cut off")
    picked = _pick_columns(path, reader, data.shape[1], columns, three_columns)
    if title_unit:
        _check_title_unit(path, header_lines, unit)
    x, y, s, dropped = _finite_rows(path, data, picked, x_scale, dropped, first_line, bad_example)
    x, y, s = _ascending(path, x, y, s)
    return Pattern(
        x=x, intensity=y, sigma=s, header=_header_dict(header_lines),
        time=_header_time(header_lines), header_lines=header_lines, reader=reader,
        dropped_rows=dropped, unit=unit, path=path,
    )


# ----------------------------------------------------------------------------- the table


def _table(path: str, lines: list[str], fixed_header: int):
    """Header lines, the data (rows x columns), each row's line number (empty when numpy's
    parser read a clean table), rows dropped as non-numeric and the first such line."""
    fast = _fast_table(lines, fixed_header)
    if fast is not None:
        header_lines, data, start = fast
        line_no = [n for n in range(start + 1, len(lines) + 1) if lines[n - 1].strip()]
        return header_lines, data, line_no, 0, None
    header_lines, rows, first_line, dropped, bad_example = _split(lines, fixed_header)
    if not rows:
        raise PatternReadError(f"'{path}': no numeric data rows found")
    ncols = len(rows[0])
    for k, row in enumerate(rows):
        if len(row) != ncols:
            raise PatternReadError(
                f"'{path}' line {first_line[k]}: {len(row)} columns, but the data rows before it "
                f"have {ncols} (a truncated or mixed file?)"
            )
    return header_lines, np.array(rows, dtype=np.float64), first_line, dropped, bad_example


def _fast_table(lines: list[str], fixed_header: int) -> tuple[list[str], np.ndarray, int] | None:
    """Header lines, the data table of a clean file (numpy's parser) and the index of its first
    data line, or None when the data part has comments, text or NaN rows, which :func:`_split`
    then reads line by line."""
    start = fixed_header
    while start < len(lines) and _numbers(lines[start].strip()) is None:
        start += 1
    if start >= len(lines):
        return None
    body = "\n".join(lines[start:])
    if "#" in body or "!" in body:
        return None
    try:
        data = np.loadtxt(io.StringIO(body.replace(",", " ").replace(";", " ")), ndmin=2, dtype=np.float64)
    except ValueError:
        return None
    if not np.isfinite(data).all():
        return None
    header = [ln.strip() for ln in lines[:fixed_header]]
    header += [_header_text(ln) for ln in lines[fixed_header:start] if ln.strip()]
    return header, data, start


def _header_text(line: str) -> str:
    """A header line without its comment mark and surrounding blanks."""
    line = line.strip()
    return line.lstrip("#! ").rstrip() if line[:1] in ("#", "!") else line


def _split(lines: list[str], fixed_header: int) -> tuple[list[str], list[list[float]], list[int], int, int | None]:
    """Header lines, data rows (tokens), their line numbers, rows dropped as non-numeric and the
    first such line number."""
    header = [ln.strip() for ln in lines[:fixed_header]]
    rows: list[list[float]] = []
    line_no: list[int] = []
    dropped = 0
    bad_example = None
    for n, raw in enumerate(lines[fixed_header:], start=fixed_header + 1):
        line = raw.strip()
        if not line:
            continue
        if line[0] in "#!":
            header.append(_header_text(line))
            continue
        values = _numbers(line)
        if values is None:
            if rows:  # text between data rows: a damaged row
                dropped += 1
                bad_example = bad_example or n
            else:
                header.append(line)
            continue
        rows.append(values)
        line_no.append(n)
    return header, rows, line_no, dropped, bad_example


def _numbers(line: str) -> list[float] | None:
    """The numbers of a data line, or None when a token is not a number."""
    try:
        values = [float(t) for t in _SPLIT.split(line) if t]
    except ValueError:
        return None
    return values or None


def _pick_columns(path: str, reader: str, ncols: int, columns, three_columns: bool) -> tuple[int, int, int | None]:
    if columns is not None:
        cols = list(columns)
        if len(cols) not in (2, 3):
            raise ValueError(f"columns must name 2 or 3 columns (x, intensity[, sigma]), got {cols}")
        if max(cols) >= ncols:
            raise PatternReadError(
                f"'{path}' has {ncols} columns; column {max(cols)} (0-based) was asked for"
            )
        return cols[0], cols[1], cols[2] if len(cols) == 3 else None
    if three_columns and ncols != 3:
        raise PatternReadError(f"'{path}': a {reader} file has 3 columns (x, intensity, sigma); found {ncols}")
    if ncols == 2:
        return 0, 1, None
    if ncols == 3:
        return 0, 1, 2
    raise PatternReadError(
        f"'{path}' has {ncols} column{'s' if ncols != 1 else ''}; expected 2 (x, intensity) or 3 "
        "(x, intensity, sigma), or name them with 'columns'"
    )


def _finite_rows(path: str, data: np.ndarray, picked, x_scale: float, dropped: int,
                 first_line: list[int], bad_example: int | None):
    """x, intensity, sigma of the rows whose x and intensity are finite, and the rows dropped
    in all; refuses a file where more than :data:`MAX_DROPPED_FRACTION` are dropped, or fewer
    than :data:`MIN_POINTS` remain."""
    cx, ci, cs = picked
    x = data[:, cx] * x_scale
    y = data[:, ci]
    s = data[:, cs] if cs is not None else None
    finite = np.isfinite(x) & np.isfinite(y)
    n_rows = data.shape[0] + dropped
    dropped += int((~finite).sum())
    if bad_example is None and not finite.all():
        bad_example = first_line[int(np.flatnonzero(~finite)[0])]
    if dropped > MAX_DROPPED_FRACTION * n_rows:
        example = f" (e.g. line {bad_example})" if bad_example else ""
        raise PatternReadError(
            f"'{path}': {dropped} of {n_rows} data rows are NaN or not numeric{example}; "
            f"more than {100 * MAX_DROPPED_FRACTION:g} % is not a pattern"
        )
    _check_magnitudes(path, (x, y, s), finite, first_line)
    x, y = x[finite], y[finite]
    s = s[finite] if s is not None else None
    if x.size < MIN_POINTS:
        raise PatternReadError(
            f"'{path}': {x.size} data point{'s' if x.size != 1 else ''}; a pattern needs at least {MIN_POINTS}"
        )
    return x, y, s, dropped


def _check_magnitudes(path: str, columns, finite: np.ndarray, line_no: list[int]) -> None:
    """Refuse a value beyond :data:`ABSURD_VALUE` in x, intensity or sigma: no detector counts
    that much, no axis reaches it; such a number is a damaged row."""
    for name, col in zip(("x", "intensity", "sigma"), columns):
        if col is None:
            continue
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(finite & (np.abs(col) > ABSURD_VALUE))
        if bad.size:
            k = int(bad[0])
            raise PatternReadError(
                f"'{path}' line {line_no[k]}: {name} {col[k]:g} is beyond any measured value "
                f"(|value| > {ABSURD_VALUE:g}; {bad.size} such row{'s' if bad.size > 1 else ''}); "
                "the file is damaged")


def _check_last_row(path: str, lines: list[str]) -> None:
    """Refuse a file whose last line (it has no line end) is a data row cut off (see
    :func:`~xpipe.io.text.cut_last_row`), compared with the data rows before it."""
    last = lines[-1].strip() if lines else ""
    before = [v for ln in lines[-8:-1] if (v := _number_tokens(ln)) is not None]
    if cut_last_row(_SPLIT.split(last), before):
        raise PatternReadError(
            f"'{path}' line {len(lines)}: the last row is cut off ({last[:40]!r} ends without a "
            "line end, shorter than the rows before it); the file is incomplete")


def _number_tokens(line: str) -> list[str] | None:
    """The fields of a data line, None for a comment, header or blank line."""
    text = line.strip()
    if not text or text[0] in "#!" or _numbers(text) is None:
        return None
    return [t for t in _SPLIT.split(text) if t]


def _ascending(path: str, x: np.ndarray, y: np.ndarray, s: np.ndarray | None):
    """The arrays in increasing x (a file written from high to low angle is reversed)."""
    dx = np.diff(x)
    if np.all(dx < 0):  # written from high to low angle
        return x[::-1].copy(), y[::-1].copy(), s[::-1].copy() if s is not None else None
    if not np.all(dx > 0):
        k = int(np.flatnonzero(dx <= 0)[0])
        raise PatternReadError(
            f"'{path}': x is not monotonic ({x[k]:g} is followed by {x[k + 1]:g}); "
            "patterns must be sorted by angle or Q without repeated points"
        )
    return x, y, s


# ----------------------------------------------------------------------------- the header


def _header_dict(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        m = _KEY_VALUE.match(line)
        if m and m.group(1).strip() not in out:
            out[m.group(1).strip()] = m.group(2).strip()
    return out


def _header_time(lines: list[str]) -> FrameTime | None:
    """Exposure start from the first header line holding a date, and the exposure length when a
    header line states one; None without a date."""
    start = None
    for line in lines:
        start = parse_time(line) or _time_in(line)
        if start is not None:
            break
    if start is None:
        return None
    exposure = None
    for line in lines:
        m = _EXPOSURE.search(line)
        if m:
            exposure = float(m.group(1)) / (1000.0 if (m.group(2) or "").lower() == "ms" else 1.0)
            break
    return FrameTime(start, exposure, "header")


def _time_in(line: str):
    """A date after a ``key:`` or ``key =`` prefix ('date: Thu Mar 14 09:00:00 2025')."""
    m = _KEY_VALUE.match(line)
    return parse_time(m.group(2)) if m else None


def _check_title_unit(path: str, header: list[str], unit: str) -> None:
    """Refuse a file whose column-title line (the last header line) names another pyFAI unit."""
    if not header:
        return
    title = header[-1]
    found = [t for t in _PYFAI_TOKENS if re.search(r"(?<![\w^*])" + re.escape(t) + r"(?![\w^])", title)]
    if found and unit not in found:
        raise PatternReadError(
            f"'{path}': its column titles say the x axis is '{found[0]}', but the unit given is '{unit}'"
        )
