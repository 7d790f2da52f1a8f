"""The pre-edge peaks of a normalised XANES spectrum, fitted on a model of the main edge's tail.

The model is the standard one of pre-edge analyses (Wilke, Farges, Petit & Brown, Am. Mineral.
86 (2001) 714; Larch's ``pre_edge_baseline``): a baseline made of a line and an arctangent step
(the rising main edge, whose low-energy tail is a Lorentzian's integral), plus pseudo-Voigt
peaks. The number of peaks (0 to ``max_peaks``) is the one of least Bayesian information
criterion (Schwarz, Ann. Stat. 6 (1978) 461). The fit stops below the rising edge: at the
first point, walking down from the edge's half-height crossing, where the normalised mu falls
below ``top_level`` or stops falling (the dip after a strong pre-edge peak). Energies in eV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy.optimize import least_squares

from ..lineshapes import GAUSS_C, GAUSS_NORM, pseudo_voigt
from .edge import XasEdgeError, noise_level

#: Lorentzian fraction of the pseudo-Voigt peaks: the core hole's Lorentzian (about 1 eV for
#: 3d-metal K edges, xraydb) and the monochromator's Gaussian (about 1 eV for Si(111) at 5-9
#: keV) are of similar size.
PEAK_ETA = 0.5
#: Peak widths allowed (FWHM, eV): pre-edge components of 3d-metal K edges are 1 to 3 eV wide.
PEAK_FWHM_EV = (0.5, 3.0)
#: The fit starts this far below the window (eV): a stretch of baseline below the first peak.
BASELINE_LEAD_EV = 4.0
#: No peak centre within this of the fit's top (eV): a peak there is the edge's own rise.
TOP_GAP_EV = 1.0
#: Spacing of the starting centres tried for each added peak (eV).
START_STEP_EV = 2.0
#: Starting points fitted in full for each number of peaks (the best of all tried, once their
#: linear parameters are solved for).
FULL_FITS = 8


@dataclass
class PreEdge:
    """The pre-edge peaks above the main edge's tail.

    Parameters
    ----------
    centroid_ev, centroid_err_ev : float
        Area-weighted mean energy of the fitted peaks and its uncertainty (eV); NaN when no
        peak is found.
    area, area_err : float
        Integrated area of the fitted peaks and its uncertainty (normalised mu x eV).
    height : float
        Highest point of the fitted peaks above the baseline (normalised mu).
    window_ev : (float, float)
        The window asked for (eV).
    n_peaks : int
        Number of peaks fitted (chosen by BIC).
    residual_rms : float
        Root-mean-square misfit of the fit (normalised mu).
    fit_window_ev : (float, float)
        The energies fitted (eV): from ``BASELINE_LEAD_EV`` below the window to below the
        rising edge.
    peaks : list of dict
        Each peak's ``center_ev``, ``fwhm_ev`` and ``area``.

    Examples
    --------
    One peak of area 0.2 at 5469 eV below a V K edge, with noise:

    >>> import numpy as np
    >>> from xpipe.lineshapes import pseudo_voigt
    >>> e = np.arange(5440.0, 5560.0, 0.2)
    >>> norm = (0.5 + np.arctan((e - 5480.0) / 1.5) / np.pi
    ...         + 0.2 * pseudo_voigt(e, 5469.0, 2.0, 0.5))
    >>> norm += np.random.default_rng(0).normal(0.0, 1e-3, e.size)
    >>> pe = pre_edge_peak(e, norm, window_ev=(5456.0, 5475.0))
    >>> pe.n_peaks, round(pe.centroid_ev, 1), round(pe.area, 2), round(pe.height, 2)
    (1, 5469.0, 0.2, 0.08)
    """

    centroid_ev: float
    centroid_err_ev: float
    area: float  # normalised mu x eV
    area_err: float
    height: float
    window_ev: tuple[float, float]
    n_peaks: int = 0
    residual_rms: float = float("nan")
    fit_window_ev: tuple[float, float] = (float("nan"), float("nan"))
    peaks: list[dict] = field(default_factory=list)


def _half_height_crossing(e: np.ndarray, y: np.ndarray, lo: float, span_ev: float = 70.0) -> int:
    """Index of the last point below 0.5 under the white line (the highest point within
    ``span_ev`` above ``lo``)."""
    idx = np.flatnonzero((e >= lo) & (e <= lo + span_ev))
    if idx.size < 3:
        raise XasEdgeError(f"no data above {lo:.1f} eV for the main edge")
    j = int(idx[int(np.argmax(y[idx]))])
    if y[j] < 0.5:
        raise XasEdgeError(f"normalised mu never reaches half the edge step between {lo:.1f} "
                           f"and {lo + span_ev:.1f} eV")
    while j > 0 and y[j] >= 0.5:
        j -= 1
    return j


def _fit_top(e: np.ndarray, y: np.ndarray, lo: float, hi: float, level: float) -> float:
    """Top of the fitted range: walking down from the half-height crossing, the first point
    below ``level`` or at a local minimum of mu, and at most ``hi``."""
    j = _half_height_crossing(e, y, lo)
    while j > 1 and y[j] >= level and not (y[j - 1] > y[j] and y[j - 2] > y[j]):
        j -= 1
    return float(min(e[j], hi))


def _model(p: np.ndarray, x: np.ndarray, n: int, x0: float):
    """Baseline (line and arctangent step) and peaks at ``x`` for parameters ``p``."""
    c0, c1, h, ec, w = p[:5]
    base = c0 + c1 * (x - x0) + h * (0.5 + np.arctan((x - ec) / w) / np.pi)
    peaks = np.zeros_like(x)
    for i in range(n):
        a, c, f = p[5 + 3 * i: 8 + 3 * i]
        peaks = peaks + a * pseudo_voigt(x, c, f, PEAK_ETA)
    return base, peaks


def _jacobian(p: np.ndarray, x: np.ndarray, n: int, x0: float) -> np.ndarray:
    """d(model)/d(parameters) at ``x``, analytic: [c0, c1, h, ec, w, (a, c, f) per peak]."""
    _, _, h, ec, w = p[:5]
    jac = np.empty((x.size, 5 + 3 * n))
    u = (x - ec) / w
    step_slope = h / np.pi / (1.0 + u * u)
    jac[:, 0] = 1.0
    jac[:, 1] = x - x0
    jac[:, 2] = 0.5 + np.arctan(u) / np.pi
    jac[:, 3] = -step_slope / w
    jac[:, 4] = -step_slope * u / w
    for i in range(n):
        a, c, f = p[5 + 3 * i: 8 + 3 * i]
        v = (x - c) / f
        v2 = v * v
        lor = (2.0 / np.pi) / f / (1.0 + 4.0 * v2)
        gau = GAUSS_NORM / f * np.exp(-GAUSS_C * v2)
        shape = PEAK_ETA * lor + (1.0 - PEAK_ETA) * gau
        # d(shape)/dv of the unit-area pseudo-Voigt; v = (x - c) / f
        d_dv = PEAK_ETA * lor * (-8.0 * v / (1.0 + 4.0 * v2)) + (1.0 - PEAK_ETA) * gau * (-2.0 * GAUSS_C * v)
        jac[:, 5 + 3 * i] = shape
        jac[:, 6 + 3 * i] = -a * d_dv / f
        jac[:, 7 + 3 * i] = a * (-shape / f - d_dv * v / f)
    return jac


def _fit(x, y, n, p0, bounds, x0, tol: float = 1e-8):
    lb, ub = (np.asarray(b, dtype=float) for b in bounds)
    p0 = np.clip(p0, lb + 1e-9 * (ub - lb), ub - 1e-9 * (ub - lb))
    return least_squares(lambda q: np.sum(_model(q, x, n, x0), axis=0) - y, p0,
                         jac=lambda q: _jacobian(q, x, n, x0), bounds=(lb, ub), x_scale="jac",
                         ftol=tol, xtol=tol, gtol=tol)


def _screened(x: np.ndarray, y: np.ndarray, n: int, guesses: list[np.ndarray], x0: float,
              keep: int = FULL_FITS) -> list[np.ndarray]:
    """The ``keep`` starting points of least misfit once their linear parameters (line, step
    height, peak areas) are solved for, in the order given where misfits tie: only these are
    fitted in full."""
    scored = []
    for k, q in enumerate(guesses):
        _, _, _, ec, w = q[:5]
        cols = [np.ones_like(x), x - x0, 0.5 + np.arctan((x - ec) / w) / np.pi]
        cols += [pseudo_voigt(x, q[6 + 3 * i], q[7 + 3 * i], PEAK_ETA) for i in range(n)]
        coef, *_ = np.linalg.lstsq(np.column_stack(cols), y, rcond=None)
        coef[2:] = np.maximum(coef[2:], 0.0)  # no negative step or peak
        miss = float(np.sum((np.column_stack(cols) @ coef - y) ** 2))
        start = q.copy()
        start[[0, 1, 2]] = coef[:3]
        start[5::3] = np.maximum(coef[3:], 1e-4)
        scored.append((miss, k, start))
    scored.sort(key=lambda t: (t[0], t[1]))
    return [start for _, _, start in scored[:keep]]


def _amplitude(x: np.ndarray, miss: np.ndarray, center: float) -> float:
    """Starting area of a peak at ``center`` from what the model misses there."""
    return max(float(np.interp(center, x, miss)), 1e-4) * 1.6


def _covariance(res, npts: int) -> np.ndarray:
    """Parameter covariance, scaled by the reduced chi-square (as lmfit does)."""
    dof = max(npts - res.x.size, 1)
    s2 = float(np.sum(res.fun ** 2)) / dof
    return np.linalg.pinv(res.jac.T @ res.jac) * s2


def _fits(x, y, lo, top, e_half, noise, max_peaks):
    """Fits with 0 .. max_peaks peaks, each started from the best one before plus a peak tried
    at every ``START_STEP_EV`` across the peak range: [(bic, n, result)]."""
    width = top - x[0]
    # the step's centre lies between the fit's top and the half-height crossing
    base_lb = [-1.0, -1.0 / width, 0.0, top, 0.3]
    base_ub = [1.0, 1.0 / width, 2.0, max(e_half, top + 0.1), 15.0]
    p = np.array([float(np.mean(y[:3])), 0.0, 1.0, max(e_half, top + 0.05), 2.0])
    c_lo = min(lo, top - 1.0)
    starts = np.arange(c_lo, top - TOP_GAP_EV + 1e-9, START_STEP_EV)
    out = []
    for n in range(max_peaks + 1):
        bounds = (base_lb + [0.0, c_lo, PEAK_FWHM_EV[0]] * n,
                  base_ub + [10.0, top - TOP_GAP_EV, PEAK_FWHM_EV[1]] * n)
        if n == 0:
            best = _fit(x, y, 0, p, bounds, lo)
        else:
            base, peaks = _model(p, x, n - 1, lo)
            miss = y - base - peaks
            guesses = [np.r_[p, _amplitude(x, miss, c), c, 1.5] for c in starts]
            if n == 2:
                # every pair of grid centres placed afresh on the baseline as well: the optimum
                # found must not depend on the path the one-peak fit took
                p0 = out[0][2].x
                miss0 = y - _model(p0, x, 0, lo)[0]
                guesses += [np.r_[p0, _amplitude(x, miss0, c1), c1, 1.5, _amplitude(x, miss0, c2), c2, 1.5]
                            for c1, c2 in combinations(starts, 2)]
            tries = [_fit(x, y, n, q, bounds, lo) for q in _screened(x, y, n, guesses, lo)]
            # the best converged to the end, so that its numbers do not depend on where it started
            best = _fit(x, y, n, min(tries, key=lambda r: r.cost).x, bounds, lo, tol=1e-12)
        p = best.x
        chi2 = float(np.sum(best.fun ** 2)) / noise ** 2
        out.append((chi2 + best.x.size * np.log(x.size), n, best))
    return out


def pre_edge_peak(energy_ev: np.ndarray, norm: np.ndarray, *, window_ev: tuple[float, float],
                  noise: float | None = None, max_peaks: int = 2,
                  top_level: float = 0.15) -> PreEdge:
    """Pre-edge peaks fitted on the main edge's tail: centroid, area, height, uncertainties.

    Parameters
    ----------
    energy_ev, norm : ndarray
        Calibrated energies (eV) and normalised mu (edge step 1).
    window_ev : (float, float)
        The pre-edge window, absolute energies (eV): where the peaks lie. The fit starts
        ``BASELINE_LEAD_EV`` below it (baseline) and stops below the rising edge.
    noise : float, optional
        Noise of ``norm``; measured over the whole spectrum when None.
    max_peaks : int
        Most peaks tried.
    top_level : float
        The fit ends where the rising edge falls below this normalised mu (or at the dip after
        the peaks, whichever comes first walking down from the half-height crossing).

    Returns
    -------
    PreEdge
        Centroid and area with uncertainties from the fit's covariance (scaled by the reduced
        chi-square), the height, the number of peaks and the residual. Raises
        :class:`~xpipe.xas.edge.XasEdgeError` when the window holds too few points.

    Examples
    --------
    Two peaks (areas 0.10 and 0.05 at 7112.1 and 7113.6 eV, centroid 7112.6 eV) below an Fe K
    edge, with noise of 0.003 of the edge step:

    >>> import numpy as np
    >>> from xpipe.lineshapes import pseudo_voigt
    >>> e = np.arange(7050.0, 7250.0, 0.25)
    >>> norm = (0.5 + np.arctan((e - 7124.0) / 2.0) / np.pi
    ...         + 0.10 * pseudo_voigt(e, 7112.1, 1.8, 0.5) + 0.05 * pseudo_voigt(e, 7113.6, 1.8, 0.5))
    >>> norm += np.random.default_rng(2).normal(0.0, 3e-3, e.size)
    >>> pe = pre_edge_peak(e, norm, window_ev=(7102.0, 7122.5))
    >>> round(pe.centroid_ev, 1), round(pe.area, 2), pe.n_peaks
    (7112.6, 0.16, 2)
    >>> bool(pe.centroid_err_ev < 0.1 and pe.area_err < 0.01), round(pe.residual_rms, 3)
    (True, 0.003)
    """
    e = np.asarray(energy_ev, dtype=float)
    y = np.asarray(norm, dtype=float)
    lo, hi = float(window_ev[0]), float(window_ev[1])
    if noise is None:
        noise = noise_level(e, y)
    noise = max(float(noise), 1e-6)
    top = _fit_top(e, y, lo, hi, top_level)
    m = (e >= lo - BASELINE_LEAD_EV) & (e <= top)
    if m.sum() < 12:
        raise XasEdgeError(f"pre-edge window {lo - BASELINE_LEAD_EV:.1f}-{top:.1f} eV (below the "
                           f"rising edge) holds {m.sum()} points; expected at least 12")
    x, yy = e[m], y[m]
    e_half = float(e[_half_height_crossing(e, y, lo)])
    _, n, res = min(_fits(x, yy, lo, top, e_half, noise, max_peaks), key=lambda t: t[0])  # least BIC
    return _summary(res, x, n, lo, (lo, hi), (float(x[0]), float(x[-1])))


def _summary(res, x, n, x0, window, fit_window) -> PreEdge:
    """Centroid, area and their uncertainties from the fit's parameters and covariance."""
    rms = float(np.sqrt(np.mean(res.fun ** 2)))
    if n == 0:
        return PreEdge(float("nan"), float("nan"), 0.0, 0.0, 0.0, window, 0, rms, fit_window)
    cov = _covariance(res, x.size)
    ia = 5 + 3 * np.arange(n)
    a, c = res.x[ia], res.x[ia + 1]
    area = float(a.sum())
    grad_area = np.zeros(res.x.size)
    grad_area[ia] = 1.0
    area_err = float(np.sqrt(max(grad_area @ cov @ grad_area, 0.0)))
    if area > 0:
        cen = float((a * c).sum() / area)
        grad_c = np.zeros(res.x.size)
        grad_c[ia] = (c - cen) / area
        grad_c[ia + 1] = a / area
        cen_err = float(np.sqrt(max(grad_c @ cov @ grad_c, 0.0)))
    else:
        cen, cen_err = float("nan"), float("nan")
    fine = np.linspace(x[0], x[-1], 4 * x.size)
    height = float(np.max(_model(res.x, fine, n, x0)[1]))
    peaks = [{"center_ev": float(res.x[i + 1]), "fwhm_ev": float(res.x[i + 2]),
              "area": float(res.x[i])} for i in ia]
    return PreEdge(cen, cen_err, area, area_err, height, window, n, rms, fit_window, peaks)
