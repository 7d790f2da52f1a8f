"""Whole-pattern model of one powder pattern: every phase at once, on a background.

The calculated pattern on the radial axis ``x`` (2theta in degrees or Q in 1/A) is::

    y(x) = sum_k b_k B_k(x) + sum_p sum_j c_pj sum_{h in j} w_h PV(x; x_h, FWHM_p(x_h), eta_p)

* ``B_k``: cubic B-splines with knots tens of peak widths apart, optionally with one more
  column, a smooth baseline estimated from the data (SNIP).
* A phase with a known structure (Rietveld) has one intensity column, its scale ``S_p``,
  and the reflection weights ``w_h = m_h |F_h|^2 L(theta_h) P_h(r)`` (multiplicity, structure
  factor, Lorentz factor, March-Dollase texture): the intensity ratios are fixed by the
  structure, so the scale gives the weight fraction (Hill & Howard, J. Appl. Cryst. 20 (1987)
  467): ``w_p = S_p (Z M V)_p / sum_q S_q (Z M V)_q``.
* A phase without a structure (Pawley, J. Appl. Cryst. 14 (1981) 357) has one free intensity
  column per group of coincident reflections.
* Reflection positions come from the free components ``g`` of the reciprocal metric tensor of
  the phase's lattice system (:func:`xpipe.xrd.cell.design_columns`: ``1/d^2 = R(hkl) . g``), so
  symmetry holds by construction, plus a zero shift on 2theta axes.
* Profile: area-normalised pseudo-Voigt with the Caglioti width
  ``FWHM^2 = U t^2 + V t + W``, ``t = tan(theta)`` on 2theta axes (deg^2) and ``t = Q`` on Q
  axes (1/A^2), and a Lorentzian fraction ``eta``; each peak is evaluated within
  ``cut_fwhm`` FWHM of its centre.
* March-Dollase preferred orientation (W. A. Dollase, J. Appl. Cryst. 19 (1986) 267):
  ``P_h = mean over the equivalents of h of (r^2 cos^2 a + sin^2 a / r)^(-3/2)``, ``a`` the angle
  between the reciprocal-lattice vector of the equivalent and the texture direction ``H``
  (given as a reciprocal-lattice vector ``hkl``); ``r = 1`` is no texture
  (:mod:`xpipe.xrd.texture`).

The intensity columns and background enter linearly and are solved exactly for given
non-linear parameters (variable projection, Golub & Pereyra, SIAM J. Numer. Anal. 10 (1973)
413) with scales kept non-negative; the derivatives of the model with respect to the
non-linear parameters are analytic (positions, widths, eta, texture), and the Jacobian of
the projected residual is taken in Kaufman's form (BIT 15 (1975) 49). The background basis
and the linear solve are in :mod:`xpipe.xrd.linsolve`, re-exported here.

Example
-------
>>> import numpy as np
>>> from xpipe.xrd.phases import make_phase
>>> from xpipe.xrd.reflections import Cell
>>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, evaluate
>>> ph = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.1569), d_min_a=1.0)
>>> x = np.arange(10.0, 40.0, 0.01)
>>> pp = PatternPhase.from_model(ph, unit="2th_deg", wavelength_a=0.7749)
>>> ev = evaluate(pp, PhaseState.start(ph, w=0.0025), x, zero=0.0)
>>> int(x[np.argmax(ev.columns[:, 0])] * 100)  # group 0 is (1 0 0), at 10.70 deg
1069
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..lineshapes import GAUSS_C, GAUSS_NORM
from .cell import _cells_from_gstar, design_columns, gstar6
from .linsolve import (
    BackgroundProjector,
    LinearSolution,
    background_basis,
    project_out,
    solve_linear,
)
from .phases import PhaseModel, lorentz_factor
from .reflections import Cell
from .texture import _texture_cos2, march_dollase

__all__ = [
    "BackgroundProjector",
    "LinearSolution",
    "PatternPhase",
    "PhaseEval",
    "PhaseState",
    "background_basis",
    "cell_of",
    "derivative_columns",
    "evaluate",
    "gstar_of",
    "march_dollase",
    "project_out",
    "solve_linear",
]

_HKL_ROWS = lambda hkl: np.stack(  # noqa: E731 - the six products of 1/d^2 = row . G*
    [hkl[:, 0] ** 2, hkl[:, 1] ** 2, hkl[:, 2] ** 2, 2 * hkl[:, 0] * hkl[:, 1],
     2 * hkl[:, 0] * hkl[:, 2], 2 * hkl[:, 1] * hkl[:, 2]], axis=1).astype(float)


# ------------------------------------------------------------------------------ cells


def gstar_of(cell: Cell, system: str) -> np.ndarray:
    """Free reciprocal-metric parameters ``g`` of ``cell`` in ``system``.

    Least squares on the six components of the reciprocal metric tensor, exact for a cell of
    that system (:func:`xpipe.xrd.cell.design_columns` maps ``g`` onto them).

    Parameters
    ----------
    cell : Cell
        The cell (A, degrees).
    system : str
        Lattice system (``cubic``, ``tetragonal``, ``hexagonal``, ``orthorhombic``, ...).

    Returns
    -------
    ndarray
        ``(p,)`` free parameters (1/A^2), ``1/d^2 = R(hkl) . g``.

    Examples
    --------
    >>> from xpipe.xrd.reflections import Cell
    >>> from xpipe.xrd.wholepattern import gstar_of
    >>> gstar_of(Cell(4.0, 4.0, 6.0, 90, 90, 90), "tetragonal").round(6).tolist()  # 1/a^2, 1/c^2
    [0.0625, 0.027778]
    """
    return np.linalg.lstsq(design_columns(system), gstar6(cell), rcond=None)[0]


def cell_of(g: np.ndarray, system: str) -> Cell:
    """The cell of free reciprocal-metric parameters ``g`` (the inverse of :func:`gstar_of`).

    Parameters
    ----------
    g : array_like
        ``(p,)`` free parameters of ``system`` (1/A^2).
    system : str
        Lattice system.

    Returns
    -------
    Cell
        Lengths in A, angles in degrees.

    Examples
    --------
    >>> from xpipe.xrd.wholepattern import cell_of
    >>> cell_of([0.0625, 1 / 36], "tetragonal")
    Cell(a_a=4.0, b_a=4.0, c_a=6.0, alpha_deg=90.0, beta_deg=90.0, gamma_deg=90.0)
    """
    cols = design_columns(system)
    values, _ = _cells_from_gstar((cols @ np.asarray(g, dtype=float))[None, :], cols, jacobian=False)
    return Cell(*(float(v) for v in values[0, :6]))


# ------------------------------------------------------------------------------ phases


@dataclass
class PatternPhase:
    """What the model needs of one phase on one radial axis (fixed during a refinement).

    Built with :meth:`from_model`.

    Parameters
    ----------
    name, system : str
        Phase name and lattice system.
    rietveld : bool
        True when the structure gives the intensities (one scale column).
    rows : ndarray
        ``(n_refl, p)``: ``1/d^2 = rows @ g`` (1/A^2).
    base : ndarray
        ``(n_refl,)`` ``m |F|^2`` (Rietveld, electrons^2) or 1 (Pawley).
    column_of : ndarray of int
        ``(n_refl,)`` intensity column of each reflection (0 for Rietveld; the group for
        Pawley).
    n_columns : int
        Intensity columns of the phase.
    unit : str
        ``2th_deg`` or ``q_A^-1``.
    wavelength_a : float or None
        Wavelength (A).
    lorentz : str
        Lorentz geometry (``area_detector`` or ``line_detector``).
    texture_cos2, texture_counts : ndarray or None
        Equivalents' cos^2 to the texture direction and their number per reflection (None: no
        texture).
    cell_mass_amu : float
        ``Z M`` of the cell (g/mol), NaN without a structure; times the volume in
        :meth:`zmv_of`.
    hkl : ndarray of int
        ``(n_refl, 3)`` Miller indices.

    Examples
    --------
    A cubic phase without a structure: one intensity column per group of reflections, and the
    position of a reflection from ``1/d^2 = rows @ g``:

    >>> import math
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.reflections import Cell
    >>> from xpipe.xrd.wholepattern import PatternPhase, gstar_of
    >>> ph = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.1569), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(ph, unit="2th_deg", wavelength_a=0.7749)
    >>> pp.rietveld, pp.n_columns, pp.hkl[1].tolist()
    (False, 15, [1, 1, 0])
    >>> s = float(pp.rows[1] @ gstar_of(ph.cell, ph.system))  # 1/d^2 of (1 1 0)
    >>> round(2 * math.degrees(math.asin(0.7749 * math.sqrt(s) / 2)), 3)  # 2theta (deg)
    15.149
    """

    name: str
    system: str
    rietveld: bool
    rows: np.ndarray
    base: np.ndarray
    column_of: np.ndarray
    n_columns: int
    unit: str
    wavelength_a: float | None
    lorentz: str = "area_detector"
    texture_cos2: np.ndarray | None = None
    texture_counts: np.ndarray | None = None
    cell_mass_amu: float = math.nan
    hkl: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=int))

    @classmethod
    def from_model(cls, phase: PhaseModel, *, unit: str, wavelength_a: float | None,
                   lorentz: str = "area_detector", texture_hkl=None) -> PatternPhase:
        """Set up ``phase`` for a ``2th_deg`` or ``q_A^-1`` axis.

        ``texture_hkl`` is the March-Dollase direction (a reciprocal-lattice vector), or None.
        """
        if unit not in ("2th_deg", "q_A^-1"):
            raise ValueError(f"whole-pattern refinement needs a 2th_deg or q_A^-1 axis, not {unit!r}")
        if unit == "2th_deg" and not wavelength_a:
            raise ValueError("a wavelength is needed for a 2theta axis")
        refl = phase.reflections
        hkl = np.asarray(refl.hkl, dtype=int)
        rietveld = phase.has_structure
        if rietveld:
            base = refl.multiplicity * refl.f_squared
            column_of = np.zeros(len(hkl), dtype=int)
            n_col = 1
        else:
            base = np.ones(len(hkl))
            column_of = np.asarray(phase.group, dtype=int)
            n_col = phase.n_groups
        cos2 = counts = None
        if texture_hkl is not None:
            cos2, counts = _texture_cos2(phase, hkl, texture_hkl)
        return cls(phase.name, phase.system, bool(rietveld), _HKL_ROWS(hkl) @ design_columns(phase.system),
                   np.asarray(base, dtype=float), column_of, int(n_col), unit, wavelength_a, lorentz,
                   cos2, counts, float(phase.cell_mass_amu), hkl)

    @property
    def n_cell(self) -> int:
        """Free cell parameters of the lattice system."""
        return self.rows.shape[1]

    def zmv_of(self, g: np.ndarray) -> float:
        """``Z M V`` (g/mol x A^3) at the cell of ``g``; NaN without a structure."""
        return self.cell_mass_amu * cell_of(g, self.system).volume_a3


@dataclass
class PhaseState:
    """Non-linear parameters of one phase: cell (free G* components), profile, texture.

    Parameters
    ----------
    g : ndarray
        Free reciprocal-metric parameters (1/A^2, :func:`gstar_of`).
    u, v, w : float
        Caglioti ``FWHM^2 = u t^2 + v t + w`` (radial unit squared; ``t = tan(theta)`` on
        2theta axes, ``Q`` on Q axes).
    eta : float
        Lorentzian fraction of the pseudo-Voigt (0 to 1).
    r : float
        March-Dollase parameter (1: no texture).

    Examples
    --------
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.reflections import Cell
    >>> from xpipe.xrd.wholepattern import PhaseState, cell_of
    >>> ph = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.1569), d_min_a=1.0)
    >>> st = PhaseState.start(ph, w=0.0025)
    >>> round(float(st.g[0]), 6), round(cell_of(st.scaled(1.01).g, "cubic").a_a, 4)
    (0.057871, 4.1985)
    """

    g: np.ndarray
    u: float = 0.0
    v: float = 0.0
    w: float = 0.01
    eta: float = 0.5
    r: float = 1.0

    @classmethod
    def start(cls, phase: PhaseModel, *, w: float, u: float = 0.0, eta: float = 0.5, r: float = 1.0) -> PhaseState:
        """The state at the phase's starting cell, with the profile and texture given."""
        return cls(gstar_of(phase.cell, phase.system), u=u, w=w, eta=eta, r=r)

    def copy(self) -> PhaseState:
        """A copy with its own ``g``."""
        return replace(self, g=np.array(self.g, dtype=float))

    def scaled(self, factor: float) -> PhaseState:
        """The state with every cell length multiplied by ``factor``."""
        return replace(self, g=np.asarray(self.g, dtype=float) / factor**2)


