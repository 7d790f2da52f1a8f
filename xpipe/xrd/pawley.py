"""Pawley whole-window fits of one or more unit cells, frame after frame.

Where the peaks of a pattern overlap (two phases of a cathode during a two-phase reaction,
close reflections of a low-symmetry cell) single-peak fitting cannot give clean positions.
A Pawley fit (G. S. Pawley, J. Appl. Cryst. 14 (1981) 357) instead models every point of
the chosen windows of the radial axis ``x`` at once::

    y(x) = sum_phases sum_groups I_g PV(x; x_g, FWHM_p(x_g), eta_p) + background(x)

* Reflection positions ``x_g`` come from the cell of each phase, parameterised by the free
  components of the reciprocal metric tensor G* of its lattice system (the linear
  parameters of :mod:`xpipe.xrd.cell`, ``1/d^2 = row(hkl) . p``), so the symmetry
  constraints hold automatically, and the wavelength: ``2theta = 2 asin(lambda / 2d)`` in
  degrees (``axis="2th_deg"``, plus an optional zero shift, observed = true + shift) or
  ``Q = 2 pi / d`` in 1/A (``axis="q_A^-1"``).
* One free non-negative integrated intensity ``I_g`` per reflection group: the
  reflections of a phase whose d-spacings are equal for every cell of its lattice system
  (identical rows of the ``1/d^2`` design matrix, e.g. (h k l) and (k h l) in hexagonal
  axes, which are not always symmetry-equivalent) cannot be told apart and form one group.
  A group is fitted in a frame when its position at the frame's starting cell lies inside
  a window or within ``edge_margin_fwhm`` FWHM of it.
* One profile per phase: area-normalised pseudo-Voigt (as
  :func:`xpipe.xrd.peaks.pseudo_voigt`) with Lorentzian fraction ``0 <= eta <= 1`` and a
  Caglioti width, ``FWHM^2 = U tan^2(theta) + V tan(theta) + W`` (deg^2, theta = half the
  true Bragg angle) on the 2theta axis and ``FWHM^2 = U Q^2 + W`` (1/A^2; U dimensionless,
  strain-like, W size-like; V must be 0) on the Q axis. ``FWHM^2`` is kept above
  ``step^2`` (step = median point spacing) by a smooth floor,
  ``step^2 (1 + softplus((FWHM^2 - step^2) / step^2))``, which leaves widths of a few
  points and more unchanged.
* A polynomial background per window, ``sum_k b_k (x - x_c)^k`` (default linear), with
  ``x_c`` the window centre.

Method: intensities and background enter the model linearly, so the fit is separable
(variable projection, G. H. Golub & V. Pereyra, SIAM J. Numer. Anal. 10 (1973) 413): for
given non-linear parameters (cells, zero shift, profiles) the background is projected out
exactly and the intensities are solved by non-negative least squares (an active-set
Lawson-Hanson solver on the normal equations, warm-started from the previous active set);
:func:`scipy.optimize.least_squares` (trust-region reflective) optimises the few non-linear
parameters with the analytic Jacobian in Kaufman's form (L. Kaufman, BIT 15 (1975) 49).
The optimiser sees the free Caglioti parameters of a phase as FWHM^2 at reference points
over its reflections, bounded to ``[FWHM_0 / f, f FWHM_0]`` (``f = max_fwhm_factor``,
``FWHM_0`` from the starting profile, never below the point spacing), the cell
parameters bounded to three times ``max_relative_change`` around the frame's start and
eta to [0, 1]: a phase without intensity cannot run away to needle-sharp or
background-like peaks. At the solution the Jacobian of all parameters (intensities and
background included) gives the covariance, so the cell uncertainties contain their
correlation with the intensities; they are propagated to a, b, c, angles and volume with
the analytic Jacobian of :mod:`xpipe.xrd.cell`.

Checks per frame and phase: the likelihood-ratio significance of each phase (chi^2
without it minus chi^2 with it, against a chi-square with as many degrees of freedom as
the phase has positive intensities and free parameters, expressed as a Gaussian z) must
exceed ``min_significance``; otherwise the phase gets status ``no_intensity`` and, when
other phases remain, it is left out and the frame fitted again so that its free cell and
profile cannot spoil the others. The refined reciprocal metric must be positive definite
and a, b, c and the angles must stay within ``max_relative_change`` of the frame's
start. Frames are fitted in order, each started from the last successful solution (per
phase: cell and profile; the zero shift when any phase succeeded). Nothing is raised for
a bad frame: its phases get NaN values, a status and a reason.

Example
-------
>>> import numpy as np
>>> from xpipe.xrd.pawley import PawleyPhase, pawley_fit
>>> from xpipe.xrd.peaks import pseudo_voigt
>>> from xpipe.xrd.reflections import Cell
>>> hkl = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1], [2, 0, 0], [2, 1, 0]])
>>> d = 4.1569 / np.sqrt((hkl ** 2).sum(axis=1))
>>> x = np.arange(10.0, 25.0, 0.01)
>>> y = 10.0 + sum(100 * pseudo_voigt(x, 2 * np.degrees(np.arcsin(0.7749 / (2 * di))),
...                                   0.05, 1.0, 0.4) for di in d)
>>> phase = PawleyPhase("perovskite", "cubic", hkl, Cell.cubic(4.15),
...                     fwhm_u=0.0, fwhm_v=0.0, fwhm_w=0.0025)
>>> fit = pawley_fit(x, y, [(10.0, 25.0)], [phase], wavelength_a=0.7749)
>>> print(f"{fit.cells['perovskite'].a_a[0]:.4f} {fit.status[0, 0]}")
4.1569 ok
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit

from ..lineshapes import GAUSS_C, GAUSS_NORM, pseudo_voigt
from .blas import one_blas_thread
from .cell import (
    _CELL_NAMES,
    _FIXED_ANGLES,
    PARAMETER_NAMES,
    CellFit,
    _cells_from_gstar,
    design_columns,
    gstar6,
)
from .reflections import Cell

__all__ = [
    "AXES",
    "PawleyFits",
    "PawleyPhase",
    "STATUS_ABSENT",
    "STATUS_FAILED",
    "STATUS_IMPLAUSIBLE",
    "STATUS_NO_CONVERGENCE",
    "STATUS_NO_DATA",
    "STATUS_NO_INTENSITY",
    "STATUS_NO_REFLECTIONS",
    "STATUS_NOT_METRIC",
    "STATUS_OK",
    "pawley_fit",
]

#: Radial axes understood by :func:`pawley_fit`.
AXES = ("2th_deg", "q_A^-1")

STATUS_OK = "ok"
STATUS_ABSENT = "absent"
STATUS_NO_INTENSITY = "no_intensity"
STATUS_NO_REFLECTIONS = "no_reflections"
STATUS_NO_CONVERGENCE = "no_convergence"
STATUS_NOT_METRIC = "not_a_cell"
STATUS_IMPLAUSIBLE = "implausible_change"
STATUS_FAILED = "fit_failed"
STATUS_NO_DATA = "too_few_points"

_PROFILE_NAMES = ("u", "v", "w", "eta")
_DEG = 180.0 / math.pi


# ------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class PawleyPhase:
    """One phase of a Pawley fit and its starting values.

    Attributes
    ----------
    name : label used in the results and the failure reasons (unique within a fit).
    system : lattice system as in :mod:`xpipe.xrd.cell` (``hexagonal`` also for trigonal
        and R-centred groups in hexagonal axes); see
        :func:`xpipe.xrd.reflections.crystal_system`.
    hkl : (n, 3) Miller indices of the allowed reflections to include (e.g. ``.hkl`` of
        :func:`xpipe.xrd.reflections.reflections_from_cell`); only those falling inside
        the windows are used in a frame.
    cell : starting cell (compatible with ``system``).
    fwhm_u, fwhm_v, fwhm_w : starting Caglioti parameters: deg^2 on the 2theta axis
        (``FWHM^2 = U tan^2 theta + V tan theta + W``); on the Q axis U is dimensionless,
        W in 1/A^2 and V must be 0 (``FWHM^2 = U Q^2 + W``).
    eta : starting Lorentzian fraction of the pseudo-Voigt, 0 (Gauss) .. 1 (Lorentz).
    """

    name: str
    system: str
    hkl: np.ndarray
    cell: Cell
    fwhm_u: float
    fwhm_v: float
    fwhm_w: float
    eta: float = 0.5


@dataclass
class PawleyFits:
    """Results of :func:`pawley_fit`, one entry per frame.

    Per-phase quantities are dictionaries keyed by phase name; arrays ``[frame, phase]``
    follow the order of ``phases``. Positions and widths are in the unit of the radial axis
    (degrees 2theta or 1/A); intensities are integrated intensities (intensity x radial
    unit). Values of a phase that failed in a frame are NaN.

    Attributes
    ----------
    phases : phase names.
    cells : per phase a :class:`xpipe.xrd.cell.CellFit` (a_a, ..., volume_a3 and their
        sigmas, G* parameters and their covariance, with the zero shift last when it is
        refined, status and reason per frame).
    zero_shift_deg, sigma_zero_shift_deg : (n_frames,) refined 2theta zero shift (observed =
        true + shift) and its uncertainty; when not refined, the fixed value given
        (``zero_shift_deg`` argument, default 0) and NaN. NaN in frames where no phase
        succeeded.
    profile, profile_sigma : per phase (n_frames, 4) columns (U, V, W, eta); sigma 0 for
        parameters held fixed.
    group_hkl : per phase a list with one (k, 3) int array per reflection group (reflections
        that the lattice system cannot separate), in order of increasing position at the
        start cell.
    group_position, group_fwhm : per phase (n_frames, n_groups) observed position and FWHM of
        every group; NaN for groups outside the windows in that frame.
    intensity, intensity_sigma : per phase (n_frames, n_groups) integrated intensities
        (>= 0) and their standard uncertainties; NaN outside the windows. Kept for a phase
        with status ``no_intensity`` (an upper limit), NaN for other failures.
    phase_intensity, phase_intensity_sigma : (n_frames, n_phases) sum of the group
        intensities of each phase in the windows, and its uncertainty (correlations
        included). Groups at zero intensity count as free parameters in the covariance, so
        where reflections of two phases nearly coincide the sigmas are on the safe side.
    phase_intensity_covariance : (n_frames, n_phases, n_phases) covariance of the phase
        sums (overlapping phases are anti-correlated; use it for ratios and fractions).
    significance : (n_frames, n_phases) likelihood-ratio significance of each phase, as a
        one-sided Gaussian z: chi^2 without the phase minus chi^2 with it, against a
        chi-square distribution with as many degrees of freedom as the phase has positive
        intensities and free cell and profile parameters. A phase not above
        ``min_significance`` gets status ``no_intensity``.
    background, background_sigma : (n_frames, n_windows, order + 1) coefficients ``b_k`` of
        ``sum_k b_k (x - x_c)^k`` per window.
    redchi : (n_frames,) chi^2 / (points - parameters), all parameters counted.
    rwp : (n_frames,) weighted profile R factor ``sqrt(sum w (y - m)^2 / sum w y^2)``.
    n_points : (n_frames,) points used.
    nfev : (n_frames,) model evaluations of the non-linear optimiser.
    status, reason : (n_frames, n_phases) status code (``ok``, ``absent``, ``no_intensity``,
        ``no_reflections``, ``no_convergence``, ``not_a_cell``, ``implausible_change``,
        ``fit_failed``, ``too_few_points``) and a human-readable reason ("" when ok).
    windows, window_center : (n_windows, 2) limits and (n_windows,) centres.
    x : the radial axis given (for :meth:`calculated`).
    settings : every setting that decided the numbers (for provenance).
    """

    phases: list[str]
    cells: dict[str, CellFit]
    zero_shift_deg: np.ndarray
    sigma_zero_shift_deg: np.ndarray
    profile: dict[str, np.ndarray]
    profile_sigma: dict[str, np.ndarray]
    group_hkl: dict[str, list[np.ndarray]]
    group_position: dict[str, np.ndarray]
    group_fwhm: dict[str, np.ndarray]
    intensity: dict[str, np.ndarray]
    intensity_sigma: dict[str, np.ndarray]
    phase_intensity: np.ndarray
    phase_intensity_sigma: np.ndarray
    phase_intensity_covariance: np.ndarray
    significance: np.ndarray
    background: np.ndarray
    background_sigma: np.ndarray
    redchi: np.ndarray
    rwp: np.ndarray
    n_points: np.ndarray
    nfev: np.ndarray
    status: np.ndarray
    reason: np.ndarray
    windows: np.ndarray
    window_center: np.ndarray
    x: np.ndarray
    settings: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.redchi)

    @property
    def success(self) -> np.ndarray:
        """``[frame, phase]`` True where the phase was refined (status ``ok``)."""
        return self.status == STATUS_OK

    def frame_reason(self, frame: int) -> str:
        """All non-empty reasons of one frame, joined by '; '."""
        return "; ".join(r for r in self.reason[frame] if r)

    def calculated(self, frame: int, phase: str | None = None) -> np.ndarray:
        """Fitted model of one frame on ``x``: all phases plus background, or one phase alone.

        NaN outside the windows. Only phases refined in that frame (status ``ok``)
        contribute; groups with NaN position or intensity are left out.
        """
        x = self.x
        out = np.full(x.shape, np.nan)
        inside = np.zeros(x.shape, bool)
        names = self.phases if phase is None else [phase]
        if phase is not None and phase not in self.phases:
            raise ValueError(f"unknown phase {phase!r}; expected one of {self.phases}")
        for j, (lo, hi) in enumerate(self.windows):
            sel = (x >= lo) & (x <= hi)
            inside |= sel
            if phase is None:
                dx = x[sel] - self.window_center[j]
                coef = self.background[frame, j]
                out[sel] = sum(c * dx**k for k, c in enumerate(coef)) if np.all(
                    np.isfinite(coef)) else np.nan
            else:
                out[sel] = 0.0
        xi = x[inside]
        for name in names:
            pos = self.group_position[name][frame]
            fw = self.group_fwhm[name][frame]
            inten = self.intensity[name][frame]
            eta = self.profile[name][frame, 3]
            ok = np.isfinite(pos) & np.isfinite(fw) & np.isfinite(inten) & (fw > 0)
            if ok.any() and np.isfinite(eta):
                prof = pseudo_voigt(xi[:, None], pos[ok][None, :], fw[ok][None, :], eta)
                out[inside] += prof @ inten[ok]
        return out


# ------------------------------------------------------------------------- helpers


def _pv_parts(x, x0, fwhm):
    """Shape functions of the pseudo-Voigt on the grid (m, n).

    With ``u = (x - x0) / fwhm``: ``u``, ``u^2``, ``E = exp(-4 ln2 u^2)`` and
    ``R = 1 / (1 + 4 u^2)``; the profile is ``alpha R + beta E`` with the per-reflection
    factors ``alpha = 2 eta / (pi fwhm)`` and ``beta = (1 - eta) sqrt(4 ln2 / pi) / fwhm``.
    """
    inv_f = 1.0 / fwhm
    u = x[:, None] * inv_f[None, :]
    u -= (x0 * inv_f)[None, :]
    u2 = u * u
    e = np.multiply(u2, -GAUSS_C)
    np.exp(e, out=e)
    r = np.multiply(u2, 4.0)
    r += 1.0
    np.reciprocal(r, out=r)
    return u, u2, e, r


def _pv_factors(fwhm, eta):
    """Per-reflection factors (alpha, beta) of the Lorentz and Gauss shape functions."""
    return eta * (2.0 / math.pi) / fwhm, (1.0 - eta) * GAUSS_NORM / fwhm


def _pv_jacobian(parts, fwhm, eta, c, dpos, dfw, deta):
    """``sum_g c_g d PV_g / d theta`` (m, p) from the shape functions of :func:`_pv_parts`.

    ``dpos``, ``dfw``, ``deta`` (n, p): derivatives of position, FWHM and eta of every
    reflection with respect to the p parameters. Uses::

        d PV / d x0  = (8 alpha u R^2 + 2C beta u E) / f
        d PV / d f   = (alpha (R - 2 R^2) + beta (2C u^2 E - E)) / f
        d PV / d eta = (2 / (pi f)) R - (G_NORM / f) E
    """
    u, u2, e, r = parts
    alpha, beta = _pv_factors(fwhm, eta)
    cf = (c / fwhm)[:, None]
    ar, be = alpha[:, None] * cf, beta[:, None] * cf
    m_r = ar * dfw + (c * (2.0 / math.pi) / fwhm)[:, None] * deta
    m_e = -be * dfw - (c * GAUSS_NORM / fwhm)[:, None] * deta
    r2 = r * r
    jm = r @ m_r
    jm += e @ m_e
    jm += r2 @ (-2.0 * ar * dfw)
    r2 *= u
    jm += r2 @ (8.0 * ar * dpos)
    ue = u * e
    jm += ue @ (2.0 * GAUSS_C * be * dpos)
    ue *= u
    jm += ue @ (2.0 * GAUSS_C * be * dfw)
    return jm


def _cell_values(p: np.ndarray, columns: np.ndarray, system: str):
    """(7,) cell values, (7, k) Jacobian and whether the metric is positive definite."""
    g6 = columns @ p
    a, b, c, d, e, f = g6
    gs = np.array([[a, d, e], [d, b, f], [e, f, c]])
    if not np.all(np.isfinite(gs)) or np.linalg.eigvalsh(gs)[0] <= 0:
        return None, None, False
    values, jac = _cells_from_gstar(g6[None, :], columns)
    values, jac = values[0], jac[0]
    for j, fixed in enumerate(_FIXED_ANGLES[system]):
        if fixed is not None:
            values[3 + j] = fixed
            jac[3 + j] = 0.0
    return values, jac, True


def _nnls_gram(h, g, passive=None, max_iter=None):
    """Non-negative least squares from the normal equations ``h c = g`` (active set).

    Lawson-Hanson in the form of Bro & de Jong (J. Chemom. 11 (1997) 393), on the
    diagonally scaled normal matrix, warm-started from ``passive`` (the previous set of
    positive variables). Returns the solution and its passive set.
    """
    n = g.size
    d = np.sqrt(np.diagonal(h).copy())
    d[~(d > 0)] = 1.0
    hs = h / d[:, None] / d[None, :] + 1e-12 * np.eye(n)
    gs = g / d
    tol = 1e-12 * max(1.0, float(np.max(np.abs(gs)))) if n else 0.0
    p = np.zeros(n, bool) if passive is None else passive.copy()
    x = np.zeros(n)

    def solve(mask):
        z = np.zeros(n)
        idx = np.flatnonzero(mask)
        if idx.size:
            sub = hs[np.ix_(idx, idx)]
            try:
                z[idx] = np.linalg.solve(sub, gs[idx])
            except np.linalg.LinAlgError:
                z[idx] = np.linalg.lstsq(sub, gs[idx], rcond=None)[0]
        return z

    # warm start: keep the previous passive set, minus variables that turn negative
    for _ in range(n + 1):
        if not p.any():
            break
        z = solve(p)
        neg = p & (z <= 0)
        if not neg.any():
            x = z
            break
        p &= ~neg
    max_iter = 3 * n + 10 if max_iter is None else max_iter
    blocked = np.zeros(n, bool)
    for _ in range(max_iter):
        w = gs - hs @ x
        cand = ~p & ~blocked & (w > tol)
        if not cand.any():
            break
        j = int(np.argmax(np.where(cand, w, -np.inf)))
        p[j] = True
        for _ in range(n + 1):
            z = solve(p)
            neg = p & (z <= 0)
            if not neg.any():
                x = z
                break
            if neg[j] and x[j] == 0.0 and np.count_nonzero(neg) == 1:
                # the entering variable cannot become positive (round-off): give it up
                p[j] = False
                blocked[j] = True
                break
            ratio = x[neg] / (x[neg] - z[neg])
            alpha = float(np.min(ratio))
            x = x + alpha * (z - x)
            x[~p] = 0.0
            p &= x > tol * 1e-3
            x[~p] = 0.0
        else:  # pragma: no cover - cycling guard
            break
    return np.maximum(x, 0.0) / d, x > 0


def _covariance(jtj: np.ndarray) -> np.ndarray:
    """Pseudo-inverse of a normal matrix after diagonal scaling; NaN rows for empty columns."""
    d = np.diagonal(jtj).copy()
    ok = np.isfinite(d) & (d > 0)
    s = np.where(ok, np.sqrt(np.where(ok, d, 1.0)), 1.0)
    corr = jtj / s[:, None] / s[None, :]
    corr = np.where(ok[:, None] & ok[None, :], corr, 0.0)
    corr = np.where(np.isfinite(corr), corr, 0.0)
    cov = np.linalg.pinv(corr, rcond=1e-12, hermitian=True) / s[:, None] / s[None, :]
    cov[~ok, :] = np.nan
    cov[:, ~ok] = np.nan
    return cov


# ---------------------------------------------------------------------------- model


class _PhaseSetup:
    """Static description of one phase: groups, design rows, parameter slots."""

    def __init__(self, phase: PawleyPhase, index: int, offset: int):
        self.name = phase.name
        self.system = phase.system
        self.index = index
        self.columns = design_columns(phase.system)
        self.k = self.columns.shape[1]
        self.offset = offset  # first slot of this phase in the parameter vector
        self.n_par = self.k + 4

        hkl = np.asarray(phase.hkl)
        if hkl.ndim != 2 or hkl.shape[1] != 3 or hkl.shape[0] == 0:
            raise ValueError(
                f"phase {phase.name!r}: hkl must be a non-empty (n, 3) array, got shape "
                f"{hkl.shape}"
            )
        if not np.all(np.isfinite(hkl.astype(float))) or np.any(hkl != np.round(hkl)):
            raise ValueError(f"phase {phase.name!r}: hkl must hold integers")
        hkl = np.round(hkl).astype(int)
        if np.any(np.all(hkl == 0, axis=1)):
            raise ValueError(f"phase {phase.name!r}: hkl contains (0 0 0)")
        h, k, l = (hkl[:, i].astype(float) for i in range(3))
        rows6 = np.stack([h * h, k * k, l * l, 2 * h * k, 2 * h * l, 2 * k * l], axis=1)
        rows = rows6 @ self.columns
        uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)

        g6 = gstar6(phase.cell)
        p0, *_ = np.linalg.lstsq(self.columns, g6, rcond=None)
        if np.linalg.norm(self.columns @ p0 - g6) > 1e-6 * np.linalg.norm(g6):
            raise ValueError(
                f"phase {phase.name!r}: starting cell {phase.cell} is not a {phase.system} cell"
            )
        self.p0 = p0
        s0 = uniq @ p0
        order = np.lexsort((tuple(uniq.T[::-1])) + (s0,))
        self.rows = uniq[order]
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        gid = rank[inverse]
        by_group = np.lexsort((hkl[:, 2], hkl[:, 1], hkl[:, 0], gid))
        self.group_hkl = np.split(hkl[by_group], np.cumsum(np.bincount(gid))[:-1])
        self.n_groups = order.size
        if not (0.0 <= phase.eta <= 1.0):
            raise ValueError(f"phase {phase.name!r}: eta must be in [0, 1], got {phase.eta}")
        self.profile0 = np.array([phase.fwhm_u, phase.fwhm_v, phase.fwhm_w, phase.eta], float)
        if not np.all(np.isfinite(self.profile0)):
            raise ValueError(f"phase {phase.name!r}: non-finite starting profile {self.profile0}")

    def cell_slice(self) -> slice:
        return slice(self.offset, self.offset + self.k)

    def profile_slice(self) -> slice:
        return slice(self.offset + self.k, self.offset + self.k + 4)


class _Geometry:
    """Reflection positions and widths from the parameter vector (with derivatives)."""

    def __init__(self, axis: str, wavelength_a: float | None, f2_floor: float):
        self.axis = axis
        self.lam = wavelength_a
        self.f2_floor = f2_floor

    def positions(self, rows, p, zero):
        """Observed positions, true scattering variable t (tan theta or Q) and derivatives."""
        s = rows @ p
        if np.any(~(s > 0)):
            raise _ModelError("a reflection has 1/d^2 <= 0 (the cell collapsed)")
        rs = np.sqrt(s)
        if self.axis == "2th_deg":
            arg = 0.5 * self.lam * rs
            if np.any(arg >= 1.0):
                raise _ModelError("a reflection moved beyond 2theta = 180 deg")
            th = np.arcsin(arg)
            cos = np.cos(th)
            dth_ds = self.lam / (4.0 * rs * cos)
            pos = 2.0 * _DEG * th + zero
            dpos_ds = 2.0 * _DEG * dth_ds
            t = np.tan(th)
            dt_ds = dth_ds / (cos * cos)
        else:
            pos = 2.0 * math.pi * rs
            dpos_ds = math.pi / rs
            t = pos
            dt_ds = dpos_ds
        return pos, dpos_ds, t, dt_ds

    def fwhm(self, t, prof):
        """FWHM and its derivatives with respect to t and (U, V, W)."""
        u, v, w = prof[0], prof[1], prof[2]
        if self.axis == "2th_deg":
            f2 = u * t * t + v * t + w
            df2_dt = 2.0 * u * t + v
            df2_duvw = np.stack([t * t, t, np.ones_like(t)], axis=1)
        else:
            f2 = u * t * t + w
            df2_dt = 2.0 * u * t
            df2_duvw = np.stack([t * t, np.zeros_like(t), np.ones_like(t)], axis=1)
        eps = self.f2_floor
        z = (f2 - eps) / eps
        f2e = eps * (1.0 + np.logaddexp(0.0, z))  # smooth floor at eps, = f2 for f2 >> eps
        slope = expit(z)
        f = np.sqrt(f2e)
        k = slope / (2.0 * f)
        return f, k * df2_dt, k[:, None] * df2_duvw


class _ModelError(Exception):
    """The parameters do not define a model (raised inside the optimiser)."""


class _FrameProblem:
    """Separable least-squares problem of one frame."""

    def __init__(self, phases, actives, geometry, x, y, sw, win_id, n_windows, centers,
                 half_widths, order, theta0, free):
        self.phases = phases  # phases in the model
        self.actives = actives  # active group indices per phase in the model
        self.geo = geometry
        self.x, self.sw = x, sw
        self.theta0 = theta0
        self.free = free  # indices of the free slots of the full parameter vector
        # the optimiser works on z with theta[free] = map_b @ z + map_c (see _optimizer_space)
        self.map_b = np.eye(free.size)
        self.map_c = np.zeros(free.size)
        self.n_full = theta0.size
        self.rows = [ph.rows[act] for ph, act in zip(phases, actives)]
        self.n_g = [len(act) for act in actives]
        self.start = np.concatenate([[0], np.cumsum(self.n_g)]).astype(int)
        self.n_tot = int(self.start[-1])

        # background basis per window, weighted, orthonormalised block by block
        nb = order + 1
        self.nb = nb
        m = x.size
        bw = np.zeros((m, n_windows * nb))
        self.q = np.zeros((m, n_windows * nb))
        self.r = np.zeros((n_windows * nb, n_windows * nb))
        self.bg_scale = np.zeros(n_windows * nb)
        for j in range(n_windows):
            sel = win_id == j
            xs = (x[sel] - centers[j]) / half_widths[j]
            block = np.stack([xs**k for k in range(nb)], axis=1) * sw[sel, None]
            cols = slice(j * nb, (j + 1) * nb)
            bw[sel, cols] = block
            qj, rj = np.linalg.qr(block)
            self.q[sel, cols] = qj
            self.r[cols, cols] = rj
            self.bg_scale[cols] = half_widths[j] ** -np.arange(nb, dtype=float)
        self.bw = bw
        self.yw = sw * y
        self.yp = self.yw - self.q @ (self.q.T @ self.yw)
        self.passive = None
        self._cache_key = None
        self._cache = None

    # -- parameters
    def full(self, tf):
        theta = self.theta0.copy()
        theta[self.free] = self.map_b @ tf + self.map_c
        return theta

    def geometry(self, theta):
        """Positions, widths, eta of all model groups and their derivatives (n_tot, n_full)."""
        n = self.n_tot
        pos = np.empty(n)
        fw = np.empty(n)
        eta = np.empty(n)
        dpos = np.zeros((n, self.n_full))
        dfw = np.zeros((n, self.n_full))
        deta = np.zeros((n, self.n_full))
        zero = theta[-1]
        for i, ph in enumerate(self.phases):
            sl = slice(self.start[i], self.start[i + 1])
            rows = self.rows[i]
            p = theta[ph.cell_slice()]
            prof = theta[ph.profile_slice()]
            ps, dps, t, dt = self.geo.positions(rows, p, zero)
            f, df_dt, df_duvw = self.geo.fwhm(t, prof)
            pos[sl], fw[sl], eta[sl] = ps, f, prof[3]
            cs = ph.cell_slice()
            dpos[sl, cs] = dps[:, None] * rows
            dfw[sl, cs] = (df_dt * dt)[:, None] * rows
            o = ph.offset + ph.k
            dfw[sl, o:o + 3] = df_duvw
            deta[sl, o + 3] = 1.0
            if self.geo.axis == "2th_deg":
                dpos[sl, -1] = 1.0
        return pos, fw, eta, dpos, dfw, deta

    def evaluate(self, tf):
        key = np.asarray(tf, float).tobytes()
        if key == self._cache_key:
            return self._cache
        theta = self.full(tf)
        pos, fw, eta, dpos, dfw, deta = self.geometry(theta)
        parts = _pv_parts(self.x, pos, fw)
        alpha, beta = _pv_factors(fw, eta)
        a = parts[3] * alpha[None, :]
        a += parts[2] * beta[None, :]
        a *= self.sw[:, None]
        ap = a - self.q @ (self.q.T @ a)
        h = ap.T @ ap
        g = ap.T @ self.yp
        c, passive = _nnls_gram(h, g, self.passive)
        if not np.all(np.isfinite(c)):
            raise _ModelError("non-finite intensities")
        self.passive = passive
        resid = self.yp - ap @ c
        state = dict(theta=theta, pos=pos, fw=fw, eta=eta, dpos=dpos, dfw=dfw, deta=deta,
                     a=a, ap=ap, h=h, c=c, resid=resid, parts=parts)
        self._cache_key, self._cache = key, state
        return state

    def model_jacobian(self, st, columns):
        """sw * d(model)/d(theta[columns]) at fixed intensities (m, len(columns))."""
        c = st["c"]
        if not np.any(c > 0):
            return np.zeros((self.x.size, len(columns)))
        jm = _pv_jacobian(st["parts"], st["fw"], st["eta"], c, st["dpos"][:, columns],
                          st["dfw"][:, columns], st["deta"][:, columns])
        jm *= self.sw[:, None]
        return jm

    # -- least_squares callbacks
    def residual(self, tf):
        return self.evaluate(tf)["resid"]

    def jacobian(self, tf):
        """Kaufman's approximation of the variable-projection Jacobian."""
        st = self.evaluate(tf)
        jm = self.model_jacobian(st, self.free)
        j1 = jm - self.q @ (self.q.T @ jm)
        act = np.flatnonzero(st["c"] > 0)
        if act.size:
            ap = st["ap"]
            ha = st["h"][np.ix_(act, act)]
            ha = ha + np.diag(1e-12 * np.diagonal(ha) + 1e-300)
            rhs = (ap.T @ j1)[act]
            z = np.zeros((ap.shape[1], j1.shape[1]))
            try:
                z[act] = np.linalg.solve(ha, rhs)
            except np.linalg.LinAlgError:
                z[act] = np.linalg.lstsq(ha, rhs, rcond=None)[0]
            j1 -= ap @ z
        return -(j1 @ self.map_b)

    def covariance(self, st):
        """Covariance of (free non-linear, intensities, background) from the full Jacobian."""
        jm = self.model_jacobian(st, self.free)
        j = np.concatenate([jm, st["a"], self.bw], axis=1)
        return _covariance(j.T @ j)

    def background(self, st):
        """Background coefficients in the scaled basis (least squares given the peaks)."""
        rest = self.yw - st["a"] @ st["c"]
        coef = np.linalg.lstsq(self.r, self.q.T @ rest, rcond=None)[0]
        return coef


