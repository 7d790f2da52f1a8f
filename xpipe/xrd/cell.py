"""Batched unit-cell refinement from indexed peak positions, many frames at once.

The d-spacing of reflection ``hkl`` is given by the reciprocal metric tensor G*::

    1/d^2 = h^2 A + k^2 B + l^2 C + 2hk D + 2hl E + 2kl F

which is linear in ``(A, B, C, D, E, F)``. Each lattice system keeps only its free
combinations (the columns of the design matrix):

============  =====================================================  ==========
system        1/d^2                                                  parameters
============  =====================================================  ==========
cubic         A (h^2 + k^2 + l^2),               A = 1/a^2             1
tetragonal    A (h^2 + k^2) + C l^2                                   2
hexagonal     A (h^2 + hk + k^2) + C l^2,        A = 4/(3 a^2)         2
rhombohedral  A (h^2 + k^2 + l^2) + 2D (hk + hl + kl)                 2
orthorhombic  A h^2 + B k^2 + C l^2                                   3
monoclinic    A h^2 + B k^2 + C l^2 + 2E hl      (unique axis b)       4
triclinic     all six                                                  6
============  =====================================================  ==========

("hexagonal" covers trigonal groups and R-centred groups in hexagonal axes.)

Every frame is a weighted least-squares problem in ``1/d^2``; the normal equations of
all frames are stacked into ``(n_frames, p, p)`` arrays and solved in one batched call.
Weights come from the peak-position uncertainties propagated to ``1/d^2``. With a
refined 2theta zero shift the problem is non-linear and is solved by a few batched
Gauss-Newton iterations started from zero shift 0.

Uncertainties come from the covariance of the linear parameters, ``(J^T W J)^-1`` with
``W = 1/sigma^2`` of ``1/d^2``, propagated through the analytic Jacobian of the cell with
respect to them; as usual, the covariance is multiplied by the reduced chi-square when that
is larger than 1 (the position sigmas under-estimate the scatter) and left as is otherwise.

Example
-------
>>> import numpy as np
>>> from xpipe.xrd.cell import refine_cells
>>> hkl = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1], [2, 0, 0]])
>>> d = 4.15689 / np.sqrt((hkl ** 2).sum(axis=1))
>>> fit = refine_cells(hkl, d_a=d[None, :], sigma=1e-4, system="cubic")
>>> print(f"{fit.a_a[0]:.5f} {fit.status[0]}")
4.15689 ok
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .blas import one_blas_thread
from .reflections import CRYSTAL_SYSTEMS, Cell

__all__ = ["CellFit", "PARAMETER_NAMES", "design_columns", "refine_cells", "relative_change"]

# G* components in the order (A, B, C, D, E, F); each column maps one free parameter
# of a lattice system onto them.
_COLUMNS: dict[str, np.ndarray] = {
    "cubic": np.array([[1, 1, 1, 0, 0, 0]], float).T,
    "tetragonal": np.array([[1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]], float).T,
    "hexagonal": np.array([[1, 1, 0, 0.5, 0, 0], [0, 0, 1, 0, 0, 0]], float).T,
    "rhombohedral": np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], float).T,
    "orthorhombic": np.eye(6)[:, :3],
    "monoclinic": np.eye(6)[:, [0, 1, 2, 4]],
    "triclinic": np.eye(6),
}

#: Names of the linear parameters of each lattice system (components of G*, 1/A^2).
PARAMETER_NAMES: dict[str, tuple[str, ...]] = {
    "cubic": ("A",),
    "tetragonal": ("A", "C"),
    "hexagonal": ("A", "C"),
    "rhombohedral": ("A", "D"),
    "orthorhombic": ("A", "B", "C"),
    "monoclinic": ("A", "B", "C", "E"),
    "triclinic": ("A", "B", "C", "D", "E", "F"),
}

# angles fixed by the lattice system (alpha, beta, gamma); None = refined
_FIXED_ANGLES: dict[str, tuple[float | None, float | None, float | None]] = {
    "cubic": (90.0, 90.0, 90.0),
    "tetragonal": (90.0, 90.0, 90.0),
    "hexagonal": (90.0, 90.0, 120.0),
    "orthorhombic": (90.0, 90.0, 90.0),
    "monoclinic": (90.0, None, 90.0),
    "rhombohedral": (None, None, None),
    "triclinic": (None, None, None),
}

_CELL_NAMES = ("a_a", "b_a", "c_a", "alpha_deg", "beta_deg", "gamma_deg", "volume_a3")

STATUS_OK = "ok"
STATUS_TOO_FEW = "too_few_reflections"
STATUS_SINGULAR = "ill_conditioned"
STATUS_NOT_METRIC = "not_a_cell"
STATUS_NO_CONVERGENCE = "no_convergence"


def design_columns(system: str) -> np.ndarray:
    """(6, p) matrix mapping the p free parameters of ``system`` onto (A, B, C, D, E, F).

    Parameters
    ----------
    system : str
        Lattice system, one of :data:`xpipe.xrd.reflections.CRYSTAL_SYSTEMS`.

    Returns
    -------
    np.ndarray
        (6, p) float array; ``1/d^2 = row(hkl) @ columns @ p`` (1/A^2) with
        ``row(hkl) = (h^2, k^2, l^2, 2hk, 2hl, 2kl)``.

    Examples
    --------
    >>> design_columns("hexagonal").T.tolist()
    [[1.0, 1.0, 0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]]
    """
    try:
        return _COLUMNS[system].copy()
    except KeyError:
        raise ValueError(
            f"unknown crystal system {system!r}; expected one of {', '.join(CRYSTAL_SYSTEMS)}"
        ) from None


@dataclass
class CellFit:
    """Refined cells of many frames: every array has length ``n_frames``.

    Attributes
    ----------
    system : lattice system refined.
    a_a, b_a, c_a : cell lengths in angstrom.
    alpha_deg, beta_deg, gamma_deg : cell angles in degrees (fixed ones exact).
    volume_a3 : cell volume in A^3.
    sigma_a_a, ..., sigma_volume_a3 : standard uncertainties of the above (same units),
        0 for values fixed by the lattice system.
    zero_shift_deg, sigma_zero_shift_deg : refined 2theta zero shift (observed =
        true + shift) and its uncertainty; 0 and NaN when not refined.
    n_used : observed reflections used per frame.
    n_params : refined parameters (cell parameters + zero shift).
    reduced_chi2 : chi^2 / (n_used - n_params); NaN without degrees of freedom.
    status : ``"ok"`` or a failure code (``too_few_reflections``, ``ill_conditioned``,
        ``not_a_cell``, ``no_convergence``); failed frames have NaN values.
    reason : human-readable reason per frame ("" when ok).
    params : (n_frames, p) linear parameters (see :data:`PARAMETER_NAMES`), 1/A^2.
    covariance : (n_frames, n_params, n_params) covariance of ``params`` (and the zero
        shift, last), scaled by ``max(1, reduced_chi2)``.
    param_names : names of the columns of ``params`` and ``covariance``.
    phase : label used in the reasons.

    Examples
    --------
    >>> import numpy as np
    >>> hkl = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1]])
    >>> fit = refine_cells(hkl, d_a=[4.0, 4.0 / 2**0.5, np.nan], sigma=1e-4, system="cubic")
    >>> len(fit), fit.ok.tolist(), fit.n_used.tolist(), fit.cell(0).a_a
    (1, [True], [2], 4.0)
    """

    system: str
    a_a: np.ndarray
    b_a: np.ndarray
    c_a: np.ndarray
    alpha_deg: np.ndarray
    beta_deg: np.ndarray
    gamma_deg: np.ndarray
    volume_a3: np.ndarray
    sigma_a_a: np.ndarray
    sigma_b_a: np.ndarray
    sigma_c_a: np.ndarray
    sigma_alpha_deg: np.ndarray
    sigma_beta_deg: np.ndarray
    sigma_gamma_deg: np.ndarray
    sigma_volume_a3: np.ndarray
    zero_shift_deg: np.ndarray
    sigma_zero_shift_deg: np.ndarray
    n_used: np.ndarray
    n_params: int
    reduced_chi2: np.ndarray
    status: np.ndarray
    reason: np.ndarray
    params: np.ndarray
    covariance: np.ndarray
    param_names: tuple[str, ...]
    phase: str = ""

    def __len__(self) -> int:
        return len(self.a_a)

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the frames refined successfully."""
        return self.status == STATUS_OK

    def cell(self, frame: int) -> Cell:
        """Refined cell of one frame."""
        return Cell(
            float(self.a_a[frame]), float(self.b_a[frame]), float(self.c_a[frame]),
            float(self.alpha_deg[frame]), float(self.beta_deg[frame]),
            float(self.gamma_deg[frame]),
        )


