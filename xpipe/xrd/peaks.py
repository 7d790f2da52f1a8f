"""Batched peak fitting across the frames of an operando pattern stack.

The science core of XRD peak tracking: arrays in, arrays out, no file names. The same set of
peaks is fitted in every frame of a stack ``intensity[frame, radial]``. Each peak lives in a
*window* ``[lo, hi]`` of the radial axis (one window may hold several overlapping peaks); each
window has its own linear background ``b0 + b1 (x - xc)`` with ``xc`` the window centre.

The peak shape is an area-normalised pseudo-Voigt with position ``x0``, full width at half
maximum ``w``, integrated area ``A`` and Lorentzian fraction ``eta``::

    f(x) = A [eta L(x; x0, w) + (1 - eta) G(x; x0, w)]
    G = sqrt(4 ln2 / pi) / w * exp(-4 ln2 (x - x0)^2 / w^2)
    L = 2 / (pi w) / (1 + 4 (x - x0)^2 / w^2)

All (frame, window) problems of a block of frames are solved together by one vectorised
Levenberg-Marquardt loop with analytic Jacobians (``J^T W J`` formed with ``einsum``, the small
systems solved with ``np.linalg.solve``), per-problem damping and acceptance, and bounds by
projection (``w > 0``, ``A >= 0``, ``x0`` inside its window, ``0 <= eta <= 1``). With warm start,
blocks are processed in time order and each block starts from the solution of the last frame of
the previous block, so drifting peaks are followed.

Units: every position, width and window is in the unit of the radial axis ``x`` (degrees 2theta,
1/angstrom, ...); areas are in intensity x radial unit.

Example
-------
>>> import numpy as np
>>> from xpipe.xrd.peaks import fit_peaks, pseudo_voigt
>>> x = np.linspace(10, 12, 400)
>>> stack = np.stack([100 * pseudo_voigt(x, 11 + 0.01 * k, 0.05, 1.0, 0.3) + 5 for k in range(5)])
>>> fits = fit_peaks(x, stack, windows=[(10.7, 11.3)], initial=[(11.0, 0.05)])
>>> np.round(fits.position[:, 0], 3).tolist(), bool(fits.success.all())
([11.0, 11.01, 11.02, 11.03, 11.04], True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..lineshapes import GAUSS_C, GAUSS_NORM
from ..lineshapes import pseudo_voigt as _pseudo_voigt
from .blas import one_blas_thread

#: Area / (height x FWHM) of a pseudo-Voigt with eta = 0.5 (Gaussian 1.064, Lorentzian 1.571).
_AREA_FACTOR_HALF = 0.5 * np.sqrt(np.pi / GAUSS_C) + 0.5 * np.pi / 2

_BASELINE_DEFAULTS: dict[str, dict] = {
    "snip": {"max_half_window": None, "decreasing": True, "smooth_half_window": None},
    "asls": {"lam": 1e6, "p": 0.01},
    "arpls": {"lam": 1e5},
}


# ----------------------------------------------------------------------------- background


@dataclass(frozen=True)
class BackgroundEstimate:
    """A baseline estimated under one pattern or a stack, with how it was obtained.

    Attributes
    ----------
    baseline : same shape as the input intensity (counts or the input's intensity unit).
    method : baseline algorithm (``snip``, ``asls``, ``arpls``, or another pybaselines method).
    params : every parameter passed to the algorithm, defaults resolved (for provenance).
    library : implementation and its version, e.g. ``pybaselines 1.2.1``.
    """

    baseline: np.ndarray
    method: str
    params: dict
    library: str


def background(x: np.ndarray, y: np.ndarray, method: str = "snip", **params) -> BackgroundEstimate:
    """Estimate the smooth background under a pattern or under each pattern of a stack.

    Parameters
    ----------
    x : radial axis, shape (n_points,), any unit (degrees 2theta, 1/angstrom, ...).
    y : intensity, shape (n_points,) or (n_frames, n_points).
    method : a `pybaselines <https://pybaselines.readthedocs.io>`_ method of
        ``pybaselines.Baseline``: ``snip`` (statistics-sensitive non-linear iterative peak
        clipping; ``max_half_window`` in points, default ``n_points // 40``, and
        ``smooth_half_window`` default ``max_half_window // 10``, ``decreasing=True``), ``asls``
        (asymmetric least squares; ``lam``, ``p``), ``arpls`` (``lam``), or any other name.
    **params : passed to the pybaselines method; recorded with the defaults resolved.

    Returns
    -------
    BackgroundEstimate
        ``baseline`` has the shape of ``y``.

    Raises
    ------
    ImportError
        pybaselines is not installed.
    ValueError
        unknown method, or ``x`` and ``y`` do not match.
    """
    try:
        import pybaselines
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("background() needs pybaselines: pip install pybaselines") from exc
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if y.shape[-1] != x.shape[0] or y.ndim not in (1, 2):
        raise ValueError(f"y must be (n_points,) or (n_frames, n_points) with n_points={x.shape[0]}, got {y.shape}")
    fitter = pybaselines.Baseline(x_data=x)
    if not hasattr(fitter, method) or method.startswith("_"):
        raise ValueError(f"unknown background method {method!r} (pybaselines.Baseline has no such method)")
    resolved = dict(_BASELINE_DEFAULTS.get(method, {}))
    resolved.update(params)
    if method == "snip":
        if resolved.get("max_half_window") is None:
            resolved["max_half_window"] = max(3, x.shape[0] // 40)
        if "smooth_half_window" not in params:  # clip the noise, not its lower envelope
            resolved["smooth_half_window"] = max(1, int(resolved["max_half_window"]) // 10)
    fn = getattr(fitter, method)
    rows = y.reshape(-1, x.shape[0])
    out = np.empty_like(rows)
    for i, row in enumerate(rows):
        out[i] = fn(row, **resolved)[0]
    return BackgroundEstimate(
        baseline=out.reshape(y.shape),
        method=method,
        params=resolved,
        library=f"pybaselines {pybaselines.__version__}",
    )


# ----------------------------------------------------------------------------- peak model


def pseudo_voigt(x: np.ndarray, x0: float, fwhm: float, area: float, eta: float) -> np.ndarray:
    """Area-normalised pseudo-Voigt profile.

    Parameters
    ----------
    x : radial axis (any unit).
    x0 : peak position, unit of ``x``.
    fwhm : full width at half maximum (> 0), unit of ``x``.
    area : integrated area, intensity x unit of ``x``.
    eta : Lorentzian fraction, 0 (Gaussian) .. 1 (Lorentzian).

    Returns
    -------
    np.ndarray
        ``area * (eta * L + (1 - eta) * G)`` at ``x``.
    """
    return area * _pseudo_voigt(x, x0, fwhm, eta)


def _model_and_jacobian(theta: np.ndarray, x: np.ndarray, xc: np.ndarray, n_peaks: int):
    """Model (P, M) and analytic Jacobian (P, M, 4K+2) for P problems at once.

    ``theta[:, 4k:4k+4]`` = (x0, w, A, eta) of peak k, ``theta[:, 4K:4K+2]`` = (b0, b1);
    ``x`` (P, M) points, ``xc`` (P,) window centres.
    """
    k4 = 4 * n_peaks
    x0 = theta[:, 0:k4:4][:, None, :]
    w = theta[:, 1:k4:4][:, None, :]
    a = theta[:, 2:k4:4][:, None, :]
    eta = theta[:, 3:k4:4][:, None, :]
    u = (x[:, :, None] - x0) / w
    u2 = u * u
    den = 1.0 + 4.0 * u2
    g = GAUSS_NORM / w * np.exp(-GAUSS_C * u2)
    lor = 2.0 / np.pi / w / den
    prof = eta * lor + (1.0 - eta) * g
    dx = x - xc[:, None]
    model = (a * prof).sum(axis=2)
    model += theta[:, k4, None] + theta[:, k4 + 1, None] * dx
    jac = np.empty(x.shape + (k4 + 2,))
    jac[:, :, 0:k4:4] = a * (eta * lor * 8.0 * u / den + (1.0 - eta) * g * 2.0 * GAUSS_C * u) / w
    jac[:, :, 1:k4:4] = a * (eta * lor * (4.0 * u2 - 1.0) / den + (1.0 - eta) * g * (2.0 * GAUSS_C * u2 - 1.0)) / w
    jac[:, :, 2:k4:4] = prof
    jac[:, :, 3:k4:4] = a * (lor - g)
    jac[:, :, k4] = 1.0
    jac[:, :, k4 + 1] = dx
    return model, jac


# ----------------------------------------------------------------------------- results


@dataclass
class PeakFits:
    """Fitted peak parameters per frame and peak, each with its standard uncertainty.

    Arrays indexed ``[frame, peak]`` follow the order of ``initial`` given to :func:`fit_peaks`;
    arrays indexed ``[frame, window]`` follow ``windows``. Positions, widths and background
    slopes are in the unit of the radial axis; areas in intensity x radial unit.

    Attributes
    ----------
    position, position_sigma : peak position x0 and its standard uncertainty.
    fwhm, fwhm_sigma : full width at half maximum.
    area, area_sigma : integrated peak area.
    eta, eta_sigma : Lorentzian fraction of the pseudo-Voigt (0 Gaussian .. 1 Lorentzian).
    background, background_sigma : ``[frame, window, 2]`` = (b0, b1) of the window background
        ``b0 + b1 (x - window_center)``; b0 in intensity units, b1 in intensity / radial unit.
    redchi : reduced chi-square ``[frame, window]``.
    n_iter : Levenberg-Marquardt iterations ``[frame, window]``.
    success : ``[frame, peak]``; False where the fit failed, with values NaN (the area and its
        sigma are kept when the peak is only "not above noise", so an upper limit can be read).
    reason : ``[frame, peak]`` strings, empty where ``success``.
    windows : (n_windows, 2) window limits; ``window_center`` (n_windows,).
    peak_window : window index of each peak.
    settings : every setting that decided the numbers (for provenance).
    """

    position: np.ndarray
    position_sigma: np.ndarray
    fwhm: np.ndarray
    fwhm_sigma: np.ndarray
    area: np.ndarray
    area_sigma: np.ndarray
    eta: np.ndarray
    eta_sigma: np.ndarray
    background: np.ndarray
    background_sigma: np.ndarray
    redchi: np.ndarray
    n_iter: np.ndarray
    success: np.ndarray
    reason: np.ndarray
    windows: np.ndarray
    window_center: np.ndarray
    peak_window: np.ndarray
    settings: dict = field(default_factory=dict)

    @property
    def height(self) -> np.ndarray:
        """Peak maximum above background ``[frame, peak]`` (intensity units)."""
        return self.area * (self.eta * 2.0 / (np.pi * self.fwhm) + (1.0 - self.eta) * GAUSS_NORM / self.fwhm)


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
        return np.column_stack([self.position, self.fwhm, self.area, np.full(self.position.shape, 0.5)])


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
    """
    from scipy.signal import find_peaks

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
    settings.update(prominence=float(prominence), min_fwhm=min_fwhm, distance=distance, max_peaks=max_peaks)
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
    list of (lo, hi), ascending.
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


# ----------------------------------------------------------------------------- fitting


def _levenberg_marquardt(theta, x, xc, y, wts, free, lower, upper, n_peaks, max_iter, ftol, xtol):
    """Vectorised bounded Levenberg-Marquardt over P problems; returns theta, chi2, H, iters, converged."""
    n_prob, n_par = theta.shape
    theta = np.clip(theta, lower, upper)
    fixed = ~free
    eye = np.eye(n_par)

    def evaluate(th, xs, xcs, ys, ws, fr):
        model, jac = _model_and_jacobian(th, xs, xcs, n_peaks)
        jac *= fr[:, None, :]
        res = ys - model
        jw = jac * ws[:, :, None]
        jwt = jw.transpose(0, 2, 1)  # batched matmul (BLAS) is much faster than einsum here
        hess = jwt @ jac
        grad = (jwt @ res[:, :, None])[:, :, 0]
        chi2 = np.einsum("pm,pm->p", ws * res, res)
        return chi2, hess, grad

    chi2, hess, grad = evaluate(theta, x, xc, y, wts, free)
    lam = np.full(n_prob, 1e-3)
    iters = np.zeros(n_prob, dtype=int)
    converged = np.zeros(n_prob, dtype=bool)
    active = np.isfinite(chi2)
    for _ in range(max_iter):
        ia = np.flatnonzero(active)
        if ia.size == 0:
            break
        h = hess[ia]
        d = np.diagonal(h, axis1=1, axis2=2)
        dmax = d.max(axis=1, keepdims=True)
        dscale = np.maximum(d, 1e-12 * dmax + 1e-300)
        th, g = theta[ia], grad[ia]
        # active set: a parameter on a bound whose gradient points outwards is held this step
        span = 1e-12 * (np.abs(th) + 1.0)
        held = ((th <= lower[ia] + span) & (g < 0)) | ((th >= upper[ia] - span) & (g > 0))
        fx = fixed[ia] | held
        a = h + lam[ia, None, None] * dscale[:, :, None] * eye
        a = np.where(fx[:, :, None] | fx[:, None, :], 0.0, a) + fx[:, :, None] * eye
        g = np.where(fx, 0.0, g)
        try:
            step = np.linalg.solve(a, g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = np.einsum("pij,pj->pi", np.linalg.pinv(a), g)
        trial = np.clip(th + step, lower[ia], upper[ia])
        predicted = np.einsum("pi,pi->p", g, step)  # Gauss-Newton decrease of chi2 / 2 (damped)
        c2, h2, g2 = evaluate(trial, x[ia], xc[ia], y[ia], wts[ia], free[ia])
        better = np.isfinite(c2) & (c2 <= chi2[ia])
        iters[ia] += 1
        acc = ia[better]
        decrease = chi2[acc] - c2[better]
        real_step = trial[better] - theta[acc]
        theta[acc] = trial[better]
        chi2[acc] = c2[better]
        hess[acc] = h2[better]
        grad[acc] = g2[better]
        lam[acc] = np.maximum(lam[acc] / 10.0, 1e-12)
        rej = ia[~better]
        lam[rej] *= 10.0
        small = (decrease <= ftol * np.maximum(chi2[acc], 1e-300)) | np.all(
            np.abs(real_step) <= xtol * (np.abs(theta[acc]) + xtol), axis=1
        )
        stuck = (lam[rej] > 1e10) | (predicted[~better] <= 0.5 * ftol * chi2[rej])
        done = np.concatenate([acc[small], rej[stuck]])
        converged[done] = True
        active[done] = False
    return theta, chi2, hess, iters, converged


def _covariance(hess: np.ndarray, free: np.ndarray) -> np.ndarray:
    """(J^T W J)^-1 over the free parameters (pseudo-inverse, scaled), NaN where undetermined."""
    d = np.diagonal(hess, axis1=1, axis2=2).copy()
    ok = free & (d > 0) & np.isfinite(d)
    s = np.where(ok, np.sqrt(np.where(ok, d, 1.0)), 1.0)
    corr = hess / s[:, :, None] / s[:, None, :]
    corr = np.where(ok[:, :, None] & ok[:, None, :], corr, 0.0)
    corr = np.where(np.isfinite(corr), corr, 0.0)
    cov = np.linalg.pinv(corr, hermitian=True) / s[:, :, None] / s[:, None, :]
    diag = np.diagonal(cov, axis1=1, axis2=2).copy()
    diag[~ok] = np.nan
    return diag


def _parse_initial(initial) -> np.ndarray:
    arr = [list(np.atleast_1d(np.asarray(row, dtype=float))) for row in initial]
    out = np.full((len(arr), 4), np.nan)
    for i, row in enumerate(arr):
        if not 2 <= len(row) <= 4:
            raise ValueError(f"initial[{i}] must be (position, fwhm[, area[, eta]]), got {row}")
        out[i, : len(row)] = row
    out[np.isnan(out[:, 3]), 3] = 0.5
    return out


@one_blas_thread
def fit_peaks(
    x: np.ndarray,
    stack: np.ndarray,
    windows: Sequence[tuple[float, float]],
    initial,
    sigma: np.ndarray | float | None = None,
    warm_start: bool = True,
    *,
    block_size: int = 16,
    fit_background: bool = True,
    eta: float | None = None,
    absolute_sigma: bool = True,
    fwhm_bounds: tuple[float, float] | None = None,
    min_significance: float = 3.0,
    max_iter: int = 100,
    ftol: float = 1e-8,
    xtol: float = 1e-8,
    present: np.ndarray | None = None,
    guide: np.ndarray | None = None,
) -> PeakFits:
    """Fit the same pseudo-Voigt peaks in every frame of a stack, all problems batched.

    Parameters
    ----------
    x : radial axis, shape (n_points,), unit of positions and widths.
    stack : intensity, shape (n_frames, n_points) or (n_points,); NaN points are ignored.
    windows : ``[(lo, hi), ...]`` radial ranges, each holding one or several peaks.
    initial : per peak ``(position, fwhm[, area[, eta]])`` (or the array of
        :meth:`PeakCandidates.as_initial`); each peak belongs to the window containing its
        position. A missing/NaN area is estimated from the first frame, eta defaults to 0.5.
    sigma : standard uncertainty of ``stack`` (scalar, (n_points,) or (n_frames, n_points));
        points with sigma <= 0 or NaN are ignored. None: unit weights, and the covariance is
        scaled by the reduced chi-square.
    warm_start : fit frames in blocks of ``block_size`` in time order, each block starting from
        the solution of the last frame of the previous block. False: every frame starts from
        ``initial``.
    block_size : frames fitted together per batch.
    fit_background : fit a linear background per window (else the stack must be background-free).
    eta : fix the Lorentzian fraction of every peak to this value (None: fitted, 0..1).
    absolute_sigma : with ``sigma`` given, True: covariance ``(J^T W J)^-1`` as is; False: scaled
        by the reduced chi-square (for relative uncertainties such as normalised esd).
    fwhm_bounds : (min, max) FWHM; default (half the point spacing, the window width).
    min_significance : a peak whose area / sigma(area) is below this is flagged
        ``no peak above noise``.
    max_iter, ftol, xtol : Levenberg-Marquardt limits: iterations, relative chi-square decrease,
        relative parameter step.
    present : optional ``[frame, peak]`` booleans (tracked peaks that appear or vanish): a peak
        that is absent in a frame is left out of that frame's model (area held at 0) and gets
        NaN values with the reason ``absent in this frame``.
    guide : optional ``[frame, peak]`` starting positions (e.g. the maxima found in each frame
        by a tracker); where finite they replace the warm-start position, the other
        parameters still come from the previous block.

    Returns
    -------
    PeakFits
        Never raises for a bad frame: a failed fit gets ``success`` False and a ``reason``.

    Raises
    ------
    ValueError
        inconsistent shapes, a peak outside every window, or a window with no points.
    """
    x = np.asarray(x, dtype=float)
    stack = np.atleast_2d(np.asarray(stack, dtype=float))
    n_frames, n_pts = stack.shape
    if x.shape != (n_pts,):
        raise ValueError(f"x has shape {x.shape}, stack has {n_pts} points per frame")
    win = np.asarray(windows, dtype=float).reshape(-1, 2)
    win = np.sort(win, axis=1)
    n_win = win.shape[0]
    init = _parse_initial(initial)
    n_peaks = init.shape[0]
    if eta is not None:
        init[:, 3] = eta
    if present is None:
        present = np.ones((n_frames, n_peaks), dtype=bool)
    present = np.asarray(present, dtype=bool)
    if present.shape != (n_frames, n_peaks):
        raise ValueError(f"present must be (n_frames, n_peaks) = {(n_frames, n_peaks)}, got {present.shape}")
    if guide is not None:
        guide = np.asarray(guide, dtype=float)
        if guide.shape != (n_frames, n_peaks):
            raise ValueError(f"guide must be (n_frames, n_peaks) = {(n_frames, n_peaks)}, got {guide.shape}")

    # peaks -> windows
    peak_window = np.full(n_peaks, -1)
    for i, p in enumerate(init[:, 0]):
        inside = np.flatnonzero((win[:, 0] <= p) & (p <= win[:, 1]))
        if inside.size == 0:
            raise ValueError(f"initial peak {i} at {p} lies in none of the windows {win.tolist()}")
        peak_window[i] = inside[0]
    slots = [np.flatnonzero(peak_window == j) for j in range(n_win)]
    k_max = max(1, max(len(s) for s in slots))
    n_par = 4 * k_max + 2

    # window points, padded to a common length
    idx_list = [np.flatnonzero((x >= lo) & (x <= hi)) for lo, hi in win]
    for j, ix in enumerate(idx_list):
        if ix.size < 4:
            raise ValueError(f"window {win[j].tolist()} holds {ix.size} points (need at least 4)")
    m_max = max(ix.size for ix in idx_list)
    pidx = np.stack([np.pad(ix, (0, m_max - ix.size), mode="edge") for ix in idx_list])
    pvalid = np.stack([np.arange(m_max) < ix.size for ix in idx_list])
    xw = x[pidx]
    xc = win.mean(axis=1)
    step = float(np.median(np.abs(np.diff(x)))) if n_pts > 1 else 1.0
    if fwhm_bounds is None:
        w_lo = np.full(n_win, 0.5 * step)
        w_hi = win[:, 1] - win[:, 0]
    else:
        w_lo = np.full(n_win, float(fwhm_bounds[0]))
        w_hi = np.full(n_win, float(fwhm_bounds[1]))

    # weights
    if sigma is None:
        wts_all = np.ones_like(stack)
    else:
        sig = np.broadcast_to(np.asarray(sigma, dtype=float), stack.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            wts_all = np.where(np.isfinite(sig) & (sig > 0), 1.0 / sig**2, 0.0)
    finite = np.isfinite(stack)
    wts_all = np.where(finite, wts_all, 0.0)
    y_all = np.where(finite, stack, 0.0)

    # per-window parameter templates: free mask, bounds, guess
    free = np.zeros((n_win, n_par), dtype=bool)
    lower = np.full((n_win, n_par), -np.inf)
    upper = np.full((n_win, n_par), np.inf)
    guess = np.zeros((n_win, n_par))
    for j, s in enumerate(slots):
        for k in range(k_max):
            sl = slice(4 * k, 4 * k + 4)
            if k < len(s):
                free[j, sl] = True
                if eta is not None:
                    free[j, 4 * k + 3] = False
                lower[j, sl] = (win[j, 0], w_lo[j], 0.0, 0.0)
                upper[j, sl] = (win[j, 1], w_hi[j], np.inf, 1.0)
                guess[j, sl] = init[s[k]]
            else:  # padding peak: zero area, never varied
                lower[j, sl] = upper[j, sl] = guess[j, sl] = (xc[j], 1.0, 0.0, 0.0)
        free[j, 4 * k_max :] = fit_background
        if not fit_background:
            lower[j, 4 * k_max :] = upper[j, 4 * k_max :] = 0.0

    def window_data(frames):
        yb = y_all[frames][:, pidx]  # (nb, n_win, m_max)
        wb = wts_all[frames][:, pidx] * pvalid[None]
        return yb, wb

    def initial_background(yb, wb):
        """Line through the means of the first and last few valid points of each window."""
        n_end = 3
        b = np.zeros(yb.shape[:2] + (2,))
        for j, ix in enumerate(idx_list):
            n = ix.size
            e = min(n_end, max(1, n // 4))
            y0 = yb[:, j, :e].mean(axis=1)
            y1 = yb[:, j, n - e : n].mean(axis=1)
            x0 = xw[j, :e].mean()
            x1 = xw[j, n - e : n].mean()
            b[:, j, 1] = (y1 - y0) / (x1 - x0)
            b[:, j, 0] = y0 + b[:, j, 1] * (xc[j] - x0)
        return b

    # missing areas from the first frame
    if np.isnan(guess).any():
        yb, wb = window_data([0])
        b = initial_background(yb, wb)[0]
        for j, s in enumerate(slots):
            for k, pk in enumerate(s):
                if np.isnan(guess[j, 4 * k + 2]):
                    near = np.abs(xw[j] - guess[j, 4 * k]) <= max(guess[j, 4 * k + 1], step)
                    near &= pvalid[j]
                    line = b[j, 0] + b[j, 1] * (xw[j] - xc[j]) if fit_background else 0.0
                    hgt = np.max(np.where(near, yb[0, j] - line, -np.inf))
                    guess[j, 4 * k + 2] = max(float(hgt), 0.0) * guess[j, 4 * k + 1] * _AREA_FACTOR_HALF
                    init[pk, 2] = guess[j, 4 * k + 2]

    out_theta = np.full((n_frames, n_win, n_par), np.nan)
    out_var = np.full((n_frames, n_win, n_par), np.nan)
    out_chi2 = np.full((n_frames, n_win), np.nan)
    out_iter = np.zeros((n_frames, n_win), dtype=int)
    out_conv = np.zeros((n_frames, n_win), dtype=bool)
    out_nvalid = np.zeros((n_frames, n_win), dtype=int)
    out_nfree = np.zeros((n_frames, n_win), dtype=int)

    bs = max(1, int(block_size))
    current = guess.copy()
    for start in range(0, n_frames, bs):
        frames = np.arange(start, min(start + bs, n_frames))
        nb = frames.size
        yb, wb = window_data(frames)
        th0 = np.broadcast_to(current if warm_start else guess, (nb, n_win, n_par)).copy()
        if fit_background:
            th0[:, :, 4 * k_max :] = initial_background(yb, wb)
        free_b = np.broadcast_to(free, (nb, n_win, n_par)).copy()
        lower_b = np.broadcast_to(lower, (nb, n_win, n_par)).copy()
        upper_b = np.broadcast_to(upper, (nb, n_win, n_par)).copy()
        for j, s in enumerate(slots):
            for k, pk in enumerate(s):
                if guide is not None:
                    g = guide[frames, pk]
                    ok_g = np.isfinite(g) & (g >= win[j, 0]) & (g <= win[j, 1])
                    th0[ok_g, j, 4 * k] = g[ok_g]
                gone = ~present[frames, pk]
                if gone.any():
                    free_b[gone, j, 4 * k : 4 * k + 4] = False
                    th0[gone, j, 4 * k + 2] = 0.0
                    lower_b[gone, j, 4 * k + 2] = upper_b[gone, j, 4 * k + 2] = 0.0
        out_nfree[frames] = free_b.sum(axis=2)
        shape_p = (nb * n_win,)
        theta, chi2, hess, iters, conv = _levenberg_marquardt(
            th0.reshape(shape_p + (n_par,)),
            np.broadcast_to(xw, (nb, n_win, m_max)).reshape(shape_p + (m_max,)),
            np.broadcast_to(xc, (nb, n_win)).reshape(shape_p),
            yb.reshape(shape_p + (m_max,)),
            wb.reshape(shape_p + (m_max,)),
            free_b.reshape(shape_p + (n_par,)),
            lower_b.reshape(shape_p + (n_par,)),
            upper_b.reshape(shape_p + (n_par,)),
            k_max,
            max_iter,
            ftol,
            xtol,
        )
        var = _covariance(hess, free_b.reshape(shape_p + (n_par,)))
        out_theta[frames] = theta.reshape(nb, n_win, n_par)
        out_var[frames] = var.reshape(nb, n_win, n_par)
        out_chi2[frames] = chi2.reshape(nb, n_win)
        out_iter[frames] = iters.reshape(nb, n_win)
        out_conv[frames] = conv.reshape(nb, n_win)
        out_nvalid[frames] = (wb > 0).sum(axis=2)
        if warm_start:
            last = out_theta[frames[-1]]
            sig_a = np.sqrt(out_var[frames[-1]])
            for j, s in enumerate(slots):
                for k in range(len(s)):
                    a, sa = last[j, 4 * k + 2], sig_a[j, 4 * k + 2]
                    good = (out_conv[frames[-1], j] and np.all(np.isfinite(last[j])) and a > min_significance * sa
                            and present[frames[-1], s[k]])
                    if good:
                        current[j, 4 * k : 4 * k + 4] = last[j, 4 * k : 4 * k + 4]

    # results
    dof = out_nvalid - out_nfree
    with np.errstate(divide="ignore", invalid="ignore"):
        redchi = np.where(dof > 0, out_chi2 / dof, np.nan)
    scale = redchi if (sigma is None or not absolute_sigma) else np.ones_like(redchi)
    with np.errstate(invalid="ignore"):
        err = np.sqrt(out_var * scale[:, :, None])

    names = ("position", "fwhm", "area", "eta")
    vals = {n: np.full((n_frames, n_peaks), np.nan) for n in names}
    errs = {n: np.full((n_frames, n_peaks), np.nan) for n in names}
    success = np.zeros((n_frames, n_peaks), dtype=bool)
    reason = np.full((n_frames, n_peaks), "", dtype=object)
    for j, s in enumerate(slots):
        lo, hi = win[j]
        wtxt = f"[{lo:.6g}, {hi:.6g}]"
        for k, pk in enumerate(s):
            for q, n in enumerate(names):
                vals[n][:, pk] = out_theta[:, j, 4 * k + q]
                errs[n][:, pk] = err[:, j, 4 * k + q]
            if eta is not None:
                errs["eta"][:, pk] = 0.0
            a, sa = vals["area"][:, pk], errs["area"][:, pk]
            pos, w = vals["position"][:, pk], vals["fwhm"][:, pk]
            tol_pos = 1e-6 * (hi - lo)
            with np.errstate(invalid="ignore"):
                checks = [
                    (out_nvalid[:, j] <= out_nfree[:, j], f"too few valid points in window {wtxt}"),
                    (~np.isfinite(out_chi2[:, j]), f"non-finite data or model in window {wtxt}"),
                    (~out_conv[:, j], f"not converged in {max_iter} iterations in window {wtxt}"),
                    (~(a > min_significance * sa), f"no peak above noise in window {wtxt} (area < {min_significance:g} sigma)"),
                    ((pos - lo < tol_pos) | (hi - pos < tol_pos), f"position at the edge of window {wtxt}"),
                    ((w - w_lo[j] < 1e-6 * w_lo[j]) | (w_hi[j] - w < 1e-6 * w_hi[j]), f"fwhm at its bound in window {wtxt}"),
                    (~np.isfinite(errs["position"][:, pk]), f"position undetermined in window {wtxt}"),
                ]
            checks.insert(0, (~present[:, pk], "absent in this frame"))
            for bad, text in reversed(checks):  # the first applicable reason wins
                reason[bad, pk] = text
            success[:, pk] = reason[:, pk] == ""
    fail = ~success
    noise_only = np.vectorize(lambda r: r.startswith("no peak above noise"), otypes=[bool])(reason)
    for n in names:
        keep = noise_only if n == "area" else np.zeros_like(fail)
        vals[n][fail & ~keep] = np.nan
        errs[n][fail & ~keep] = np.nan

    k4 = 4 * k_max
    settings = {
        "model": "pseudo_voigt_area" + ("+linear_background" if fit_background else ""),
        "windows": win.tolist(),
        "initial": init.tolist(),
        "warm_start": warm_start,
        "block_size": bs,
        "eta_fixed": eta,
        "sigma": "unit weights, covariance scaled by reduced chi-square" if sigma is None else "given",
        "absolute_sigma": bool(sigma is not None and absolute_sigma),
        "fwhm_bounds": list(zip(w_lo.tolist(), w_hi.tolist())),
        "min_significance": min_significance,
        "max_iter": max_iter,
        "ftol": ftol,
        "xtol": xtol,
        "solver": "batched Levenberg-Marquardt, analytic Jacobian, bounds by projection",
    }
    return PeakFits(
        position=vals["position"],
        position_sigma=errs["position"],
        fwhm=vals["fwhm"],
        fwhm_sigma=errs["fwhm"],
        area=vals["area"],
        area_sigma=errs["area"],
        eta=vals["eta"],
        eta_sigma=errs["eta"],
        background=out_theta[:, :, k4 : k4 + 2].copy(),
        background_sigma=err[:, :, k4 : k4 + 2].copy() if fit_background else np.zeros((n_frames, n_win, 2)),
        redchi=redchi,
        n_iter=out_iter,
        success=success,
        reason=reason,
        windows=win,
        window_center=xc,
        peak_window=peak_window,
        settings=settings,
    )
