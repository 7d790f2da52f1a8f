"""Fit2D ``.chi``: four header lines (title, x-axis label, y-axis label, point count), then
x and intensity.

Examples
--------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "p.chi")
>>> rows = "\\n".join(f"{5 + 0.1 * i:.1f} {50 + i}" for i in range(10))
>>> head = "scan 1\\n2-Theta Angle (Degrees)\\nIntensity\\n      10\\n"
>>> _ = open(path, "w").write(head + rows + "\\n")
>>> p = read_chi(path)
>>> p.reader, p.header_lines[1], p.n_points
('chi', '2-Theta Angle (Degrees)', 10)
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import REGISTRY, Pattern, PatternReadError, pattern_text
from .table import build_pattern


def read_chi(path: str | Path, unit: str = "2th_deg",
             columns: list[int] | tuple[int, ...] | None = None) -> Pattern:
    """Read a Fit2D ``.chi`` file.

    Parameters
    ----------
    path : str or Path
        The file.
    unit : str
        Radial unit of the x column: ``2th_deg``, ``q_A^-1`` or ``q_nm^-1``. A file whose
        x-axis label (second line) says 2theta read as Q, or Q read as 2theta, is refused.
    columns : sequence of int or None
        0-based columns of x, intensity and (optionally) sigma; default: two columns are (x,
        intensity), three (x, intensity, sigma).

    Returns
    -------
    Pattern
        With ``reader`` ``'chi'``; the four header lines come first in ``header_lines``.

    Raises
    ------
    PatternReadError
        Fewer than 4 lines, a unit the label contradicts, fewer data rows than the point count
        of line 4, or see :func:`xpipe.io.patterns.read_pattern`.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "q.chi")
    >>> _ = open(path, "w").write("t\\n2-Theta Angle (Degrees)\\nI\\n 10\\n")
    >>> try:
    ...     read_chi(path, unit="q_A^-1")
    ... except Exception as exc:
    ...     print(str(exc).split(": ", 1)[1])
    its x axis is '2-Theta Angle (Degrees)', but the unit given is 'q_A^-1'
    """
    path = str(path)
    text = pattern_text(path)
    lines = text.splitlines()
    if len(lines) < 4:
        raise PatternReadError(f"'{path}': a .chi file starts with 4 header lines; found {len(lines)} lines")
    _check_chi_unit(path, lines[1], unit)
    _check_fit2d_layout(path, lines)
    stated = lines[3].strip()
    return build_pattern(path, lines, reader="chi", unit=unit, columns=columns, fixed_header=4,
                         title_unit=False, complete=text.endswith(("\n", "\r")),
                         stated_points=int(stated) if stated.isdigit() else None)


def _check_fit2d_layout(path: str, lines: list[str]) -> None:
    """Refuse files that only share the suffix: EXAFS chi(k) from Larch or IFEFFIT (a ``k chi``
    column header), and any file whose fourth line is already a data row."""
    for line in lines[:4]:
        if re.match(r"^[#!%]?\s*k\s+chi\b", line.strip(), re.IGNORECASE):
            raise PatternReadError(f"'{path}': holds EXAFS chi(k) (columns '{' '.join(line.strip(' #!%').split())}'), not a "
                                   "diffraction pattern; a Fit2D .chi starts with a title, the x and y labels "
                                   "and the number of points")
    if len(lines[3].split()) >= 2:
        raise PatternReadError(f"'{path}': line 4 is a data row ('{lines[3].strip()[:40]}'); a Fit2D .chi starts "
                               "with 4 header lines (title, x label, y label, number of points)")


def _check_chi_unit(path: str, label: str, unit: str) -> None:
    """Fit2D's second line names the x axis: refuse 2theta read as Q or the other way round."""
    text = label.strip().lower()
    is_angle = "theta" in text or "2th" in text
    is_q = bool(re.match(r"^q\b|^q_", text))
    if (is_angle and unit.startswith("q")) or (is_q and unit == "2th_deg"):
        raise PatternReadError(f"'{path}': its x axis is '{label.strip()}', but the unit given is '{unit}'")


REGISTRY.register("chi", read=read_chi, suffixes=(".chi",),
                  description="Fit2D .chi (4 header lines, then x and intensity)")