def relative_change(values, reference_index: int = 0) -> np.ndarray:
    """Change in percent relative to one entry: ``100 (v - v[ref]) / v[ref]``.

    Parameters
    ----------
    values : array-like, (n_frames, ...)
        Values in any unit (e.g. cell volumes in A^3).
    reference_index : int
        Frame whose values are the reference.

    Returns
    -------
    np.ndarray
        Change in percent, shape of ``values``; NaN everywhere when the reference is NaN.

    Examples
    --------
    >>> relative_change([100.0, 101.0, 99.5]).round(3).tolist()
    [0.0, 1.0, -0.5]
    """
    v = np.asarray(values, dtype=float)
    ref = v[reference_index]
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * (v - ref) / ref


# ----------------------------------------------------------------------------- core


def _observables(obs, sig, kind, wavelength_a, zero_deg):
    """``1/d^2`` (1/A^2), its uncertainty and its derivative with respect to the zero shift."""
    if kind == "d_a":
        y = 1.0 / (obs * obs)
        return y, 2.0 * sig / obs**3, np.zeros_like(y)
    if kind == "q_a_inv":
        k = 1.0 / (4.0 * np.pi**2)
        return k * obs * obs, 2.0 * k * obs * sig, np.zeros_like(obs)
    # 2theta in degrees: 1/d^2 = 4 sin^2(theta) / lambda^2 with theta from the shifted angle
    lam2 = wavelength_a * wavelength_a
    t_rad = np.radians(obs - zero_deg[:, None])
    y = 4.0 * np.sin(t_rad / 2.0) ** 2 / lam2
    dy_dt = 4.0 * np.sin(t_rad) / lam2 * (np.pi / 360.0)  # per degree of 2theta
    return y, np.abs(dy_dt) * sig, -dy_dt


