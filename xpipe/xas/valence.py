"""Valence from XANES: calibration against standards, linear combination fitting, PCA.

Calibration (:class:`ValenceCalibration`) maps an edge position (or a pre-edge area) to a
valence through reference standards of declared valence. The K-edge of V is not linear in
valence (V4+ -> V5+ moves it about 0.5 eV, V2+ -> V3+ about 3.5 eV), so the default model is a
monotone piecewise-cubic (PCHIP) curve through the standards, not a straight line; the valence
uncertainty is the local slope times the edge uncertainties of the sample and of the curve, so
it grows where the edge hardly moves with valence. A straight line (``model='linear'``, least
squares weighted by the standards' uncertainties) is the choice when only two standards or a
known linear trend are at hand.

LCF (:func:`lcf`) is Larch's ``lincombo_fit`` on normalised spectra; the mean valence and its
uncertainty follow from the weights and their covariance. PCA (:func:`pca`) counts the
components a series holds (Malinowski's indicator function, with the explained variance).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.interpolate import PchipInterpolator

CalibrationModel = Literal["pchip", "linear"]


@dataclass
class ValenceCalibration:
    """Valence as a monotone function of an edge feature (edge energy in eV, or pre-edge area)."""

    x: np.ndarray  # the feature of each standard
    x_err: np.ndarray
    valence: np.ndarray
    names: list[str]
    model: CalibrationModel = "pchip"
    feature: str = "edge_energy_ev"
    _coef: np.ndarray | None = field(default=None, repr=False)
    _cov: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def fit(cls, x, valence, x_err=None, *, names=None, model: CalibrationModel = "pchip",
            feature: str = "edge_energy_ev") -> ValenceCalibration:
        x = np.asarray(x, dtype=float)
        v = np.asarray(valence, dtype=float)
        names = list(names) if names is not None else [f"standard {i + 1}" for i in range(x.size)]
        if x.size != v.size or x.size < 2:
            raise ValueError(f"valence calibration needs at least two standards with a value each; got {x.size} features and {v.size} valences")
        if not np.all(np.isfinite(x)):
            bad = [n for n, xi in zip(names, x) if not np.isfinite(xi)]
            raise ValueError(f"valence calibration: no {feature} for standard(s) {', '.join(bad)}")
        xe = np.zeros_like(x) if x_err is None else np.nan_to_num(np.asarray(x_err, dtype=float), nan=0.0)
        order = np.argsort(v)
        x, v, xe = x[order], v[order], xe[order]
        names = [names[i] for i in order]
        if model == "pchip":
            if np.unique(v).size != v.size:
                raise ValueError("valence calibration 'pchip' needs one standard per valence; use model 'linear' to fit several")
            if not (np.all(np.diff(x) > 0) or np.all(np.diff(x) < 0)):
                listing = ", ".join(f"{n} ({vi:g}): {xi:.3f}" for n, vi, xi in zip(names, v, x))
                raise ValueError(f"valence calibration: {feature} of the standards is not monotonic in valence ({listing}); "
                                 "check the edge method and windows, or use model 'linear'")
            return cls(x, xe, v, names, model, feature)
        if model != "linear":
            raise ValueError(f"unknown calibration model {model!r}; expected 'pchip' or 'linear'")
        # valence = c0 + c1 x, errors in x carried through the slope (effective variance),
        # scaled by the scatter when there are more standards than parameters
        a = np.stack([np.ones_like(x), x], axis=1)
        coef = np.linalg.lstsq(a, v, rcond=None)[0]
        for _ in range(3):
            w = 1.0 / np.maximum((coef[1] * xe) ** 2, 1e-12) if np.any(xe > 0) else np.ones_like(x)
            aw = a * np.sqrt(w)[:, None]
            coef = np.linalg.lstsq(aw, v * np.sqrt(w), rcond=None)[0]
        cov = np.linalg.pinv(aw.T @ aw)
        if x.size > 2:
            resid = (v - a @ coef) * np.sqrt(w)
            cov = cov * max(float(resid @ resid) / (x.size - 2), 1.0)
        return cls(x, xe, v, names, model, feature, coef, cov)

    def predict(self, x, x_err=0.0):
        """Valence and its uncertainty for feature value(s) ``x`` with uncertainty ``x_err``.

        Outside the range of the standards, the curve is continued straight with its end slope
        (the result is then an extrapolation; see :meth:`inside`).
        """
        x = np.asarray(x, dtype=float)
        xe = np.broadcast_to(np.asarray(x_err, dtype=float), x.shape)
        if self.model == "linear":
            v = self._coef[0] + self._coef[1] * x
            var_cal = self._cov[0, 0] + 2 * x * self._cov[0, 1] + x**2 * self._cov[1, 1]
            err = np.sqrt((self._coef[1] * xe) ** 2 + var_cal)
            return v, err
        xs, vs = (self.x, self.valence) if self.x[-1] > self.x[0] else (self.x[::-1], self.valence[::-1])
        xes = self.x_err if self.x[-1] > self.x[0] else self.x_err[::-1]
        curve = PchipInterpolator(xs, vs, extrapolate=False)
        slope_curve = curve.derivative()
        lo_s, hi_s = (vs[1] - vs[0]) / (xs[1] - xs[0]), (vs[-1] - vs[-2]) / (xs[-1] - xs[-2])
        inside = (x >= xs[0]) & (x <= xs[-1])
        v = np.where(inside, curve(np.clip(x, xs[0], xs[-1])),
                     np.where(x < xs[0], vs[0] + lo_s * (x - xs[0]), vs[-1] + hi_s * (x - xs[-1])))
        slope = np.where(inside, slope_curve(np.clip(x, xs[0], xs[-1])), np.where(x < xs[0], lo_s, hi_s))
        # PCHIP flattens the curve at a standard where the neighbouring slopes differ much (its
        # end slopes may even be zero); for the uncertainty, the sensitivity is never taken below
        # the straight slope of the segment the point lies in
        seg = np.clip(np.searchsorted(xs, x) - 1, 0, xs.size - 2)
        secant = (vs[seg + 1] - vs[seg]) / (xs[seg + 1] - xs[seg])
        slope = np.where(np.abs(slope) >= np.abs(secant), slope, secant)
        # the curve's own uncertainty: the standards' feature errors, interpolated
        cal_err = np.interp(x, xs, xes)
        err = np.abs(slope) * np.sqrt(xe**2 + cal_err**2)
        return v, err

    def inside(self, x) -> np.ndarray:
        return (np.asarray(x) >= self.x.min()) & (np.asarray(x) <= self.x.max())

    def describe(self) -> dict:
        return {"model": self.model, "feature": self.feature, "standards": self.names,
                "valence": self.valence.tolist(), "x": self.x.tolist(), "x_err": self.x_err.tolist(),
                "coefficients": None if self._coef is None else self._coef.tolist()}


# ----------------------------------------------------------------------------- LCF


@dataclass
class LcfResult:
    weights: np.ndarray
    weights_err: np.ndarray
    names: list[str]
    valence: float
    valence_err: float
    r_factor: float
    chi_square: float
    reduced_chi_square: float
    window_ev: tuple[float, float]
    sum_to_one: bool


def lcf(energy_ev, norm, references, valences, *, window_ev: tuple[float, float], sum_to_one: bool = True,
        bounds: tuple[float, float] = (0.0, 1.0)) -> LcfResult:
    """Linear combination fit (Larch ``lincombo_fit``) of a normalised spectrum.

    ``references`` is a list of ``(name, energy_ev, norm)``; ``valences`` their valences. The
    mean valence is sum(w_i v_i) / sum(w_i), its uncertainty from the weights' covariance.
    """
    from larch import Group
    from larch.math import lincombo_fit

    if len(references) < 2:
        raise ValueError(f"LCF needs at least two reference spectra, got {len(references)}")
    data = Group(energy=np.asarray(energy_ev, float), norm=np.asarray(norm, float))
    comps = [Group(energy=np.asarray(e, float), norm=np.asarray(n, float), filename=name, groupname=f"c{i}")
             for i, (name, e, n) in enumerate(references)]
    nc = len(comps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = lincombo_fit(data, comps, minvals=[bounds[0]] * nc, maxvals=[bounds[1]] * nc,
                           xmin=window_ev[0], xmax=window_ev[1], sum_to_one=sum_to_one)
    params = out.result.params
    names = [f"c{i}" for i in range(nc)]
    w = np.array([params[n].value for n in names])
    we = np.array([params[n].stderr if params[n].stderr is not None else np.nan for n in names])
    vals = np.asarray(valences, dtype=float)
    # mean valence and its error through the free parameters' covariance
    res = out.result
    free = [p for p in res.var_names if p in names]
    mean = float(np.sum(w * vals) / np.sum(w))
    err = float("nan")
    if res.covar is not None and free:
        cov = res.covar[np.ix_([res.var_names.index(p) for p in free], [res.var_names.index(p) for p in free])]
        # d(mean)/d(free weight): with sum_to_one the last weight is 1 - sum(others)
        grad = []
        total = np.sum(w)
        for p in free:
            i = names.index(p)
            if sum_to_one and len(free) == nc - 1:
                grad.append(vals[i] - vals[-1])
            else:
                grad.append((vals[i] - mean) / total)
        grad = np.asarray(grad)
        err = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
    ydat = np.asarray(out.ydata)
    yfit = np.asarray(out.yfit)
    resid = ydat - yfit
    r_factor = float(out.rfactor)
    nfree = max(ydat.size - len(free), 1)
    return LcfResult(weights=w, weights_err=we, names=[r[0] for r in references], valence=mean, valence_err=err,
                     r_factor=r_factor, chi_square=float(np.sum(resid**2)),
                     reduced_chi_square=float(np.sum(resid**2) / nfree), window_ev=tuple(window_ev),
                     sum_to_one=sum_to_one)


# ----------------------------------------------------------------------------- PCA


@dataclass
class PcaResult:
    eigenvalues: np.ndarray
    explained_variance: np.ndarray  # fraction per component
    ind: np.ndarray  # Malinowski's indicator function per number of components
    n_components: int
    window_ev: tuple[float, float]


def pca(energy_ev, spectra, *, window_ev: tuple[float, float]) -> PcaResult:
    """Principal components of normalised spectra on one energy grid, over ``window_ev``.

    The number of components is where Malinowski's indicator function IND(n) = RE(n) /
    (c - n)^2 has its minimum (E. R. Malinowski, Anal. Chem. 49 (1977) 612), with RE the
    real error from the discarded eigenvalues; c = min(points, spectra).
    """
    e = np.asarray(energy_ev, dtype=float)
    y = np.asarray(spectra, dtype=float)
    m = (e >= window_ev[0]) & (e <= window_ev[1])
    a = y[:, m]
    r, c = a.shape[1], a.shape[0]
    if c < 3:
        raise ValueError(f"PCA needs at least 3 spectra, got {c}")
    s = np.linalg.svd(a, compute_uv=False)
    ev = s**2
    n_max = min(r, c)
    ind = np.full(n_max - 1, np.nan)
    for n in range(1, n_max):
        re = np.sqrt(ev[n:].sum() / (r * (c - n)))
        ind[n - 1] = re / (c - n) ** 2
    n_comp = int(np.nanargmin(ind)) + 1
    return PcaResult(eigenvalues=ev, explained_variance=ev / ev.sum(), ind=ind, n_components=n_comp,
                     window_ev=(float(window_ev[0]), float(window_ev[1])))
