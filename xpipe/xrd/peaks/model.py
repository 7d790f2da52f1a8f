"""The peak model (area-normalised pseudo-Voigt on a linear background) and its solver.

:func:`_model_and_jacobian` evaluates the model of P problems at once with its analytic
Jacobian; :func:`_levenberg_marquardt` solves them together with per-problem damping and
bounds by projection; :func:`_covariance` gives the variances of the free parameters.
"""

from __future__ import annotations

import numpy as np

from ...lineshapes import GAUSS_C, GAUSS_NORM
from ...lineshapes import pseudo_voigt as _pseudo_voigt

#: Area / (height x FWHM) of a pseudo-Voigt with eta = 0.5 (Gaussian 1.064, Lorentzian 1.571).
_AREA_FACTOR_HALF = 0.5 * np.sqrt(np.pi / GAUSS_C) + 0.5 * np.pi / 2


def pseudo_voigt(x: np.ndarray, x0: float, fwhm: float, area: float, eta: float) -> np.ndarray:
    """Area-normalised pseudo-Voigt profile.

    Parameters
    ----------
    x : radial axis (any unit).
    x0 : peak position, unit of ``x``.
    fwhm : full width at half maximum (> 0), unit of ``x``.
    area : integrated area, intensity x unit of ``x``.
    eta : Lorentzian fraction, 0 (Gaussian) .. 1 (Lorentzian).

    Returns
    -------
    np.ndarray
        ``area * (eta * L + (1 - eta) * G)`` at ``x``.


    Examples
    --------
    >>> import numpy as np
    >>> y = pseudo_voigt(np.array([11.0, 11.025]), 11.0, 0.05, 1.0, 0.3)
    >>> np.round(y, 3).tolist()  # maximum, then half of it one half-width away
    [16.972, 8.486]
    """
    return area * _pseudo_voigt(x, x0, fwhm, eta)


def _model_and_jacobian(theta: np.ndarray, x: np.ndarray, xc: np.ndarray, n_peaks: int):
    """Model (P, M) and analytic Jacobian (P, M, 4K+2) for P problems at once.

    ``theta[:, 4k:4k+4]`` = (x0, w, A, eta) of peak k, ``theta[:, 4K:4K+2]`` = (b0, b1);
    ``x`` (P, M) points, ``xc`` (P,) window centres.
    """
    k4 = 4 * n_peaks
    x0 = theta[:, 0:k4:4][:, None, :]
    w = theta[:, 1:k4:4][:, None, :]
    a = theta[:, 2:k4:4][:, None, :]
    eta = theta[:, 3:k4:4][:, None, :]
    u = (x[:, :, None] - x0) / w
    u2 = u * u
    den = 1.0 + 4.0 * u2
    g = GAUSS_NORM / w * np.exp(-GAUSS_C * u2)
    lor = 2.0 / np.pi / w / den
    prof = eta * lor + (1.0 - eta) * g
    dx = x - xc[:, None]
    model = (a * prof).sum(axis=2)
    model += theta[:, k4, None] + theta[:, k4 + 1, None] * dx
    jac = np.empty(x.shape + (k4 + 2,))
    jac[:, :, 0:k4:4] = a * (eta * lor * 8.0 * u / den + (1.0 - eta) * g * 2.0 * GAUSS_C * u) / w
    jac[:, :, 1:k4:4] = a * (eta * lor * (4.0 * u2 - 1.0) / den
                             + (1.0 - eta) * g * (2.0 * GAUSS_C * u2 - 1.0)) / w
    jac[:, :, 2:k4:4] = prof
    jac[:, :, 3:k4:4] = a * (lor - g)
    jac[:, :, k4] = 1.0
    jac[:, :, k4 + 1] = dx
    return model, jac


