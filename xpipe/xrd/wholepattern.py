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
  (given as a reciprocal-lattice vector ``hkl``); ``r = 1`` is no texture.

The intensity columns and background enter linearly and are solved exactly for given
non-linear parameters (variable projection, Golub & Pereyra, SIAM J. Numer. Anal. 10 (1973)
413) with scales kept non-negative; the derivatives of the model with respect to the
non-linear parameters are analytic (positions, widths, eta, texture), and the Jacobian of
the projected residual is taken in Kaufman's form (BIT 15 (1975) 49).

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
from .cell import _cells_from_gstar, _gstar_matrix, design_columns, gstar6
from .phases import PhaseModel, lorentz_factor
from .reflections import Cell, _equivalent_hkl, _space_group

__all__ = [
    "BackgroundProjector",
    "LinearSolution",
    "PatternPhase",
    "PhaseEval",
    "PhaseState",
    "background_basis",
    "cell_of",
    "evaluate",
    "gstar_of",
    "march_dollase",
    "solve_linear",
]

_HKL_ROWS = lambda hkl: np.stack(  # noqa: E731 - the six products of 1/d^2 = row . G*
    [hkl[:, 0] ** 2, hkl[:, 1] ** 2, hkl[:, 2] ** 2, 2 * hkl[:, 0] * hkl[:, 1],
     2 * hkl[:, 0] * hkl[:, 2], 2 * hkl[:, 1] * hkl[:, 2]], axis=1).astype(float)


# ------------------------------------------------------------------------------ cells


def gstar_of(cell: Cell, system: str) -> np.ndarray:
    """Free reciprocal-metric parameters ``g`` of ``cell`` in ``system`` (least squares on the
    six components, exact for a cell of that system)."""
    return np.linalg.lstsq(design_columns(system), gstar6(cell), rcond=None)[0]


def cell_of(g: np.ndarray, system: str) -> Cell:
    """The cell of free reciprocal-metric parameters ``g``."""
    cols = design_columns(system)
    values, _ = _cells_from_gstar((cols @ np.asarray(g, dtype=float))[None, :], cols, jacobian=False)
    return Cell(*(float(v) for v in values[0, :6]))


# ---------------------------------------------------------------------------- texture


