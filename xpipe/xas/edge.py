"""Absorption edges on an energy grid: tabulated edge energies, noise, derivative maxima, E0.

The building blocks of calibration (:mod:`xpipe.xas.prepare`) and of normalisation and edge
position (:mod:`xpipe.xas.xanes`). Energies are in eV.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d


class XasEdgeError(ValueError):
    """A spectrum has no usable absorption edge where one was expected, or too little range.

    Parameters
    ----------
    message : str
        What is missing, with the energies (eV) looked at.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(5440.0, 5560.0, 481)
    >>> try:
    ...     main_edge_e0(e, np.ones_like(e), window_ev=(5473.0, 5510.0))
    ... except XasEdgeError as exc:
    ...     print(exc)
    no rising edge between 5473.0 and 5510.0 eV
    """


def tabulated_edge_ev(element: str, edge: str = "K") -> float:
    """Tabulated absorption-edge energy of an element.

    The values are xraydb's (Elam, Ravel & Sieber, Radiat. Phys. Chem. 63 (2002) 121).

    Parameters
    ----------
    element : str
        Element symbol ('V', 'Fe').
    edge : str
        Edge name ('K', 'L3', ...).

    Returns
    -------
    float
        Edge energy (eV). Raises ValueError for an unknown element or edge.

    Examples
    --------
    >>> tabulated_edge_ev("V"), tabulated_edge_ev("Fe", "K")
    (5465.0, 7112.0)
    """
    import xraydb  # slow to import (its database): only when an edge is looked up

    try:
        return float(xraydb.xray_edge(element, edge).energy)
    except Exception as exc:  # xraydb raises several kinds for unknown names
        raise ValueError(f"unknown element/edge {element!r} {edge!r}: {exc}") from exc


def noise_level(energy_ev: np.ndarray, y: np.ndarray, lo: float | None = None,
                hi: float | None = None) -> float:
    """Robust standard deviation of the point-to-point noise of ``y`` over [lo, hi].

    Second differences remove a smooth signal (for white noise their variance is 6 sigma^2);
    the median absolute deviation ignores the odd glitch.

    Parameters
    ----------
    energy_ev : ndarray
        Energies (eV).
    y : ndarray
        The signal on those energies.
    lo, hi : float, optional
        Energy range (eV); the whole scan when it holds fewer than 8 points.

    Returns
    -------
    float
        Noise standard deviation, in the unit of ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(7000.0, 7300.0, 601)
    >>> y = np.arctan((e - 7112.0) / 5.0) + np.random.default_rng(0).normal(0.0, 0.01, e.size)
    >>> round(noise_level(e, y), 3)
    0.01
    """
    m = np.ones(energy_ev.size, dtype=bool)
    if lo is not None:
        m &= energy_ev >= lo
    if hi is not None:
        m &= energy_ev <= hi
    v = y[m]
    if v.size < 8:
        v = y
    d2 = v[2:] - 2 * v[1:-1] + v[:-2]
    mad = np.median(np.abs(d2 - np.median(d2)))
    return float(1.4826 * mad / np.sqrt(6.0))


def _uniform(energy_ev: np.ndarray, y: np.ndarray, lo: float, hi: float, step: float = 0.05):
    """y resampled (linear) on a uniform grid over [lo, hi] within the data."""
    lo = max(lo, energy_ev[0])
    hi = min(hi, energy_ev[-1])
    if hi - lo < 4 * step:
        raise XasEdgeError(f"window {lo:.1f}-{hi:.1f} eV holds no data")
    grid = np.arange(lo, hi + 0.5 * step, step)
    return grid, np.interp(grid, energy_ev, y)


def _smooth_derivatives(grid: np.ndarray, y: np.ndarray, smooth_ev: float):
    step = grid[1] - grid[0]
    ys = gaussian_filter1d(y, max(smooth_ev / step, 1e-9), mode="nearest") if smooth_ev > 0 else y
    d1 = np.gradient(ys, step)
    d2 = np.gradient(d1, step)
    return d1, d2


def _parabola_peak(x: np.ndarray, y: np.ndarray, i: int) -> float:
    if i <= 0 or i >= y.size - 1:
        return float(x[i])
    y0, y1, y2 = y[i - 1], y[i], y[i + 1]
    den = y0 - 2 * y1 + y2
    if den == 0:
        return float(x[i])
    return float(x[i] + 0.5 * (y0 - y2) / den * (x[1] - x[0]))


def _derivative_max(grid, y, smooth_ev):
    d1, _ = _smooth_derivatives(grid, y, smooth_ev)
    i = int(np.argmax(d1))
    return _parabola_peak(grid, d1, i), float(d1[i])


#: A derivative peak is a pre-edge peak, not the main edge, when mu tops out after it below this
#: fraction of the edge step ...
PRE_EDGE_TOP_FRACTION = 0.9
#: ... and then falls by more than this fraction of the step (or 3 noise levels): a metal's
#: onset shoulder (Cu, Ni foils) dips by 2 % of the step at most, the pre-edge peaks of
#: VO2 and V2O5 by 27 % and 49 %.
PRE_EDGE_DIP_FRACTION = 0.05


def _rough_norm(energy_ev: np.ndarray, mu: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """mu over a rough edge step: a line through the points below ``lo`` (from lo - 80 to
    lo - 5 eV) and the median above ``hi`` (to hi + 80 eV); the window's minimum and maximum
    where the scan does not reach so far. Only for telling peaks from the edge."""
    e = energy_ev
    win = (e >= lo) & (e <= hi)
    pre = (e >= lo - 80.0) & (e <= lo - 5.0)
    post = (e >= hi) & (e <= hi + 80.0)
    if pre.sum() >= 4:
        base = np.polyval(np.polyfit(e[pre], mu[pre], 1), e)
    else:
        base = np.full(e.size, float(np.min(mu[win])) if win.any() else float(np.min(mu)))
    rel = mu - base
    top = float(np.median(rel[post])) if post.sum() >= 4 else float(np.max(rel[win], initial=0.0))
    return rel / top if top > 0 else rel


def _main_edge_index(grid: np.ndarray, y: np.ndarray, smooth_ev: float,
                     noise: float = 0.0) -> tuple[int, np.ndarray]:
    """Index of the main edge's derivative peak on ``grid`` and the smoothed derivative.

    ``y`` is mu over its edge step (roughly normalised). Every local maximum of the smoothed
    derivative is a candidate (the window's ends too); a candidate after which mu tops out
    below :data:`PRE_EDGE_TOP_FRACTION` of the step and then falls by more than
    :data:`PRE_EDGE_DIP_FRACTION` (or 3 ``noise``) is a pre-edge peak. The steepest of the
    others is the main edge; the steepest of all when every candidate looks like a peak.
    """
    step = grid[1] - grid[0]
    sig = max(smooth_ev / step, 1e-9)
    ys = gaussian_filter1d(y, sig, mode="nearest") if smooth_ev > 0 else y
    d1 = np.gradient(ys, step)
    n = d1.size
    cand = [i for i in range(n) if d1[i] > 0 and (i == 0 or d1[i] >= d1[i - 1])
            and (i == n - 1 or d1[i] > d1[i + 1])]
    dip = max(PRE_EDGE_DIP_FRACTION, 3.0 * noise)
    main = []
    for i in cand:
        j = i
        while j < n - 1 and d1[j] > 0:
            j += 1
        k = j
        while k < n - 1 and d1[k] <= 0:
            k += 1
        if not (j < n - 1 and ys[j] < PRE_EDGE_TOP_FRACTION and ys[j] - ys[k] > dip):
            main.append(i)
    pool = main or cand or [int(np.argmax(d1))]
    return max(pool, key=lambda i: d1[i]), d1


def main_edge_e0(
    energy_ev: np.ndarray,
    mu: np.ndarray,
    *,
    window_ev: tuple[float, float],
    smooth_ev: float = 0.5,
) -> float:
    """E0: the main edge's maximum of the smoothed derivative of ``mu`` inside ``window_ev``.

    The window may hold pre-edge peaks (it starts below the tabulated edge, where a metal
    foil's edge lies): a derivative peak after which mu tops out well below the edge step and
    falls again is a pre-edge peak and is passed over, however steep; the steepest of the other
    derivative peaks is E0. See :func:`xpipe.xas.windows.edge_windows` for the default window.

    Parameters
    ----------
    energy_ev, mu : ndarray
        The spectrum: energies (eV) and absorption.
    window_ev : (float, float)
        The main-edge window (eV).
    smooth_ev : float
        Gaussian smoothing (eV) before the derivative.

    Returns
    -------
    float
        E0 (eV). Raises :class:`XasEdgeError` when mu does not rise in the window.

    Examples
    --------
    A pre-edge peak at 5469 eV, steeper than the edge at 5480 eV, is passed over:

    >>> import numpy as np
    >>> e = np.linspace(5350.0, 5600.0, 1001)
    >>> mu = 0.5 + np.arctan((e - 5480.0) / 1.5) / np.pi + 0.3 * np.exp(-((e - 5469.0) ** 2))
    >>> round(main_edge_e0(e, mu, window_ev=(5458.0, 5510.0)), 2)
    5480.0

    A metal foil's edge at the tabulated energy, with a shoulder above it:

    >>> foil = 0.3 * (0.5 + np.arctan((e - 5465.0) / 1.0) / np.pi) + 0.7 * (
    ...     0.5 + np.arctan((e - 5475.0) / 3.0) / np.pi)
    >>> round(main_edge_e0(e, foil, window_ev=(5458.0, 5510.0)), 1)
    5465.0
    """
    e = np.asarray(energy_ev, dtype=float)
    y = _rough_norm(e, np.asarray(mu, dtype=float), *window_ev)
    grid, yg = _uniform(e, y, *window_ev)
    i, d1 = _main_edge_index(grid, yg, smooth_ev, noise_level(e, y, *window_ev))
    if not d1[i] > 0:
        raise XasEdgeError(f"no rising edge between {window_ev[0]:.1f} and {window_ev[1]:.1f} eV")
    return _parabola_peak(grid, d1, i)


def main_edge_derivative_max(grid: np.ndarray, y: np.ndarray, smooth_ev: float):
    """The main edge's derivative maximum of a normalised ``y`` on a uniform ``grid``:
    (energy, slope), the pre-edge peaks passed over as in :func:`main_edge_e0`.

    Parameters
    ----------
    grid, y : ndarray
        Uniform energies (eV) and normalised mu.
    smooth_ev : float
        Gaussian smoothing (eV) before the derivative.

    Returns
    -------
    (float, float)
        Energy (eV) and slope (1/eV).

    Examples
    --------
    >>> import numpy as np
    >>> g = np.arange(5458.0, 5510.0, 0.05)
    >>> y = 0.5 + np.arctan((g - 5480.0) / 1.5) / np.pi + 0.3 * np.exp(-((g - 5469.0) ** 2))
    >>> round(main_edge_derivative_max(g, y, 0.5)[0], 2)
    5480.0
    """
    i, d1 = _main_edge_index(grid, y, smooth_ev)
    return _parabola_peak(grid, d1, i), float(d1[i])


def main_edge_inflection(grid: np.ndarray, y: np.ndarray, smooth_ev: float) -> float:
    """Zero of the smoothed second derivative next to the main edge's derivative maximum
    (:func:`main_edge_derivative_max`), refined between grid points.

    Parameters
    ----------
    grid, y : ndarray
        Uniform energies (eV) and normalised mu.
    smooth_ev : float
        Gaussian smoothing (eV) before the derivatives.

    Returns
    -------
    float
        The inflection point (eV).

    Examples
    --------
    >>> import numpy as np
    >>> g = np.arange(5458.0, 5510.0, 0.05)
    >>> y = 0.5 + np.arctan((g - 5480.0) / 1.5) / np.pi + 0.3 * np.exp(-((g - 5469.0) ** 2))
    >>> round(main_edge_inflection(g, y, 0.5), 2)
    5480.0
    """
    i, d1 = _main_edge_index(grid, y, smooth_ev)
    d2 = np.gradient(d1, grid[1] - grid[0])
    for j in (i - 1, i):
        if 0 <= j < d2.size - 1 and d2[j] >= 0 > d2[j + 1]:
            return float(grid[j] + d2[j] / (d2[j] - d2[j + 1]) * (grid[j + 1] - grid[j]))
    return float(grid[i])
