"""Peaks fitted in every frame of a stack: :func:`fit_peaks` and its steps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ...lineshapes import GAUSS_NORM
from ..blas import one_blas_thread
from .layout import (
    _check_inputs,
    _initial_background,
    _Layout,
    _layout,
    _missing_areas,
    _Template,
    _template,
    _weights,
    _window_data,
)
from .model import _covariance, _levenberg_marquardt

_NAMES = ("position", "fwhm", "area", "eta")


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

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.peaks import fit_peaks, pseudo_voigt
    >>> x = np.linspace(10, 12, 400)
    >>> fits = fit_peaks(x, 100 * pseudo_voigt(x, 11.0, 0.05, 1.0, 0.3) + 5,
    ...                  windows=[(10.7, 11.3)], initial=[(11.0, 0.05)])
    >>> fits.position.shape, round(float(fits.height[0, 0]), 2), fits.reason[0, 0] == ""
    ((1, 1), 1697.18, True)
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
        return self.area * (self.eta * 2.0 / (np.pi * self.fwhm)
                            + (1.0 - self.eta) * GAUSS_NORM / self.fwhm)


@dataclass(frozen=True)
class _Options:
    """The settings of one call of :func:`fit_peaks`, as given."""

    sigma: object
    warm_start: bool
    block_size: int
    fit_background: bool
    eta: float | None
    absolute_sigma: bool
    fwhm_bounds: tuple[float, float] | None
    min_significance: float
    max_iter: int
    ftol: float
    xtol: float


@dataclass
class _Solutions:
    """Solutions of every (frame, window) problem."""

    theta: np.ndarray  # (n_frames, n_win, n_par)
    var: np.ndarray  # variances, same shape
    chi2: np.ndarray  # (n_frames, n_win)
    iters: np.ndarray
    conv: np.ndarray
    nvalid: np.ndarray  # points with weight > 0
    nfree: np.ndarray  # free parameters

    @classmethod
    def empty(cls, n_frames: int, n_win: int, n_par: int) -> _Solutions:
        return cls(
            theta=np.full((n_frames, n_win, n_par), np.nan),
            var=np.full((n_frames, n_win, n_par), np.nan),
            chi2=np.full((n_frames, n_win), np.nan),
            iters=np.zeros((n_frames, n_win), dtype=int),
            conv=np.zeros((n_frames, n_win), dtype=bool),
            nvalid=np.zeros((n_frames, n_win), dtype=int),
            nfree=np.zeros((n_frames, n_win), dtype=int),
        )


@one_blas_thread
def fit_peaks(
    x: np.ndarray, stack: np.ndarray, windows: Sequence[tuple[float, float]], initial,
    sigma: np.ndarray | float | None = None, warm_start: bool = True, *, block_size: int = 16,
    fit_background: bool = True, eta: float | None = None, absolute_sigma: bool = True,
    fwhm_bounds: tuple[float, float] | None = None, min_significance: float = 3.0,
    max_iter: int = 100, ftol: float = 1e-8, xtol: float = 1e-8,
    present: np.ndarray | None = None, guide: np.ndarray | None = None,
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
        Positions and widths in the unit of ``x``, areas in intensity x unit of ``x``, with
        uncertainties. Never raises for a bad frame: a failed fit gets ``success`` False and
        a ``reason``.

    Raises
    ------
    ValueError
        inconsistent shapes, a peak outside every window, or a window with no points.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.peaks import pseudo_voigt
    >>> x = np.linspace(10, 12, 400)
    >>> stack = np.stack([100 * pseudo_voigt(x, 10.95 + 0.02 * k, 0.05, 1.0, 0.3)
    ...                   + 60 * pseudo_voigt(x, 11.05, 0.05, 1.0, 0.3) + 5 for k in range(3)])
    >>> fits = fit_peaks(x, stack, [(10.7, 11.3)], [(10.95, 0.05), (11.05, 0.05)])
    >>> np.round(fits.position, 3).tolist()
    [[10.95, 11.05], [10.97, 11.05], [10.99, 11.05]]
    >>> np.round(fits.area, 1).tolist()[0], bool(fits.success.all())
    ([100.0, 60.0], True)
    """
    opts = _Options(sigma, warm_start, block_size, fit_background, eta, absolute_sigma,
                    fwhm_bounds, min_significance, max_iter, ftol, xtol)
    return _fit_peaks(x, stack, windows, initial, opts, present, guide)