# ----------------------------------------------------------------------------- fit


def _parse_refine(refine_profile, axis) -> tuple[str, ...]:
    if refine_profile is True:
        names = _PROFILE_NAMES
    elif refine_profile is False or refine_profile is None:
        names = ()
    elif isinstance(refine_profile, str):
        names = (refine_profile,)
    elif isinstance(refine_profile, Iterable):
        names = tuple(refine_profile)
    else:
        raise ValueError(f"refine_profile must be a bool or names among {_PROFILE_NAMES}")
    bad = [n for n in names if n not in _PROFILE_NAMES]
    if bad:
        raise ValueError(
            f"refine_profile names {bad} unknown; expected a subset of {list(_PROFILE_NAMES)}"
        )
    if axis == "q_A^-1":
        names = tuple(n for n in names if n != "v")
    return tuple(n for n in _PROFILE_NAMES if n in names)


@one_blas_thread
def pawley_fit(
    x,
    stack,
    windows: Sequence[tuple[float, float]],
    phases: Sequence[PawleyPhase],
    *,
    wavelength_a: float | None = None,
    axis: str = "2th_deg",
    sigma=None,
    absolute_sigma: bool | None = None,
    zero_shift: bool = False,
    zero_shift_deg: float = 0.0,
    background_order: int = 1,
    present=None,
    refine_profile: bool | Sequence[str] = True,
    max_relative_change: float = 0.05,
    min_significance: float = 5.0,
    max_fwhm_factor: float = 10.0,
    edge_margin_fwhm: float = 0.5,
    max_nfev: int = 200,
    ftol: float = 1e-6,
    xtol: float = 1e-8,
    gtol: float = 1e-8,
) -> PawleyFits:
    """Pawley fit of one or more cells in the given windows of every frame of a stack.

    Parameters
    ----------
    x : (n_points,) radial axis: 2theta in degrees (``axis="2th_deg"``) or Q in 1/A
        (``axis="q_A^-1"``).
    stack : (n_frames, n_points) or (n_points,) intensities; NaN points are ignored.
    windows : ``[(lo, hi), ...]`` ranges of ``x`` to fit (unit of ``x``), each with its own
        polynomial background. Reflections whose position at a frame's starting cell lies
        inside a window (or within ``edge_margin_fwhm`` FWHM of it) are fitted in that frame.
    phases : the :class:`PawleyPhase` to fit (unique names).
    wavelength_a : wavelength in angstrom (needed on the 2theta axis).
    axis : ``"2th_deg"`` or ``"q_A^-1"``.
    sigma : standard uncertainty of ``stack``: scalar, (n_points,) or (n_frames, n_points);
        points with sigma <= 0 or NaN are ignored. None: unit weights and the covariance is
        scaled by the reduced chi-square.
    absolute_sigma : with ``sigma`` given, True (default) uses the covariance as it is, False
        scales it by the reduced chi-square; without ``sigma`` it is always scaled.
    zero_shift : refine a 2theta zero shift (observed = true + shift); 2theta axis only.
    zero_shift_deg : starting (or, when not refined, fixed) zero shift in degrees.
    background_order : degree of the polynomial background of each window (0 constant,
        1 linear, ...).
    present : optional (n_frames, n_phases) (or (n_phases,)) boolean mask; a phase marked
        absent is left out of that frame's model and gets NaN values and status ``absent``.
    refine_profile : True to refine U, V, W and eta of every phase, False to keep them at
        their starting values, or a subset of ``("u", "v", "w", "eta")``. V is never refined
        on the Q axis.
    max_relative_change : a refined a, b, c or angle that differs from its starting value
        of the frame by more than this fraction gets status ``implausible_change``; the
        optimiser keeps the cell within three times this range.
    min_significance : smallest likelihood-ratio significance (Gaussian z, see
        :attr:`PawleyFits.significance`) of a phase; below it the phase gets status
        ``no_intensity`` (cell NaN, intensities kept as upper limits) and the frame is
        fitted again without it. A phase that is absent, with its cell and profile free to
        chase the noise, reaches z of about 3.5 at most in tests on synthetic data, hence the
        default of 5.
    max_fwhm_factor : the FWHM of a phase stays within ``[FWHM_0 / f, f FWHM_0]`` of its
        starting profile ``FWHM_0`` (and not below the point spacing).
    edge_margin_fwhm : reflections within this many FWHM outside a window are fitted too.
    max_nfev : model evaluations at most per fit of a frame (non-linear optimiser).
    ftol, xtol, gtol : tolerances of :func:`scipy.optimize.least_squares`; the default
        ``ftol`` stops when chi^2 changes by less than 2e-6 of itself, i.e. by much less
        than 1 for a good fit of a few thousand points.

    Returns
    -------
    PawleyFits
        Cells with uncertainties, profiles, group intensities, background, fit statistics,
        status and reason per frame and phase. Never raises for one bad frame.

    Notes
    -----
    BLAS is limited to one thread during the fit (threadpoolctl): the matrices are small
    and multi-threaded BLAS only slows them down.

    Raises
    ------
    ValueError
        Bad inputs: shape mismatches, unknown axis or lattice system, a window with too
        few points, a phase with no reflection inside the windows at its starting cell,
        a starting cell or profile that does not fit.
    """
    return _pawley_fit(
        x, stack, windows, phases, wavelength_a=wavelength_a, axis=axis, sigma=sigma,
        absolute_sigma=absolute_sigma, zero_shift=zero_shift, zero_shift_deg=zero_shift_deg,
        background_order=background_order, present=present, refine_profile=refine_profile,
        max_relative_change=max_relative_change, min_significance=min_significance,
        max_fwhm_factor=max_fwhm_factor, edge_margin_fwhm=edge_margin_fwhm,
        max_nfev=max_nfev, ftol=ftol, xtol=xtol, gtol=gtol,
    )


