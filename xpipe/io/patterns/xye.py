"""GSAS-II/TOPAS ``.xye``: three columns, x, intensity and its standard uncertainty.

Examples
--------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "p.xye")
>>> rows = "\\n".join(f"{10 + 0.01 * i:.2f} {100 + i} {10.0}" for i in range(20))
>>> _ = open(path, "w").write(rows + "\\n")
>>> p = read_xye(path)
>>> p.reader, p.n_points, float(p.sigma[0])
('xye', 20, 10.0)
"""

from __future__ import annotations

from pathlib import Path

from .base import REGISTRY, Pattern, pattern_text
from .table import build_pattern


def read_xye(path: str | Path, unit: str = "2th_deg",
             columns: list[int] | tuple[int, ...] | None = None) -> Pattern:
    """Read an ``.xye`` file: x, intensity, sigma (``#`` and text header lines kept).

    Parameters
    ----------
    path : str or Path
        The file.
    unit : str
        Radial unit of the x column: ``2th_deg``, ``q_A^-1`` or ``q_nm^-1``. A file whose
        column titles state another unit is refused.
    columns : sequence of int or None
        0-based columns of x, intensity and (optionally) sigma, for files with more than three
        columns; default: the three columns.

    Returns
    -------
    Pattern
        With ``reader`` ``'xye'``.

    Raises
    ------
    PatternReadError
        See :func:`xpipe.io.patterns.read_pattern`; also a file without exactly 3 columns.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "q.xye")
    >>> rows = "\\n".join(f"{1 + 0.01 * i:.2f} {5 + i} {2.0}" for i in range(12))
    >>> _ = open(path, "w").write("# q_A^-1 I sigma\\n" + rows + "\\n")
    >>> p = read_xye(path, unit="q_A^-1")
    >>> p.header_lines, round(float(p.x[-1]), 2)
    (['q_A^-1 I sigma'], 1.11)
    """
    path = str(path)
    text = pattern_text(path)
    return build_pattern(path, text.splitlines(), reader="xye", unit=unit, columns=columns,
                         three_columns=True, complete=text.endswith(("\n", "\r")))


REGISTRY.register("xye", read=read_xye, suffixes=(".xye",),
                  description="x, intensity, sigma columns (GSAS-II, TOPAS, summed strip detectors)")
