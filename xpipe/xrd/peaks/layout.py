"""Windows, their points and the starting values of a peak fit (see :func:`fit_peaks`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import _AREA_FACTOR_HALF


@dataclass(frozen=True)
class _Layout:
    """Windows, the peaks in each, and the points of each padded to a common length."""

    win: np.ndarray  # (n_win, 2) window limits
    xc: np.ndarray  # (n_win,) window centres
    peak_window: np.ndarray  # window of every peak
    slots: list[np.ndarray]  # peaks of every window
    k_max: int  # most peaks in one window (the others padded with zero-area peaks)
    idx_list: list[np.ndarray]  # points of every window
    pidx: np.ndarray  # (n_win, m_max) points, padded by repeating the last
    pvalid: np.ndarray  # (n_win, m_max) False on the padding
    xw: np.ndarray  # (n_win, m_max) x of the points
    step: float  # median point spacing
    w_lo: np.ndarray  # (n_win,) FWHM bounds
    w_hi: np.ndarray

    @property
    def n_win(self) -> int:
        return self.win.shape[0]

    @property
    def n_par(self) -> int:
        return 4 * self.k_max + 2


@dataclass(frozen=True)
class _Template:
    """Per window: which parameters are free, their bounds and the starting guess."""

    free: np.ndarray  # (n_win, n_par) booleans
    lower: np.ndarray
    upper: np.ndarray
    guess: np.ndarray


def _parse_initial(initial) -> np.ndarray:
    arr = [list(np.atleast_1d(np.asarray(row, dtype=float))) for row in initial]
    out = np.full((len(arr), 4), np.nan)
    for i, row in enumerate(arr):
        if not 2 <= len(row) <= 4:
            raise ValueError(f"initial[{i}] must be (position, fwhm[, area[, eta]]), got {row}")
        out[i, : len(row)] = row
    out[np.isnan(out[:, 3]), 3] = 0.5
    return out


def _check_inputs(x, stack, windows, initial, eta, present, guide):
    """x, the stack (n_frames, n_points), windows, initial values, present and guide, checked."""
    x = np.asarray(x, dtype=float)
    stack = np.atleast_2d(np.asarray(stack, dtype=float))
    n_frames, n_pts = stack.shape
    if x.shape != (n_pts,):
        raise ValueError(f"x has shape {x.shape}, stack has {n_pts} points per frame")
    win = np.asarray(windows, dtype=float).reshape(-1, 2)
    win = np.sort(win, axis=1)
    init = _parse_initial(initial)
    n_peaks = init.shape[0]
    if eta is not None:
        init[:, 3] = eta
    if present is None:
        present = np.ones((n_frames, n_peaks), dtype=bool)
    present = np.asarray(present, dtype=bool)
    if present.shape != (n_frames, n_peaks):
        raise ValueError(f"present must be (n_frames, n_peaks) = {(n_frames, n_peaks)}, "
                         f"got {present.shape}")
    if guide is not None:
        guide = np.asarray(guide, dtype=float)
        if guide.shape != (n_frames, n_peaks):
            raise ValueError(f"guide must be (n_frames, n_peaks) = {(n_frames, n_peaks)}, "
                             f"got {guide.shape}")
    return x, stack, win, init, present, guide


def _layout(x, win, init, fwhm_bounds) -> _Layout:
    """Every peak in the first window holding it; the points of every window; FWHM bounds."""
    n_win = win.shape[0]
    peak_window = np.full(init.shape[0], -1)
    for i, p in enumerate(init[:, 0]):
        inside = np.flatnonzero((win[:, 0] <= p) & (p <= win[:, 1]))
        if inside.size == 0:
            raise ValueError(f"initial peak {i} at {p} lies in none of the windows {win.tolist()}")
        peak_window[i] = inside[0]
    slots = [np.flatnonzero(peak_window == j) for j in range(n_win)]
    k_max = max(1, max(len(s) for s in slots))
    idx_list = [np.flatnonzero((x >= lo) & (x <= hi)) for lo, hi in win]
    for j, ix in enumerate(idx_list):
        if ix.size < 4:
            raise ValueError(f"window {win[j].tolist()} holds {ix.size} points (need at least 4)")
    m_max = max(ix.size for ix in idx_list)
    pidx = np.stack([np.pad(ix, (0, m_max - ix.size), mode="edge") for ix in idx_list])
    pvalid = np.stack([np.arange(m_max) < ix.size for ix in idx_list])
    step = float(np.median(np.abs(np.diff(x)))) if x.size > 1 else 1.0
    if fwhm_bounds is None:
        w_lo = np.full(n_win, 0.5 * step)
        w_hi = win[:, 1] - win[:, 0]
    else:
        w_lo = np.full(n_win, float(fwhm_bounds[0]))
        w_hi = np.full(n_win, float(fwhm_bounds[1]))
    return _Layout(win, win.mean(axis=1), peak_window, slots, k_max, idx_list, pidx, pvalid,
                   x[pidx], step, w_lo, w_hi)


def _weights(stack, sigma):
    """Intensities with NaN set to 0 and weights 1/sigma^2 (0 where a point is ignored)."""
    if sigma is None:
        wts_all = np.ones_like(stack)
    else:
        sig = np.broadcast_to(np.asarray(sigma, dtype=float), stack.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            wts_all = np.where(np.isfinite(sig) & (sig > 0), 1.0 / sig**2, 0.0)
    finite = np.isfinite(stack)
    wts_all = np.where(finite, wts_all, 0.0)
    y_all = np.where(finite, stack, 0.0)
    return y_all, wts_all


def _template(lay: _Layout, init, eta, fit_background) -> _Template:
    """Free mask, bounds and starting guess of every window's parameters."""
    n_win, n_par, k_max, win = lay.n_win, lay.n_par, lay.k_max, lay.win
    free = np.zeros((n_win, n_par), dtype=bool)
    lower = np.full((n_win, n_par), -np.inf)
    upper = np.full((n_win, n_par), np.inf)
    guess = np.zeros((n_win, n_par))
    for j, s in enumerate(lay.slots):
        for k in range(k_max):
            sl = slice(4 * k, 4 * k + 4)
            if k < len(s):
                free[j, sl] = True
                if eta is not None:
                    free[j, 4 * k + 3] = False
                lower[j, sl] = (win[j, 0], lay.w_lo[j], 0.0, 0.0)
                upper[j, sl] = (win[j, 1], lay.w_hi[j], np.inf, 1.0)
                guess[j, sl] = init[s[k]]
            else:  # padding peak: zero area, never varied
                lower[j, sl] = upper[j, sl] = guess[j, sl] = (lay.xc[j], 1.0, 0.0, 0.0)
        free[j, 4 * k_max :] = fit_background
        if not fit_background:
            lower[j, 4 * k_max :] = upper[j, 4 * k_max :] = 0.0
    return _Template(free, lower, upper, guess)