def gstar6(cell: Cell) -> np.ndarray:
    """Components (A, B, C, D, E, F) of the reciprocal metric tensor of a cell, 1/A^2.

    Parameters
    ----------
    cell : Cell
        Unit cell, lengths in angstrom and angles in degrees.

    Returns
    -------
    np.ndarray
        (6,) components of G* in 1/A^2, ``1/d^2 = h^2 A + k^2 B + l^2 C + 2hk D + 2hl E
        + 2kl F``.

    Examples
    --------
    >>> (gstar6(Cell.tetragonal(2.0, 4.0)).round(4) + 0.0).tolist()
    [0.25, 0.25, 0.0625, 0.0, 0.0, 0.0]
    """
    a, b, c = cell.a_a, cell.b_a, cell.c_a
    ca, cb, cg = (np.cos(np.radians(v)) for v in (cell.alpha_deg, cell.beta_deg, cell.gamma_deg))
    g = np.array([[a * a, a * b * cg, a * c * cb], [a * b * cg, b * b, b * c * ca],
                  [a * c * cb, b * c * ca, c * c]])
    gs = np.linalg.inv(g)
    return np.array([gs[0, 0], gs[1, 1], gs[2, 2], gs[0, 1], gs[0, 2], gs[1, 2]])


def _cells_from_gstar(g6: np.ndarray, columns: np.ndarray, jacobian: bool = True):
    """Cell values (n, 7) and their Jacobian with respect to the linear parameters (n, 7, p)
    (None without ``jacobian``)."""
    n = g6.shape[0]
    gs = np.empty((n, 3, 3))
    idx = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]
    for k, (i, j) in enumerate(idx):
        gs[:, i, j] = g6[:, k]
        gs[:, j, i] = g6[:, k]
    g = np.linalg.inv(gs)
    a = np.sqrt(g[:, 0, 0])
    b = np.sqrt(g[:, 1, 1])
    c = np.sqrt(g[:, 2, 2])
    cos_al = g[:, 1, 2] / (b * c)
    cos_be = g[:, 0, 2] / (a * c)
    cos_ga = g[:, 0, 1] / (a * b)
    vol = np.sqrt(np.linalg.det(g))
    values = np.stack(
        [a, b, c, np.degrees(np.arccos(cos_al)), np.degrees(np.arccos(cos_be)),
         np.degrees(np.arccos(cos_ga)), vol], axis=1,
    )
    if not jacobian:
        return values, None
    # dG = -G dG* G for each unit change of (A, B, C, D, E, F)
    basis = np.zeros((6, 3, 3))
    for k, (i, j) in enumerate(idx):
        basis[k, i, j] = basis[k, j, i] = 1.0
    dg = -np.einsum("nij,kjl,nlm->nkim", g, basis, g)  # (n, 6, 3, 3)
    d00, d11, d22 = dg[:, :, 0, 0], dg[:, :, 1, 1], dg[:, :, 2, 2]
    d12, d02, d01 = dg[:, :, 1, 2], dg[:, :, 0, 2], dg[:, :, 0, 1]
    g00, g11, g22 = (x[:, None] for x in (g[:, 0, 0], g[:, 1, 1], g[:, 2, 2]))
    a_, b_, c_ = a[:, None], b[:, None], c[:, None]
    rad = 180.0 / np.pi

    def d_angle(cos_x, dnum, num_scale, di, gi, dj, gj):
        cos_x = cos_x[:, None]
        dcos = dnum / num_scale - 0.5 * cos_x * (di / gi + dj / gj)
        return -dcos / np.sqrt(1.0 - cos_x * cos_x) * rad

    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.stack(
            [
                d00 / (2.0 * a_),
                d11 / (2.0 * b_),
                d22 / (2.0 * c_),
                d_angle(cos_al, d12, b_ * c_, d11, g11, d22, g22),
                d_angle(cos_be, d02, a_ * c_, d00, g00, d22, g22),
                d_angle(cos_ga, d01, a_ * b_, d00, g00, d11, g11),
                0.5 * vol[:, None] * np.einsum("nij,nkij->nk", gs, dg),
            ],
            axis=1,
        )  # (n, 7, 6)
    return values, jac @ columns


