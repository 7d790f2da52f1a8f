"""Uncertainties of a fit: the covariance of the free parameters at the optimum, its propagation
to every reported quantity by the delta method, and Monte-Carlo refits of noisy copies.

The covariance comes from a central-difference Jacobian of the normalised residual, ``(J^T J)^-1``
scaled by the reduced chi-square; a parameter at a bound is held there (zero error) instead of
making the whole matrix singular. Derived errors use numerical gradients through the links and
doublet rules, so correlations are respected.
"""

from __future__ import annotations

import math

import lmfit
import numpy as np

from .data import _static_background
from .evaluate import _evaluate, _Problem


def _bound_side(p: lmfit.Parameter, area_total: float | None) -> str | None:
    """'lower'/'upper' when a free parameter sits within 0.1 % of its range (for a half-open
    range: of the total peak area for areas, of its own value otherwise) of a bound. A positive
    range over more than three decades (a line shape's exponent, 1e-6 to 1000) is measured on a
    log scale, so a value of 0.5 is not 'at' a bound of 1e-6."""
    lo, hi = p.min, p.max
    if np.isfinite(lo) and np.isfinite(hi) and lo > 0 and hi / lo > 1e3 and p.value > 0:
        tol = 1e-3 * np.log(hi / lo)
        if np.log(p.value / lo) <= tol:
            return "lower"
        if np.log(hi / p.value) <= tol:
            return "upper"
        return None
    if np.isfinite(lo) and np.isfinite(hi):
        tol = 1e-3 * (hi - lo)
    elif area_total is not None:
        tol = 1e-3 * max(area_total, 1e-300)
    else:
        tol = 1e-3 * max(abs(p.value), 1e-12)
    if np.isfinite(lo) and p.value - lo <= tol:
        return "lower"
    if np.isfinite(hi) and hi - p.value <= tol:
        return "upper"
    return None


def _area_totals(problem: _Problem, v) -> dict[str, float]:
    out = {}
    for sp in problem.spectra:
        tot = float(sum(s.area.fn(v) for s in sp.comp.species))
        out.update({n: tot for n in sp.comp.area_params})
    return out


def _numeric_covariance(problem: _Problem, params: lmfit.Parameters, free: list[str], redchi: float
                        ) -> tuple[np.ndarray | None, list[str]]:
    """Covariance of the free parameters from a central-difference Jacobian of the normalised
    residual at the optimum, scaled by the reduced chi-square. Parameters at a bound are held
    (zero rows and columns): at a bound the fit is conditional on it, and the at-bound
    diagnostic says so. Returns (covariance over ``free`` or None if singular, held names)."""
    p = params.copy()
    p.update_constraints()
    totals = _area_totals(problem, p.valuesdict())
    held = [n for n in free if _bound_side(p[n], totals.get(n)) is not None]
    active = [n for n in free if n not in held]
    if not active:
        return np.zeros((len(free), len(free))), held

    r0 = problem.residual(p)

    def jacobian(steps):
        cols = []
        for n, h in zip(active, steps):
            par = p[n]
            x0 = par.value
            hp, hm = min(h, par.max - x0), min(h, x0 - par.min)
            par.value = x0 + hp
            p.update_constraints()
            rp = problem.residual(p)
            par.value = x0 - hm
            p.update_constraints()
            rm = problem.residual(p)
            par.value = x0
            if np.any(np.abs(rp) >= problem.BAD):  # the model fails on one side: one-sided step
                rp, hp = r0, 0.0
            if np.any(np.abs(rm) >= problem.BAD):
                rm, hm = r0, 0.0
            cols.append((rp - rm) / (hp + hm) if hp + hm > 0 else np.zeros_like(rp))
        p.update_constraints()
        return np.stack(cols, axis=1)

    def invert(jac):
        jtj = jac.T @ jac
        d = np.sqrt(np.diag(jtj))
        if not np.all(np.isfinite(jtj)) or np.any(d <= 0):
            return None
        a = jtj / np.outer(d, d)
        if np.linalg.cond(a) > 1e13:
            return None
        return np.linalg.inv(a) / np.outer(d, d) * (redchi if np.isfinite(redchi) and redchi > 0 else 1.0)

    steps = [1e-6 * max(abs(p[n].value), 1e-2) for n in active]
    cov = invert(jacobian(steps))
    if cov is None:
        return None, held
    # second pass with steps of 5 % of the standard deviations
    steps = [max(5e-2 * math.sqrt(max(cov[i, i], 0.0)), 1e-9 * max(abs(p[n].value), 1e-2))
             for i, n in enumerate(active)]
    cov2 = invert(jacobian(steps))
    cov = cov2 if cov2 is not None else cov
    full = np.zeros((len(free), len(free)))
    idx = [free.index(n) for n in active]
    full[np.ix_(idx, idx)] = cov
    return full, held