def _window_data(lay: _Layout, y_all, wts_all, frames):
    """Intensities and weights (n_frames, n_win, m_max) of the windows; padding weight 0."""
    yb = y_all[frames][:, lay.pidx]
    wb = wts_all[frames][:, lay.pidx] * lay.pvalid[None]
    return yb, wb


def _initial_background(lay: _Layout, yb):
    """Line through the means of the first and last few valid points of each window."""
    n_end = 3
    xw, xc = lay.xw, lay.xc
    b = np.zeros(yb.shape[:2] + (2,))
    for j, ix in enumerate(lay.idx_list):
        n = ix.size
        e = min(n_end, max(1, n // 4))
        y0 = yb[:, j, :e].mean(axis=1)
        y1 = yb[:, j, n - e : n].mean(axis=1)
        x0 = xw[j, :e].mean()
        x1 = xw[j, n - e : n].mean()
        b[:, j, 1] = (y1 - y0) / (x1 - x0)
        b[:, j, 0] = y0 + b[:, j, 1] * (xc[j] - x0)
    return b


def _missing_areas(lay: _Layout, guess, init, y_all, wts_all, fit_background) -> None:
    """Areas not given, from the height above the initial background in the first frame."""
    yb, _ = _window_data(lay, y_all, wts_all, [0])
    b = _initial_background(lay, yb)[0]
    xw, xc = lay.xw, lay.xc
    for j, s in enumerate(lay.slots):
        for k, pk in enumerate(s):
            if np.isnan(guess[j, 4 * k + 2]):
                near = np.abs(xw[j] - guess[j, 4 * k]) <= max(guess[j, 4 * k + 1], lay.step)
                near &= lay.pvalid[j]
                line = b[j, 0] + b[j, 1] * (xw[j] - xc[j]) if fit_background else 0.0
                hgt = np.max(np.where(near, yb[0, j] - line, -np.inf))
                guess[j, 4 * k + 2] = (max(float(hgt), 0.0) * guess[j, 4 * k + 1]
                                       * _AREA_FACTOR_HALF)
                init[pk, 2] = guess[j, 4 * k + 2]