@one_blas_thread
def refine_cells(
    hkl, *, d_a=None, q_a_inv=None, two_theta_deg=None, sigma, system: str,
    wavelength_a: float | None = None, zero_shift: bool = False, phase: str = "",
    max_iterations: int = 20, max_condition: float = 1e12,
) -> CellFit:
    """Refine one unit cell per frame from indexed peak positions, all frames at once.

    Parameters
    ----------
    hkl : (n_reflections, 3) or (n_frames, n_reflections, 3) int array of Miller indices
        (the columns of the position arrays).
    d_a, q_a_inv, two_theta_deg : (n_frames, n_reflections) positions, exactly one of them:
        d-spacing (angstrom), ``2 pi / d`` (1/A) or 2theta (degrees, needs ``wavelength_a``);
        NaN where a reflection was not observed in a frame. A 1D array is one frame.
    sigma : standard uncertainty of each position (unit of the positions), broadcastable to
        them; positions with a non-finite or non-positive sigma are not used.
    system : lattice system: cubic, tetragonal, hexagonal (also trigonal and R groups in
        hexagonal axes), rhombohedral (rhombohedral axes), orthorhombic, monoclinic (unique
        axis b) or triclinic; see :func:`xpipe.xrd.reflections.crystal_system`.
    wavelength_a : wavelength in angstrom, needed with ``two_theta_deg``.
    zero_shift : also refine a 2theta zero shift (observed = true + shift, degrees) shared
        by the reflections of a frame; needs ``two_theta_deg``.
    phase : phase name, used in the failure reasons.
    max_iterations : Gauss-Newton iterations at most (zero shift only).
    max_condition : largest accepted condition number of the scaled normal matrix.

    Returns
    -------
    CellFit
        Cell parameters (angstrom, degrees, A^3) and standard uncertainties per frame (see
        the module notes). A frame with too few usable reflections, an ill-conditioned
        system (e.g. only (h k 0) reflections of a hexagonal cell) or a refined metric that
        is not a cell gets NaN values and its reason; nothing is raised for one bad frame.

    Examples
    --------
    >>> import numpy as np
    >>> hkl = np.array([[1, 0, 0], [0, 0, 2], [1, 0, 1], [1, 1, 0]])
    >>> d = 1 / np.sqrt((hkl[:, :2] ** 2).sum(axis=1) / 3.0**2 + hkl[:, 2] ** 2 / 5.0**2)
    >>> fit = refine_cells(hkl, d_a=np.stack([d, 1.001 * d]), sigma=1e-4, system="tetragonal")
    >>> np.round(fit.a_a, 4).tolist(), np.round(fit.c_a, 4).tolist(), fit.status.tolist()
    ([3.0, 3.003], [5.0, 5.005], ['ok', 'ok'])
    """
    kind, obs, columns = _check_positions(d_a, q_a_inv, two_theta_deg, system, wavelength_a,
                                          zero_shift)
    eq = _NormalEquations(hkl, obs, sigma, columns, kind, wavelength_a, zero_shift,
                          max_condition)
    verdicts = _Verdicts(eq, system, phase, zero_shift)
    ok = ~verdicts.few
    theta = np.zeros((obs.shape[0], eq.n_par))
    zero = _gauss_newton(eq, verdicts, ok, theta, max_iterations)
    red, cov = _final_statistics(eq, verdicts, ok, theta, zero)
    values, sig_cell = _cell_table(theta[:, :eq.n_lin], cov[:, :eq.n_lin, :eq.n_lin], columns,
                                   system, ok, verdicts)
    theta[~ok] = np.nan
    cov[~ok] = np.nan
    red[~ok] = np.nan
    return _cell_fit(values, sig_cell, theta, cov, red, ok, eq, verdicts, system, phase)