def _propagate(problem: _Problem, params: lmfit.Parameters, free: list[str], covar: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """Quantities at ``params`` and their covariance by the delta method (numerical Jacobian)."""
    p = params.copy()
    p.update_constraints()
    q0 = problem.quantities(p.valuesdict())
    if covar is None or not free:
        return q0, None
    jac = np.zeros((q0.size, len(free)))
    for i, name in enumerate(free):
        par = p[name]
        x0 = par.value
        s = math.sqrt(covar[i, i]) if covar[i, i] > 0 else 0.0
        h = 2e-2 * s if s > 0 else 1e-7 * max(abs(x0), 1.0)
        h = max(h, 1e-10 * max(abs(x0), 1.0))
        hp = min(h, par.max - x0)
        hm = min(h, x0 - par.min)
        par.value = x0 + hp
        p.update_constraints()
        qp = problem.quantities(p.valuesdict())
        par.value = x0 - hm
        p.update_constraints()
        qm = problem.quantities(p.valuesdict())
        par.value = x0
        if hp + hm > 0:
            jac[:, i] = (qp - qm) / (hp + hm)
    p.update_constraints()
    jac = np.nan_to_num(jac)
    return q0, jac @ covar @ jac.T


def _monte_carlo(problem: _Problem, result, spectra, n, kind, seed, method, options):
    rng = np.random.default_rng(seed)
    best = result.params
    v = best.valuesdict()
    saved = [(sp.y, sp.bg_static) for sp in spectra]
    scale = math.sqrt(max(result.redchi, 1e-12)) if np.isfinite(result.redchi) else 1.0
    models = [_evaluate(sp, v)[0] for sp in spectra]
    resid_norm = [(sp.y - m) / sp.sigma for sp, m in zip(spectra, models)]
    samples = []
    failed = 0
    try:
        for _ in range(n):
            for sp, m, rn in zip(spectra, models, resid_norm):
                if kind == "bootstrap":
                    noise = sp.sigma * rng.choice(rn, size=rn.size, replace=True)
                else:
                    noise = rng.normal(0.0, 1.0, size=sp.y.size) * sp.sigma * scale
                sp.y = m + noise
                if sp.kind != "active_shirley":
                    sp.bg_static, _ = _static_background(sp.kind, sp.x, sp.y, options)
            try:
                r = problem.minimize(best.copy(), method)
                samples.append(problem.quantities(r.params.valuesdict()))
            except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                failed += 1
    finally:
        for sp, (y, b) in zip(spectra, saved):
            sp.y, sp.bg_static = y, b
    info = {"n": n, "n_ok": len(samples), "n_failed": failed, "kind": kind, "seed": seed,
            "noise": "normal(0, sigma * sqrt(reduced chi-square))" if kind != "bootstrap" else "resampled normalised residuals"}
    if len(samples) < 2:
        return None, info
    return np.std(np.asarray(samples), axis=0, ddof=1), info