def _fit_peaks(x, stack, windows, initial, opts: _Options, present, guide) -> PeakFits:
    """:func:`fit_peaks` with its settings bundled: check, lay out, fit in blocks, report."""
    x, stack, win, init, present, guide = _check_inputs(x, stack, windows, initial, opts.eta,
                                                        present, guide)
    lay = _layout(x, win, init, opts.fwhm_bounds)
    y_all, wts_all = _weights(stack, opts.sigma)
    tmpl = _template(lay, init, opts.eta, opts.fit_background)
    if np.isnan(tmpl.guess).any():
        _missing_areas(lay, tmpl.guess, init, y_all, wts_all, opts.fit_background)
    sol = _fit_blocks(lay, tmpl, y_all, wts_all, present, guide, opts)
    redchi, err = _uncertainties(sol, opts.sigma, opts.absolute_sigma)
    vals, errs, success, reason = _peak_table(lay, sol, err, init.shape[0], present, opts)
    k4 = 4 * lay.k_max
    n_frames = stack.shape[0]
    return PeakFits(
        position=vals["position"],
        position_sigma=errs["position"],
        fwhm=vals["fwhm"],
        fwhm_sigma=errs["fwhm"],
        area=vals["area"],
        area_sigma=errs["area"],
        eta=vals["eta"],
        eta_sigma=errs["eta"],
        background=sol.theta[:, :, k4 : k4 + 2].copy(),
        background_sigma=(err[:, :, k4 : k4 + 2].copy() if opts.fit_background
                          else np.zeros((n_frames, lay.n_win, 2))),
        redchi=redchi,
        n_iter=sol.iters,
        success=success,
        reason=reason,
        windows=win,
        window_center=lay.xc,
        peak_window=lay.peak_window,
        settings=_settings(lay, init, opts),
    )


def _fit_blocks(lay: _Layout, tmpl: _Template, y_all, wts_all, present, guide,
                opts: _Options) -> _Solutions:
    """Fit the frames in blocks of ``block_size``, in time order (warm start: each block
    starts from the last frame of the block before)."""
    n_frames = y_all.shape[0]
    sol = _Solutions.empty(n_frames, lay.n_win, lay.n_par)
    bs = max(1, int(opts.block_size))
    current = tmpl.guess.copy()
    for start in range(0, n_frames, bs):
        frames = np.arange(start, min(start + bs, n_frames))
        yb, wb = _window_data(lay, y_all, wts_all, frames)
        th0, free_b, lower_b, upper_b = _block_start(
            lay, tmpl, current if opts.warm_start else tmpl.guess, yb, frames, present, guide,
            opts.fit_background)
        sol.nfree[frames] = free_b.sum(axis=2)
        _solve_block(lay, sol, frames, th0, free_b, lower_b, upper_b, yb, wb, opts)
        if opts.warm_start:
            _warm_start(lay, sol, current, frames[-1], present, opts.min_significance)
    return sol


def _block_start(lay: _Layout, tmpl: _Template, start, yb, frames, present, guide,
                 fit_background):
    """Starting values, free mask and bounds (nb, n_win, n_par) of one block of frames.

    Guide positions replace the starting positions where they lie in the window; a peak
    absent in a frame is held at zero area.
    """
    shape = (frames.size, lay.n_win, lay.n_par)
    th0 = np.broadcast_to(start, shape).copy()
    if fit_background:
        th0[:, :, 4 * lay.k_max :] = _initial_background(lay, yb)
    free_b = np.broadcast_to(tmpl.free, shape).copy()
    lower_b = np.broadcast_to(tmpl.lower, shape).copy()
    upper_b = np.broadcast_to(tmpl.upper, shape).copy()
    win = lay.win
    for j, s in enumerate(lay.slots):
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
    return th0, free_b, lower_b, upper_b


def _solve_block(lay: _Layout, sol: _Solutions, frames, th0, free_b, lower_b, upper_b, yb, wb,
                 opts: _Options) -> None:
    """All (frame, window) problems of one block in one Levenberg-Marquardt call."""
    nb, n_win, n_par = frames.size, lay.n_win, lay.n_par
    m_max = lay.xw.shape[1]
    shape_p = (nb * n_win,)
    theta, chi2, hess, iters, conv = _levenberg_marquardt(
        th0.reshape(shape_p + (n_par,)),
        np.broadcast_to(lay.xw, (nb, n_win, m_max)).reshape(shape_p + (m_max,)),
        np.broadcast_to(lay.xc, (nb, n_win)).reshape(shape_p),
        yb.reshape(shape_p + (m_max,)),
        wb.reshape(shape_p + (m_max,)),
        free_b.reshape(shape_p + (n_par,)),
        lower_b.reshape(shape_p + (n_par,)),
        upper_b.reshape(shape_p + (n_par,)),
        lay.k_max,
        opts.max_iter,
        opts.ftol,
        opts.xtol,
    )
    var = _covariance(hess, free_b.reshape(shape_p + (n_par,)))
    sol.theta[frames] = theta.reshape(nb, n_win, n_par)
    sol.var[frames] = var.reshape(nb, n_win, n_par)
    sol.chi2[frames] = chi2.reshape(nb, n_win)
    sol.iters[frames] = iters.reshape(nb, n_win)
    sol.conv[frames] = conv.reshape(nb, n_win)
    sol.nvalid[frames] = (wb > 0).sum(axis=2)


def _warm_start(lay: _Layout, sol: _Solutions, current, last_frame, present,
                min_significance) -> None:
    """Move ``current`` to the peaks fitted well in the last frame of a block."""
    last = sol.theta[last_frame]
    sig_a = np.sqrt(sol.var[last_frame])
    for j, s in enumerate(lay.slots):
        for k in range(len(s)):
            a, sa = last[j, 4 * k + 2], sig_a[j, 4 * k + 2]
            good = (sol.conv[last_frame, j] and np.all(np.isfinite(last[j]))
                    and a > min_significance * sa and present[last_frame, s[k]])
            if good:
                current[j, 4 * k : 4 * k + 4] = last[j, 4 * k : 4 * k + 4]


