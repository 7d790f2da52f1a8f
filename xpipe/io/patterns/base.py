"""What every 1D pattern format shares: the pattern, its error, limits, the registry, the text.

Examples
--------
>>> import numpy as np
>>> p = Pattern(np.linspace(10, 20, 21), np.arange(21.0), None, {}, None)
>>> p.n_points, p.cropped(12, 20).n_points
(21, 17)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..frames import FrameTime
from ..registry import Registry

#: Radial units a pattern's x axis may have (pyFAI spelling).
PATTERN_UNITS = ("2th_deg", "q_A^-1", "q_nm^-1")

#: Fewest points a pattern may have after NaN rows are dropped (and after cropping).
MIN_POINTS = 10

#: Largest fraction of the data rows that may be dropped as NaN or non-numeric.
MAX_DROPPED_FRACTION = 0.5


class PatternReadError(Exception):
    """A pattern file that cannot be read; the message names the file and the reason.

    Examples
    --------
    >>> str(PatternReadError("pattern file 'a.xy' does not exist"))
    "pattern file 'a.xy' does not exist"
    """


#: The 1D pattern formats; a file is claimed by its suffix (no pattern format has a magic).
REGISTRY = Registry("pattern", error=PatternReadError)


@dataclass
class Pattern:
    """One 1D pattern as read from a file.

    Parameters
    ----------
    x : numpy.ndarray
        Radial axis, strictly increasing, in ``unit`` (2theta in degrees, Q in 1/angstrom or
        1/nm).
    intensity : numpy.ndarray
        Intensity at each ``x`` (as in the file, usually counts).
    sigma : numpy.ndarray or None
        Standard uncertainty of ``intensity`` from the file's third column, or None when the
        file has none.
    header : dict of str to str
        ``key: value`` pairs found in the header lines (keys as written).
    time : FrameTime or None
        Exposure start (and length in seconds) stated in the header, or None.
    header_lines : list of str
        The header and comment lines, without their ``#``.
    reader : str
        Format used (``xye``, ``columns``, ``chi``, ``fxye``).
    dropped_rows : int
        Data rows dropped as NaN or non-numeric.
    unit : str
        The radial unit the axis was read as.
    path : str
        The file read.

    Examples
    --------
    >>> p = Pattern(np.linspace(10, 20, 11), np.ones(11), None, {}, None, path="a.xy")
    >>> p.n_points, p.unit
    (11, '2th_deg')
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
        """Number of points."""
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


def text_lines(path: str) -> list[str]:
    """The lines of a pattern file, after checking it exists and is text.

    Parameters
    ----------
    path : str
        The pattern file.

    Returns
    -------
    list of str
        Its lines (UTF-8, undecodable bytes replaced).

    Raises
    ------
    PatternReadError
        For a missing, empty, unreadable or binary file (NUL bytes, over 1 % not UTF-8).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.xy")
    >>> _ = open(path, "w").write("# title\\n1 2\\n")
    >>> text_lines(path)
    ['# title', '1 2']
    """
    return pattern_text(path).splitlines()


def pattern_text(path: str) -> str:
    """The text of a pattern file, after checking it exists and is text.

    Parameters
    ----------
    path : str
        The pattern file.

    Returns
    -------
    str
        Its text (UTF-8, undecodable bytes replaced), line ends as written: a last line
        without a line end may have been cut off.

    Raises
    ------
    PatternReadError
        For a missing, empty, unreadable or binary file (NUL bytes, over 1 % not UTF-8).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.xy")
    >>> _ = open(path, "w").write("# title\\n1 2")
    >>> pattern_text(path)
    '# title\\n1 2'
    """
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
    return text
