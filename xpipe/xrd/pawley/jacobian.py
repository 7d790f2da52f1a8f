"""The separable least-squares problem of one frame and its Jacobian.

The pseudo-Voigt shape functions and their derivatives (:func:`_pv_parts`,
:func:`_pv_jacobian`), the non-negative intensities from the normal equations
(:func:`_nnls_gram`), and :class:`_FrameProblem`: the background projected out, the
intensities solved for given non-linear parameters, and Kaufman's variable-projection
Jacobian handed to :func:`scipy.optimize.least_squares`.
"""

from __future__ import annotations

import math

import numpy as np

from ...lineshapes import GAUSS_C, GAUSS_NORM
from .model import _ModelError


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


