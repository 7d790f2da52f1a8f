"""Column files: ``.xy``, ``.dat``, ``.txt``, ``.csv`` as beamlines, lab diffractometers and
pyFAI write them (2 or 3 columns separated by spaces, tabs, commas or semicolons).

Examples
--------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "p.csv")
>>> rows = "\\n".join(f"{10 + 0.1 * i:.1f};{100 + i}" for i in range(15))
>>> _ = open(path, "w").write("2theta;counts\\n" + rows + "\\n")
>>> p = read_columns(path)
>>> p.reader, p.n_points, p.sigma is None
('columns', 15, True)
"""

from __future__ import annotations

from pathlib import Path

from .base import REGISTRY, Pattern, pattern_text
from .table import build_pattern


def read_columns(path: str | Path, unit: str = "2th_deg",
                 columns: list[int] | tuple[int, ...] | None = None) -> Pattern:
    """Read a column file: (x, intensity) or (x, intensity, sigma).

    ``#`` and ``!`` comment lines and text lines before the data are kept as header lines;
    ``key: value`` pairs and a date in them are read.

    Parameters
    ----------
    path : str or Path
        The file.
    unit : str
        Radial unit of the x column: ``2th_deg``, ``q_A^-1`` or ``q_nm^-1``. A file whose
        column titles (pyFAI's, e.g. ``2th_deg``) state another unit is refused.
    columns : sequence of int or None
        0-based columns of x, intensity and (optionally) sigma, for files with more than three
        columns; default: two columns are (x, intensity), three (x, intensity, sigma).

    Returns
    -------
    Pattern
        With ``reader`` ``'columns'``.

    Raises
    ------
    PatternReadError
        See :func:`xpipe.io.patterns.read_pattern`.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.dat")
    >>> rows = "\\n".join(f"{i} {2 * i} {i % 3} {7}" for i in range(12))
    >>> _ = open(path, "w").write("sample: LiFePO4\\n" + rows + "\\n")
    >>> p = read_columns(path, columns=[0, 1])
    >>> p.header, float(p.intensity[-1])
    ({'sample': 'LiFePO4'}, 22.0)
    """
    path = str(path)
    text = pattern_text(path)
    return build_pattern(path, text.splitlines(), reader="columns", unit=unit, columns=columns,
                         complete=text.endswith(("\n", "\r")))


REGISTRY.register("columns", read=read_columns, suffixes=(".xy", ".dat", ".txt", ".csv"),
                  description="2 or 3 text columns (x, intensity[, sigma]), pyFAI and beamline exports")