def march_dollase(cos2: np.ndarray, counts: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """March-Dollase factor per reflection and its derivative with respect to ``r``.

    ``cos2`` holds cos^2 of the angle to the texture direction for every equivalent of every
    reflection, flattened, with ``counts`` equivalents per reflection in order.
    """
    sin2 = 1.0 - cos2
    base = r * r * cos2 + sin2 / r
    term = base ** -1.5
    dterm = -1.5 * base ** -2.5 * (2.0 * r * cos2 - sin2 / (r * r))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    p = np.add.reduceat(term, starts) / counts
    dp = np.add.reduceat(dterm, starts) / counts
    return p, dp


def _texture_cos2(phase: PhaseModel, hkl: np.ndarray, direction_hkl) -> tuple[np.ndarray, np.ndarray]:
    ops = _space_group(phase.space_group).operations()
    gs = _gstar_matrix(gstar6(phase.cell)[None, :])[0]
    hdir = np.asarray(direction_hkl, dtype=float)
    nh = math.sqrt(hdir @ gs @ hdir)
    cos2, counts = [], []
    for h in hkl:
        eq = np.array(sorted(_equivalent_hkl(ops, tuple(int(v) for v in h))), dtype=float)
        dots = eq @ gs @ hdir
        norms = np.sqrt(np.einsum("ij,jk,ik->i", eq, gs, eq))
        cos2.append((dots / (norms * nh)) ** 2)
        counts.append(len(eq))
    return np.concatenate(cos2) if cos2 else np.zeros(0), np.asarray(counts, dtype=int)


# ------------------------------------------------------------------------------ phases


@dataclass
class PatternPhase:
    """What the model needs of one phase on one radial axis (fixed during a refinement).

    Attributes
    ----------
    name, system : phase name and lattice system.
    rietveld : True when the structure gives the intensities (one scale column).
    rows : (n_refl, p) ``1/d^2 = rows @ g``.
    base : (n_refl,) ``m |F|^2`` (Rietveld) or 1 (Pawley).
    column_of : (n_refl,) intensity column of each reflection (0 for Rietveld; the group
        for Pawley).
    n_columns : intensity columns of the phase.
    texture_cos2, texture_counts : equivalents' cos^2 to the texture direction (None: none).
    unit, wavelength_a, lorentz : axis, wavelength and Lorentz geometry.
    zmv : ``Z M`` of the cell (g/mol), NaN without a structure; times the volume in
        :meth:`zmv_of`.
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
        """Set up ``phase`` for a ``2th_deg`` or ``q_A^-1`` axis."""
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
        return self.rows.shape[1]

    def zmv_of(self, g: np.ndarray) -> float:
        """``Z M V`` (g/mol x A^3) at the cell of ``g``; NaN without a structure."""
        return self.cell_mass_amu * cell_of(g, self.system).volume_a3


@dataclass
class PhaseState:
    """Non-linear parameters of one phase: cell (free G* components), profile, texture."""

    g: np.ndarray
    u: float = 0.0
    v: float = 0.0
    w: float = 0.01
    eta: float = 0.5
    r: float = 1.0

    @classmethod
    def start(cls, phase: PhaseModel, *, w: float, u: float = 0.0, eta: float = 0.5, r: float = 1.0) -> PhaseState:
        return cls(gstar_of(phase.cell, phase.system), u=u, w=w, eta=eta, r=r)

    def copy(self) -> PhaseState:
        return replace(self, g=np.array(self.g, dtype=float))

    def scaled(self, factor: float) -> PhaseState:
        """The state with every cell length multiplied by ``factor``."""
        return replace(self, g=np.asarray(self.g, dtype=float) / factor**2)


# --------------------------------------------------------------------------- evaluation


@dataclass
class PhaseEval:
    """One phase evaluated on the axis: dense intensity columns and what derivatives need.

    The profile derivatives are computed on first use: most evaluations (searches, decoys,
    the optimiser's function calls) need the pattern only.
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
        return self._derivatives()[0]

    @property
    def dpv_df(self) -> np.ndarray:
        return self._derivatives()[1]

    @property
    def dpv_deta(self) -> np.ndarray:
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


def evaluate(pp: PatternPhase, st: PhaseState, x: np.ndarray, *, zero: float = 0.0,
             cut_fwhm: float = 25.0, min_fwhm: float | None = None) -> PhaseEval:
    """Evaluate phase ``pp`` at state ``st`` on the increasing axis ``x``.

    ``min_fwhm`` (default: the median point spacing) is a floor on the width, so that a
    phase never becomes needle-sharp between two points.
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
        p, dp = march_dollase(pp.texture_cos2[sel], pp.texture_counts[used], st.r)
        dweight_dr = weight * dp
        weight = weight * p
    xu, fu = x0[used], fwhm[used]
    k = int(math.ceil(2.0 * cut_fwhm * (fu.max() if fu.size else 0.0) / max(step, 1e-12))) + 3
    k = min(k, n)
    first = np.searchsorted(x, xu - cut_fwhm * fu)
    idx = first[:, None] + np.arange(k)[None, :]
    valid = idx < n
    idx = np.minimum(idx, n - 1)
    xi = x[idx]
    valid &= np.abs(xi - xu[:, None]) <= cut_fwhm * fu[:, None]
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
    """``d model / d parameter`` (n_points, len(names)) at the phase's intensities.

    ``names``: ``g0 .. g{p-1}`` (cell), ``u``, ``v``, ``w`` (Caglioti), ``eta``, ``r``
    (texture), ``zero`` (zero shift).
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


# --------------------------------------------------------------------------- background


def background_basis(x: np.ndarray, n_intervals: int, extra: np.ndarray | None = None) -> np.ndarray:
    """(n_points, n_intervals + 3 [+1]) cubic B-splines with equally spaced knots over ``x``.

    B-splines are local and well conditioned at any number of knots (high-order Chebyshev
    polynomials are not); with knots tens of peak widths apart they follow the humps of cell
    windows, electrolyte and air scatter but not a Bragg peak. ``extra`` (e.g. a SNIP
    baseline) is appended as one more column.
    """
    from scipy.interpolate import BSpline

    n = max(int(n_intervals), 1)
    lo, hi = float(x[0]), float(x[-1])
    step = (hi - lo) / n
    knots = lo + step * np.arange(-3, n + 4)
    basis = BSpline.design_matrix(np.clip(x, lo, hi), knots, 3).toarray()
    basis = basis[:, basis.any(axis=0)]
    if extra is not None:
        basis = np.column_stack([basis, extra])
    return basis


# ------------------------------------------------------------------------------- linear


@dataclass
class LinearSolution:
    """Weighted linear least squares with non-negative intensity columns."""

    coef: np.ndarray  # (n_columns,) all columns, 0 for dropped intensity columns
    active: np.ndarray  # (n_columns,) bool
    residual: np.ndarray  # weighted residual (n_points,)
    chi2: float
    q_parts: tuple  # orthonormal bases whose union spans the active weighted columns

    @property
    def q(self) -> np.ndarray:
        return np.hstack(self.q_parts) if len(self.q_parts) > 1 else self.q_parts[0]

    def project(self, v: np.ndarray) -> np.ndarray:
        """``v`` minus its projection on the active weighted columns."""
        for q in self.q_parts:
            v = v - q @ (q.T @ v)
        return v


@dataclass
class BackgroundProjector:
    """The weighted background columns of one pattern, factorised once.

    Every solve of the pattern projects them out of the intensity columns and the data instead
    of factorising the whole matrix again: the background basis (tens of columns) does not
    change while the phases' cells and profiles do.
    """

    q: np.ndarray
    r: np.ndarray
    norms: np.ndarray
    yp: np.ndarray

    @classmethod
    def build(cls, basis: np.ndarray, wt: np.ndarray, yw: np.ndarray) -> BackgroundProjector:
        bw = basis * wt[:, None]
        norms = np.sqrt((bw * bw).sum(axis=0))
        norms[norms == 0] = 1.0
        q, r = np.linalg.qr(bw / norms)
        return cls(q, r, norms, yw - q @ (q.T @ yw))


def solve_linear(a: np.ndarray, yw: np.ndarray, wt: np.ndarray, n_free: int,
                 active: np.ndarray | None = None, max_rounds: int = 20,
                 background: BackgroundProjector | None = None) -> LinearSolution:
    """Solve ``min || wt (y - a c) ||`` with ``c[n_free:] >= 0`` (intensities).

    The first ``n_free`` columns (background) are unconstrained. Intensity columns with a
    negative solution are dropped and the rest solved again (active set). With ``background``
    (those first columns factorised once, :class:`BackgroundProjector`) only the intensity
    columns are factorised.
    """
    if background is None:
        return _solve_full(a, yw, wt, n_free, active, max_rounds)
    m = a.shape[1]
    act = np.ones(m, dtype=bool) if active is None else active.copy()
    act[:n_free] = True
    pw = a[:, n_free:] * wt[:, None]
    norms = np.sqrt((pw * pw).sum(axis=0))
    act[n_free:] &= norms > 0
    bq = background.q
    coef = np.zeros(m)
    qp = np.zeros((a.shape[0], 0))
    resid = background.yp
    for _ in range(max_rounds):
        cols = np.flatnonzero(act[n_free:])
        coef[n_free:] = 0.0
        if cols.size == 0:
            qp = np.zeros((a.shape[0], 0))
            resid = background.yp
            break
        sub = pw[:, cols] / norms[cols]
        sub = sub - bq @ (bq.T @ sub)
        qp, rp = np.linalg.qr(sub)
        sol = np.linalg.lstsq(rp, qp.T @ background.yp, rcond=None)[0] / norms[cols]
        coef[n_free + cols] = sol
        neg = cols[sol < 0]
        if neg.size == 0:
            resid = background.yp - qp @ (qp.T @ background.yp)
            break
        act[n_free + neg] = False
    rest = yw - pw @ coef[n_free:]
    coef[:n_free] = np.linalg.lstsq(background.r, bq.T @ rest, rcond=None)[0] / background.norms
    return LinearSolution(coef, act, resid, float(resid @ resid), (bq, qp))


def _solve_full(a, yw, wt, n_free, active, max_rounds) -> LinearSolution:
    aw = a * wt[:, None]
    m = a.shape[1]
    act = np.ones(m, dtype=bool) if active is None else active.copy()
    norms = np.sqrt((aw * aw).sum(axis=0))
    act &= norms > 0
    coef = np.zeros(m)
    for _ in range(max_rounds):
        cols = np.flatnonzero(act)
        sub = aw[:, cols] / norms[cols]
        q, r = np.linalg.qr(sub)
        sol = np.linalg.lstsq(r, q.T @ yw, rcond=None)[0] / norms[cols]
        coef[:] = 0.0
        coef[cols] = sol
        neg = cols[(cols >= n_free) & (sol < 0)]
        if neg.size == 0:
            break
        act[neg] = False
    res = yw - aw @ coef
    return LinearSolution(coef, act, res, float(res @ res), (q,))


def project_out(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``v`` minus its projection on the columns of the orthonormal ``q``."""
    return v - q @ (q.T @ v)
