"""Evaluating the model: line profiles, the background, the normalised residual and the reported
quantities (centre, true FWHM, area, height, fractions, mean valence) at given parameter values.

:class:`_Problem` is what the minimiser sees: the residual of all spectra of a fit concatenated,
Levenberg-Marquardt run in rounds that stop when chi-square stalls, and the vector of reported
quantities whose uncertainties :mod:`xpipe.xps.fit.uncertainty` propagates.
"""

from __future__ import annotations

from collections.abc import Mapping

import lmfit
import numpy as np
from scipy.optimize import brentq, minimize_scalar

from .. import backgrounds as _bg
from ..lineshapes import fwhm_of
from .compiled import _Line
from .data import _Spectrum

_METRIC_CACHE: dict[tuple, tuple[float, float]] = {}


def _shape_metrics(shape: str, w: float, kw: Mapping[str, float], func) -> tuple[float, float]:
    """(true FWHM, height of the unit-area profile) for width parameter ``w``.

    The half-maximum crossings and the maximum are located by root finding on the profile
    itself, so both are smooth functions of the parameters (a grid estimate would make the
    numerical derivatives of the error propagation step-like); :func:`fwhm_of` is the fallback.
    """
    key = (shape, float(w), tuple(sorted((k, float(v)) for k, v in kw.items())))
    r = _METRIC_CACHE.get(key)
    if r is not None:
        return r
    if len(_METRIC_CACHE) > 50000:
        _METRIC_CACHE.clear()

    def f(t):
        return float(func(np.array([t]), 0.0, w, **kw)[0])

    r = None
    span = 10.0 * w
    for _ in range(4):
        xs = np.linspace(-span, span, 4001)
        ys = func(xs, 0.0, w, **kw)
        im = int(np.argmax(ys))
        if 0 < im < xs.size - 1:
            lo, hi = xs[im - 1], xs[im + 1]
            opt = minimize_scalar(lambda t: -f(t), bounds=(lo, hi), method="bounded",
                                  options={"xatol": 1e-10 * max(w, 1e-12)})
            xm = float(opt.x) if -opt.fun >= ys[im] else float(xs[im])
            ymax = max(-float(opt.fun), float(ys[im]))
            half = 0.5 * ymax
            left = np.nonzero(ys[:im] < half)[0]
            right = np.nonzero(ys[im + 1:] < half)[0]
            if left.size and right.size:
                il, ir = left[-1], im + 1 + right[0]
                xl = brentq(lambda t, h=half: f(t) - h, xs[il], min(xs[il + 1], xm), xtol=1e-12 * max(w, 1e-12))
                xr = brentq(lambda t, h=half: f(t) - h, max(xs[ir - 1], xm), xs[ir], xtol=1e-12 * max(w, 1e-12))
                r = (float(xr - xl), ymax)
                break
        span *= 3.0
    if r is None:
        tf = float(fwhm_of(shape, w, **kw))
        xs = np.linspace(-5 * tf, 5 * tf, 20001)
        r = (tf, float(np.max(func(xs, 0.0, w, **kw))))
    _METRIC_CACHE[key] = r
    return r


def _line_values(ln: _Line, v) -> tuple[float, float, float, dict[str, float]]:
    return ln.center.fn(v), ln.fwhm.fn(v), ln.area.fn(v), {k: q.fn(v) for k, q in ln.shape_q.items()}


def _evaluate(sp: _Spectrum, v, curves: bool = False):
    """Model, background and (optionally) each line of one spectrum for parameter values ``v``."""
    x = sp.x
    peaks = np.zeros_like(x)
    each = {}
    for ln in sp.comp.lines:
        c, w, a, kw = _line_values(ln, v)
        prof = a * ln.func(x, c, w, **kw)
        peaks += prof
        if curves:
            each[ln.name] = prof
    if sp.kind == "active_shirley":
        bg = np.asarray(_bg.shirley_active(x, peaks, v[sp.low], v[sp.high]), dtype=float)
    else:
        bg = sp.bg_static
    return peaks + bg, bg, each


