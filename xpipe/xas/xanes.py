"""XANES: normalisation and edge position (and, importable from here, the calibration,
deglitching and merging of :mod:`xpipe.xas.prepare`, the edge tools of :mod:`xpipe.xas.edge`,
the pre-edge fit of :mod:`xpipe.xas.preedge` and the default windows of
:mod:`xpipe.xas.windows`).

Energies are in eV throughout. A scan's monochromator energy is never changed: calibration gives
a shift per scan (``calibrated = energy_ev + shift_ev``) that is stored beside the raw axis.

Normalisation is Larch's ``pre_edge`` with ranges and polynomial orders fixed for a whole series
(:class:`NormSettings`); its E0 is the *main-edge* derivative maximum, a pre-edge peak passed
over (:func:`~xpipe.xas.edge.main_edge_e0`), because Larch's own default (the global derivative
maximum) lands on the pre-edge peak of VO2 and V2O5 and of many other transition-metal oxides.

Edge-position methods (:func:`edge_position`):

``half_height`` (default, ``fraction`` 0.5)
    energy where the normalised mu crosses ``fraction`` of the edge step, taking the last
    crossing below the white line (so a pre-edge peak that reaches the fraction is skipped);
    linear interpolation between points, uncertainty from the noise over the local slope.
``derivative``
    maximum of the smoothed first derivative inside the main-edge window (the main edge's: a
    pre-edge peak is passed over as by :func:`~xpipe.xas.edge.main_edge_e0`).
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

from .edge import (
    XasEdgeError,
    _uniform,
    main_edge_derivative_max,
    main_edge_e0,
    main_edge_inflection,
    noise_level,
    tabulated_edge_ev,
)
from .preedge import PreEdge, pre_edge_peak
from .prepare import Calibration, Merged, calibrate_foil, deglitch, merge_scans
from .windows import EdgeWindows, core_width_ev, edge_windows

__all__ = ["EDGE_METHODS", "Calibration", "Edge", "EdgeMethod", "EdgeWindows", "Merged",
           "NormSettings", "Normalised", "PreEdge", "XasEdgeError", "calibrate_foil",
           "core_width_ev", "deglitch", "edge_position", "edge_windows", "main_edge_e0",
           "merge_scans", "noise_level", "normalise", "pre_edge_peak", "resolve_norm_settings",
           "tabulated_edge_ev"]

EdgeMethod = Literal["half_height", "derivative", "second_derivative", "fixed"]
EDGE_METHODS = ("half_height", "derivative", "second_derivative", "fixed")


# ----------------------------------------------------------------------------- normalisation


@dataclass
class NormSettings:
    """Larch ``pre_edge`` settings, fixed for a series (energies relative to E0, in eV).

    Defaults are those used for the V K-edge standards: pre-edge line -100..-30 eV, quadratic
    post-edge 60..300 eV (nnorm 2), no Victoreen weighting.

    Parameters
    ----------
    pre1_ev, pre2_ev : float
        Pre-edge line range, relative to E0 (eV).
    norm1_ev, norm2_ev : float
        Post-edge curve range, relative to E0 (eV).
    nnorm : int
        Order of the post-edge polynomial.
    nvict : int
        Victoreen power the pre-edge is weighted by.

    Examples
    --------
    >>> s = NormSettings(norm2_ev=250.0)
    >>> s.as_dict()["norm2_ev"], s.pre1_ev, s.nnorm
    (250.0, -100.0, 2)
    """

    pre1_ev: float = -100.0
    pre2_ev: float = -30.0
    norm1_ev: float = 60.0
    norm2_ev: float = 300.0
    nnorm: int = 2
    nvict: int = 0

    def as_dict(self) -> dict:
        """The settings as a plain dict (for the results file)."""
        return asdict(self)


def resolve_norm_settings(energy_ev: np.ndarray, mu: np.ndarray, e0_ev: float,
                          given: dict | None = None) -> NormSettings:
    """Settings for a series: those ``given`` (keys of :class:`NormSettings`, None = resolve),
    the rest resolved once by Larch's ``pre_edge`` on this (first) spectrum.

    Parameters
    ----------
    energy_ev, mu : ndarray
        The first spectrum of the series: energies (eV) and absorption.
    e0_ev : float
        Its E0 (eV).
    given : dict, optional
        Settings fixed by the user; a value None is resolved.

    Returns
    -------
    NormSettings

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(5300.0, 5900.0, 601)
    >>> mu = 0.1 + 0.0002 * (e - 5300.0) + 2.0 * (0.5 + np.arctan((e - 5465.0) / 2.0) / np.pi)
    >>> resolve_norm_settings(e, mu, 5465.0, {"nnorm": 1, "nvict": None})
    NormSettings(pre1_ev=-165.0, pre2_ev=-82.5, norm1_ev=25.0, norm2_ev=435.0, nnorm=1, nvict=0)
    """
    # larch takes seconds to import: only when settings are resolved
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
    """A normalised spectrum and the lines that normalised it.

    Parameters
    ----------
    energy_ev : ndarray
        Calibrated energies (eV).
    norm, flat : ndarray
        mu normalised by the edge step, and also flattened above E0.
    e0_ev, edge_step : float
        E0 (eV) and the edge step (unit of mu).
    pre_edge_line, post_edge_curve : ndarray
        The fitted pre-edge line and post-edge curve (unit of mu).
    noise : float
        Robust noise of ``norm`` above the edge.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(5300.0, 5900.0, 601)
    >>> mu = 0.1 + 0.0002 * (e - 5300.0) + 2.0 * (0.5 + np.arctan((e - 5465.0) / 2.0) / np.pi)
    >>> nz = normalise(e, mu, e0_ev=5465.0, settings=NormSettings())
    >>> round(nz.edge_step, 2), round(float(nz.flat[-1]), 2), nz.noise < 1e-4
    (1.93, 1.01, True)
    """

    energy_ev: np.ndarray  # calibrated
    norm: np.ndarray
    flat: np.ndarray
    e0_ev: float
    edge_step: float
    pre_edge_line: np.ndarray
    post_edge_curve: np.ndarray
    noise: float  # of norm, robust, post-edge


def normalise(energy_ev: np.ndarray, mu: np.ndarray, *, e0_ev: float,
              settings: NormSettings) -> Normalised:
    """Larch ``pre_edge`` with fixed E0 and ranges.

    Parameters
    ----------
    energy_ev, mu : ndarray
        The spectrum: calibrated energies (eV) and absorption.
    e0_ev : float
        E0 (eV).
    settings : NormSettings
        The ranges and orders, fixed for the series.

    Returns
    -------
    Normalised
        Raises :class:`XasEdgeError` when the spectrum does not cover the ranges or has no
        positive edge step.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(5300.0, 5900.0, 601)
    >>> mu = 0.3 + 1.5 * (0.5 + np.arctan((e - 5465.0) / 2.0) / np.pi)
    >>> nz = normalise(e, mu, e0_ev=5465.0, settings=NormSettings(nnorm=1))
    >>> round(nz.edge_step, 2), round(float(nz.flat[-1]), 3)
    (1.45, 0.996)
    """
    # larch takes seconds to import: only when normalising
    from larch import Group
    from larch.xafs import pre_edge

    e = np.asarray(energy_ev, dtype=float)
    s = settings
    need_lo, need_hi = e0_ev + s.pre1_ev, e0_ev + s.norm2_ev
    short = 0.5 * (s.norm2_ev - s.norm1_ev)
    if e[0] > e0_ev + s.pre2_ev - 5 or e[-1] < e0_ev + s.norm1_ev + short:
        raise XasEdgeError(
            f"energy range {e[0]:.1f}-{e[-1]:.1f} eV does not cover the normalisation ranges "
            "around "
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
        raise XasEdgeError(f"no absorption edge at E0 = {e0_ev:.1f} eV: edge step {step:.3g} "
                           f"(noise {noise:.2g} of the step)")
    return Normalised(energy_ev=e, norm=np.asarray(g.norm), flat=np.asarray(g.flat),
                      e0_ev=float(e0_ev), edge_step=step, pre_edge_line=np.asarray(g.pre_edge),
                      post_edge_curve=np.asarray(g.post_edge), noise=noise)


# ----------------------------------------------------------------------------- edge, pre-edge


@dataclass
class Edge:
    """An edge position and how it was found.

    Parameters
    ----------
    energy_ev, energy_err_ev : float
        The edge energy and its uncertainty (eV).
    method : str
        One of :data:`EDGE_METHODS`.
    settings : dict
        The window (eV) and the method's settings.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(5440.0, 5560.0, 481)
    >>> norm = 0.5 + np.arctan((e - 5480.0) / 1.5) / np.pi
    >>> edge = edge_position(e, norm, method="fixed", window_ev=(5474, 5520), fixed_ev=5479.5)
    >>> edge.energy_ev, edge.energy_err_ev, edge.method
    (5479.5, 0.0, 'fixed')
    """

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
        raise XasEdgeError(f"normalised mu never reaches {fraction:g} of the edge step between "
                           f"{lo:.1f} and {hi:.1f} eV")
    # walk down from the white line to the first point below the fraction: the crossing may lie
    # below the window (the window only locates the white line), and a pre-edge peak that
    # reaches the fraction lies further down and is never met
    j = wl
    while j > 0 and norm[j] >= fraction:
        j -= 1
    if norm[j] >= fraction:
        raise XasEdgeError(f"normalised mu is above {fraction:g} of the step from the first "
                           f"point on ({e[0]:.1f} eV)")
    y0, y1 = norm[j], norm[j + 1]
    t = (fraction - y0) / (y1 - y0)
    return float(e[j] + t * (e[j + 1] - e[j])), float((y1 - y0) / (e[j + 1] - e[j]))


def _monte_carlo_spread(e: np.ndarray, y: np.ndarray, lo: float, hi: float, find, smooth_ev: float,
                        noise: float, n: int, seed: int) -> float:
    """Spread of the edge ``find`` gives when noise is added to the measured points."""
    rng = np.random.default_rng(seed)
    m = (e >= lo) & (e <= hi)
    draws = []
    for _ in range(n):
        yn = y.copy()
        yn[m] += rng.normal(0.0, noise, m.sum())
        g2, y2 = _uniform(e, yn, lo, hi)
        p = find(g2, y2, smooth_ev)
        draws.append(p[0] if isinstance(p, tuple) else p)
    return float(np.std(draws, ddof=1))


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
    """Edge position of a normalised spectrum by ``method`` inside the main-edge ``window_ev``.

    Parameters
    ----------
    energy_ev, norm : ndarray
        Calibrated energies (eV) and normalised mu.
    method : {'half_height', 'derivative', 'second_derivative', 'fixed'}
        See the module notes.
    window_ev : (float, float)
        Main-edge window, absolute calibrated energies (eV); it starts above the pre-edge
        window.
    fraction : float
        Fraction of the edge step for 'half_height'.
    smooth_ev : float
        Gaussian smoothing (eV) for the derivative methods.
    noise : float, optional
        Noise of ``norm``; measured above the window start when None.
    fixed_ev : float, optional
        The energy (eV) for 'fixed'.
    n_monte_carlo, seed : int
        Draws and seed of the derivative methods' uncertainty.

    Returns
    -------
    Edge

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(5440, 5560, 481)
    >>> norm = 0.5 + np.arctan((e - 5480) / 1.5) / np.pi
    >>> round(edge_position(e, norm, window_ev=(5474, 5520)).energy_ev, 2)
    5480.0
    >>> round(edge_position(e, norm, method="derivative", window_ev=(5474, 5520)).energy_ev, 2)
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
        raise ValueError(f"unknown edge method {method!r}; expected one of "
                         f"{', '.join(EDGE_METHODS)}")
    grid, yg = _uniform(e, y, lo, hi)
    find = main_edge_derivative_max if method == "derivative" else main_edge_inflection
    pos = find(grid, yg, smooth_ev)
    pos = pos[0] if isinstance(pos, tuple) else pos
    # Monte-Carlo over the noise, on the measured points, for the uncertainty
    spread = _monte_carlo_spread(e, y, lo, hi, find, smooth_ev, noise, n_monte_carlo, seed)
    settings["smooth_ev"] = smooth_ev
    return Edge(float(pos), spread, method, settings)
