"""XANES: energy calibration, merging, deglitching, normalisation, edge position and pre-edge.

Energies are in eV throughout. A scan's monochromator energy is never changed: calibration gives
a shift per scan (``calibrated = energy_ev + shift_ev``) that is stored beside the raw axis.

Normalisation is Larch's ``pre_edge`` with ranges and polynomial orders fixed for a whole series
(:class:`NormSettings`); its E0 is the *main-edge* derivative maximum, found with the pre-edge
window excluded, because Larch's own default (the global derivative maximum) lands on the
pre-edge peak of VO2 and V2O5 and of many other transition-metal oxides.

Edge-position methods (:func:`edge_position`):

``half_height`` (default, ``fraction`` 0.5)
    energy where the normalised mu crosses ``fraction`` of the edge step, taking the last
    crossing below the white line (so a pre-edge peak that reaches the fraction is skipped);
    linear interpolation between points, uncertainty from the noise over the local slope.
``derivative``
    maximum of the smoothed first derivative inside the main-edge window.
``second_derivative``
    zero crossing of the smoothed second derivative nearest the derivative maximum (the
    inflection point, refined between grid points).
``fixed``
    a given energy (for example E0 from a paper), no uncertainty.

Uncertainties of the derivative methods come from a small Monte-Carlo over the measured noise
(fixed seed, so results are repeatable).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
from scipy.ndimage import gaussian_filter1d

EdgeMethod = Literal["half_height", "derivative", "second_derivative", "fixed"]
EDGE_METHODS = ("half_height", "derivative", "second_derivative", "fixed")


class XasEdgeError(ValueError):
    """A spectrum has no usable absorption edge where one was expected, or too little range."""


# ----------------------------------------------------------------------------- tabulated edges


def tabulated_edge_ev(element: str, edge: str = "K") -> float:
    """Tabulated absorption-edge energy of ``element`` (xraydb: Elam, Ravel & Sieber, Radiat.
    Phys. Chem. 63 (2002) 121), e.g. V K 5465.0 eV, Fe K 7112.0 eV."""
    import xraydb

    try:
        return float(xraydb.xray_edge(element, edge).energy)
    except Exception as exc:  # xraydb raises several kinds for unknown names
        raise ValueError(f"unknown element/edge {element!r} {edge!r}: {exc}") from exc


# ----------------------------------------------------------------------------- helpers


def _uniform(energy_ev: np.ndarray, y: np.ndarray, lo: float, hi: float, step: float = 0.05):
    """y resampled (linear) on a uniform grid over [lo, hi] within the data."""
    lo = max(lo, energy_ev[0])
    hi = min(hi, energy_ev[-1])
    if hi - lo < 4 * step:
        raise XasEdgeError(f"window {lo:.1f}-{hi:.1f} eV holds no data")
    grid = np.arange(lo, hi + 0.5 * step, step)
    return grid, np.interp(grid, energy_ev, y)


def noise_level(energy_ev: np.ndarray, y: np.ndarray, lo: float | None = None, hi: float | None = None) -> float:
    """Robust standard deviation of the point-to-point noise of ``y`` over [lo, hi].

    Second differences remove a smooth signal (for white noise their variance is 6 sigma^2);
    the median absolute deviation ignores the odd glitch.
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


def _inflection(grid, y, smooth_ev):
    d1, d2 = _smooth_derivatives(grid, y, smooth_ev)
    i = int(np.argmax(d1))
    # zero of d2 next to the derivative maximum (d2 goes + -> - through it)
    for j in (i - 1, i):
        if 0 <= j < d2.size - 1 and d2[j] >= 0 > d2[j + 1]:
            return float(grid[j] + d2[j] / (d2[j] - d2[j + 1]) * (grid[j + 1] - grid[j]))
    return float(grid[i])


# ----------------------------------------------------------------------------- main-edge E0


def main_edge_e0(
    energy_ev: np.ndarray,
    mu: np.ndarray,
    *,
    window_ev: tuple[float, float],
    smooth_ev: float = 0.5,
) -> float:
    """Maximum of the smoothed derivative of ``mu`` inside ``window_ev`` (absolute energies).

    ``window_ev`` starts above the pre-edge window, so the pre-edge peak cannot win.
    """
    grid, y = _uniform(energy_ev, mu, *window_ev)
    e, slope = _derivative_max(grid, y, smooth_ev)
    if not slope > 0:
        raise XasEdgeError(f"no rising edge between {window_ev[0]:.1f} and {window_ev[1]:.1f} eV")
    return e