def _check_windows(x, windows, order):
    """Windows as a (n, 2) array and the window index of every point of x (-1 outside)."""
    try:
        win = np.asarray(windows, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"windows must be a list of (lo, hi) pairs, got {windows!r}") from None
    if win.ndim != 2 or win.shape[1] != 2 or win.shape[0] == 0:
        raise ValueError(f"windows must be a non-empty list of (lo, hi) pairs, got {windows!r}")
    if not np.all(np.isfinite(win)) or np.any(win[:, 1] <= win[:, 0]):
        raise ValueError(f"every window needs finite lo < hi, got {win.tolist()}")
    win_id = np.full(x.size, -1)
    for j, (lo, hi) in enumerate(win):
        sel = (x >= lo) & (x <= hi)
        if np.any(sel & (win_id >= 0)):
            raise ValueError(f"window {j} {win[j].tolist()} overlaps another window")
        if sel.sum() < order + 2:
            raise ValueError(
                f"window {j} {win[j].tolist()} holds {int(sel.sum())} points of x "
                f"(range {x.min():.6g} .. {x.max():.6g}); at least {order + 2} expected"
            )
        win_id[sel] = j
    return win, win_id


def _weights(stack, sigma, absolute_sigma):
    """Intensities with NaN set to 0, weights 1/sigma^2 (0 = ignored), covariance scaling."""
    n_frames, n_pts = stack.shape
    if sigma is None:
        weights = np.ones_like(stack)
        scale_cov = True
    else:
        try:
            sig = np.broadcast_to(np.asarray(sigma, dtype=float), stack.shape)
        except ValueError:
            raise ValueError(
                f"sigma must be a scalar, ({n_pts},) or ({n_frames}, {n_pts}) to match stack, "
                f"got shape {np.shape(sigma)}"
            ) from None
        with np.errstate(divide="ignore", invalid="ignore"):
            weights = np.where(np.isfinite(sig) & (sig > 0), 1.0 / (sig * sig), 0.0)
        scale_cov = absolute_sigma is False
    finite = np.isfinite(stack)
    return np.where(finite, stack, 0.0), np.where(finite, weights, 0.0), scale_cov


