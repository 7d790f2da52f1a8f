"""Readers for already-reduced 1D diffraction patterns: files to arrays and times, nothing else.

Column files as beamlines and lab diffractometers write them (strip detectors such as Mythen,
pyFAI's own ``.xy``/``.dat`` exports, GSAS-II/TOPAS ``.xye``), Fit2D ``.chi`` and GSAS ``.fxye``
are read into a :class:`Pattern`: the radial axis, intensity, the uncertainty column when the
file has one, the header lines (kept as metadata) and, when a header line holds a date, the time
of the pattern. Every problem raises :class:`PatternReadError` with a message naming the file.

Example
-------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "p.xy")
>>> rows = "\\n".join(f"{10 + 0.01 * i:.2f} {100 + i}" for i in range(20))
>>> _ = open(path, "w").write("# 2025-07-02T19:05:59 exposure 30 s\\n" + rows + "\\n")
>>> p = read_pattern(path)
>>> p.x.size, p.sigma is None, p.time.start.isoformat(), p.time.exposure_s
(20, True, '2025-07-02T19:05:59', 30.0)
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .frames import FrameTime, parse_time

#: Radial units a pattern's x axis may have (pyFAI spelling).
PATTERN_UNITS = ("2th_deg", "q_A^-1", "q_nm^-1")

#: File suffixes read, and the reader (format name) used for each.
READERS: dict[str, str] = {
    ".xye": "xye",
    ".xy": "columns",
    ".dat": "columns",
    ".txt": "columns",
    ".csv": "columns",
    ".chi": "chi",
    ".fxye": "fxye",
}

#: Fewest points a pattern may have after NaN rows are dropped (and after cropping).
MIN_POINTS = 10

#: Largest fraction of the data rows that may be dropped as NaN or non-numeric.
MAX_DROPPED_FRACTION = 0.5

_SPLIT = re.compile(r"[,;\s]+")
_KEY_VALUE = re.compile(r"^([A-Za-z_][\w .()/\[\]-]{0,60}?)\s*[:=]\s*(.+)$")
_EXPOSURE = re.compile(
    r"(?i)\b(?:exposure(?:[ _]?time)?|count(?:ing)?[ _]?time|acq(?:uisition)?[ _]?time)\b"
    r"[^0-9\n]{0,12}([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*(ms|s\b|sec)?"
)
#: pyFAI unit tokens that a column-title line may carry.
_PYFAI_TOKENS = ("2th_deg", "2th_rad", "q_nm^-1", "q_A^-1", "d*2_A^-2", "r_mm", "chi_deg")


class PatternReadError(Exception):
    """A pattern file that cannot be read; the message names the file and the reason."""


@dataclass
class Pattern:
    """One 1D pattern as read from a file.

    Attributes
    ----------
    x : radial axis, strictly increasing, in ``unit`` (2theta in degrees, Q in 1/angstrom or
        1/nm).
    intensity : intensity at each ``x`` (as in the file, usually counts).
    sigma : standard uncertainty of ``intensity`` from the file's third column, or None when
        the file has none.
    header : ``key: value`` pairs found in the header lines (keys as written).
    time : exposure start (and length) stated in the header, or None.
    header_lines : the header and comment lines, without their ``#``.
    reader : format used (``xye``, ``columns``, ``chi``, ``fxye``).
    dropped_rows : data rows dropped as NaN or non-numeric.
    unit : the radial unit the axis was read as.
    path : the file read.
    """

    x: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray | None
    header: dict[str, str]
    time: FrameTime | None
    header_lines: list[str] = field(default_factory=list)
    reader: str = "columns"
    dropped_rows: int = 0
    unit: str = "2th_deg"
    path: str = ""

    @property
    def n_points(self) -> int:
        return int(self.x.size)

    def cropped(self, lo: float, hi: float) -> Pattern:
        """The points with ``lo <= x <= hi`` (same unit); raises if fewer than 10 remain."""
        keep = (self.x >= lo) & (self.x <= hi)
        if keep.sum() < MIN_POINTS:
            raise PatternReadError(
                f"'{self.path}': only {int(keep.sum())} points lie in the range [{lo:g}, {hi:g}] "
                f"{self.unit} (the file covers {self.x[0]:g}..{self.x[-1]:g}); need at least {MIN_POINTS}"
            )
        return Pattern(
            self.x[keep], self.intensity[keep], None if self.sigma is None else self.sigma[keep],
            self.header, self.time, self.header_lines, self.reader, self.dropped_rows, self.unit, self.path,
        )


def read_pattern(path: str | Path, unit: str = "2th_deg", columns: list[int] | tuple[int, ...] | None = None) -> Pattern:
    """Read one 1D pattern file.

    Parameters
    ----------
    path : a ``.xye`` (x, intensity, sigma), ``.xy``/``.dat``/``.txt``/``.csv`` (2 or 3
        columns separated by spaces, tabs, commas or semicolons; ``#`` and non-numeric header
        lines are skipped and kept as metadata), Fit2D ``.chi`` (4 header lines, then x and
        intensity) or GSAS ``.fxye`` (constant-wavelength, x in centidegrees) file.
    unit : radial unit of the x column, ``2th_deg``, ``q_A^-1`` or ``q_nm^-1``. A file whose
        column titles state another unit is refused.
    columns : 0-based column numbers of x, intensity and (optionally) sigma, for files with more
        than three columns; default: two columns are (x, intensity), three (x, intensity, sigma).

    Raises
    ------
    PatternReadError : missing or empty file, no numeric rows, wrong column count, more than half
        of the rows NaN or non-numeric, fewer than 10 points, or an x axis that is not monotonic.
    """
    path = str(path)
    if unit not in PATTERN_UNITS:
        raise ValueError(f"unknown radial unit {unit!r}; expected one of {', '.join(PATTERN_UNITS)}")
    suffix = os.path.splitext(path)[1].lower()
    reader = READERS.get(suffix)
    if reader is None:
        raise PatternReadError(
            f"'{path}': unknown pattern format '{suffix or '(no suffix)'}'; "
            f"read are {', '.join(sorted(READERS))}"
        )
    if not os.path.isfile(path):
        raise PatternReadError(f"pattern file '{path}' does not exist")
    if os.path.getsize(path) == 0:
        raise PatternReadError(f"pattern file '{path}' is empty")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise PatternReadError(f"cannot read '{path}': {exc}") from None
    if b"\x00" in raw[:65536]:
        raise PatternReadError(f"'{path}' holds binary data (NUL bytes); a pattern file is text")
    text = raw.decode("utf-8", errors="replace")
    if text.count("\ufffd") > 0.01 * len(text):
        raise PatternReadError(f"'{path}' is not text (over 1 % of it is not UTF-8); a pattern file is text")
    lines = text.splitlines()

    fixed_header = 0
    x_scale = 1.0
    if reader == "chi":
        fixed_header = 4
        if len(lines) < 4:
            raise PatternReadError(f"'{path}': a .chi file starts with 4 header lines; found {len(lines)} lines")
        _check_chi_unit(path, lines[1], unit)
    elif reader == "fxye":
        fixed_header, x_scale = _fxye_header(path, lines, unit)

    fast = _fast_table(lines, fixed_header)
    if fast is not None:
        header_lines, data = fast
        first_line: list[int] = []
        dropped, bad_example = 0, None
    else:
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
        data = np.array(rows, dtype=np.float64)
    ncols = data.shape[1]
    cx, ci, cs = _pick_columns(path, reader, ncols, columns)
    if reader != "chi" and reader != "fxye":
        _check_title_unit(path, header_lines, unit)

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
    x, y = x[finite], y[finite]
    s = s[finite] if s is not None else None
    if x.size < MIN_POINTS:
        raise PatternReadError(
            f"'{path}': {x.size} data point{'s' if x.size != 1 else ''}; a pattern needs at least {MIN_POINTS}"
        )
    dx = np.diff(x)
    if np.all(dx < 0):  # written from high to low angle
        x, y = x[::-1].copy(), y[::-1].copy()
        s = s[::-1].copy() if s is not None else None
    elif not np.all(dx > 0):
        k = int(np.flatnonzero(dx <= 0)[0])
        raise PatternReadError(
            f"'{path}': x is not monotonic ({x[k]:g} is followed by {x[k + 1]:g}); "
            "patterns must be sorted by angle or Q without repeated points"
        )

    header = _header_dict(header_lines)
    return Pattern(
        x=x, intensity=y, sigma=s, header=header, time=_header_time(header_lines),
        header_lines=header_lines, reader=reader, dropped_rows=dropped, unit=unit, path=path,
    )


# ----------------------------------------------------------------------------- helpers


def _fast_table(lines: list[str], fixed_header: int) -> tuple[list[str], np.ndarray] | None:
    """Header lines and the data table of a clean file (numpy's parser), or None when the data
    part has comments, text or NaN rows, which :func:`_split` then reads line by line."""
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
    return header, data


def _header_text(line: str) -> str:
    """A header line without its comment mark and surrounding blanks."""
    line = line.strip()
    return line.lstrip("#! ").rstrip() if line[:1] in ("#", "!") else line


def _split(lines: list[str], fixed_header: int) -> tuple[list[str], list[list[float]], list[int], int, int | None]:
    """Header lines, data rows (tokens), their line numbers, rows dropped as non-numeric and the
    first such line number."""
    header = [ln.strip() for ln in lines[:fixed_header]]
    rows: list[list[str]] = []
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


def _pick_columns(path: str, reader: str, ncols: int, columns) -> tuple[int, int, int | None]:
    if columns is not None:
        cols = list(columns)
        if len(cols) not in (2, 3):
            raise ValueError(f"columns must name 2 or 3 columns (x, intensity[, sigma]), got {cols}")
        if max(cols) >= ncols:
            raise PatternReadError(
                f"'{path}' has {ncols} columns; column {max(cols)} (0-based) was asked for"
            )
        return cols[0], cols[1], cols[2] if len(cols) == 3 else None
    if reader in ("xye", "fxye") and ncols != 3:
        raise PatternReadError(f"'{path}': a {reader} file has 3 columns (x, intensity, sigma); found {ncols}")
    if ncols == 2:
        return 0, 1, None
    if ncols == 3:
        return 0, 1, 2
    raise PatternReadError(
        f"'{path}' has {ncols} column{'s' if ncols != 1 else ''}; expected 2 (x, intensity) or 3 "
        "(x, intensity, sigma), or name them with 'columns'"
    )


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


def _check_chi_unit(path: str, label: str, unit: str) -> None:
    """Fit2D's second line names the x axis: refuse 2theta read as Q or the other way round."""
    text = label.strip().lower()
    is_angle = "theta" in text or "2th" in text
    is_q = bool(re.match(r"^q\b|^q_", text))
    if (is_angle and unit.startswith("q")) or (is_q and unit == "2th_deg"):
        raise PatternReadError(f"'{path}': its x axis is '{label.strip()}', but the unit given is '{unit}'")


def _fxye_header(path: str, lines: list[str], unit: str) -> tuple[int, float]:
    """Header length and x scale of a GSAS FXYE file (constant wavelength: x in centidegrees)."""
    for k, line in enumerate(lines[:20]):
        if line.upper().startswith("BANK"):
            words = line.upper().split()
            if "FXYE" not in words:
                raise PatternReadError(f"'{path}': only GSAS FXYE banks are read; found '{line.strip()}'")
            if "CONS" not in words:
                raise PatternReadError(f"'{path}': only constant-wavelength (CONS) FXYE data are read; found '{line.strip()}'")
            if unit != "2th_deg":
                raise PatternReadError(f"'{path}': FXYE constant-wavelength data are in 2theta; the unit given is '{unit}'")
            return k + 1, 0.01
    raise PatternReadError(f"'{path}': no 'BANK ... FXYE' line in the first 20 lines; not a GSAS FXYE file")
