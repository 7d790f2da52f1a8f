"""Reporting a fit: every line and model entry with its errors, areas and valence shares, the
parameter table, the settings, and the Monte-Carlo table of each spectrum.

:func:`_finish` turns the minimiser's result into one :class:`~xpipe.xps.fit.results.XpsFit`
per spectrum: it checks the optimum, estimates the errors once for all spectra (a series shares
one covariance), runs the Monte-Carlo refits when asked, and then reports each spectrum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lmfit
import numpy as np

from .data import _Spectrum
from .diagnostics import _diagnose
from .evaluate import _evaluate, _line_values, _Problem
from .links import _free_dependencies
from .model import _DOUBLET_QUANTITIES, _model_settings
from .results import ComponentResult, SpeciesResult, XpsFit
from .uncertainty import _monte_carlo, _numeric_covariance, _propagate

_LINE_QUANTITIES = ("center", "fwhm", "area", "height", "fraction")


@dataclass
class _Errors:
    """The reported quantities of all spectra (ordered as ``_Problem.qkeys``) with their errors."""

    free: list[str]
    covar: np.ndarray | None  # over ``free``; None when singular
    held: list[str]  # free parameters held at a bound
    stderr: dict[str, float]
    q0: np.ndarray
    qerr: np.ndarray
    kidx: dict[tuple, int]
    mc_std: np.ndarray | None = None

    def val(self, k: int, kind: str, i: int, q: str) -> tuple[float, float, float | None]:
        """(value, error, Monte-Carlo standard deviation or None) of one quantity of spectrum k."""
        j = self.kidx[(k, kind, i, q)]
        e = self.qerr[j]
        m = float(self.mc_std[j]) if self.mc_std is not None else None
        return float(self.q0[j]), float(e), m


@dataclass
class _Report:
    """What the report of every spectrum of one fit shares."""

    params: lmfit.Parameters
    values: dict[str, float]
    result: Any  # lmfit.MinimizerResult
    labels: dict[str, str]
    errors: _Errors
    corr_all: dict[tuple[str, str], float]
    deps: dict[str, set[str]]
    failures: tuple[int, str]
    series: bool
    model: Any
    links: Any
    shared_texts: Any
    applied: list[tuple[str, str]]
    options: dict
    source: str | None
    method: str
    mc_info: dict[str, Any]


def _errors(problem: _Problem, result) -> _Errors:
    """Covariance of the free parameters and its propagation to every reported quantity."""
    params = result.params
    free = list(result.var_names)
    covar, held = _numeric_covariance(problem, params, free, float(result.redchi))
    stderr = dict(zip(free, np.sqrt(np.clip(np.diag(covar), 0, None)))) if covar is not None else {}
    keys = problem.qkeys()
    q0, qcov = _propagate(problem, params, free, covar)
    qerr = np.sqrt(np.clip(np.diag(qcov), 0, None)) if qcov is not None else np.full(q0.size, np.nan)
    kidx = {k: i for i, k in enumerate(keys)}
    return _Errors(free, covar, held, stderr, q0, qerr, kidx)


def _correlations(covar: np.ndarray | None, free: list[str], labels: dict[str, str]
                  ) -> dict[tuple[str, str], float]:
    """Correlation coefficients above 0.5 in magnitude among the free parameters, by label."""
    corr_all: dict[tuple[str, str], float] = {}
    if covar is not None:
        sd = np.sqrt(np.clip(np.diag(covar), 0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            cm = covar / np.outer(sd, sd)
        for i in range(len(free)):
            for j in range(i + 1, len(free)):
                r = cm[i, j]
                if np.isfinite(r) and abs(r) > 0.5:
                    corr_all[(labels.get(free[i], free[i]), labels.get(free[j], free[j]))] = float(r)
    return corr_all


def _finish(problem: _Problem, result, spectra: list[_Spectrum], model, *, links, shared_texts, applied,
            options, source, method, monte_carlo, mc_kind, seed, series):
    """One :class:`XpsFit` per spectrum, the joint correlations and the Monte-Carlo statistics."""
    params = result.params
    failures = (problem.failures, problem.last_failure)
    if np.any(np.abs(problem.residual(params)) >= problem.BAD):
        raise ValueError(f"the model cannot be evaluated at the end of the fit ({problem.last_failure}); "
                         "check the starting values and bounds of the lineshape parameters")
    values = params.valuesdict()
    errors = _errors(problem, result)
    labels: dict[str, str] = {}
    for sp in spectra:
        labels.update(sp.comp.labels)
    corr_all = _correlations(errors.covar, errors.free, labels)
    mc_info: dict[str, Any] = {}
    if monte_carlo and monte_carlo > 0:
        errors.mc_std, mc_info = _monte_carlo(problem, result, spectra, int(monte_carlo), mc_kind, seed, method,
                                              options)
    rep = _Report(params, values, result, labels, errors, corr_all, _free_dependencies(params), failures, series,
                  model, links, shared_texts, applied, options, source, method, mc_info)
    fits = [_spectrum_fit(rep, sp) for sp in spectra]
    return fits, corr_all, mc_info


def _spectrum_fit(rep: _Report, sp: _Spectrum) -> XpsFit:
    """The fit of one spectrum: curves, statistics, results, diagnostics and tables."""
    params, labels, result = rep.params, rep.labels, rep.result
    model_arr, bg, curves = _evaluate(sp, rep.values, curves=True)
    resid = sp.y - model_arr
    rn = resid / sp.sigma
    chi2 = float(rn @ rn)
    own = [n for n in params if n.startswith(sp.comp.prefix)] if rep.series else list(params)
    deps = set()
    for n in own:
        deps |= rep.deps.get(n, set())
    npar = len(deps)
    npts = sp.x.size
    redchi = chi2 / max(npts - npar, 1)
    comps = _line_results(rep, sp)
    species = _species_results(rep, sp)
    mv = rep.errors.val(sp.index, "mean_valence", 0, "value")
    has_val = any(s.label_valence is not None for s in sp.comp.species)
    ptable = _parameter_table(rep, own)
    dep_labels = {labels.get(n, n) for n in deps}
    corr = {pair: r for pair, r in rep.corr_all.items() if pair[0] in dep_labels and pair[1] in dep_labels}
    n_fail, last_fail = rep.failures
    diags = list(sp.bg_note)
    diags += _diagnose(sp, params, rep.errors.free, rep.errors.covar, comps, corr, rn, redchi, result, labels, bg,
                       own, rep.series, n_fail if sp.index == 0 else 0, last_fail)
    return XpsFit(
        comps, species, mv[0] if has_val else None, mv[1] if has_val else None, sp.x, sp.y, sp.sigma, bg, model_arr,
        resid, curves, sp.region, sp.kind, chi2, redchi, int(npts), int(npar), bool(result.success),
        str(result.message), corr, diags, _fit_settings(rep, sp, bg, comps), ptable, _mc_table(rep, sp), params)


def _line_results(rep: _Report, sp: _Spectrum) -> list[ComponentResult]:
    """Each line with its centre, true FWHM, area, height and fraction."""
    has_mc = rep.errors.mc_std is not None
    comps = []
    for li, ln in enumerate(sp.comp.lines):
        got = {q: rep.errors.val(sp.index, "line", li, q) for q in _LINE_QUANTITIES}
        c, w, a, kw = _line_values(ln, rep.values)
        comps.append(ComponentResult(
            ln.name, ln.shape, got["center"][0], got["center"][1], got["fwhm"][0], got["fwhm"][1],
            got["area"][0], got["area"][1], got["height"][0], got["height"][1], got["fraction"][0],
            got["fraction"][1], ln.label_valence, ln.sensitivity, float(w), {kk: float(x) for kk, x in kw.items()},
            ln.doublet, {q: g[2] for q, g in got.items()} if has_mc else {}))
    return comps


def _species_results(rep: _Report, sp: _Spectrum) -> list[SpeciesResult]:
    """Each model entry with its total area, fraction and (doublets) splitting and ratios."""
    has_mc = rep.errors.mc_std is not None
    species = []
    for si, s in enumerate(sp.comp.species):
        ga, gf = rep.errors.val(sp.index, "species", si, "area"), rep.errors.val(sp.index, "species", si, "fraction")
        ex = {q: rep.errors.val(sp.index, "species", si, q) for q in s.extra}
        mc = {"area": ga[2], "fraction": gf[2], **{q: g[2] for q, g in ex.items()}} if has_mc else {}
        species.append(SpeciesResult(
            s.name, s.kind, [sp.comp.lines[i].name for i in s.lines], ga[0], ga[1], gf[0], gf[1], s.label_valence,
            s.sensitivity, *(ex[q][j] if q in ex else None for q in _DOUBLET_QUANTITIES for j in (0, 1)), mc=mc))
    return species


def _parameter_table(rep: _Report, own: list[str]) -> dict[str, dict[str, Any]]:
    """Label -> value, error, vary, expression, bounds and name of each parameter of a spectrum."""
    stderr = rep.errors.stderr
    ptable = {}
    for n in own:
        p = rep.params[n]
        ptable[rep.labels.get(n, n)] = {"value": float(p.value), "err": float(stderr[n]) if n in stderr else None,
                                        "vary": bool(p.vary and not p.expr), "expr": p.expr, "min": float(p.min),
                                        "max": float(p.max), "name": n}
    return ptable


def _fit_settings(rep: _Report, sp: _Spectrum, bg: np.ndarray, comps: list[ComponentResult]) -> dict[str, Any]:
    """Every choice the fit of one spectrum made, as plain data."""
    labels, options = rep.labels, rep.options
    return {
        "model": _model_settings(rep.model),
        "lineshapes": {c.name: {"shape": c.shape, **c.shape_params} for c in comps},
        "links": list(rep.links or ()),
        "links_applied": [(t, labels.get(p, p)) for t, p in rep.applied],
        "shared": list(rep.shared_texts or ()),
        "background": {"kind": sp.kind, "options": dict(options),
                       "endpoints": (float(bg[0]), float(bg[-1])),
                       "fit_endpoints": bool(options.get("fit_endpoints", True)) if sp.kind == "active_shirley" else None},
        "region": sp.region,
        "weights": sp.weights,
        "source": rep.source,
        "method": rep.method,
        "covariance": ("central-difference Jacobian at the optimum, scaled by the reduced chi-square, "
                       "parameters at a bound held; derived errors by the delta method on the full covariance"),
        "held_at_bound": [labels.get(n, n) for n in rep.errors.held],
        "axis": "binding energy, eV, ascending",
    }


def _mc_table(rep: _Report, sp: _Spectrum) -> dict[str, Any]:
    """Monte-Carlo statistics and the standard deviation of each quantity of one spectrum."""
    mc_std = rep.errors.mc_std
    if mc_std is None:
        return {}
    mcd = dict(rep.mc_info)
    mcd["std"] = {}
    for key, j in rep.errors.kidx.items():
        if key[0] != sp.index:
            continue
        mcd["std"][_qlabel(sp, key)] = float(mc_std[j])
    return mcd


def _qlabel(sp: _Spectrum, key) -> str:
    _, kind, i, q = key
    if kind == "line":
        return f"{q}({sp.comp.lines[i].name})"
    if kind == "species":
        return f"{q}({sp.comp.species[i].name})"
    return "mean_valence"