def _present_mask(present, n_frames, n_ph):
    if present is None:
        return np.ones((n_frames, n_ph), bool)
    arr = np.asarray(present, dtype=bool)
    if arr.shape == (n_ph,):
        arr = np.broadcast_to(arr, (n_frames, n_ph))
    if arr.shape != (n_frames, n_ph):
        raise ValueError(
            f"present must be ({n_frames}, {n_ph}) (frames, phases) or ({n_ph},), got shape "
            f"{np.shape(present)}"
        )
    return arr


def _active_groups(st: _PhaseSetup, theta, geo: _Geometry, win, margin_fwhm):
    """Groups whose position lies inside a window (with margin) at ``theta``, or None."""
    try:
        pos, _, t, _ = geo.positions(st.rows, theta[st.cell_slice()], theta[-1])
        f, _, _ = geo.fwhm(t, theta[st.profile_slice()])
    except _ModelError:
        return None
    lo = win[:, 0][None, :] - margin_fwhm * f[:, None]
    hi = win[:, 1][None, :] + margin_fwhm * f[:, None]
    return np.flatnonzero(((pos[:, None] >= lo) & (pos[:, None] <= hi)).any(axis=1))


class _Outputs:
    """Result arrays of all frames, filled frame by frame."""

    def __init__(self, setups, n_frames, n_win, order, zero_shift):
        nan = np.nan
        n_ph = len(setups)
        self.cell = np.full((n_frames, n_ph, 7), nan)
        self.cell_sigma = np.full((n_frames, n_ph, 7), nan)
        self.params = [np.full((n_frames, st.k), nan) for st in setups]
        self.n_cov = [st.k + (1 if zero_shift else 0) for st in setups]
        self.cov = [np.full((n_frames, n, n), nan) for n in self.n_cov]
        self.profile = np.full((n_frames, n_ph, 4), nan)
        self.profile_sigma = np.full((n_frames, n_ph, 4), nan)
        self.position = [np.full((n_frames, st.n_groups), nan) for st in setups]
        self.fwhm = [np.full((n_frames, st.n_groups), nan) for st in setups]
        self.intensity = [np.full((n_frames, st.n_groups), nan) for st in setups]
        self.intensity_sigma = [np.full((n_frames, st.n_groups), nan) for st in setups]
        self.n_used = np.zeros((n_frames, n_ph), int)
        self.phase_intensity = np.full((n_frames, n_ph), nan)
        self.phase_intensity_sigma = np.full((n_frames, n_ph), nan)
        self.phase_intensity_cov = np.full((n_frames, n_ph, n_ph), nan)
        self.significance = np.full((n_frames, n_ph), nan)
        self.background = np.full((n_frames, n_win, order + 1), nan)
        self.background_sigma = np.full((n_frames, n_win, order + 1), nan)
        self.zero = np.full(n_frames, nan)
        self.zero_sigma = np.full(n_frames, nan)
        self.redchi = np.full(n_frames, nan)
        self.rwp = np.full(n_frames, nan)
        self.n_points = np.zeros(n_frames, int)
        self.nfev = np.zeros(n_frames, int)
        self.status = np.full((n_frames, n_ph), STATUS_OK, dtype=object)
        self.reason = np.full((n_frames, n_ph), "", dtype=object)

    def fail(self, frame, st, code, text):
        self.status[frame, st.index] = code
        self.reason[frame, st.index] = f"phase {st.name}: {text}"


