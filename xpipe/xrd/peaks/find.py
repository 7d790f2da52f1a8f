"""Peak candidates in one pattern, and the windows they are fitted in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from .baseline import background
from .model import _AREA_FACTOR_HALF


@dataclass(frozen=True)
class PeakCandidates:
    """Peaks found in one pattern, to seed :func:`fit_peaks`.

    Attributes
    ----------
    position : peak maxima, unit of the radial axis (sorted ascending).
    fwhm : width at half prominence, unit of the radial axis.
    height : maximum above background (intensity units).
    area : estimated area, ``height * fwhm * 1.32`` (pseudo-Voigt with eta = 0.5).
    prominence : scipy prominence (intensity units).
    noise : robust noise level used for the default prominence (intensity units).
    settings : parameters used, background method included.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.peaks import find_peaks_1d, pseudo_voigt
    >>> x = np.linspace(10, 12, 401)
    >>> cands = find_peaks_1d(x, 50 + 100 * pseudo_voigt(x, 11.0, 0.05, 1.0, 0.3),
    ...                       background_method=None)
    >>> np.round(cands.as_initial(), 3).tolist()  # position, fwhm, area, eta
    [[11.0, 0.05, 115.095, 0.5]]
    """

    position: np.ndarray
    fwhm: np.ndarray
    height: np.ndarray
    area: np.ndarray
    prominence: np.ndarray
    noise: float
    settings: dict

    def as_initial(self) -> np.ndarray:
        """(n_peaks, 4) array of (position, fwhm, area, eta=0.5) for :func:`fit_peaks`."""
        return np.column_stack([self.position, self.fwhm, self.area,
                                np.full(self.position.shape, 0.5)])


def find_peaks_1d(
    x: np.ndarray,
    y: np.ndarray,
    prominence: float | None = None,
    *,
    background_method: str | None = "snip",
    background_params: dict | None = None,
    min_fwhm: float = 0.0,
    distance: int | None = None,
    max_peaks: int | None = None,
) -> PeakCandidates:
    """Find candidate peaks in one pattern with ``scipy.signal.find_peaks``.

    Parameters
    ----------
    x : radial axis, shape (n_points,), increasing.
    y : intensity, shape (n_points,).
    prominence : minimum prominence in the background-subtracted pattern (intensity units);
        None: 10 x the robust noise level (median absolute point-to-point difference / 0.954;
        random fluctuations reach 5-8 x over a few thousand points).
    background_method : :func:`background` method subtracted first, or None for none.
    background_params : parameters of that method.
    min_fwhm : discard candidates narrower than this (unit of ``x``).
    distance : minimum distance between peaks in points (scipy ``distance``).
    max_peaks : keep only the most prominent ones.

    Returns
    -------
    PeakCandidates
        Positions and widths in the unit of ``x``, heights and prominences in intensity
        units, sorted by position.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.peaks import pseudo_voigt
    >>> x = np.linspace(10, 12, 401)
    >>> y = 50 + 5 * (x - 10) + 100 * (pseudo_voigt(x, 10.6, 0.05, 1.0, 0.3)
    ...                                + pseudo_voigt(x, 11.4, 0.08, 0.5, 0.3))
    >>> cands = find_peaks_1d(x, y, background_method="snip",
    ...                       background_params={"max_half_window": 40})
    >>> cands.position.tolist(), np.round(cands.fwhm, 3).tolist()
    ([10.6, 11.4], [0.05, 0.08])
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    settings: dict = {"background_method": background_method}
    if background_method is not None:
        bg = background(x, y, background_method, **(background_params or {}))
        ys = y - bg.baseline
        settings["background_params"] = bg.params
    else:
        ys = y.copy()
    ys = np.where(np.isfinite(ys), ys, 0.0)
    noise = float(np.median(np.abs(np.diff(ys))) / (np.sqrt(2) * 0.6745))
    if prominence is None:
        prominence = 10.0 * noise
    settings.update(prominence=float(prominence), min_fwhm=min_fwhm, distance=distance,
                    max_peaks=max_peaks)
    idx, props = find_peaks(ys, prominence=prominence, width=0, rel_height=0.5, distance=distance)
    pts = np.arange(x.size, dtype=float)
    left = np.interp(props["left_ips"], pts, x)
    right = np.interp(props["right_ips"], pts, x)
    fwhm = right - left
    keep = fwhm >= min_fwhm
    idx, fwhm, prom = idx[keep], fwhm[keep], props["prominences"][keep]
    if max_peaks is not None and idx.size > max_peaks:
        top = np.sort(np.argsort(prom)[::-1][:max_peaks])
        idx, fwhm, prom = idx[top], fwhm[top], prom[top]
    height = ys[idx]
    return PeakCandidates(
        position=x[idx],
        fwhm=fwhm,
        height=height,
        area=height * fwhm * _AREA_FACTOR_HALF,
        prominence=prom,
        noise=noise,
        settings=settings,
    )


def peak_windows(
    positions: Sequence[float], fwhm: Sequence[float], half_width: float = 4.0
) -> list[tuple[float, float]]:
    """Windows ``[x0 - half_width * fwhm, x0 + half_width * fwhm]``, overlapping ones merged.

    Parameters
    ----------
    positions, fwhm : peak positions and widths (unit of the radial axis).
    half_width : window half-width in FWHM.

    Returns
    -------
    list of (lo, hi)
        Window limits in the unit of the positions, ascending.

    Examples
    --------
    >>> peak_windows([10.0, 10.3, 12.0], [0.05, 0.05, 0.1])
    [(9.8, 10.5), (11.6, 12.4)]
    """
    order = np.argsort(positions)
    out: list[list[float]] = []
    for i in order:
        lo = float(positions[i] - half_width * fwhm[i])
        hi = float(positions[i] + half_width * fwhm[i])
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]
