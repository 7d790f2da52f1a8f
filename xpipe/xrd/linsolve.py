"""The linear part of the whole-pattern model: background basis and non-negative least squares.

In :mod:`xpipe.xrd.wholepattern` the background and the phases' intensity columns enter the
calculated pattern linearly; for given cells and profiles they are solved exactly
(variable projection). The background is a cubic B-spline basis (:func:`background_basis`),
factorised once per pattern (:class:`BackgroundProjector`); :func:`solve_linear` then
factorises only the intensity columns, which it keeps non-negative by an active set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import BSpline

__all__ = ["BackgroundProjector", "LinearSolution", "background_basis", "project_out", "solve_linear"]


def background_basis(x: np.ndarray, n_intervals: int, extra: np.ndarray | None = None) -> np.ndarray:
    """Cubic B-splines with equally spaced knots over ``x``.

    B-splines are local and well conditioned at any number of knots (high-order Chebyshev
    polynomials are not); with knots tens of peak widths apart they follow the humps of cell
    windows, electrolyte and air scatter but not a Bragg peak.

    Parameters
    ----------
    x : ndarray
        Increasing radial axis (any unit).
    n_intervals : int
        Knot intervals over the range of ``x`` (at least 1).
    extra : ndarray, optional
        One more column (e.g. a SNIP baseline, counts), appended.

    Returns
    -------
    ndarray
        ``(n_points, n_intervals + 3 [+ 1])`` basis; columns without support on ``x`` dropped.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.linsolve import background_basis
    >>> b = background_basis(np.linspace(10.0, 30.0, 201), 4)
    >>> b.shape, bool(np.allclose(b.sum(axis=1), 1.0))  # the splines sum to one
    ((201, 7), True)
    """
    n = max(int(n_intervals), 1)
    lo, hi = float(x[0]), float(x[-1])
    step = (hi - lo) / n
    knots = lo + step * np.arange(-3, n + 4)
    basis = BSpline.design_matrix(np.clip(x, lo, hi), knots, 3).toarray()
    basis = basis[:, basis.any(axis=0)]
    if extra is not None:
        basis = np.column_stack([basis, extra])
    return basis


@dataclass
class LinearSolution:
    """Weighted linear least squares with non-negative intensity columns (:func:`solve_linear`).

    Parameters
    ----------
    coef : ndarray
        ``(n_columns,)`` coefficients of all columns (counts per unit column), 0 for dropped
        intensity columns.
    active : ndarray of bool
        ``(n_columns,)`` columns in the solution.
    residual : ndarray
        Weighted residual ``wt (y - a coef)`` (n_points,), dimensionless.
    chi2 : float
        Sum of squared weighted residuals.
    q_parts : tuple of ndarray
        Orthonormal bases whose union spans the active weighted columns.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.linsolve import solve_linear
    >>> x = np.linspace(0.0, 1.0, 50)
    >>> sol = solve_linear(np.column_stack([np.ones(50), x]), 2.0 + 3.0 * x, np.ones(50), 1)
    >>> np.round(sol.coef, 6).tolist(), sol.active.tolist(), round(sol.chi2, 9)
    ([2.0, 3.0], [True, True], 0.0)
    >>> round(float(np.abs(sol.project(x)).max()), 9)  # x lies in the columns' span
    0.0
    """

    coef: np.ndarray  # (n_columns,) all columns, 0 for dropped intensity columns
    active: np.ndarray  # (n_columns,) bool
    residual: np.ndarray  # weighted residual (n_points,)
    chi2: float
    q_parts: tuple  # orthonormal bases whose union spans the active weighted columns

    @property
    def q(self) -> np.ndarray:
        """One orthonormal basis of the active weighted columns."""
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

    Parameters
    ----------
    q, r : ndarray
        QR factors of the weighted background columns, each scaled to unit norm.
    norms : ndarray
        The norms the columns were scaled by.
    yp : ndarray
        The weighted data with the background projected out.

    Examples
    --------
    The same solution as without the projector:

    >>> import numpy as np
    >>> from xpipe.xrd.linsolve import BackgroundProjector, background_basis, solve_linear
    >>> x = np.linspace(10.0, 30.0, 201)
    >>> a = np.column_stack([background_basis(x, 4), np.exp(-((x - 20.0) / 0.2) ** 2)])
    >>> y, wt = 5.0 + 0.1 * x + 40.0 * a[:, -1], np.full(x.size, 0.5)
    >>> bg = BackgroundProjector.build(a[:, :7], wt, y * wt)
    >>> fast = solve_linear(a, y * wt, wt, 7, background=bg)
    >>> round(float(fast.coef[-1]), 6), bool(np.allclose(fast.coef, solve_linear(a, y * wt, wt, 7).coef))
    (40.0, True)
    """

    q: np.ndarray
    r: np.ndarray
    norms: np.ndarray
    yp: np.ndarray

    @classmethod
    def build(cls, basis: np.ndarray, wt: np.ndarray, yw: np.ndarray) -> BackgroundProjector:
        """Factorise ``basis`` weighted by ``wt`` and project it out of the weighted data ``yw``."""
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
    negative solution are dropped and the rest solved again (active set).

    Parameters
    ----------
    a : ndarray
        ``(n_points, n_columns)`` background columns, then intensity columns (counts per unit
        coefficient).
    yw : ndarray
        Weighted data ``wt * y``.
    wt : ndarray
        Weights, ``1 / sigma`` (1/counts), 0 for points left out.
    n_free : int
        Number of leading (background) columns without a sign constraint.
    active : ndarray of bool, optional
        Columns allowed in the solution (default all).
    max_rounds : int
        Most active-set rounds.
    background : BackgroundProjector, optional
        The first ``n_free`` columns factorised once; then only the intensity columns are
        factorised.

    Returns
    -------
    LinearSolution
        Coefficients, the active columns, the weighted residual and chi^2.

    Examples
    --------
    An intensity that would come out negative is dropped; the background takes the mean:

    >>> import numpy as np
    >>> from xpipe.xrd.linsolve import solve_linear
    >>> x = np.linspace(0.0, 1.0, 51)
    >>> sol = solve_linear(np.column_stack([np.ones(51), x]), 2.0 - 3.0 * x, np.ones(51), 1)
    >>> np.round(sol.coef, 6).tolist(), sol.active.tolist()
    ([0.5, 0.0], [True, False])
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
    """``v`` minus its projection on the columns of the orthonormal ``q``.

    Parameters
    ----------
    q : ndarray
        ``(n, k)`` orthonormal columns.
    v : ndarray
        ``(n,)`` or ``(n, m)`` vectors.

    Returns
    -------
    ndarray
        The part of ``v`` orthogonal to ``q``.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.linsolve import project_out
    >>> project_out(np.array([[1.0], [0.0]]), np.array([3.0, 4.0])).tolist()
    [0.0, 4.0]
    """
    return v - q @ (q.T @ v)
