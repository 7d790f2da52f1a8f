"""The raw XAS scan every reader returns, and the error they raise.

A scan holds the absorption of the sample on its monochromator energy axis, as measured (no
calibration shift applied: calibration is recorded beside it, never baked into the energy), plus
the reference-foil channel when the beamline recorded one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Mode = Literal["transmission", "fluorescence", "mu"]


class XasReadError(ValueError):
    """A file could not be read as an XAS scan; the message names the file and what was expected.

    Parameters
    ----------
    message : str
        ``'<file>: <what is wrong>; expected <what would do>'``.

    Examples
    --------
    >>> from xpipe.xas.readers import read_scan
    >>> try:
    ...     read_scan("no_such_scan.xdi")
    ... except XasReadError as exc:
    ...     print(exc)
    no_such_scan.xdi: file not found; expected an XAS data file at this path
    """


@dataclass
class XasScan:
    """One XAS scan as read from a file.

    Parameters
    ----------
    energy_ev : array_like
        Monochromator energies (eV) as measured, no calibration shift applied.
    mu : array_like
        Absorption on those energies: transmission ln(I0/It), fluorescence
        sum(If_i * dtc_i)/I0, or a mu(E) column stored as such (``mode='mu'``).
    source : str
        The file read.
    label : str
        The scan's name (file stem, Athena group label, NeXus entry title).
    mode : {'transmission', 'fluorescence', 'mu'}
        How ``mu`` was obtained.
    reference_mu : array_like or None
        ln(It/Iref) of the reference foil on the same energy points, or None.
    element, edge : str or None
        Absorbing element ('Fe') and edge ('K') when the file says them.
    time_s : float or None
        Scan start in seconds since the Unix epoch when the file says it, else None.
    metadata : dict
        What the reader found: format, columns used, header fields, energy-axis notes.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(7080.0, 7180.0, 11)
    >>> scan = XasScan(e, np.arctan(e - 7112.0), source="demo", label="Fe foil")
    >>> scan.check()  # passes: finite, rising energies and a mu of the same length
    >>> scan.mode, scan.energy_ev.dtype.name
    ('mu', 'float64')
    >>> XasScan(e[:5], scan.mu[:5], source="demo", label="short").check()
    Traceback (most recent call last):
    ...
    xpipe.xas.scan.XasReadError: demo [short]: expected at least 10 energy points, got 5
    """

    energy_ev: np.ndarray
    mu: np.ndarray
    source: str
    label: str
    mode: Mode = "mu"
    reference_mu: np.ndarray | None = None
    element: str | None = None
    edge: str | None = None
    time_s: float | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self.energy_ev = np.asarray(self.energy_ev, dtype=float)
        self.mu = np.asarray(self.mu, dtype=float)
        if self.reference_mu is not None:
            self.reference_mu = np.asarray(self.reference_mu, dtype=float)

    def check(self) -> None:
        """Raise XasReadError unless the energies are finite and strictly increasing and mu matches."""
        e, mu = self.energy_ev, self.mu
        where = f"{self.source}" + (f" [{self.label}]" if self.label else "")
        if e.ndim != 1 or mu.shape != e.shape:
            raise XasReadError(f"{where}: energy and mu must be 1D arrays of one length, got {e.shape} and {mu.shape}")
        if e.size < 10:
            raise XasReadError(f"{where}: expected at least 10 energy points, got {e.size}")
        if not np.all(np.isfinite(e)):
            raise XasReadError(f"{where}: energy holds NaN or infinite values")
        steps = np.diff(e)
        if np.any(steps <= 0):
            i = int(np.argmax(steps <= 0))
            raise XasReadError(f"{where}: energy must increase strictly; it goes from {e[i]:.3f} to {e[i + 1]:.3f} eV at point {i + 1}")
        if np.count_nonzero(np.isfinite(mu)) < e.size:
            raise XasReadError(f"{where}: mu holds {e.size - np.count_nonzero(np.isfinite(mu))} NaN or infinite values")
        if self.reference_mu is not None and self.reference_mu.shape != e.shape:
            raise XasReadError(f"{where}: reference channel has {self.reference_mu.shape} points, energy {e.shape}")