def _levenberg_marquardt(theta, x, xc, y, wts, free, lower, upper, n_peaks, max_iter, ftol, xtol):
    """Vectorised bounded Levenberg-Marquardt over P problems.

    Returns theta, chi2, the normal matrix H, iterations and whether each converged.
    """
    n_prob, n_par = theta.shape
    theta = np.clip(theta, lower, upper)
    fixed = ~free
    eye = np.eye(n_par)

    def evaluate(th, xs, xcs, ys, ws, fr):
        model, jac = _model_and_jacobian(th, xs, xcs, n_peaks)
        jac *= fr[:, None, :]
        res = ys - model
        jw = jac * ws[:, :, None]
        jwt = jw.transpose(0, 2, 1)  # batched matmul (BLAS) is much faster than einsum here
        hess = jwt @ jac
        grad = (jwt @ res[:, :, None])[:, :, 0]
        chi2 = np.einsum("pm,pm->p", ws * res, res)
        return chi2, hess, grad

    chi2, hess, grad = evaluate(theta, x, xc, y, wts, free)
    lam = np.full(n_prob, 1e-3)
    iters = np.zeros(n_prob, dtype=int)
    converged = np.zeros(n_prob, dtype=bool)
    active = np.isfinite(chi2)
    for _ in range(max_iter):
        ia = np.flatnonzero(active)
        if ia.size == 0:
            break
        h = hess[ia]
        d = np.diagonal(h, axis1=1, axis2=2)
        dmax = d.max(axis=1, keepdims=True)
        dscale = np.maximum(d, 1e-12 * dmax + 1e-300)
        th, g = theta[ia], grad[ia]
        # active set: a parameter on a bound whose gradient points outwards is held this step
        span = 1e-12 * (np.abs(th) + 1.0)
        held = ((th <= lower[ia] + span) & (g < 0)) | ((th >= upper[ia] - span) & (g > 0))
        fx = fixed[ia] | held
        a = h + lam[ia, None, None] * dscale[:, :, None] * eye
        a = np.where(fx[:, :, None] | fx[:, None, :], 0.0, a) + fx[:, :, None] * eye
        g = np.where(fx, 0.0, g)
        try:
            step = np.linalg.solve(a, g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = np.einsum("pij,pj->pi", np.linalg.pinv(a), g)
        trial = np.clip(th + step, lower[ia], upper[ia])
        predicted = np.einsum("pi,pi->p", g, step)  # Gauss-Newton decrease of chi2 / 2 (damped)
        c2, h2, g2 = evaluate(trial, x[ia], xc[ia], y[ia], wts[ia], free[ia])
        better = np.isfinite(c2) & (c2 <= chi2[ia])
        iters[ia] += 1
        acc = ia[better]
        decrease = chi2[acc] - c2[better]
        real_step = trial[better] - theta[acc]
        theta[acc] = trial[better]
        chi2[acc] = c2[better]
        hess[acc] = h2[better]
        grad[acc] = g2[better]
        lam[acc] = np.maximum(lam[acc] / 10.0, 1e-12)
        rej = ia[~better]
        lam[rej] *= 10.0
        small = (decrease <= ftol * np.maximum(chi2[acc], 1e-300)) | np.all(
            np.abs(real_step) <= xtol * (np.abs(theta[acc]) + xtol), axis=1
        )
        stuck = (lam[rej] > 1e10) | (predicted[~better] <= 0.5 * ftol * chi2[rej])
        done = np.concatenate([acc[small], rej[stuck]])
        converged[done] = True
        active[done] = False
    return theta, chi2, hess, iters, converged


def _covariance(hess: np.ndarray, free: np.ndarray) -> np.ndarray:
    """(J^T W J)^-1 over the free parameters (pseudo-inverse, scaled), NaN where undetermined."""
    d = np.diagonal(hess, axis1=1, axis2=2).copy()
    ok = free & (d > 0) & np.isfinite(d)
    s = np.where(ok, np.sqrt(np.where(ok, d, 1.0)), 1.0)
    corr = hess / s[:, :, None] / s[:, None, :]
    corr = np.where(ok[:, :, None] & ok[:, None, :], corr, 0.0)
    corr = np.where(np.isfinite(corr), corr, 0.0)
    cov = np.linalg.pinv(corr, hermitian=True) / s[:, :, None] / s[:, None, :]
    diag = np.diagonal(cov, axis1=1, axis2=2).copy()
    diag[~ok] = np.nan
    return diag
