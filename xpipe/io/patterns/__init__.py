"""Readers for already-reduced 1D diffraction patterns: files to arrays and times, nothing else.

Column files as beamlines and lab diffractometers write them (strip detectors such as Mythen,
pyFAI's own ``.xy``/``.dat`` exports, GSAS-II/TOPAS ``.xye``), Fit2D ``.chi`` and GSAS ``.fxye``
are read into a :class:`Pattern`: the radial axis, intensity, the uncertainty column when the
file has one, the header lines (kept as metadata) and, when a header line holds a date, the time
of the pattern. Every problem raises :class:`PatternReadError` with a message naming the file.

Each format is a small module that registers its reader and suffixes with :data:`REGISTRY`;
:func:`read_pattern` asks the registry which format reads a file and names none itself. A
NeXus/HDF5 file holds many patterns (a stack of curves on a radial axis, as integration
programs write them): :func:`read_nexus_patterns` reads them all.

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

import os
from pathlib import Path

from .base import (
    MAX_DROPPED_FRACTION,
    MIN_POINTS,
    PATTERN_UNITS,
    REGISTRY,
    Pattern,
    PatternReadError,
)
from .chi import read_chi  # each format module registers itself on import
from .columns import read_columns
from .fxye import read_fxye
from .nexus import read_nexus_patterns
from .xye import read_xye

__all__ = [
    "MAX_DROPPED_FRACTION", "MIN_POINTS", "PATTERN_UNITS", "READERS", "REGISTRY", "Pattern",
    "PatternReadError", "read_chi", "read_columns", "read_fxye", "read_nexus_patterns", "read_pattern",
    "read_xye",
]

#: File suffixes read, and the reader (format name) used for each.
READERS: dict[str, str] = {suffix: fmt.name for fmt in REGISTRY for suffix in fmt.suffixes}


def read_pattern(path: str | Path, unit: str = "2th_deg", columns: list[int] | tuple[int, ...] | None = None) -> Pattern:
    """Read one 1D pattern file with the format its suffix names.

    Parameters
    ----------
    path : str or Path
        A ``.xye`` (x, intensity, sigma), ``.xy``/``.dat``/``.txt``/``.csv`` (2 or 3 columns
        separated by spaces, tabs, commas or semicolons; ``#`` and non-numeric header lines are
        skipped and kept as metadata), Fit2D ``.chi`` (4 header lines, then x and intensity) or
        GSAS ``.fxye`` (constant-wavelength, x in centidegrees) file.
    unit : str
        Radial unit of the x column, ``2th_deg``, ``q_A^-1`` or ``q_nm^-1``. A file whose
        column titles state another unit is refused.
    columns : sequence of int or None
        0-based column numbers of x, intensity and (optionally) sigma, for files with more than
        three columns; default: two columns are (x, intensity), three (x, intensity, sigma).

    Returns
    -------
    Pattern
        Increasing x in ``unit``, intensity, sigma (None without a third column), header.

    Raises
    ------
    PatternReadError
        Unknown suffix, missing or empty file, no numeric rows, wrong column count, more than
        half of the rows NaN or non-numeric, fewer than 10 points, or an x axis that is not
        monotonic.
    ValueError
        An unknown ``unit``, or ``columns`` naming other than 2 or 3 columns.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.xye")
    >>> rows = "\\n".join(f"{10 + 0.01 * i:.2f} {100 + i} {10}" for i in range(20))
    >>> _ = open(path, "w").write(rows + "\\n")
    >>> p = read_pattern(path)
    >>> p.reader, p.n_points, float(p.sigma.mean())
    ('xye', 20, 10.0)
    >>> try:
    ...     read_pattern(path[:-4] + ".raw")
    ... except PatternReadError as exc:
    ...     print(str(exc).split(": ", 1)[1])
    unknown pattern format '.raw'; read are .chi, .csv, .dat, .fxye, .txt, .xy, .xye
    """
    path = str(path)
    if unit not in PATTERN_UNITS:
        raise ValueError(f"unknown radial unit {unit!r}; expected one of {', '.join(PATTERN_UNITS)}")
    suffix = os.path.splitext(path)[1].lower()
    fmt = REGISTRY.by_suffix(suffix) if suffix else None
    if fmt is None:
        raise PatternReadError(
            f"'{path}': unknown pattern format '{suffix or '(no suffix)'}'; "
            f"read are {', '.join(sorted(READERS))}"
        )
    return fmt.read(path, unit=unit, columns=columns)
