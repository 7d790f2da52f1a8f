"""Fitting: the spectra and parameters of a fit, links and shared parameters applied, starting
areas, the minimisation, and the two entry points :func:`fit_spectrum` and :func:`fit_series`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import lmfit
import numpy as np
from scipy.optimize import nnls

from .compiled import _compile, _resolve
from .data import _end_levels, _prepare, _Spectrum, _static_background
from .evaluate import _line_values, _Problem
from .links import _check_cycles, _LinkError, _parse_link, _tokenize
from .model import BACKGROUNDS, ModelEntry
from .multistart import DEFAULT_LOCAL, DEFAULT_SCREEN, global_fit
from .report import _finish
from .results import Diagnostic, SeriesFit, XpsFit

# ----------------------------------------------------------------------------- starts


def _initial_areas(sp: _Spectrum, params: lmfit.Parameters):
    """Non-negative least squares of the data above the background on the initial line profiles,
    for the entries whose area was not given."""
    comp = sp.comp
    v = params.valuesdict()
    cols, targets = [], []
    fixed = np.zeros_like(sp.x)
    est_names = [n for n in comp.area_params if params[n].user_data.get("estimate") and not params[n].expr]
    for s in comp.species:
        pa = s.area.param
        col = np.zeros_like(sp.x)
        for li in s.lines:
            ln = comp.lines[li]
            c, w, a, kw = _line_values(ln, v)
            share = a / v[pa] if v[pa] else 0.0
            col += share * ln.func(sp.x, c, w, **kw)
        if pa in est_names:
            cols.append(col)
            targets.append(pa)
        elif pa is not None:
            fixed += v[pa] * col
    if not targets:
        return
    bg = sp.bg_static  # for the active Shirley: the Shirley of the data, as a start
    b = (sp.y - bg - fixed) / sp.sigma
    a_mat = np.stack(cols, axis=1) / sp.sigma[:, None]
    scale = np.maximum(np.linalg.norm(a_mat, axis=0), 1e-300)
    sol = nnls(a_mat / scale, b)[0] / scale
    total = float(np.trapezoid(np.clip(sp.y - bg, 0, None), sp.x)) if hasattr(np, "trapezoid") else float(
        np.trapz(np.clip(sp.y - bg, 0, None), sp.x))
    floor = max(0.02 * max(sol.sum(), total) / len(sol), 1e-6)
    for name, a in zip(targets, sol):
        params[name].value = max(float(a), floor)


# ----------------------------------------------------------------------------- spectra, links, shared


def _spectra(spectra_in, model, params: lmfit.Parameters, kind: str, opts: dict, region, source,
             series: bool) -> list[_Spectrum]:
    """Cut, weight and compile each spectrum; its parameters are added to ``params`` in order."""
    spectra: list[_Spectrum] = []
    for k, item in enumerate(spectra_in):
        x, y, s = (item + (None,))[:3] if len(item) == 2 else item
        xs, ys, ss, reg, weights = _prepare(x, y, s, region, source)
        bg, notes = _static_background(kind, xs, ys, opts)
        sp = _Spectrum(k, xs, ys, ss, reg, kind, opts, bg, bg_note=notes, weights=weights)
        prefix = f"s{k}_" if series else ""
        suffix = f" [{k}]" if series else ""
        sp.comp = _compile(model, params, prefix, suffix)
        if kind == "active_shirley":
            lo, hi = _end_levels(ys, opts.get("avg_points", 5))
            fit_ends = bool(opts.get("fit_endpoints", True))
            sp.low, sp.high = prefix + "bg_y_low", prefix + "bg_y_high"
            params.add(sp.low, value=lo, vary=fit_ends)
            params.add(sp.high, value=hi, vary=fit_ends)
            sp.comp.labels[sp.low] = "y_low(background)" + suffix
            sp.comp.labels[sp.high] = "y_high(background)" + suffix
        spectra.append(sp)
    return spectra


def _resolver(spectra: list[_Spectrum], k_default: int):
    """Resolve ``quantity(name)[idx]`` in spectrum ``idx``, or in ``k_default`` without index."""
    def resolve(quantity, name, idx):
        k = k_default if idx is None else idx
        if not 0 <= k < len(spectra):
            raise ValueError(f"spectrum index [{idx}] out of range (0-{len(spectra) - 1})")
        return _resolve(spectra[k].comp, quantity, name)
    return resolve


def _apply_links(spectra: list[_Spectrum], params: lmfit.Parameters, links) -> list[tuple[str, str]]:
    """Set each link as an lmfit expression: within each spectrum, or once when it carries
    explicit ``[k]`` indices. Returns (link text, parameter) pairs."""
    applied: list[tuple[str, str]] = []
    for text in links or ():
        explicit = isinstance(text, str) and re.search(r"\)\s*\[\s*\d+\s*\]", text) is not None
        targets = [0] if explicit else range(len(spectra))
        for k in targets:
            lhs, expr, _ = _parse_link(text, _resolver(spectra, k))
            par = params[lhs.param]
            par.set(expr=expr, min=-np.inf, max=np.inf)
            applied.append((text, lhs.param))
    return applied


def _apply_shared(spectra: list[_Spectrum], params: lmfit.Parameters, shared) -> list[str]:
    """Make each shared quantity of spectra 1.. follow that of spectrum 0; returns its parameters."""
    shared_params: list[str] = []
    for text in shared or ():
        try:
            toks = _tokenize(text) if isinstance(text, str) else []
            if len(toks) != 1 or toks[0][0] != "ref":
                raise _LinkError("expected one quantity(component)")
            qname, cname, _ = toks[0][1]
            q0 = _resolve(spectra[0].comp, qname, cname)
            if q0.param is None:
                raise _LinkError("it is derived from other parameters; share the doublet's own parameters")
        except ValueError as err:
            raise ValueError(f"shared {text!r}: {err}; expected e.g. 'fwhm(V5+ 2p3/2)' or 'splitting(V5+ 2p)'") from None
        shared_params.append(q0.param)
        for sp in spectra[1:]:
            qk = _resolve(sp.comp, qname, cname)
            params[qk.param].set(expr=q0.param, min=-np.inf, max=np.inf)
    return shared_params


def _build(spectra_in, model, *, shared, links, region, background, background_options, source, series):
    """The spectra and parameters of a fit, links and shared parameters applied, areas started."""
    params = lmfit.Parameters()
    kind = str(background).lower()
    if kind not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; expected one of {', '.join(BACKGROUNDS)}")
    opts = dict(background_options or {})
    spectra = _spectra(spectra_in, model, params, kind, opts, region, source, series)
    applied = _apply_links(spectra, params, links)
    shared_params = _apply_shared(spectra, params, shared)
    _check_cycles(params)
    try:
        params.update_constraints()
    except Exception as err:  # asteval reports bad expressions as NameError/SyntaxError
        raise ValueError(f"the links could not be evaluated: {err}") from None
    for sp in spectra:
        _initial_areas(sp, params)
    return spectra, params, applied, shared_params


def _minimize(problem: _Problem, params: lmfit.Parameters, method: str, starts: int):
    """The minimiser's result and the record of the starts (a plain dict, empty for a single
    lmfit run)."""
    if int(starts) < 1:
        raise ValueError(f"starts={starts}: at least one local fit is needed")
    if method != "least_squares":
        return problem.minimize(params, method), {}
    result, optimum = global_fit(problem, params, screen=DEFAULT_SCREEN if int(starts) > 1 else 0,
                                 local=int(starts))
    return result, optimum.as_dict()


# ----------------------------------------------------------------------------- public API


def fit_spectrum(x, y, model: Sequence[ModelEntry], *, region=None, background: str = "shirley",
                 links: Sequence[str] = (), sigma=None, source: str | None = None, monte_carlo: int = 0,
                 seed: int = 0, background_options: Mapping[str, Any] | None = None,
                 method: str = "least_squares", mc_kind: str = "parametric", starts: int = DEFAULT_LOCAL) -> XpsFit:
    """Fit one XPS spectrum with components and doublets over a background.

    Parameters
    ----------
    x : array_like
        Binding energy, eV (any order; sorted ascending).
    y : array_like
        Intensity, counts (or counts/s with ``sigma`` given).
    model : sequence of Component or Doublet
        The peaks; names must be unique.
    region : (float, float) or list of (float, float), optional
        Fit range in eV; several pairs fit the span of their union under one background.
        Default: the whole axis.
    background : str
        ``"shirley"``, ``"active_shirley"``, ``"linear"``, ``"tougaard"`` or ``"none"``.
    links : sequence of str
        Constraints ``"quantity(A) = expression"``, e.g. ``"fwhm(B) = fwhm(A)"``.
    sigma : array_like or float, optional
        Standard deviation of ``y``, intensity; default Poisson ``sqrt(max(|y|, 1))``.
    source : str, optional
        ``"Al"`` or ``"Mg"`` for a non-monochromatic anode, whose X-ray satellites are removed
        before fitting.
    monte_carlo : int
        Number of refits of noisy copies of the best model (0: none).
    seed : int
        Seed of the Monte-Carlo noise.
    background_options : mapping, optional
        ``avg_points`` (end averages), ``fit_endpoints`` (active Shirley), ``max_iter``/``tol``
        (Shirley), ``B``/``C``/``D``/``fit_B`` (Tougaard).
    method : str
        ``"least_squares"`` (default): the deterministic multi-start fit of
        :mod:`xpipe.xps.fit.multistart` (scipy's trust-region least squares from the template
        start and the best screened starts, the lowest chi-square kept), which finds the same
        optimum whatever the machine; any other lmfit method name (``"leastsq"``, ``"nelder"``,
        ...) runs that minimiser once from the template start.
    mc_kind : str
        ``"parametric"`` (Gaussian noise) or ``"bootstrap"`` (resampled residuals).
    starts : int
        Local fits of the multi-start (the template start and the ``starts - 1`` best of the
        screened starts); 1 fits from the template start only.

    Returns
    -------
    XpsFit
        Every line and model entry with its errors (energies in eV, areas in intensity x eV),
        fractions, the mean valence, curves on the fit region and diagnostics.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xps.fit import Component, fit_spectrum
    >>> from xpipe.xps.lineshapes import profile
    >>> x = np.linspace(280, 292, 241)
    >>> y = 100 + 5000 * profile("gl", x, 284.8, 1.1, m=30) + 2000 * profile("gl", x, 286.3, 1.1, m=30)
    >>> fit = fit_spectrum(x, y, [Component("C-C", 285.0, label_valence=0),
    ...                           Component("C-O", 286.0, label_valence=1)],
    ...                    links=["fwhm(C-O) = fwhm(C-C)"], background="linear")
    >>> [round(c.center, 2) for c in fit.components], round(fit.mean_valence, 3)
    ([284.8, 286.3], 0.286)
    """
    if mc_kind not in ("parametric", "bootstrap"):
        raise ValueError(f"mc_kind {mc_kind!r}; expected 'parametric' or 'bootstrap'")
    spectra, params, applied, _ = _build([(x, y, sigma)], model, shared=(), links=links, region=region,
                                         background=background, background_options=background_options,
                                         source=source, series=False)
    problem = _Problem(spectra, params)
    result, optimum = _minimize(problem, params, method, starts)
    fits, _, _ = _finish(problem, result, spectra, model, links=links, shared_texts=(), applied=applied,
                         options=dict(background_options or {}), source=source, method=method,
                         monte_carlo=monte_carlo, mc_kind=mc_kind, seed=seed, series=False)
    fits[0].optimum = optimum
    fits[0].settings["optimum"] = optimum
    return fits[0]


def fit_series(spectra: Sequence[tuple], model: Sequence[ModelEntry], *, shared: Sequence[str] = (),
               links: Sequence[str] = (), region=None, background: str = "shirley", monte_carlo: int = 0,
               seed: int = 0, source: str | None = None, background_options: Mapping[str, Any] | None = None,
               method: str = "least_squares", mc_kind: str = "parametric", starts: int = DEFAULT_LOCAL) -> SeriesFit:
    """Fit several spectra at once with one model, some parameters shared.

    Every parameter is per spectrum (prefix ``s<k>_``) except those listed in ``shared``: one
    value for all spectra, taken from spectrum 0. One minimisation runs over the concatenated
    normalised residuals, so shared parameters are determined by all spectra and the
    per-spectrum errors include their uncertainty.

    Parameters
    ----------
    spectra : sequence of tuple
        ``(x, y)`` or ``(x, y, sigma)`` per spectrum: binding energy (eV), intensity and its
        standard deviation.
    model : sequence of Component or Doublet
        The peaks, the same for every spectrum.
    shared : sequence of str
        Quantities with one value for all spectra, e.g. ``"fwhm(V5+ 2p3/2)"`` or
        ``"splitting(V5+ 2p)"``.
    links : sequence of str
        Constraints applied within every spectrum, or across spectra when written with
        indices (``"center(A)[1] = center(A)[0] + 0.2"``).
    region, background, monte_carlo, seed, source, background_options, method, mc_kind, starts
        As for :func:`fit_spectrum`.

    Returns
    -------
    SeriesFit
        A list of :class:`XpsFit` (one per spectrum) with the joint chi-square, correlations,
        diagnostics and the shared parameters as attributes.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xps.fit import Component, fit_series
    >>> from xpipe.xps.lineshapes import profile
    >>> x = np.linspace(280, 292, 241)
    >>> spectra = [(x, 100 + 5000 * profile("gl", x, 284.8, 1.1, m=30)
    ...             + a * profile("gl", x, 286.3, 1.1, m=30)) for a in (1000, 3000)]
    >>> series = fit_series(spectra, [Component("C-C", 285.0), Component("C-O", 286.0)],
    ...                     shared=["fwhm(C-C)"], links=["fwhm(C-O) = fwhm(C-C)"],
    ...                     background="linear")
    >>> [round(f.fraction("C-O")[0], 3) for f in series], series.n_points
    ([0.167, 0.375], 482)
    """
    if not spectra:
        raise ValueError("fit_series needs at least one spectrum")
    items = [tuple(s) for s in spectra]
    for i, it in enumerate(items):
        if len(it) not in (2, 3):
            raise ValueError(f"spectrum {i}: expected (x, y) or (x, y, sigma), got {len(it)} items")
    sp_list, params, applied, shared_params = _build(items, model, shared=shared, links=links, region=region,
                                                     background=background, background_options=background_options,
                                                     source=source, series=True)
    problem = _Problem(sp_list, params)
    result, optimum = _minimize(problem, params, method, starts)
    fits, corr, mc_info = _finish(problem, result, sp_list, model, links=links, shared_texts=shared, applied=applied,
                                  options=dict(background_options or {}), source=source, method=method,
                                  monte_carlo=monte_carlo, mc_kind=mc_kind, seed=seed, series=True)
    labels = {}
    for sp in sp_list:
        labels.update(sp.comp.labels)
    npts = int(sum(sp.x.size for sp in sp_list))
    diags = [Diagnostic("correlation", f"{a} and {b} are correlated (r = {r:+.3f}) in the joint fit", "warning", (a, b))
             for (a, b), r in corr.items() if abs(r) > 0.9]
    for f in fits:
        diags += [d for d in f.diagnostics if d.kind != "correlation"]
        f.optimum = optimum
        f.settings["optimum"] = optimum
    return SeriesFit(fits, chi_square=float(result.chisqr), reduced_chi_square=float(result.redchi), n_points=npts,
                     n_params=int(result.nvarys), success=bool(result.success), message=str(result.message),
                     correlations=corr, diagnostics=diags, shared={t: labels.get(p, p) for t, p in zip(shared, shared_params)},
                     monte_carlo=mc_info, params=result.params, optimum=optimum)