class _Problem:
    #: residual returned where the model cannot be evaluated (the minimiser steps back)
    BAD = 1e10

    def __init__(self, spectra: list[_Spectrum], params: lmfit.Parameters):
        self.spectra = spectra
        self.params = params
        self.n_points = sum(sp.x.size for sp in spectra)
        self.failures = 0
        self.last_failure = ""

    def residual(self, params):
        v = params.valuesdict()
        try:
            r = np.concatenate([(sp.y - _evaluate(sp, v)[0]) / sp.sigma for sp in self.spectra])
        except (ValueError, FloatingPointError, ZeroDivisionError, OverflowError) as err:
            self.failures += 1
            self.last_failure = str(err)
            return np.full(self.n_points, self.BAD)
        bad = ~np.isfinite(r)
        if bad.any():
            self.failures += 1
            self.last_failure = "non-finite model values"
            r[bad] = self.BAD
        return r

    #: Levenberg-Marquardt runs in rounds of CHUNK_PER_PARAM x (free parameters + 1) evaluations;
    #: when a round lowers chi-square by less than STALL_CHI2 x max(reduced chi-square, 1) the fit
    #: is converged: a parameter creeping towards a bound (an area going to zero through lmfit's
    #: bound transform) would otherwise use every evaluation without changing the fit.
    CHUNK_PER_PARAM = 50
    STALL_CHI2 = 0.05

    def minimize(self, params, method, max_nfev=None):
        if method != "leastsq" or max_nfev is not None:
            mini = lmfit.Minimizer(self.residual, params, scale_covar=True, max_nfev=max_nfev)
            return mini.minimize(method=method)
        nvar = sum(1 for p in params.values() if p.vary and not p.expr)
        chunk = self.CHUNK_PER_PARAM * (nvar + 1)
        cap = 2000 * (nvar + 1)
        result = lmfit.Minimizer(self.residual, params, scale_covar=True, max_nfev=chunk).minimize(method=method)
        nfev = int(result.nfev)
        while not result.success and nfev < cap and np.isfinite(result.chisqr):
            nxt = lmfit.Minimizer(self.residual, result.params, scale_covar=True, max_nfev=chunk).minimize(method=method)
            nfev += int(nxt.nfev)
            gain = float(result.chisqr - nxt.chisqr)
            stalled = np.isfinite(nxt.chisqr) and gain < self.STALL_CHI2 * max(float(nxt.redchi), 1.0)
            if nxt.chisqr <= result.chisqr:
                result = nxt
            if stalled and not result.success:
                result.success = True
                result.message = (f"converged: chi-square changed by {max(gain, 0.0):.3g} over the last {int(nxt.nfev)} "
                                  "evaluations (a parameter approaching a bound)")
                break
        result.nfev = nfev
        return result

    # quantities whose uncertainties are reported
    def qkeys(self) -> list[tuple]:
        keys = []
        for sp in self.spectra:
            k = sp.index
            for li in range(len(sp.comp.lines)):
                keys += [(k, "line", li, q) for q in ("center", "fwhm", "area", "height", "fraction")]
            for si, s in enumerate(sp.comp.species):
                keys += [(k, "species", si, "area"), (k, "species", si, "fraction")]
                keys += [(k, "species", si, q) for q in s.extra]
            keys.append((k, "mean_valence", 0, "value"))
        return keys

    def quantities(self, v) -> np.ndarray:
        out: list[float] = []
        for sp in self.spectra:
            comp = sp.comp
            corr = np.array([s.area.fn(v) / s.sensitivity for s in comp.species])
            tot = corr.sum()
            tot = tot if tot > 0 else np.nan
            for ln in comp.lines:
                c, w, a, kw = _line_values(ln, v)
                tf, uh = _shape_metrics(ln.shape, w, kw, ln.func)
                out += [c, tf, a, a * uh, a / ln.sensitivity / tot]
            for s, cs in zip(comp.species, corr):
                out += [s.area.fn(v), cs / tot]
                out += [q.fn(v) for q in s.extra.values()]
            lab = [(cs, s.label_valence) for s, cs in zip(comp.species, corr) if s.label_valence is not None]
            den = sum(c for c, _ in lab)
            out.append(sum(c * val for c, val in lab) / den if lab and den > 0 else np.nan)
        return np.asarray(out, dtype=float)