# --------------------------------------------------------------------------- evaluation


@dataclass
class PhaseEval:
    """One phase evaluated on the axis (:func:`evaluate`): intensity columns and what
    derivatives need.

    The profile derivatives are computed on first use: most evaluations (searches, decoys,
    the optimiser's function calls) need the pattern only.

    Parameters
    ----------
    columns : ndarray
        ``(n_points, n_columns)`` calculated pattern per unit intensity of each column.
    idx, valid : ndarray
        ``(n_used, K)`` point indices of each peak's window, and which are within it.
    used : ndarray of int
        Reflections within reach of the axis.
    weight, dweight_dr : ndarray
        ``w_h`` of each (without the column's intensity) and its derivative by ``r``.
    pv : ndarray
        ``(n_used, K)`` unit-area pseudo-Voigt values.
    dx0_ds : ndarray
        d position / d(1/d^2) (radial unit times A^2).
    t, fwhm, position : ndarray
        Width variable (``tan(theta)`` or ``Q``), FWHM and position (radial unit).
    eta : float
        Lorentzian fraction.
    parts : tuple
        ``(u, u^2, 1 / (1 + 4 u^2), Lorentzian, Gaussian, 1 / fwhm)`` on the windows.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.reflections import Cell
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, evaluate
    >>> ph = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.1569), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(ph, unit="2th_deg", wavelength_a=0.7749)
    >>> ev = evaluate(pp, PhaseState.start(ph, w=0.0025, eta=0.0), np.arange(10.0, 12.0, 0.01))
    >>> ev.columns.shape, ev.used.tolist(), round(float(ev.columns[:, 0].sum() * 0.01), 3)  # unit area
    ((200, 15), [0], 1.0)
    """

    columns: np.ndarray  # (n_points, n_columns)
    idx: np.ndarray  # (n_refl_used, K) point indices of each peak's window
    valid: np.ndarray  # (n_refl_used, K)
    used: np.ndarray  # (n_refl_used,) reflection indices
    weight: np.ndarray  # (n_refl_used,) w_h (without the column's intensity)
    dweight_dr: np.ndarray
    pv: np.ndarray
    dx0_ds: np.ndarray  # d position / d(1/d^2)
    t: np.ndarray  # width variable tan(theta) or Q
    fwhm: np.ndarray
    position: np.ndarray
    eta: float
    parts: tuple  # (u, u^2, 1 / (1 + 4 u^2), Lorentzian, Gaussian, 1 / fwhm)
    _derivs: tuple | None = None

    def _derivatives(self) -> tuple:
        if self._derivs is None:
            uu, u2, rr, lor, gau, inv_f = self.parts
            eta, valid = self.eta, self.valid
            self._derivs = (
                np.where(valid, (eta * lor * 8.0 * uu * rr + (1.0 - eta) * gau * 2.0 * GAUSS_C * uu) * inv_f, 0.0),
                np.where(valid, (eta * lor * (8.0 * u2 * rr - 1.0) + (1.0 - eta) * gau * (2.0 * GAUSS_C * u2 - 1.0))
                         * inv_f, 0.0),
                np.where(valid, lor - gau, 0.0),
            )
        return self._derivs

    @property
    def dpv_dx0(self) -> np.ndarray:
        """d profile / d position, on the windows."""
        return self._derivatives()[0]

    @property
    def dpv_df(self) -> np.ndarray:
        """d profile / d FWHM, on the windows."""
        return self._derivatives()[1]

    @property
    def dpv_deta(self) -> np.ndarray:
        """d profile / d eta, on the windows."""
        return self._derivatives()[2]