def _sd(var):
    """Standard deviations from variances; NaN where negative or NaN."""
    with np.errstate(invalid="ignore"):
        return np.where(var >= 0, np.sqrt(np.abs(var)), np.nan)


def _frame_statistics(prob: _FrameProblem, state, cov, n_params, scale_cov):
    """Fit statistics of one frame, the covariance (scaled if asked) and background."""
    resid = state["resid"]
    chi2 = float(resid @ resid)
    redchi = chi2 / (prob.x.size - n_params)
    denom = float(prob.yw @ prob.yw)
    if scale_cov:
        cov = cov * redchi
    sd = _sd(np.diagonal(cov))
    off_bg = prob.free.size + prob.n_tot
    return {
        "redchi": redchi,
        "rwp": math.sqrt(chi2 / denom) if denom > 0 else np.nan,
        "cov": cov,
        "sd": sd,
        "slot_of": {int(s): q for q, s in enumerate(prob.free)},
        "c": state["c"],
        "cov_scale": redchi if scale_cov else 1.0,
        "background": prob.background(state) * prob.bg_scale,
        "background_sigma": sd[off_bg:] * prob.bg_scale,
    }


def _phase_sum(fit, prob: _FrameProblem, mi):
    """Summed intensity of the mi-th phase of the model and its standard uncertainty."""
    lo, hi = prob.free.size + prob.start[mi], prob.free.size + prob.start[mi + 1]
    block = fit["cov"][lo:hi, lo:hi]
    total = float(fit["c"][prob.start[mi]:prob.start[mi + 1]].sum())
    var = float(block.sum()) if np.all(np.isfinite(block)) else np.nan
    return total, math.sqrt(var) if var >= 0 else np.nan