def _uncertainties(sol: _Solutions, sigma, absolute_sigma):
    """Reduced chi-square [frame, window] and standard uncertainties of every parameter."""
    dof = sol.nvalid - sol.nfree
    with np.errstate(divide="ignore", invalid="ignore"):
        redchi = np.where(dof > 0, sol.chi2 / dof, np.nan)
    scale = redchi if (sigma is None or not absolute_sigma) else np.ones_like(redchi)
    with np.errstate(invalid="ignore"):
        err = np.sqrt(sol.var * scale[:, :, None])
    return redchi, err


def _peak_table(lay: _Layout, sol: _Solutions, err, n_peaks, present, opts: _Options):
    """Values and uncertainties [frame, peak], success and the reason of every failure.

    Failed values are NaN; the area and its sigma are kept when the peak is only not above
    the noise (an upper limit).
    """
    n_frames = sol.theta.shape[0]
    vals = {n: np.full((n_frames, n_peaks), np.nan) for n in _NAMES}
    errs = {n: np.full((n_frames, n_peaks), np.nan) for n in _NAMES}
    success = np.zeros((n_frames, n_peaks), dtype=bool)
    reason = np.full((n_frames, n_peaks), "", dtype=object)
    for j, s in enumerate(lay.slots):
        for k, pk in enumerate(s):
            for q, n in enumerate(_NAMES):
                vals[n][:, pk] = sol.theta[:, j, 4 * k + q]
                errs[n][:, pk] = err[:, j, 4 * k + q]
            if opts.eta is not None:
                errs["eta"][:, pk] = 0.0
            checks = _checks(lay, sol, j, vals, errs, pk, opts)
            checks.insert(0, (~present[:, pk], "absent in this frame"))
            for bad, text in reversed(checks):  # the first applicable reason wins
                reason[bad, pk] = text
            success[:, pk] = reason[:, pk] == ""
    fail = ~success
    noise_only = np.vectorize(lambda r: r.startswith("no peak above noise"), otypes=[bool])(reason)
    for n in _NAMES:
        keep = noise_only if n == "area" else np.zeros_like(fail)
        vals[n][fail & ~keep] = np.nan
        errs[n][fail & ~keep] = np.nan
    return vals, errs, success, reason


def _checks(lay: _Layout, sol: _Solutions, j, vals, errs, pk, opts: _Options):
    """(failed [frame], reason) of one peak in window j, in order of precedence."""
    lo, hi = lay.win[j]
    wtxt = f"[{lo:.6g}, {hi:.6g}]"
    a, sa = vals["area"][:, pk], errs["area"][:, pk]
    pos, w = vals["position"][:, pk], vals["fwhm"][:, pk]
    tol_pos = 1e-6 * (hi - lo)
    w_lo, w_hi = lay.w_lo[j], lay.w_hi[j]
    k = opts.min_significance
    with np.errstate(invalid="ignore"):
        return [
            (sol.nvalid[:, j] <= sol.nfree[:, j], f"too few valid points in window {wtxt}"),
            (~np.isfinite(sol.chi2[:, j]), f"non-finite data or model in window {wtxt}"),
            (~sol.conv[:, j], f"not converged in {opts.max_iter} iterations in window {wtxt}"),
            (~(a > k * sa), f"no peak above noise in window {wtxt} (area < {k:g} sigma)"),
            ((pos - lo < tol_pos) | (hi - pos < tol_pos),
             f"position at the edge of window {wtxt}"),
            ((w - w_lo < 1e-6 * w_lo) | (w_hi - w < 1e-6 * w_hi),
             f"fwhm at its bound in window {wtxt}"),
            (~np.isfinite(errs["position"][:, pk]), f"position undetermined in window {wtxt}"),
        ]


def _settings(lay: _Layout, init, opts: _Options) -> dict:
    """Every setting that decided the numbers (for provenance)."""
    sigma = opts.sigma
    return {
        "model": "pseudo_voigt_area" + ("+linear_background" if opts.fit_background else ""),
        "windows": lay.win.tolist(),
        "initial": init.tolist(),
        "warm_start": opts.warm_start,
        "block_size": max(1, int(opts.block_size)),
        "eta_fixed": opts.eta,
        "sigma": ("unit weights, covariance scaled by reduced chi-square" if sigma is None
                  else "given"),
        "absolute_sigma": bool(sigma is not None and opts.absolute_sigma),
        "fwhm_bounds": list(zip(lay.w_lo.tolist(), lay.w_hi.tolist())),
        "min_significance": opts.min_significance,
        "max_iter": opts.max_iter,
        "ftol": opts.ftol,
        "xtol": opts.xtol,
        "solver": "batched Levenberg-Marquardt, analytic Jacobian, bounds by projection",
    }