def _positions(pp: PatternPhase, s: np.ndarray, zero: float):
    """Positions, d position / d s (s = 1/d^2) and the width variable, NaN beyond reach."""
    with np.errstate(invalid="ignore", divide="ignore"):
        root = np.sqrt(s)
        if pp.unit == "2th_deg":
            sin_t = pp.wavelength_a * root / 2.0
            theta = np.arcsin(np.where(sin_t < 1.0, sin_t, np.nan))
            x0 = np.degrees(2.0 * theta) + zero
            dx0 = np.degrees(pp.wavelength_a / (2.0 * root * np.cos(theta)))
            t = np.tan(theta)
            tth = np.degrees(2.0 * theta)
        else:
            x0 = 2.0 * np.pi * root
            dx0 = np.pi / root
            t = x0
            tth = (np.degrees(2.0 * np.arcsin(np.minimum(x0 * pp.wavelength_a / (4 * np.pi), 1.0)))
                   if pp.wavelength_a else None)
    return x0, dx0, t, tth


def _weights(pp: PatternPhase, used: np.ndarray, tth, r: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``w_h`` of the reflections ``used`` (Lorentz factor, Q-axis Jacobian, texture)
    and their derivative by the March-Dollase ``r``."""
    weight = pp.base[used].copy()
    if pp.rietveld and pp.wavelength_a:
        tt = tth[used]
        weight = weight * lorentz_factor(tt, pp.lorentz)
        if pp.unit == "q_A^-1":
            # area on a Q axis = area on 2theta (deg) x dQ/d(2theta)
            th = np.radians(tt / 2.0)
            weight = weight * (4.0 * np.pi / pp.wavelength_a) * np.cos(th) / 2.0 * np.pi / 180.0
    dweight_dr = np.zeros_like(weight)
    if pp.texture_cos2 is not None:
        starts = np.concatenate([[0], np.cumsum(pp.texture_counts)])
        sel = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in used]) if used.size else np.zeros(0, int)
        p, dp = march_dollase(pp.texture_cos2[sel], pp.texture_counts[used], r)
        dweight_dr = weight * dp
        weight = weight * p
    return weight, dweight_dr


def _windows(x: np.ndarray, xu: np.ndarray, fu: np.ndarray, cut_fwhm: float, step: float):
    """Point indices ``(n_peaks, K)`` of each peak's window of ``cut_fwhm`` FWHM either side,
    and which of them are within it."""
    n = x.size
    k = int(math.ceil(2.0 * cut_fwhm * (fu.max() if fu.size else 0.0) / max(step, 1e-12))) + 3
    k = min(k, n)
    first = np.searchsorted(x, xu - cut_fwhm * fu)
    idx = first[:, None] + np.arange(k)[None, :]
    valid = idx < n
    idx = np.minimum(idx, n - 1)
    valid &= np.abs(x[idx] - xu[:, None]) <= cut_fwhm * fu[:, None]
    return idx, valid


def evaluate(pp: PatternPhase, st: PhaseState, x: np.ndarray, *, zero: float = 0.0,
             cut_fwhm: float = 25.0, min_fwhm: float | None = None) -> PhaseEval:
    """Evaluate phase ``pp`` at state ``st`` on the increasing axis ``x``.

    Parameters
    ----------
    pp : PatternPhase
        The phase on the axis.
    st : PhaseState
        Its cell, profile and texture.
    x : ndarray
        Increasing radial axis (``pp.unit``).
    zero : float
        Zero shift added to the positions on 2theta axes (degrees).
    cut_fwhm : float
        Each peak is evaluated within this many FWHM of its centre.
    min_fwhm : float, optional
        Floor on the width (radial unit; default the median point spacing), so that a phase
        never becomes needle-sharp between two points.

    Returns
    -------
    PhaseEval
        The intensity columns ``(n_points, n_columns)``, per unit intensity (a Pawley column is
        a sum of unit-area peaks), and the parts the derivatives need.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.reflections import Cell
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, evaluate
    >>> ph = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.1569), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(ph, unit="2th_deg", wavelength_a=0.7749)
    >>> x = np.arange(10.0, 40.0, 0.01)
    >>> ev = evaluate(pp, PhaseState.start(ph, w=0.0025), x)
    >>> ev.position[:3].round(3).tolist(), ev.fwhm[0].round(4)  # (1 0 0), (1 1 0), (1 1 1); deg
    ([10.696, 15.149, 18.581], np.float64(0.05))
    >>> round(float(ev.columns[:, 0].sum() * 0.01), 3)  # area of (1 0 0) within 25 FWHM
    0.991
    """
    n = x.size
    step = float(np.median(np.diff(x))) if n > 1 else 1.0
    floor = step if min_fwhm is None else min_fwhm
    s = pp.rows @ st.g
    x0, dx0, t, tth = _positions(pp, s, zero)
    f2 = st.u * t * t + st.v * t + st.w
    fwhm = np.sqrt(np.maximum(f2, floor * floor))
    lo, hi = x[0], x[-1]
    used = np.flatnonzero(np.isfinite(x0) & (x0 + cut_fwhm * fwhm >= lo) & (x0 - cut_fwhm * fwhm <= hi))
    weight, dweight_dr = _weights(pp, used, tth, st.r)
    xu, fu = x0[used], fwhm[used]
    idx, valid = _windows(x, xu, fu, cut_fwhm, step)
    xi = x[idx]
    inv_f = 1.0 / fu[:, None]
    uu = (xi - xu[:, None]) * inv_f
    u2 = uu * uu
    rr = 1.0 / (1.0 + 4.0 * u2)
    ee = np.exp(-GAUSS_C * u2)
    lor = (2.0 / math.pi) * inv_f * rr
    gau = GAUSS_NORM * inv_f * ee
    eta = st.eta
    pv = np.where(valid, eta * lor + (1.0 - eta) * gau, 0.0)
    cols = np.zeros((n, pp.n_columns))
    col = pp.column_of[used]
    amp = weight[:, None] * pv
    if pp.n_columns == 1:
        cols[:, 0] = np.bincount(idx.ravel(), weights=amp.ravel(), minlength=n)
    else:
        flat = (idx * pp.n_columns + col[:, None]).ravel()
        cols[:] = np.bincount(flat, weights=amp.ravel(), minlength=n * pp.n_columns).reshape(n, pp.n_columns)
    return PhaseEval(cols, idx, valid, used, weight, dweight_dr, pv, dx0[used], t[used], fu, xu, eta,
                     (uu, u2, rr, lor, gau, inv_f))


def derivative_columns(pp: PatternPhase, ev: PhaseEval, intensity: np.ndarray, names: tuple[str, ...],
                       n_points: int) -> np.ndarray:
    """Analytic derivatives of the phase's calculated pattern by its non-linear parameters.

    Parameters
    ----------
    pp : PatternPhase
        The phase.
    ev : PhaseEval
        Its evaluation (:func:`evaluate`) at the current parameters.
    intensity : ndarray
        ``(n_columns,)`` the phase's intensities (scale or Pawley intensities).
    names : tuple of str
        ``g0 .. g{p-1}`` (cell), ``u``, ``v``, ``w`` (Caglioti), ``eta``, ``r`` (texture),
        ``zero`` (zero shift).
    n_points : int
        Points of the axis.

    Returns
    -------
    ndarray
        ``(n_points, len(names))`` ``d model / d parameter`` (counts per parameter unit).

    Examples
    --------
    The derivative by the Caglioti ``w`` against a finite difference:

    >>> import numpy as np
    >>> from dataclasses import replace
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.reflections import Cell
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, derivative_columns, evaluate
    >>> ph = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.1569), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(ph, unit="2th_deg", wavelength_a=0.7749)
    >>> x, st = np.arange(10.0, 40.0, 0.01), PhaseState.start(ph, w=0.0025)
    >>> ev, c = evaluate(pp, st, x), np.ones(pp.n_columns)
    >>> d = derivative_columns(pp, ev, c, ("w",), x.size)[:, 0]
    >>> fd = (evaluate(pp, replace(st, w=st.w + 1e-7), x).columns @ c - ev.columns @ c) / 1e-7
    >>> bool(np.abs(d - fd).max() < 1e-4 * np.abs(d).max())
    True
    """
    c = np.asarray(intensity, dtype=float)[pp.column_of[ev.used]]
    amp = (c * ev.weight)[:, None]
    out = np.empty((n_points, len(names)))
    flat = ev.idx.ravel()
    for j, name in enumerate(names):
        if name.startswith("g"):
            dpos = ev.dx0_ds * pp.rows[ev.used, int(name[1:])]
            vals = amp * ev.dpv_dx0 * dpos[:, None]
        elif name == "zero":
            vals = amp * ev.dpv_dx0
        elif name in ("u", "v", "w"):
            dfw = {"u": ev.t * ev.t, "v": ev.t, "w": np.ones_like(ev.t)}[name] / (2.0 * ev.fwhm)
            vals = amp * ev.dpv_df * dfw[:, None]
        elif name == "eta":
            vals = amp * ev.dpv_deta
        elif name == "r":
            vals = (c * ev.dweight_dr)[:, None] * ev.pv
        else:
            raise ValueError(f"unknown parameter {name!r}")
        out[:, j] = np.bincount(flat, weights=vals.ravel(), minlength=n_points)
    return out