def _phase_significance(fit, prob: _FrameProblem, state, mi):
    """Likelihood-ratio significance of the mi-th phase of the model.

    ``dchi2`` = chi^2 without the phase (its intensities set to zero, the other intensities
    and the background solved again) minus chi^2 of the fit, in units of the (scaled)
    weights; under the hypothesis that the phase is absent it follows roughly a chi-square
    distribution with ``nu`` = its positive intensities plus its free cell and profile
    parameters, and its upper tail is expressed as a one-sided Gaussian z (Wilson-Hilferty
    transform). Unlike the summed intensity over its marginal sigma, this is not fooled by
    a few reflections that coincide with those of another phase.
    Returns (z, dchi2, nu).
    """
    lo, hi = prob.start[mi], prob.start[mi + 1]
    c = state["c"]
    keep = np.ones(c.size, bool)
    keep[lo:hi] = False
    ap = state["ap"][:, keep]
    h = state["h"][np.ix_(keep, keep)]
    c_without, _ = _nnls_gram(h, ap.T @ prob.yp, c[keep] > 0)
    resid = prob.yp - ap @ c_without
    dchi2 = max(float(resid @ resid) - float(state["resid"] @ state["resid"]), 0.0)
    dchi2 /= fit["cov_scale"]
    st = prob.phases[mi]
    n_nonlin = int(np.count_nonzero((prob.free >= st.offset) & (prob.free < st.offset + st.n_par)))
    nu = int(np.count_nonzero(c[lo:hi] > 0)) + n_nonlin
    return _chi2_z(dchi2, max(nu, 1)), dchi2, nu


def _chi2_z(x, k):
    """Gaussian z of the upper tail of a chi-square with k degrees of freedom at x.

    Wilson-Hilferty: (x/k)^(1/3) is nearly normal with mean 1 - 2/(9k) and variance 2/(9k);
    accurate to a few 0.01 in z for k >= 3 and never under- or overflows.
    """
    v = 2.0 / (9.0 * k)
    return float(((x / k) ** (1.0 / 3.0) - (1.0 - v)) / math.sqrt(v))


def _record_intensities(out: _Outputs, frame, fit, prob: _FrameProblem, mi, act, z):
    i = prob.phases[mi].index
    out.significance[frame, i] = z
    lo, hi = prob.start[mi], prob.start[mi + 1]
    out.intensity[i][frame, act] = fit["c"][lo:hi]
    out.intensity_sigma[i][frame, act] = fit["sd"][prob.free.size + lo:prob.free.size + hi]
    out.phase_intensity[frame, i], out.phase_intensity_sigma[frame, i] = _phase_sum(fit, prob, mi)
    out.phase_intensity_cov[frame, i, i] = out.phase_intensity_sigma[frame, i] ** 2
    out.n_used[frame, i] = int(np.count_nonzero(fit["c"][lo:hi] > 0))


def _no_intensity_text(z, dchi2, nu, k):
    return (f"no intensity (significance {z:.3g} sigma, not above {k:g}: the phase lowers "
            f"chi^2 by {dchi2:.4g} with {nu} parameters)")


