"""Diagnostics of a fitted spectrum: what makes its numbers doubtful, and what to change.

``unresolved`` (two lines closer than half their mean true FWHM), ``correlation`` (|r| > 0.9
between free parameters), ``at_bound`` (within 0.1 % of the range of a bound),
``structured_residuals`` (Wald-Wolfowitz runs test on the residual signs, z < -3, or lag-1
autocorrelation of the normalised residuals > 0.5), ``reduced_chi_square`` (< 0.5 or > 3),
``negative_peaks``, ``outside_region``, ``model_evaluation``, ``not_converged`` and
``no_uncertainties``.
"""

from __future__ import annotations

import math

import numpy as np

from .data import _Spectrum
from .results import Diagnostic
from .uncertainty import _bound_side


def _diag_residuals(sp: _Spectrum, r_norm: np.ndarray, name_suffix: str) -> list[Diagnostic]:
    out = []
    r = r_norm[r_norm != 0]
    n = r.size
    if n >= 10:
        pos = r > 0
        n1, n2 = int(pos.sum()), int((~pos).sum())
        runs = 1 + int(np.count_nonzero(pos[1:] != pos[:-1]))
        z, mu, var = np.nan, np.nan, np.nan
        if n1 and n2:
            mu = 2.0 * n1 * n2 / n + 1
            var = 2.0 * n1 * n2 * (2.0 * n1 * n2 - n) / (n * n * (n - 1))
            z = (runs - mu) / math.sqrt(var) if var > 0 else np.nan
        rc = r_norm - r_norm.mean()
        den = float(rc @ rc)
        ac = float(rc[1:] @ rc[:-1]) / den if den > 0 else 0.0
        if (np.isfinite(z) and z < -3.0) or ac > 0.5:
            out.append(Diagnostic("structured_residuals",
                                  f"residuals are structured{name_suffix}: {runs} sign runs where {mu:.0f} +- "
                                  f"{math.sqrt(var) if var > 0 else np.nan:.0f} are expected (runs test z = {z:.1f}), lag-1 autocorrelation "
                                  f"{ac:.2f}; a component, the lineshape or the background is missing or wrong",
                                  "warning", ()))
    return out



def _diagnose(sp, params, free, covar, comps, corr, rn, redchi, result, labels, bg, own, series,
              problem_failures=0, problem_last="") -> list[Diagnostic]:
    out: list[Diagnostic] = []
    suffix = f" in spectrum {sp.index}" if series else ""
    if not result.success:
        out.append(Diagnostic("not_converged", f"the minimiser did not converge{suffix}: {result.message}", "error", ()))
    if problem_failures:
        out.append(Diagnostic("model_evaluation", f"the model could not be evaluated at {problem_failures} trial "
                              f"points of the fit (last: {problem_last}); the minimiser stepped back from them",
                              "warning", ()))
    if covar is None:
        out.append(Diagnostic("no_uncertainties", "the covariance matrix could not be estimated (singular: a "
                              "parameter has no effect on the fit); errors are NaN", "error", ()))
    # unresolved pairs
    minor = {sp.comp.lines[s.lines[1]].name for s in sp.comp.species if s.kind == "doublet"}
    for i in range(len(comps)):
        for j in range(i + 1, len(comps)):
            a, b = comps[i], comps[j]
            if a.name in minor and b.name in minor:
                continue  # follow their major lines, which are checked
            d = abs(a.center - b.center)
            half = 0.25 * (a.fwhm + b.fwhm)
            if d < half:
                out.append(Diagnostic("unresolved", f"{a.name!r} and {b.name!r} are {d:.2f} eV apart, less than half "
                                      f"their mean FWHM ({2 * half:.2f} eV){suffix}: their areas are not separately determined",
                                      "warning", (a.name, b.name)))
    # strong correlations
    for (p1, p2), r in corr.items():
        if abs(r) > 0.9:
            out.append(Diagnostic("correlation", f"{p1} and {p2} are correlated (r = {r:+.3f}){suffix}; constrain one "
                                  "(link, fix, or share it over a series)", "warning", (p1, p2)))
    # at bounds
    area_total = sum(c.area for c in comps)
    for n in own:
        p = params[n]
        if not (p.vary and not p.expr):
            continue
        lo, hi = p.min, p.max
        side = _bound_side(p, area_total if n in sp.comp.area_params else None)
        if side:
            lab = labels.get(n, n)
            out.append(Diagnostic("at_bound", f"{lab} = {p.value:.4g} is at its {side} bound ({lo:g}, {hi:g}){suffix}; "
                                  "its uncertainty is not meaningful: widen the bound or fix the parameter",
                                  "warning", (lab,)))
    out += _diag_residuals(sp, rn, suffix)
    if redchi < 0.5 or redchi > 3.0:
        why = ("the model misses structure or the weights are too small (intensity not in counts?)" if redchi > 3
               else "the weights are too large (smoothed or averaged data?) or the model is over-flexible")
        out.append(Diagnostic("reduced_chi_square", f"reduced chi-square {redchi:.3g} is far from 1 with "
                              f"{sp.weights} weights{suffix}: {why}", "warning", ()))
    # background above the data (negative peak intensity)
    below = (sp.y - bg) < -3.0 * sp.sigma
    if below.mean() > 0.05:
        out.append(Diagnostic("negative_peaks", f"the background lies more than 3 sigma above the data at "
                              f"{100 * below.mean():.0f} % of the points{suffix} (negative peak intensity): check the "
                              "region ends and the background kind", "warning", ()))
    neg = [c.name for c in comps if c.area < 0]
    if neg:
        out.append(Diagnostic("negative_peaks", f"negative area for {', '.join(neg)}{suffix}", "error", tuple(neg)))
    for c in comps:
        if not sp.region[0] <= c.center <= sp.region[1]:
            out.append(Diagnostic("outside_region", f"{c.name!r} at {c.center:.2f} eV lies outside the fit region "
                                  f"{sp.region[0]:g}-{sp.region[1]:g} eV{suffix}", "warning", (c.name,)))
    return out