def _check_positions(d_a, q_a_inv, two_theta_deg, system, wavelength_a, zero_shift):
    """Which positions were given, as a (n_frames, n_reflections) array, and the design
    columns of the lattice system."""
    given = {k: v for k, v in (("d_a", d_a), ("q_a_inv", q_a_inv),
                               ("two_theta_deg", two_theta_deg)) if v is not None}
    if len(given) != 1:
        raise ValueError("give exactly one of d_a, q_a_inv or two_theta_deg")
    (kind, obs), = given.items()
    columns = design_columns(system)
    if kind == "two_theta_deg" and not wavelength_a:
        raise ValueError("two_theta_deg needs wavelength_a (angstrom)")
    if zero_shift and kind != "two_theta_deg":
        raise ValueError("a zero shift can only be refined from two_theta_deg positions")
    obs = np.asarray(obs, dtype=float)
    if obs.ndim == 1:
        obs = obs[None, :]
    if obs.ndim != 2:
        raise ValueError(f"positions must be (n_frames, n_reflections), got shape {obs.shape}")
    return kind, obs, columns


class _NormalEquations:
    """Weighted least squares in ``1/d^2`` of every frame: design, weights, normal matrices."""

    def __init__(self, hkl, obs, sigma, columns, kind, wavelength_a, zero_shift, max_condition):
        n_frames, n_refl = obs.shape
        sig = np.broadcast_to(np.asarray(sigma, dtype=float), obs.shape)
        hkl = np.asarray(hkl, dtype=float)
        if hkl.shape[-2:] != (n_refl, 3):
            raise ValueError(
                f"hkl must be ({n_refl}, 3) or (n_frames, {n_refl}, 3), got shape {hkl.shape}"
            )
        h, k, l = hkl[..., 0], hkl[..., 1], hkl[..., 2]
        rows = np.stack([h * h, k * k, l * l, 2 * h * k, 2 * h * l, 2 * k * l], axis=-1)
        x = np.broadcast_to(rows @ columns, (n_frames, n_refl, columns.shape[1]))
        valid = np.isfinite(obs) & np.isfinite(sig) & (sig > 0) & (obs > 0)
        valid &= np.isfinite(x).all(axis=-1) & (np.abs(x).sum(axis=-1) > 0)
        if kind == "two_theta_deg":
            valid &= obs < 180.0
        self.obs_v = np.where(valid, obs, 1.0)
        self.sig_v = np.where(valid, sig, 1.0)
        self.x = np.where(valid[..., None], x, 0.0)
        self.valid = valid
        self.kind, self.wavelength_a = kind, wavelength_a
        self.zero_shift, self.max_condition = zero_shift, max_condition
        self.n_lin = columns.shape[1]
        self.n_par = self.n_lin + (1 if zero_shift else 0)
        self.n_used = valid.sum(axis=1)
        self.eye = np.eye(self.n_par)

    def equations(self, zero_deg):
        """Observables ``1/d^2``, weights, design (zero-shift column last) and normal matrices."""
        valid = self.valid
        y, sy, dy_dz = _observables(self.obs_v, self.sig_v, self.kind, self.wavelength_a,
                                    zero_deg)
        w = np.where(valid, 1.0 / (sy * sy), 0.0)
        a = self.x if not self.zero_shift else np.concatenate([self.x, -dy_dz[..., None]],
                                                              axis=-1)
        a = np.where(valid[..., None], a, 0.0)
        nmat = np.einsum("fnp,fn,fnq->fpq", a, w, a)
        return y, w, a, nmat

    def check(self, nmat, ok):
        """Scaled normal matrices (bad frames replaced by identity) and the new bad frames."""
        eye = self.eye
        diag = np.einsum("fii->fi", nmat)
        good_diag = ok & np.all(diag > 0, axis=1)
        scale = np.where(good_diag[:, None], 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), 1.0)
        ns = nmat * scale[:, :, None] * scale[:, None, :]
        ns = np.where(good_diag[:, None, None], ns, eye)
        ev = np.linalg.eigvalsh(ns)
        with np.errstate(divide="ignore", invalid="ignore"):
            cond = ev[:, -1] / ev[:, 0]
        bad = ok & ~(good_diag & (ev[:, 0] > 0) & (cond < self.max_condition))
        ns[bad] = eye
        return ns, scale, bad, cond