def _pawley_fit(
    x, stack, windows, phases, *, wavelength_a, axis, sigma, absolute_sigma, zero_shift,
    zero_shift_deg, background_order, present, refine_profile, max_relative_change,
    min_significance, max_fwhm_factor, edge_margin_fwhm, max_nfev, ftol, xtol, gtol,
) -> PawleyFits:
    # ---------------------------------------------------------------- validate inputs
    if axis not in AXES:
        raise ValueError(f"unknown axis {axis!r}; expected one of {', '.join(AXES)}")
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"x must be a 1D array of at least 2 points, got shape {x.shape}")
    stack = np.asarray(stack, dtype=float)
    if stack.ndim == 1:
        stack = stack[None, :]
    if stack.ndim != 2 or stack.shape[1] != x.size:
        raise ValueError(
            f"stack must be (n_frames, {x.size}) or ({x.size},) to match x, got shape "
            f"{np.shape(stack)}"
        )
    n_frames = stack.shape[0]
    if axis == "2th_deg":
        if wavelength_a is None or not (wavelength_a > 0):
            raise ValueError(
                f"axis '2th_deg' needs wavelength_a > 0 (angstrom), got {wavelength_a}"
            )
        wavelength_a = float(wavelength_a)
    if zero_shift and axis != "2th_deg":
        raise ValueError("a zero shift can only be refined on the '2th_deg' axis")
    if axis != "2th_deg" and zero_shift_deg != 0.0:
        raise ValueError("zero_shift_deg must be 0 on the 'q_A^-1' axis")
    if int(background_order) != background_order or background_order < 0:
        raise ValueError(f"background_order must be an integer >= 0, got {background_order}")
    order = int(background_order)
    if not (max_relative_change > 0):
        raise ValueError(f"max_relative_change must be > 0, got {max_relative_change}")
    if not (max_fwhm_factor > 1):
        raise ValueError(f"max_fwhm_factor must be > 1, got {max_fwhm_factor}")
    if int(max_nfev) < 1:
        raise ValueError(f"max_nfev must be >= 1, got {max_nfev}")

    y_all, weights, scale_cov = _weights(stack, sigma, absolute_sigma)
    win, win_id_all = _check_windows(x, windows, order)
    n_win = win.shape[0]
    centers = win.mean(axis=1)
    half_widths = 0.5 * (win[:, 1] - win[:, 0])
    in_win = win_id_all >= 0
    step = float(np.median(np.abs(np.diff(np.sort(x[in_win])))))
    f2_floor = step**2 if step > 0 else 1e-12

    if isinstance(phases, PawleyPhase):
        phases = [phases]
    phases = list(phases)
    if not phases:
        raise ValueError("no phases given; expected at least one PawleyPhase")
    for i, ph in enumerate(phases):
        if not isinstance(ph, PawleyPhase):
            raise ValueError(f"phases[{i}] must be a PawleyPhase, got {type(ph).__name__}")
    names = [ph.name for ph in phases]
    if len(set(names)) != len(names):
        raise ValueError(f"phase names must be unique, got {names}")
    refine = _parse_refine(refine_profile, axis)
    setups: list[_PhaseSetup] = []
    offset = 0
    for i, ph in enumerate(phases):
        if axis == "q_A^-1" and ph.fwhm_v != 0.0:
            raise ValueError(
                f"phase {ph.name!r}: on the Q axis FWHM^2 = U Q^2 + W, fwhm_v must be 0, got "
                f"{ph.fwhm_v}"
            )
        st = _PhaseSetup(ph, i, offset)
        setups.append(st)
        offset += st.n_par
    n_full = offset + 1  # the zero shift is the last parameter
    present_arr = _present_mask(present, n_frames, len(setups))

    geo = _Geometry(axis, wavelength_a, f2_floor)
    current = np.zeros(n_full)  # starting parameters of the next frame
    for st in setups:
        current[st.cell_slice()] = st.p0
        current[st.profile_slice()] = st.profile0
    current[-1] = float(zero_shift_deg)
    for st in setups:
        act = _active_groups(st, current, geo, win, edge_margin_fwhm)
        if act is None or act.size == 0:
            raise ValueError(
                f"phase {st.name!r} has no reflection inside the windows {win.tolist()} at its "
                f"starting cell ({st.n_groups} reflection groups given)"
            )
        _, _, t, _ = geo.positions(st.rows[act], st.p0, 0.0)
        u, v, w = st.profile0[:3]
        f2 = u * t * t + (v * t if axis == "2th_deg" else 0.0) + w
        if np.any(f2 <= 0):
            raise ValueError(
                f"phase {st.name!r}: starting profile (U, V, W) = "
                f"{tuple(st.profile0[:3].tolist())} gives FWHM^2 <= 0 inside the windows"
            )

    # ------------------------------------------------------------------ frames
    out = _Outputs(setups, n_frames, n_win, order, zero_shift)
    start_profiles = [st.profile0 for st in setups]
    positive = [np.zeros(st.n_groups, bool) for st in setups]
    refine_idx = [_PROFILE_NAMES.index(n) for n in refine]
    for fi in range(n_frames):
        valid = in_win & (weights[fi] > 0)
        out.n_points[fi] = int(valid.sum())
        model_phases, actives = [], []
        for st in setups:
            if not present_arr[fi, st.index]:
                out.fail(fi, st, STATUS_ABSENT, "marked absent in this frame")
                continue
            act = _active_groups(st, current, geo, win, edge_margin_fwhm)
            if act is None or act.size == 0:
                out.fail(fi, st, STATUS_NO_REFLECTIONS,
                         "no reflection inside the windows at the starting cell of this frame")
                continue
            model_phases.append(st)
            actives.append(act)

        # fit; a phase without significant intensity is taken out of the model and the
        # others are fitted again, so that its free cell and profile cannot spoil them
        while True:
            free = []
            for st in model_phases:
                free.extend(range(st.offset, st.offset + st.k))
                free.extend(st.offset + st.k + q for q in refine_idx)
            if zero_shift and model_phases:
                free.append(n_full - 1)
            free = np.array(free, dtype=int)
            n_params = free.size + sum(a.size for a in actives) + n_win * (order + 1)
            counts = np.bincount(win_id_all[valid], minlength=n_win)
            if out.n_points[fi] <= n_params or np.any(counts < order + 1):
                text = (
                    f"too few valid points ({out.n_points[fi]}) for {n_params} parameters"
                    if out.n_points[fi] <= n_params else
                    f"window(s) {np.flatnonzero(counts < order + 1).tolist()} hold too few "
                    "valid points"
                )
                for st in model_phases:
                    out.fail(fi, st, STATUS_NO_DATA, text)
                fit = None
                break
            prob = _FrameProblem(
                model_phases, actives, geo, x[valid], y_all[fi, valid],
                np.sqrt(weights[fi, valid]), win_id_all[valid], n_win, centers, half_widths,
                order, current.copy(), free,
            )
            # intensities positive in the last good frame start the active set of the NNLS
            prob.passive = np.concatenate([np.zeros(0, bool)] + [
                positive[st.index][act] for st, act in zip(model_phases, actives)])
            state, cov, error = _solve_frame(prob, start_profiles, max_relative_change,
                                             max_fwhm_factor, max_nfev, ftol, xtol, gtol)
            out.nfev[fi] += state["nfev"] if state is not None else 0
            if error is not None:
                for st in model_phases:
                    out.fail(fi, st, *error)
                fit = None
                break
            try:
                fit = _frame_statistics(prob, state, cov, n_params, scale_cov)
                signif = [_phase_significance(fit, prob, state, mi)
                          for mi in range(len(model_phases))]
            except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
                for st in model_phases:
                    out.fail(fi, st, STATUS_FAILED, f"the fit statistics failed: {exc}")
                fit = None
                break
            weak = [mi for mi, z in enumerate(signif) if not (z[0] > min_significance)]
            if not weak or len(model_phases) == 1:
                break
            mi = min(weak, key=lambda q: signif[q][0])
            _record_intensities(out, fi, fit, prob, mi, actives[mi], signif[mi][0])
            out.fail(fi, model_phases[mi], STATUS_NO_INTENSITY,
                     _no_intensity_text(*signif[mi], min_significance))
            del model_phases[mi], actives[mi]
        if fit is None:
            continue

        # ------------------------------------------------------- frame results
        theta = state["theta"]
        out.redchi[fi], out.rwp[fi] = fit["redchi"], fit["rwp"]
        out.background[fi] = fit["background"].reshape(n_win, -1)
        out.background_sigma[fi] = fit["background_sigma"].reshape(n_win, -1)
        cov, sd, slot_of = fit["cov"], fit["sd"], fit["slot_of"]
        nf = free.size
        for ma, sa in enumerate(model_phases):
            for mb, sb in enumerate(model_phases):
                block = cov[nf + prob.start[ma]:nf + prob.start[ma + 1],
                            nf + prob.start[mb]:nf + prob.start[mb + 1]]
                out.phase_intensity_cov[fi, sa.index, sb.index] = float(block.sum())
        good_any = False
        for mi, st in enumerate(model_phases):
            i, act = st.index, actives[mi]
            lo, hi = prob.start[mi], prob.start[mi + 1]
            _record_intensities(out, fi, fit, prob, mi, act, signif[mi][0])
            if not (signif[mi][0] > min_significance):
                out.fail(fi, st, STATUS_NO_INTENSITY,
                         _no_intensity_text(*signif[mi], min_significance))
                continue
            p = theta[st.cell_slice()]
            values, jac, is_cell = _cell_values(p, st.columns, st.system)
            start_values, _, _ = _cell_values(current[st.cell_slice()], st.columns, st.system)
            failure = None
            if not is_cell:
                failure = (STATUS_NOT_METRIC,
                           "the refined reciprocal metric is not positive definite")
            else:
                rel = np.abs(values[:6] - start_values[:6]) / np.abs(start_values[:6])
                if np.any(rel > max_relative_change):
                    q = int(np.argmax(rel))
                    failure = (STATUS_IMPLAUSIBLE, (
                        f"{_CELL_NAMES[q]} moved {100 * rel[q]:.3g}% from its starting value "
                        f"{start_values[q]:.6g} to {values[q]:.6g} (limit "
                        f"{100 * max_relative_change:.3g}%)"
                    ))
            if failure is not None:
                out.fail(fi, st, *failure)
                out.intensity[i][fi] = out.intensity_sigma[i][fi] = np.nan
                out.phase_intensity[fi, i] = out.phase_intensity_sigma[fi, i] = np.nan
                out.phase_intensity_cov[fi, i, :] = out.phase_intensity_cov[fi, :, i] = np.nan
                continue

            # cell and its covariance (G* parameters, then the zero shift)
            slots = list(range(st.offset, st.offset + st.k))
            if zero_shift:
                slots.append(n_full - 1)
            qi = [slot_of[s] for s in slots]
            cp = cov[np.ix_(qi, qi)]
            out.cov[i][fi] = cp
            out.params[i][fi] = p
            sig = _sd(np.einsum("kp,pq,kq->k", jac, cp[:st.k, :st.k], jac))
            for j, fixed in enumerate(_FIXED_ANGLES[st.system]):
                if fixed is not None:
                    sig[3 + j] = 0.0
            out.cell[fi, i] = values
            out.cell_sigma[fi, i] = sig
            prof = theta[st.profile_slice()]
            out.profile[fi, i] = prof
            out.profile_sigma[fi, i] = [
                sd[slot_of[st.offset + st.k + q]] if st.offset + st.k + q in slot_of else 0.0
                for q in range(4)
            ]
            out.position[i][fi, act] = state["pos"][lo:hi]
            out.fwhm[i][fi, act] = state["fw"][lo:hi]
            good_any = True
            current[st.cell_slice()] = p
            current[st.profile_slice()] = prof
            positive[i][:] = False
            positive[i][act] = state["c"][lo:hi] > 0
        if good_any:
            out.zero[fi] = theta[-1]
            if zero_shift:
                out.zero_sigma[fi] = sd[slot_of[n_full - 1]]
                current[-1] = theta[-1]

    settings = {
        "model": "Pawley: pseudo-Voigt per reflection group, Caglioti FWHM per phase, "
                 f"polynomial background of order {order} per window",
        "axis": axis,
        "wavelength_a": wavelength_a,
        "windows": win.tolist(),
        "background_order": order,
        "zero_shift": bool(zero_shift),
        "zero_shift_start_deg": float(zero_shift_deg),
        "refine_profile": list(refine),
        "fwhm_form": ("FWHM^2 = U tan^2(theta) + V tan(theta) + W (deg^2)" if axis == "2th_deg"
                      else "FWHM^2 = U Q^2 + W (1/A^2)"),
        "fwhm2_floor": f2_floor,
        "sigma": ("unit weights, covariance scaled by reduced chi-square" if sigma is None
                  else "given"),
        "absolute_sigma": bool(sigma is not None and not scale_cov),
        "present": "all" if present is None else present_arr.tolist(),
        "max_relative_change": max_relative_change,
        "min_significance": min_significance,
        "max_fwhm_factor": max_fwhm_factor,
        "edge_margin_fwhm": edge_margin_fwhm,
        "max_nfev": int(max_nfev),
        "ftol": ftol,
        "xtol": xtol,
        "gtol": gtol,
        "warm_start": "each frame starts from the last successful solution",
        "solver": "variable projection: background projected out, intensities by active-set "
                  "NNLS, non-linear parameters by scipy.optimize.least_squares (trf, Kaufman "
                  "Jacobian); covariance from the Jacobian of all parameters",
        "phases": [
            {
                "name": st.name,
                "system": st.system,
                "start_cell": [ph.cell.a_a, ph.cell.b_a, ph.cell.c_a, ph.cell.alpha_deg,
                               ph.cell.beta_deg, ph.cell.gamma_deg],
                "start_profile": st.profile0.tolist(),
                "n_reflections": int(len(ph.hkl)),
                "n_groups": st.n_groups,
            }
            for st, ph in zip(setups, phases)
        ],
    }
    return _assemble(out, setups, names, zero_shift, win, centers, x, settings)


