"""GSAS ``.fxye``: a ``BANK`` line, then constant-wavelength data with x in centidegrees.

Examples
--------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "p.fxye")
>>> rows = "\\n".join(f"{1000 + 10 * i} {100 + i} {10}" for i in range(12))
>>> _ = open(path, "w").write("title\\nBANK 1 12 12 CONS 1000 10 0 0 FXYE\\n" + rows + "\\n")
>>> p = read_fxye(path)
>>> p.reader, float(p.x[0]), float(p.x[-1])
('fxye', 10.0, 11.1)
"""

from __future__ import annotations

from pathlib import Path

from .base import REGISTRY, Pattern, PatternReadError, pattern_text
from .table import build_pattern


def read_fxye(path: str | Path, unit: str = "2th_deg",
              columns: list[int] | tuple[int, ...] | None = None) -> Pattern:
    """Read a GSAS FXYE file (constant wavelength: x in centidegrees, read as degrees).

    Parameters
    ----------
    path : str or Path
        The file.
    unit : str
        Must be ``2th_deg``: constant-wavelength FXYE data are in 2theta.
    columns : sequence of int or None
        0-based columns of x, intensity and (optionally) sigma; default: the three columns.

    Returns
    -------
    Pattern
        With ``reader`` ``'fxye'`` and x in degrees.

    Raises
    ------
    PatternReadError
        No ``BANK ... FXYE`` line in the first 20 lines, a bank that is not constant
        wavelength (CONS), a unit other than 2theta, fewer data rows than the BANK line
        states, or see
        :func:`xpipe.io.patterns.read_pattern`.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "t.fxye")
    >>> _ = open(path, "w").write("BANK 1 10 10 TIME_MAP 1 FXYE\\n")
    >>> try:
    ...     read_fxye(path)
    ... except Exception as exc:
    ...     print(str(exc).split(": ", 1)[1])
    only constant-wavelength (CONS) FXYE data are read; found 'BANK 1 10 10 TIME_MAP 1 FXYE'
    """
    path = str(path)
    text = pattern_text(path)
    lines = text.splitlines()
    fixed_header, x_scale, stated = _fxye_header(path, lines, unit)
    return build_pattern(path, lines, reader="fxye", unit=unit, columns=columns,
                         fixed_header=fixed_header, x_scale=x_scale, three_columns=True,
                         title_unit=False, complete=text.endswith(("\n", "\r")),
                         stated_points=stated)


def _fxye_header(path: str, lines: list[str], unit: str) -> tuple[int, float, int | None]:
    """Header length, x scale (constant wavelength: x in centidegrees) and the number of points
    the BANK line states (``BANK 1 NCHAN NREC CONS ...``) of a GSAS FXYE file."""
    for k, line in enumerate(lines[:20]):
        if line.upper().startswith("BANK"):
            words = line.upper().split()
            if "FXYE" not in words:
                raise PatternReadError(f"'{path}': only GSAS FXYE banks are read; found '{line.strip()}'")
            if "CONS" not in words:
                raise PatternReadError(f"'{path}': only constant-wavelength (CONS) FXYE data are read; found '{line.strip()}'")
            if unit != "2th_deg":
                raise PatternReadError(f"'{path}': FXYE constant-wavelength data are in 2theta; the unit given is '{unit}'")
            return k + 1, 0.01, int(words[2]) if len(words) > 2 and words[2].isdigit() else None
    raise PatternReadError(f"'{path}': no 'BANK ... FXYE' line in the first 20 lines; not a GSAS FXYE file")


REGISTRY.register("fxye", read=read_fxye, suffixes=(".fxye",),
                  description="GSAS FXYE, constant wavelength (x in centidegrees)")
