"""Scans made ready for normalisation: foil calibration, deglitching, merging of repeats.

Energies are in eV. A scan's monochromator energy is never changed: calibration gives a shift
per scan (``calibrated = energy_ev + shift_ev``) that is stored beside the raw axis, and
merging works on energies already shifted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .edge import XasEdgeError, _derivative_max, _uniform, noise_level


@dataclass
class Calibration:
    """Energy calibration of one scan from its reference foil.

    Parameters
    ----------
    shift_ev : float
        Shift to add to the scan's energies (eV).
    measured_edge_ev : float
        The foil's edge as measured (eV).
    tabulated_edge_ev : float
        The foil's tabulated edge (eV).
    window_ev : (float, float)
        Search window relative to the tabulated edge (eV).
    method, status : str
        How the edge was found, and 'ok'.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(5400.0, 5550.0, 601)
    >>> cal = calibrate_foil(e, np.arctan(e - 5466.2), edge_ev=5465.0)
    >>> round(cal.measured_edge_ev, 2), cal.tabulated_edge_ev, cal.window_ev
    (5466.2, 5465.0, (-15.0, 15.0))
    """

    shift_ev: float
    measured_edge_ev: float
    tabulated_edge_ev: float
    window_ev: tuple[float, float]
    method: str = "foil derivative maximum"
    status: str = "ok"


def calibrate_foil(
    energy_ev: np.ndarray,
    reference_mu: np.ndarray,
    *,
    edge_ev: float,
    window_ev: tuple[float, float] = (-15.0, 15.0),
    smooth_ev: float = 0.3,
) -> Calibration:
    """Shift that puts the foil's edge (first-derivative maximum, the convention of the
    tabulated values) on ``edge_ev``.

    Parameters
    ----------
    energy_ev : ndarray
        The scan's energies (eV).
    reference_mu : ndarray
        The reference foil's mu on those energies.
    edge_ev : float
        The foil's tabulated edge (eV), e.g. from :func:`~xpipe.xas.edge.tabulated_edge_ev`.
    window_ev : (float, float)
        Where to look for the edge, relative to ``edge_ev`` (eV).
    smooth_ev : float
        Gaussian smoothing (eV) before the derivative.

    Returns
    -------
    Calibration
        Raises :class:`~xpipe.xas.edge.XasEdgeError` when the foil shows no clear edge inside
        the window.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(5400, 5550, 601)
    >>> ref = np.arctan((e - 5466.2) / 1.0)
    >>> round(calibrate_foil(e, ref, edge_ev=5465.0).shift_ev, 2)
    -1.2
    """
    lo, hi = edge_ev + window_ev[0], edge_ev + window_ev[1]
    if reference_mu is None:
        raise XasEdgeError("no reference channel to calibrate on")
    ref = np.asarray(reference_mu, dtype=float)
    if not np.all(np.isfinite(ref[(energy_ev >= lo) & (energy_ev <= hi)])):
        raise XasEdgeError(f"reference channel holds NaN between {lo:.1f} and {hi:.1f} eV")
    grid, y = _uniform(energy_ev, ref, lo, hi)
    e, slope = _derivative_max(grid, y, smooth_ev)
    if not slope > 0:
        raise XasEdgeError(f"reference channel has no rising edge between {lo:.1f} and {hi:.1f} eV")
    margin = max(0.5, 3 * smooth_ev)  # smoothing and one-sided differences bend the ends
    if e <= grid[0] + margin or e >= grid[-1] - margin:
        raise XasEdgeError(f"reference edge found at the border of the alignment window ({e:.2f} "
                           f"eV in {lo:.1f}-{hi:.1f}); widen or move the window")
    return Calibration(shift_ev=float(edge_ev - e), measured_edge_ev=float(e),
                       tabulated_edge_ev=float(edge_ev),
                       window_ev=(float(window_ev[0]), float(window_ev[1])))


def _neighbour_prediction(e: np.ndarray, y: np.ndarray, h: int) -> np.ndarray:
    """Each point as a quadratic through its ``h`` neighbours either side predicts it (NaN at
    the ends)."""
    n = y.size
    centre = np.arange(h, n - h)
    offs = np.r_[-h:0, 1:h + 1]
    idx = centre[:, None] + offs[None, :]
    xc = e[idx] - e[centre][:, None]
    a = np.stack([np.ones_like(xc), xc, xc**2], axis=-1)  # [point, neighbour, 3]
    ata = np.einsum("pni,pnj->pij", a, a)
    aty = np.einsum("pni,pn->pi", a, y[idx])
    coef = np.linalg.solve(ata, aty[..., None])[..., 0]
    pred = np.full(n, np.nan)
    pred[centre] = coef[:, 0]
    return pred


def _glitches(r: np.ndarray, ok: np.ndarray, sig: float, threshold: float, local: int,
              h: int) -> np.ndarray:
    """Points whose misfit ``r`` stands out from the misfits around them."""
    absr = np.where(ok, np.abs(r), np.nan)
    pad = np.pad(absr, local, constant_values=np.nan)
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * local + 1).copy()
    win[:, local] = np.nan  # the point itself does not set its own yardstick
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        local_sig = 1.4826 * np.nanmedian(win, axis=1)
    yardstick = np.fmax(np.nan_to_num(local_sig, nan=sig), sig)
    bad = ok & (np.abs(r) > threshold * yardstick)
    # a spike spoils its neighbours' predictions too, less than its own: keep the largest
    # misfit within reach of each flagged point
    absr = np.nan_to_num(absr, nan=0.0)
    return np.array([i for i in np.flatnonzero(bad)
                     if absr[i] >= absr[max(i - h, 0):i + h + 1].max()], dtype=int)


def deglitch(energy_ev: np.ndarray, mu: np.ndarray, *, threshold: float = 20.0,
             half_width: int = 3, local: int = 10):
    """Replace isolated single-point spikes by the value their neighbours predict.

    Each point is predicted by a quadratic through its ``half_width`` neighbours on either side
    (itself left out). A point is a glitch when its misfit exceeds ``threshold`` robust standard
    deviations of the misfits around it (``local`` points either side, never less than the
    spread over the whole scan). A real feature (a sharp pre-edge peak, the white line) raises
    the misfits of all its points, so the local spread grows with it; a spike stands alone.

    Parameters
    ----------
    energy_ev, mu : ndarray
        The scan: energies (eV) and absorption.
    threshold : float
        Misfit, in robust standard deviations, above which a point is a glitch.
    half_width : int
        Neighbours either side that predict a point.
    local : int
        Points either side whose misfits set a point's yardstick.

    Returns
    -------
    mu_clean : ndarray
        mu with the glitches replaced.
    indices : ndarray of int
        The points replaced.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(7000.0, 7300.0, 301)
    >>> mu = np.arctan((e - 7112.0) / 5.0)
    >>> spiky = mu.copy()
    >>> spiky[200] += 0.5
    >>> clean, idx = deglitch(e, spiky)
    >>> idx.tolist(), round(float(clean[200] - mu[200]), 4)
    ([200], 0.0)
    """
    e = np.asarray(energy_ev, dtype=float)
    y = np.asarray(mu, dtype=float).copy()
    h = half_width
    if y.size < 2 * h + 3:
        return y, np.array([], dtype=int)
    pred = _neighbour_prediction(e, y, h)
    r = y - pred
    ok = np.isfinite(r)
    sig = 1.4826 * np.median(np.abs(r[ok] - np.median(r[ok])))
    if not sig > 0:
        return y, np.array([], dtype=int)
    if np.max(np.abs(r[ok])) <= threshold * sig:  # the local yardstick is never below sig
        return y, np.array([], dtype=int)
    glitches = _glitches(r, ok, sig, threshold, local, h)
    y[glitches] = pred[glitches]
    return y, glitches


@dataclass
class Merged:
    """Several scans merged on the first scan's calibrated energy grid.

    Parameters
    ----------
    energy_ev : ndarray
        The grid (eV): the first scan's energies within the range all scans share.
    mu, mu_std : ndarray
        Mean of the scans used, and their standard deviation per point.
    used : ndarray of bool
        Per input scan: whether it went into the mean.
    misfit : ndarray
        Per input scan: rms deviation from the point-wise median, in units of the noise.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(7000.0, 7300.0, 301)
    >>> m = merge_scans([e, e], [np.arctan(e - 7112.0), np.arctan(e - 7112.0) + 0.02])
    >>> m.used.tolist(), round(float(m.mu_std.max()), 4)
    ([True, True], 0.0141)
    """

    energy_ev: np.ndarray
    mu: np.ndarray
    mu_std: np.ndarray
    used: np.ndarray  # bool per input scan
    misfit: np.ndarray  # rms deviation of each scan from the median, in units of the noise


def merge_scans(energies_ev, mus, *, reject: float = 5.0) -> Merged:
    """Average repeated scans (already on calibrated energies) with outlier rejection.

    Every scan is interpolated on the first scan's grid (over the common range). A scan whose
    rms deviation from the point-wise median exceeds ``reject`` times the median of those
    deviations (and 3 noise levels) is left out. With two scans nothing can be rejected.

    Parameters
    ----------
    energies_ev : sequence of ndarray
        Calibrated energies (eV) of each scan.
    mus : sequence of ndarray
        mu of each scan.
    reject : float
        Outlier limit, in medians of the scans' deviations.

    Returns
    -------
    Merged

    Examples
    --------
    Three repeats and one scan offset by 0.2:

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> e = np.linspace(7000.0, 7300.0, 301)
    >>> mu = np.arctan((e - 7112.0) / 5.0)
    >>> scans = [mu + rng.normal(0.0, 0.01, e.size) for _ in range(3)] + [mu + 0.2]
    >>> m = merge_scans([e] * 4, scans)
    >>> m.used.tolist(), np.round(m.misfit, 1).tolist()
    ([True, True, True, False], [1.0, 1.0, 1.1, 21.0])
    """
    energies_ev = [np.asarray(e, dtype=float) for e in energies_ev]
    mus = [np.asarray(m, dtype=float) for m in mus]
    if not energies_ev:
        raise ValueError("merge_scans: no scans")
    lo = max(e[0] for e in energies_ev)
    hi = min(e[-1] for e in energies_ev)
    grid = energies_ev[0][(energies_ev[0] >= lo) & (energies_ev[0] <= hi)]
    if grid.size < 10:
        raise XasEdgeError(f"the scans to merge share only {lo:.1f}-{hi:.1f} eV")
    stack = np.stack([np.interp(grid, e, m) for e, m in zip(energies_ev, mus)])
    n = stack.shape[0]
    used = np.ones(n, dtype=bool)
    misfit = np.zeros(n)
    if n >= 3:
        med = np.median(stack, axis=0)
        noise = max(np.median([noise_level(grid, s) for s in stack]), 1e-12)
        misfit = np.sqrt(np.mean((stack - med) ** 2, axis=1)) / noise
        limit = max(reject * np.median(misfit), 3.0)
        used = misfit <= limit
    mu = stack[used].mean(axis=0)
    std = stack[used].std(axis=0, ddof=1) if used.sum() > 1 else np.zeros_like(mu)
    return Merged(energy_ev=grid, mu=mu, mu_std=std, used=used, misfit=misfit)