def _optimizer_space(prob: _FrameProblem, start_profiles, max_relative_change, fwhm_factor):
    """Variables, bounds and starting point of the optimiser for one frame.

    Cell parameters are bounded to ``3 x max_relative_change`` around the frame's start (a
    safety net: moves beyond ``max_relative_change`` are reported as implausible anyway),
    eta to [0, 1]. The free Caglioti parameters of a phase are replaced by FWHM^2 at as
    many reference points spread over its reflections (a linear map), bounded to
    ``[max(step, FWHM_0 / f), f FWHM_0]^2`` with ``FWHM_0`` the width of the given starting
    profile and ``f = fwhm_factor``: a phase without intensity cannot run to needle-sharp
    or background-like peaks.
    """
    free = prob.free
    nf = free.size
    theta = prob.theta0
    pos_of = {int(s): q for q, s in enumerate(free)}
    lb = np.full(nf, -np.inf)
    ub = np.full(nf, np.inf)
    geo = prob.geo
    for mi, st in enumerate(prob.phases):
        p = theta[st.cell_slice()]
        scale = np.maximum(np.abs(p), 0.1 * np.max(np.abs(p)))
        for k in range(st.k):
            q = pos_of[st.offset + k]
            lb[q] = p[k] - 3.0 * max_relative_change * scale[k]
            ub[q] = p[k] + 3.0 * max_relative_change * scale[k]
        o = st.offset + st.k
        if o + 3 in pos_of:
            lb[pos_of[o + 3]], ub[pos_of[o + 3]] = 0.0, 1.0
        s_idx = [j for j in range(3) if o + j in pos_of]
        if not s_idx:
            continue
        _, _, t, _ = geo.positions(prob.rows[mi], p, theta[-1])
        t_lo, t_hi = float(t.min()), float(t.max())
        ref = {1: [0.5 * (t_lo + t_hi)], 2: [t_lo, t_hi],
               3: [t_lo, 0.5 * (t_lo + t_hi), t_hi]}[len(s_idx)]
        ref = np.array(ref)
        rows = np.stack([ref * ref, ref if geo.axis == "2th_deg" else 0.0 * ref,
                         np.ones_like(ref)], axis=1)
        a_s = rows[:, s_idx]
        if np.linalg.cond(a_s) > 1e10:
            continue  # reflections too close together: keep U, V, W (unbounded)
        fixed = [j for j in range(3) if j not in s_idx]
        inv = np.linalg.inv(a_s)
        cols = [pos_of[o + j] for j in s_idx]
        prob.map_b[np.ix_(cols, cols)] = inv
        if fixed:
            prob.map_c[cols] = -inv @ (rows[:, fixed] @ theta[o + np.array(fixed, int)])
        f0 = rows @ start_profiles[st.index][:3]
        f0 = np.maximum(f0, geo.f2_floor)
        lb[cols] = np.maximum(geo.f2_floor, f0 / fwhm_factor**2)
        ub[cols] = f0 * fwhm_factor**2
    z0 = np.linalg.solve(prob.map_b, theta[free] - prob.map_c)
    lb = np.minimum(lb, ub)
    return np.clip(z0, lb, ub), lb, ub


def _solve_frame(prob: _FrameProblem, start_profiles, max_relative_change, fwhm_factor,
                 max_nfev, ftol, xtol, gtol):
    """Run the optimiser on one frame: (state, covariance, None) or (state|None, None, error)."""
    nfev = 0
    try:
        z0, lb, ub = _optimizer_space(prob, start_profiles, max_relative_change, fwhm_factor)
        error = None
        z = z0
        if z0.size:
            res = least_squares(
                prob.residual, z0, jac=prob.jacobian, bounds=(lb, ub), method="trf",
                x_scale="jac", max_nfev=int(max_nfev), ftol=ftol, xtol=xtol, gtol=gtol,
            )
            z, nfev = res.x, int(res.nfev)
            if res.status == 0:
                error = (STATUS_NO_CONVERGENCE,
                         f"the fit did not converge in {max_nfev} model evaluations")
            elif res.status < 0:
                error = (STATUS_FAILED, f"the fit failed: {res.message}")
        state = dict(prob.evaluate(z), nfev=nfev)
        if error is not None:
            return state, None, error
        return state, prob.covariance(state), None
    except (_ModelError, np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
        return None, None, (STATUS_FAILED, f"the fit failed: {exc}")


def _assemble(out: _Outputs, setups, names, zero_shift, win, centers, x, settings):
    status = out.status.astype(str)
    reason = out.reason.astype(str)
    cells: dict[str, CellFit] = {}
    for i, st in enumerate(setups):
        ok = status[:, i] == STATUS_OK
        cells[st.name] = CellFit(
            system=st.system,
            **{name: out.cell[:, i, q] for q, name in enumerate(_CELL_NAMES)},
            **{f"sigma_{name}": out.cell_sigma[:, i, q] for q, name in enumerate(_CELL_NAMES)},
            zero_shift_deg=np.where(ok, out.zero, np.nan),
            sigma_zero_shift_deg=np.where(ok, out.zero_sigma, np.nan),
            n_used=out.n_used[:, i],
            n_params=out.n_cov[i],
            reduced_chi2=np.where(ok, out.redchi, np.nan),
            status=status[:, i],
            reason=reason[:, i],
            params=out.params[i],
            covariance=out.cov[i],
            param_names=PARAMETER_NAMES[st.system] + (("zero_shift_deg",) if zero_shift else ()),
            phase=st.name,
        )
    return PawleyFits(
        phases=list(names),
        cells=cells,
        zero_shift_deg=out.zero,
        sigma_zero_shift_deg=out.zero_sigma,
        profile={st.name: out.profile[:, i] for i, st in enumerate(setups)},
        profile_sigma={st.name: out.profile_sigma[:, i] for i, st in enumerate(setups)},
        group_hkl={st.name: st.group_hkl for st in setups},
        group_position={st.name: out.position[i] for i, st in enumerate(setups)},
        group_fwhm={st.name: out.fwhm[i] for i, st in enumerate(setups)},
        intensity={st.name: out.intensity[i] for i, st in enumerate(setups)},
        intensity_sigma={st.name: out.intensity_sigma[i] for i, st in enumerate(setups)},
        phase_intensity=out.phase_intensity,
        phase_intensity_sigma=out.phase_intensity_sigma,
        phase_intensity_covariance=out.phase_intensity_cov,
        significance=out.significance,
        background=out.background,
        background_sigma=out.background_sigma,
        redchi=out.redchi,
        rwp=out.rwp,
        n_points=out.n_points,
        nfev=out.nfev,
        status=status,
        reason=reason,
        windows=win,
        window_center=centers,
        x=x,
        settings=settings,
    )