class _Verdicts:
    """Status and reason of every frame, starting with those that have too few reflections."""

    def __init__(self, eq: _NormalEquations, system: str, phase: str, zero_shift: bool):
        self.n_used, self.system = eq.n_used, system
        self.status = np.full(eq.n_used.size, STATUS_OK, dtype=object)
        self.reason = np.full(eq.n_used.size, "", dtype=object)
        self.label = f"phase {phase}" if phase else "the phase"
        self.few = eq.n_used < eq.n_par
        self.mark(self.few, STATUS_TOO_FEW, lambda i: (
            f"{self.label} needs >= {eq.n_par} reflections for a {system} cell"
            f"{' with zero shift' if zero_shift else ''}, found {eq.n_used[i]}"))

    def mark(self, bad, code: str, text) -> None:
        """Status ``code`` and reason ``text(i)`` for every frame i where ``bad``."""
        self.status[bad] = code
        for i in np.flatnonzero(bad):
            self.reason[i] = text(i)

    def singular(self, bad, cond) -> None:
        self.mark(bad, STATUS_SINGULAR, lambda i: (
            f"{self.label}: the {self.n_used[i]} observed reflections do not determine a "
            f"{self.system} cell (normal matrix singular or ill-conditioned, condition "
            f"number {cond[i]:.3g})"))


def _gauss_newton(eq: _NormalEquations, verdicts: _Verdicts, ok, theta, max_iterations):
    """Solve for ``theta`` in place (one linear step without zero shift); returns the zero
    shift of every frame. ``ok`` loses the frames that fail."""
    n_frames = theta.shape[0]
    zero = np.zeros(n_frames)
    converged = np.ones(n_frames, bool)
    for it in range(max_iterations if eq.zero_shift else 1):
        y, w, a, nmat = eq.equations(zero)
        # residual of the current parameters; the first pass is the linear solution
        resid = y - np.einsum("fnp,fp->fn", eq.x, theta[:, :eq.n_lin])
        rhs = np.einsum("fnp,fn,fn->fp", a, w, resid)
        ns, scale, bad, cond = eq.check(nmat, ok)
        verdicts.singular(bad, cond)
        ok &= ~bad
        step = scale * np.linalg.solve(ns, (scale * rhs)[..., None])[..., 0]
        step[~ok] = 0.0
        theta += step
        if eq.zero_shift:
            zero = theta[:, -1].copy()
            # step small against the parameter uncertainty: converged
            sd = scale * np.sqrt(np.einsum("fii->fi", np.linalg.inv(ns)))
            converged = np.all(np.abs(step) <= 1e-8 * sd, axis=1) | ~ok
            if it > 0 and converged.all():
                break
    not_conv = ok & ~converged
    verdicts.mark(not_conv, STATUS_NO_CONVERGENCE, lambda i: (
        f"{verdicts.label}: zero-shift refinement did not converge in {max_iterations} steps"))
    ok &= ~not_conv
    return zero