# ----------------------------------------------------------------------------- calibration


@dataclass
class Calibration:
    """Energy calibration of one scan from its reference foil."""

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
    tabulated values) on ``edge_ev``; ``window_ev`` is relative to ``edge_ev``.

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
        raise XasEdgeError(f"reference edge found at the border of the alignment window ({e:.2f} eV in {lo:.1f}-{hi:.1f}); widen or move the window")
    return Calibration(shift_ev=float(edge_ev - e), measured_edge_ev=float(e), tabulated_edge_ev=float(edge_ev),
                       window_ev=(float(window_ev[0]), float(window_ev[1])))


# ----------------------------------------------------------------------------- deglitch, merge


def deglitch(energy_ev: np.ndarray, mu: np.ndarray, *, threshold: float = 20.0, half_width: int = 3,
             local: int = 10):
    """Replace isolated single-point spikes by the value their neighbours predict.

    Each point is predicted by a quadratic through its ``half_width`` neighbours on either side
    (itself left out). A point is a glitch when its misfit exceeds ``threshold`` robust standard
    deviations of the misfits around it (``local`` points either side, never less than the
    spread over the whole scan). A real feature (a sharp pre-edge peak, the white line) raises
    the misfits of all its points, so the local spread grows with it; a spike stands alone.

    Returns ``(mu_clean, indices)``.
    """
    e = np.asarray(energy_ev, dtype=float)
    y = np.asarray(mu, dtype=float).copy()
    n = y.size
    h = half_width
    if n < 2 * h + 3:
        return y, np.array([], dtype=int)
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
    r = y - pred
    ok = np.isfinite(r)
    sig = 1.4826 * np.median(np.abs(r[ok] - np.median(r[ok])))
    if not sig > 0:
        return y, np.array([], dtype=int)
    if np.max(np.abs(r[ok])) <= threshold * sig:  # the local yardstick is never below sig
        return y, np.array([], dtype=int)
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
    glitches = np.array([i for i in np.flatnonzero(bad) if absr[i] >= absr[max(i - h, 0):i + h + 1].max()], dtype=int)
    y[glitches] = pred[glitches]
    return y, glitches


@dataclass
class Merged:
    """Several scans merged on the first scan's calibrated energy grid."""

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


# ----------------------------------------------------------------------------- normalisation


