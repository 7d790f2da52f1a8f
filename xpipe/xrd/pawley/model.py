"""The model of a Pawley fit: its phases, their reflection groups and where those lie.

:class:`PawleyPhase` is what a caller gives; :class:`_PhaseSetup` turns it into reflection
groups (rows of the ``1/d^2`` design matrix that no cell of the lattice system can separate),
and :class:`_Geometry` computes the positions and widths of the groups, with their
derivatives, from the parameter vector of a frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ..cell import _FIXED_ANGLES, _cells_from_gstar, design_columns, gstar6
from ..reflections import Cell

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


@dataclass(frozen=True)
class PawleyPhase:
    """One phase of a Pawley fit and its starting values.

    Parameters
    ----------
    name : str
        Label used in the results and the failure reasons (unique within a fit).
    system : str
        Lattice system as in :mod:`xpipe.xrd.cell` (``hexagonal`` also for trigonal and
        R-centred groups in hexagonal axes); see :func:`xpipe.xrd.reflections.crystal_system`.
    hkl : (n, 3) int array
        Miller indices of the allowed reflections to include (e.g. ``.hkl`` of
        :func:`xpipe.xrd.reflections.reflections_from_cell`); only those falling inside the
        windows are used in a frame.
    cell : Cell
        Starting cell (compatible with ``system``), lengths in angstrom, angles in degrees.
    fwhm_u, fwhm_v, fwhm_w : float
        Starting Caglioti parameters: deg^2 on the 2theta axis
        (``FWHM^2 = U tan^2 theta + V tan theta + W``); on the Q axis U is dimensionless,
        W in 1/A^2 and V must be 0 (``FWHM^2 = U Q^2 + W``).
    eta : float
        Starting Lorentzian fraction of the pseudo-Voigt, 0 (Gauss) .. 1 (Lorentz).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.reflections import Cell
    >>> phase = PawleyPhase("LaB6", "cubic", np.array([[1, 0, 0], [1, 1, 0]]),
    ...                     Cell.cubic(4.157), fwhm_u=0.0, fwhm_v=0.0, fwhm_w=0.0025)
    >>> phase.name, phase.cell.a_a, phase.eta
    ('LaB6', 4.157, 0.5)
    """

    name: str
    system: str
    hkl: np.ndarray
    cell: Cell
    fwhm_u: float
    fwhm_v: float
    fwhm_w: float
    eta: float = 0.5


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