def _final_statistics(eq: _NormalEquations, verdicts: _Verdicts, ok, theta, zero):
    """Reduced chi-square and covariance at the solution, the covariance scaled by
    ``max(1, reduced chi-square)``."""
    y, w, a, nmat = eq.equations(zero)
    resid = y - np.einsum("fnp,fp->fn", eq.x, theta[:, :eq.n_lin])
    chi2 = np.einsum("fn,fn->f", w, resid * resid)
    dof = eq.n_used - eq.n_par
    with np.errstate(invalid="ignore", divide="ignore"):
        red = np.where(dof > 0, chi2 / np.maximum(dof, 1), np.nan)
    ns, scale, bad, cond = eq.check(nmat, ok)
    verdicts.singular(bad, cond)
    ok &= ~bad
    cov = np.linalg.inv(ns) * scale[:, :, None] * scale[:, None, :]
    cov *= np.where(red > 1.0, red, 1.0)[:, None, None]
    return red, cov


def _cell_table(lin, cov_lin, columns, system, ok, verdicts: _Verdicts):
    """Cell values (n_frames, 7) and their uncertainties from the linear parameters."""
    g6 = lin @ columns.T
    g6_safe = np.where(ok[:, None], g6, np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0]))
    gs_eig = np.linalg.eigvalsh(_gstar_matrix(g6_safe))
    not_metric = ok & ~(gs_eig[:, 0] > 0)
    verdicts.mark(not_metric, STATUS_NOT_METRIC, lambda i: (
        f"{verdicts.label}: the refined reciprocal metric is not positive definite"))
    ok &= ~not_metric
    g6_safe[~ok] = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    values, jac = _cells_from_gstar(g6_safe, columns)
    with np.errstate(invalid="ignore"):
        sig_cell = np.sqrt(np.maximum(np.einsum("fkp,fpq,fkq->fk", jac, cov_lin, jac), 0.0))
    for j, fixed in enumerate(_FIXED_ANGLES[system]):
        if fixed is not None:
            values[:, 3 + j] = fixed
            sig_cell[:, 3 + j] = 0.0
    values[~ok] = np.nan
    sig_cell[~ok] = np.nan
    return values, sig_cell


def _cell_fit(values, sig_cell, theta, cov, red, ok, eq: _NormalEquations,
              verdicts: _Verdicts, system, phase) -> CellFit:
    """The results of every frame as a :class:`CellFit`."""
    out = {name: values[:, i] for i, name in enumerate(_CELL_NAMES)}
    out.update({f"sigma_{name}": sig_cell[:, i] for i, name in enumerate(_CELL_NAMES)})
    if eq.zero_shift:
        zs, szs = theta[:, -1], np.sqrt(cov[:, -1, -1])
    else:
        zs = np.where(ok, 0.0, np.nan)
        szs = np.full(ok.size, np.nan)
    names = PARAMETER_NAMES[system] + (("zero_shift_deg",) if eq.zero_shift else ())
    return CellFit(
        system=system,
        **out,
        zero_shift_deg=zs,
        sigma_zero_shift_deg=szs,
        n_used=eq.n_used,
        n_params=eq.n_par,
        reduced_chi2=red,
        status=verdicts.status.astype(str),
        reason=verdicts.reason.astype(str),
        params=theta[:, :eq.n_lin],
        covariance=cov,
        param_names=names,
        phase=phase,
    )


def _gstar_matrix(g6: np.ndarray) -> np.ndarray:
    a, b, c, d, e, f = (g6[:, i] for i in range(6))
    return np.stack(
        [np.stack([a, d, e], -1), np.stack([d, b, f], -1), np.stack([e, f, c], -1)], axis=1
    )