@dataclass
class NormSettings:
    """Larch ``pre_edge`` settings, fixed for a series (energies relative to E0, in eV).

    Defaults are those used for the V K-edge standards: pre-edge line -100..-30 eV, quadratic
    post-edge 60..300 eV (nnorm 2), no Victoreen weighting.
    """

    pre1_ev: float = -100.0
    pre2_ev: float = -30.0
    norm1_ev: float = 60.0
    norm2_ev: float = 300.0
    nnorm: int = 2
    nvict: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def resolve_norm_settings(energy_ev: np.ndarray, mu: np.ndarray, e0_ev: float, given: dict | None = None) -> NormSettings:
    """Settings for a series: those ``given`` (keys of :class:`NormSettings`, None = resolve),
    the rest resolved once by Larch's ``pre_edge`` on this (first) spectrum."""
    from larch import Group
    from larch.xafs import pre_edge

    given = {k: v for k, v in (given or {}).items() if v is not None}
    if len(given) == 6:
        return NormSettings(**given)
    g = Group(energy=np.asarray(energy_ev, float), mu=np.asarray(mu, float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pre_edge(g, e0=e0_ev)
    d = g.pre_edge_details
    auto = {"pre1_ev": float(d.pre1), "pre2_ev": float(d.pre2), "norm1_ev": float(d.norm1),
            "norm2_ev": float(d.norm2), "nnorm": int(d.nnorm), "nvict": int(d.nvict)}
    auto.update(given)
    return NormSettings(**auto)


@dataclass
class Normalised:
    energy_ev: np.ndarray  # calibrated
    norm: np.ndarray
    flat: np.ndarray
    e0_ev: float
    edge_step: float
    pre_edge_line: np.ndarray
    post_edge_curve: np.ndarray
    noise: float  # of norm, robust, post-edge


def normalise(energy_ev: np.ndarray, mu: np.ndarray, *, e0_ev: float, settings: NormSettings) -> Normalised:
    """Larch ``pre_edge`` with fixed E0 and ranges; raises :class:`XasEdgeError` when the
    spectrum does not cover the ranges or has no positive edge step."""
    from larch import Group
    from larch.xafs import pre_edge

    e = np.asarray(energy_ev, dtype=float)
    s = settings
    need_lo, need_hi = e0_ev + s.pre1_ev, e0_ev + s.norm2_ev
    short = 0.5 * (s.norm2_ev - s.norm1_ev)
    if e[0] > e0_ev + s.pre2_ev - 5 or e[-1] < e0_ev + s.norm1_ev + short:
        raise XasEdgeError(
            f"energy range {e[0]:.1f}-{e[-1]:.1f} eV does not cover the normalisation ranges around "
            f"E0 = {e0_ev:.1f} eV (pre-edge {need_lo:.1f}..{e0_ev + s.pre2_ev:.1f}, post-edge "
            f"{e0_ev + s.norm1_ev:.1f}..{need_hi:.1f} eV)")
    g = Group(energy=e, mu=np.asarray(mu, dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pre_edge(g, e0=e0_ev, pre1=s.pre1_ev, pre2=s.pre2_ev, norm1=s.norm1_ev, norm2=s.norm2_ev,
                 nnorm=s.nnorm, nvict=s.nvict)
    step = float(g.edge_step)
    noise = noise_level(e, g.norm, e0_ev + 20, e0_ev + s.norm2_ev)
    if not np.isfinite(step) or step <= 0 or step < 10 * noise * 1.0:
        raise XasEdgeError(f"no absorption edge at E0 = {e0_ev:.1f} eV: edge step {step:.3g} (noise {noise:.2g} of the step)")
    return Normalised(energy_ev=e, norm=np.asarray(g.norm), flat=np.asarray(g.flat), e0_ev=float(e0_ev),
                      edge_step=step, pre_edge_line=np.asarray(g.pre_edge), post_edge_curve=np.asarray(g.post_edge),
                      noise=noise)


# ----------------------------------------------------------------------------- edge, pre-edge


@dataclass
class Edge:
    energy_ev: float
    energy_err_ev: float
    method: str
    settings: dict = field(default_factory=dict)


def _half_height(e, norm, fraction, lo, hi):
    m = (e >= lo) & (e <= hi)
    idx = np.flatnonzero(m)
    if idx.size < 3:
        raise XasEdgeError(f"no data in the main-edge window {lo:.1f}-{hi:.1f} eV")
    wl = idx[int(np.argmax(norm[idx]))]
    if norm[wl] < fraction:
        raise XasEdgeError(f"normalised mu never reaches {fraction:g} of the edge step between {lo:.1f} and {hi:.1f} eV")
    # walk down from the white line to the first point below the fraction: the crossing may lie
    # below the window (the window only locates the white line), and a pre-edge peak that
    # reaches the fraction lies further down and is never met
    j = wl
    while j > 0 and norm[j] >= fraction:
        j -= 1
    if norm[j] >= fraction:
        raise XasEdgeError(f"normalised mu is above {fraction:g} of the step from the first point on ({e[0]:.1f} eV)")
    y0, y1 = norm[j], norm[j + 1]
    t = (fraction - y0) / (y1 - y0)
    return float(e[j] + t * (e[j + 1] - e[j])), float((y1 - y0) / (e[j + 1] - e[j]))


def edge_position(
    energy_ev: np.ndarray,
    norm: np.ndarray,
    *,
    method: EdgeMethod = "half_height",
    window_ev: tuple[float, float],
    fraction: float = 0.5,
    smooth_ev: float = 0.5,
    noise: float | None = None,
    fixed_ev: float | None = None,
    n_monte_carlo: int = 24,
    seed: int = 0,
) -> Edge:
    """Edge position of a normalised spectrum by ``method`` inside the main-edge ``window_ev``
    (absolute, calibrated energies; it starts above the pre-edge window).

    >>> e = np.linspace(5440, 5560, 481)
    >>> norm = 0.5 + np.arctan((e - 5480) / 1.5) / np.pi
    >>> round(edge_position(e, norm, window_ev=(5474, 5520)).energy_ev, 2)
    5480.0
    """
    e = np.asarray(energy_ev, dtype=float)
    y = np.asarray(norm, dtype=float)
    lo, hi = window_ev
    if noise is None:
        noise = noise_level(e, y, lo + 20, None)
    settings = {"window_ev": [float(lo), float(hi)]}
    if method == "fixed":
        if fixed_ev is None:
            raise ValueError("edge method 'fixed' needs fixed_ev")
        return Edge(float(fixed_ev), 0.0, method, settings)
    if method == "half_height":
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must lie between 0 and 1, got {fraction}")
        pos, slope = _half_height(e, y, fraction, lo, hi)
        err = noise / slope if slope > 0 else np.inf
        settings["fraction"] = fraction
        return Edge(pos, float(err), method, settings)
    if method not in ("derivative", "second_derivative"):
        raise ValueError(f"unknown edge method {method!r}; expected one of {', '.join(EDGE_METHODS)}")
    grid, yg = _uniform(e, y, lo, hi)
    find = _derivative_max if method == "derivative" else _inflection
    pos = find(grid, yg, smooth_ev)
    pos = pos[0] if isinstance(pos, tuple) else pos
    # Monte-Carlo over the noise, on the measured points, for the uncertainty
    rng = np.random.default_rng(seed)
    m = (e >= lo) & (e <= hi)
    draws = []
    for _ in range(n_monte_carlo):
        yn = y.copy()
        yn[m] += rng.normal(0.0, noise, m.sum())
        g2, y2 = _uniform(e, yn, lo, hi)
        p = find(g2, y2, smooth_ev)
        draws.append(p[0] if isinstance(p, tuple) else p)
    settings["smooth_ev"] = smooth_ev
    return Edge(float(pos), float(np.std(draws, ddof=1)), method, settings)


@dataclass
class PreEdge:
    centroid_ev: float
    centroid_err_ev: float
    area: float  # normalised mu x eV
    area_err: float
    height: float
    window_ev: tuple[float, float]


def pre_edge_peak(energy_ev: np.ndarray, norm: np.ndarray, *, window_ev: tuple[float, float],
                  noise: float | None = None, anchor_ev: float = 0.5) -> PreEdge:
    """Pre-edge peak above a straight baseline through the window ends.

    The baseline joins the mean normalised mu over ``anchor_ev`` at each end of ``window_ev``
    (the rising main edge's tail and the pre-edge floor); the centroid and area are those of the
    positive remainder. Uncertainties propagate the noise of every point (trapezoid weights).
    """
    e = np.asarray(energy_ev, dtype=float)
    y = np.asarray(norm, dtype=float)
    lo, hi = window_ev
    m = (e >= lo) & (e <= hi)
    if m.sum() < 5:
        raise XasEdgeError(f"pre-edge window {lo:.1f}-{hi:.1f} eV holds {m.sum()} points; expected at least 5")
    if noise is None:
        noise = noise_level(e, y)
    a_lo = (e >= lo) & (e <= lo + anchor_ev)
    a_hi = (e >= hi - anchor_ev) & (e <= hi)
    y_lo = y[a_lo].mean() if a_lo.any() else y[m][0]
    y_hi = y[a_hi].mean() if a_hi.any() else y[m][-1]
    ee = e[m]
    base = y_lo + (y_hi - y_lo) * (ee - lo) / (hi - lo)
    p = np.clip(y[m] - base, 0.0, None)
    w = np.zeros(ee.size)
    de = np.diff(ee)
    w[:-1] += 0.5 * de
    w[1:] += 0.5 * de
    area = float(np.sum(w * p))
    area_err = float(noise * np.sqrt(np.sum(w**2)))
    if area > 0:
        c = float(np.sum(w * p * ee) / area)
        c_err = float(noise * np.sqrt(np.sum(((ee - c) * w) ** 2)) / area)
    else:
        c, c_err = float("nan"), float("nan")
    return PreEdge(centroid_ev=c, centroid_err_ev=c_err, area=area, area_err=area_err,
                   height=float(p.max(initial=0.0)), window_ev=(float(lo), float(hi)))
