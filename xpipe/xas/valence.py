"""Valence from XANES: calibration against standards, linear combination fitting, PCA.

Calibration (:class:`ValenceCalibration`) maps an edge position (or a pre-edge feature) to a
valence through reference standards of declared valence. The K-edge of V is not linear in
valence (V4+ -> V5+ moves it about 0.5 eV, V2+ -> V3+ about 3.5 eV), and a metal sits far off
the oxides' trend, so the default curve is piecewise linear through the standards: a sample
between two standards gets a valence between theirs. A monotone cubic (PCHIP) bends near the
outer standards and can overshoot (magnetite at 2.9 instead of 2.67 from Fe, FeO and Fe2O3);
a least-squares straight line or parabola does not pass through every standard and carries the
standards' scatter in its uncertainty. The valence uncertainty is the local slope times the
edge uncertainties of the sample and of the curve, so it grows where the edge hardly moves with
valence. How well each curve and each edge feature predicts a standard left out is measured by
:mod:`xpipe.xas.valence_check`, and docs/xas_valence.md says which to trust for which element.

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

CalibrationModel = Literal["piecewise_linear", "pchip", "linear", "quadratic"]

#: the calibration curves: two through every standard, two least-squares fits
CALIBRATION_MODELS = ("piecewise_linear", "pchip", "linear", "quadratic")
#: the curves that pass through every standard (one standard per valence, monotonic feature)
INTERPOLATING_MODELS = ("piecewise_linear", "pchip")


def _poly_fit(x: np.ndarray, v: np.ndarray, xe: np.ndarray, degree: int):
    """Weighted least squares of valence on powers of (x - x0), errors in x carried through the
    local slope (effective variance); the covariance is scaled by the reduced chi-square when it
    exceeds 1 (the scatter of the standards about the curve), so the curve's uncertainty is
    never below what its misfit shows. Returns (x0, coefficients, covariance)."""
    x0 = float(np.mean(x))
    t = x - x0
    a = np.stack([t**k for k in range(degree + 1)], axis=1)
    coef = np.linalg.lstsq(a, v, rcond=None)[0]
    w = np.ones_like(x)
    for _ in range(3):
        slope = sum(k * coef[k] * t ** (k - 1) for k in range(1, degree + 1))
        w = 1.0 / np.maximum((slope * xe) ** 2, 1e-12) if np.any(xe > 0) else np.ones_like(x)
        aw = a * np.sqrt(w)[:, None]
        coef = np.linalg.lstsq(aw, v * np.sqrt(w), rcond=None)[0]
    cov = np.linalg.pinv(aw.T @ aw)
    dof = x.size - degree - 1
    if dof > 0:
        resid = (v - a @ coef) * np.sqrt(w)
        cov = cov * max(float(resid @ resid) / dof, 1.0)
    return x0, coef, cov


@dataclass
class ValenceCalibration:
    """Valence as a monotone function of an edge feature (an energy in eV, or a pre-edge area).

    Made by :meth:`fit` from standards of known valence. Four curves:

    - ``'piecewise_linear'`` (the default): straight segments between neighbouring standards.
      A sample between two standards gets a valence between theirs, never beyond.
    - ``'pchip'``: a monotone piecewise-cubic curve through the standards. Its end slopes bend
      the curve near the outer standards, and with uneven spacing a sample between two
      standards can land well away from the straight segment.
    - ``'linear'``: a weighted least-squares straight line through all standards. It does not
      pass through every standard; its uncertainty grows with the standards' scatter about it.
    - ``'quadratic'``: a weighted least-squares parabola, at least four standards, refused
      when it is not monotonic over the standards' range.

    Parameters
    ----------
    x, x_err : ndarray
        The feature of each standard and its uncertainty, sorted by valence.
    valence : ndarray
        The standards' valences.
    names : list of str
        The standards' names.
    model : {'piecewise_linear', 'pchip', 'linear', 'quadratic'}
        The curve.
    feature : str
        What ``x`` is (e.g. 'edge_energy_ev', 'pre_edge_area').

    Examples
    --------
    >>> cal = ValenceCalibration.fit([5470.0, 5473.5, 5474.0], [3, 4, 5], [0.1, 0.1, 0.1],
    ...                              names=["V2O3", "VO2", "V2O5"])
    >>> v, err = cal.predict([5472.0, 5475.0], 0.05)
    >>> np.round(v, 2).tolist(), np.round(err, 2).tolist(), cal.inside([5472.0, 5475.0]).tolist()
    ([3.57, 7.0], [0.03, 0.22], [True, False])
    """

    x: np.ndarray  # the feature of each standard
    x_err: np.ndarray
    valence: np.ndarray
    names: list[str]
    model: CalibrationModel = "piecewise_linear"
    feature: str = "edge_energy_ev"
    _coef: np.ndarray | None = field(default=None, repr=False)
    _cov: np.ndarray | None = field(default=None, repr=False)
    _x0: float = field(default=0.0, repr=False)

    @classmethod
    def fit(cls, x, valence, x_err=None, *, names=None, model: CalibrationModel = "piecewise_linear",
            feature: str = "edge_energy_ev") -> ValenceCalibration:
        """The calibration through standards with features ``x`` and valences ``valence``.

        Parameters
        ----------
        x, valence : array_like
            Feature (edge energy in eV, or pre-edge area) and valence of each standard.
        x_err : array_like, optional
            Uncertainty of each feature (NaN counts as 0).
        names : list of str, optional
            The standards' names, for messages.
        model : {'piecewise_linear', 'pchip', 'linear', 'quadratic'}
            'piecewise_linear' and 'pchip' need one standard per valence and a feature
            monotonic in valence; 'quadratic' needs four standards.
        feature : str
            What ``x`` is.

        Returns
        -------
        ValenceCalibration
            Raises ValueError for too few standards or a feature not monotonic.

        Examples
        --------
        >>> lin = ValenceCalibration.fit([5470.0, 5473.5, 5474.0], [3, 4, 5], [0.1, 0.1, 0.1],
        ...                              model="linear")
        >>> v, err = lin.predict(5472.0, 0.05)
        >>> round(float(v), 2), round(float(err), 2)
        (3.79, 0.34)
        """
        x = np.asarray(x, dtype=float)
        v = np.asarray(valence, dtype=float)
        names = list(names) if names is not None else [f"standard {i + 1}" for i in range(x.size)]
        if model not in CALIBRATION_MODELS:
            raise ValueError(f"unknown calibration model {model!r}; expected one of {', '.join(CALIBRATION_MODELS)}")
        need = 4 if model == "quadratic" else 2
        if x.size != v.size or x.size < need:
            raise ValueError(f"valence calibration {model!r} needs at least {need} standards with a value each; "
                             f"got {x.size} features and {v.size} valences")
        if not np.all(np.isfinite(x)):
            bad = [n for n, xi in zip(names, x) if not np.isfinite(xi)]
            raise ValueError(f"valence calibration: no {feature} for standard(s) {', '.join(bad)}")
        xe = np.zeros_like(x) if x_err is None else np.nan_to_num(np.asarray(x_err, dtype=float), nan=0.0)
        order = np.argsort(v, kind="stable")
        x, v, xe = x[order], v[order], xe[order]
        names = [names[i] for i in order]
        listing = ", ".join(f"{n} ({vi:g}): {xi:.4g}" for n, vi, xi in zip(names, v, x))
        if model in INTERPOLATING_MODELS:
            if np.unique(v).size != v.size:
                raise ValueError(f"valence calibration {model!r} needs one standard per valence; "
                                 "use model 'linear' to fit several")
            if not (np.all(np.diff(x) > 0) or np.all(np.diff(x) < 0)):
                raise ValueError(f"valence calibration: {feature} of the standards is not monotonic in valence "
                                 f"({listing}); check the edge method and windows, or use model 'linear'")
            return cls(x, xe, v, names, model, feature)
        x0, coef, cov = _poly_fit(x, v, xe, 1 if model == "linear" else 2)
        out = cls(x, xe, v, names, model, feature, coef, cov, x0)
        if model == "quadratic":
            ends = out._slope(np.array([x.min(), x.max()]))
            if ends[0] * ends[1] <= 0:
                raise ValueError(f"valence calibration 'quadratic': the parabola through {listing} turns over inside "
                                 "the standards' range; use 'linear' or 'piecewise_linear'")
        return out

    def _slope(self, x: np.ndarray) -> np.ndarray:
        """d valence / d feature of a least-squares curve at ``x``."""
        t = np.asarray(x, dtype=float) - self._x0
        return sum(k * self._coef[k] * t ** (k - 1) for k in range(1, self._coef.size))

    def _sorted(self):
        """Features, valences and feature errors in increasing feature order."""
        if self.x[-1] > self.x[0]:
            return self.x, self.valence, self.x_err
        return self.x[::-1], self.valence[::-1], self.x_err[::-1]

    def predict(self, x, x_err=0.0):
        """Valence and its uncertainty for feature value(s) ``x`` with uncertainty ``x_err``.

        Outside the range of the standards, an interpolating curve is continued straight with
        its end slope (the result is then an extrapolation; see :meth:`inside`).

        Parameters
        ----------
        x, x_err : float or array_like
            Feature value(s) and their uncertainty (in the unit of the feature).

        Returns
        -------
        valence, valence_err : ndarray
            Valence and its uncertainty per value.

        Examples
        --------
        >>> cal = ValenceCalibration.fit([5470.0, 5474.0], [3, 5])
        >>> v, err = cal.predict(5472.0, 0.1)
        >>> round(float(v), 2), round(float(err), 2)
        (4.0, 0.05)
        """
        x = np.asarray(x, dtype=float)
        xe = np.broadcast_to(np.asarray(x_err, dtype=float), x.shape)
        if self.model in ("linear", "quadratic"):
            t = x - self._x0
            jac = np.stack([t**k for k in range(self._coef.size)], axis=-1)
            v = jac @ self._coef
            var_cal = np.einsum("...i,ij,...j->...", jac, self._cov, jac)
            return v, np.sqrt((self._slope(x) * xe) ** 2 + var_cal)
        xs, vs, xes = self._sorted()
        lo_s, hi_s = (vs[1] - vs[0]) / (xs[1] - xs[0]), (vs[-1] - vs[-2]) / (xs[-1] - xs[-2])
        inside = (x >= xs[0]) & (x <= xs[-1])
        xc = np.clip(x, xs[0], xs[-1])
        outside = np.where(x < xs[0], vs[0] + lo_s * (x - xs[0]), vs[-1] + hi_s * (x - xs[-1]))
        seg = np.clip(np.searchsorted(xs, x) - 1, 0, xs.size - 2)
        secant = (vs[seg + 1] - vs[seg]) / (xs[seg + 1] - xs[seg])
        if self.model == "pchip":
            curve = PchipInterpolator(xs, vs, extrapolate=False)
            v = np.where(inside, curve(xc), outside)
            slope = np.where(inside, curve.derivative()(xc), np.where(x < xs[0], lo_s, hi_s))
            # PCHIP flattens the curve at a standard where the neighbouring slopes differ much
            # (its end slopes may even be zero); for the uncertainty, the sensitivity is never
            # taken below the straight slope of the segment the point lies in
            slope = np.where(np.abs(slope) >= np.abs(secant), slope, secant)
        else:
            v = np.where(inside, np.interp(xc, xs, vs), outside)
            slope = secant
        # the curve's own uncertainty: the standards' feature errors, interpolated
        cal_err = np.interp(x, xs, xes)
        return v, np.abs(slope) * np.sqrt(xe**2 + cal_err**2)

    def inside(self, x) -> np.ndarray:
        """True where ``x`` lies within the standards' range (no extrapolation).

        Parameters
        ----------
        x : float or array_like
            Feature value(s).

        Returns
        -------
        ndarray of bool

        Examples
        --------
        >>> ValenceCalibration.fit([5470.0, 5474.0], [3, 5]).inside([5469.0, 5471.0]).tolist()
        [False, True]
        """
        return (np.asarray(x) >= self.x.min()) & (np.asarray(x) <= self.x.max())

    def residuals(self) -> np.ndarray:
        """Declared minus calibrated valence of each standard (zero for the interpolating curves).

        Returns
        -------
        ndarray
            One per standard, in the order of :attr:`names`.

        Examples
        --------
        >>> cal = ValenceCalibration.fit([0.0, 1.0, 2.2], [3, 4, 5], model="linear")
        >>> np.round(cal.residuals(), 3).tolist()
        [-0.033, 0.06, -0.027]
        """
        if self.model in INTERPOLATING_MODELS:
            return np.zeros_like(self.valence)
        return self.valence - self.predict(self.x)[0]

    def bracket_gap(self, x) -> np.ndarray:
        """Valence difference of the two standards whose features bracket ``x`` (NaN outside).

        Parameters
        ----------
        x : float or array_like
            Feature value(s).

        Returns
        -------
        ndarray
            The spacing of the standards around each value, in valence units.

        Examples
        --------
        >>> cal = ValenceCalibration.fit([7118.4, 7119.3, 7123.5], [0, 2, 3], names=["Fe", "FeO", "Fe2O3"])
        >>> cal.bracket_gap([7118.9, 7121.0, 7125.0]).tolist()
        [2.0, 1.0, nan]
        """
        xs, vs, _ = self._sorted()
        x = np.asarray(x, dtype=float)
        seg = np.clip(np.searchsorted(xs, x) - 1, 0, xs.size - 2)
        gap = np.abs(vs[seg + 1] - vs[seg])
        return np.where((x >= xs[0]) & (x <= xs[-1]), gap, np.nan)

    def describe(self) -> dict:
        """The calibration as plain data (for the results file).

        Returns
        -------
        dict
            Model, feature, standards, their valences and features, the least-squares
            coefficients (in powers of ``x - x0``) and the residuals.

        Examples
        --------
        >>> d = ValenceCalibration.fit([5470.0, 5474.0], [3, 5], names=["V2O3", "V2O5"]).describe()
        >>> d["model"], d["standards"], d["coefficients"]
        ('piecewise_linear', ['V2O3', 'V2O5'], None)
        """
        return {"model": self.model, "feature": self.feature, "standards": self.names,
                "valence": self.valence.tolist(), "x": self.x.tolist(), "x_err": self.x_err.tolist(),
                "coefficients": None if self._coef is None else self._coef.tolist(),
                "x0": None if self._coef is None else self._x0,
                "residual": self.residuals().tolist()}


# ----------------------------------------------------------------------------- LCF


@dataclass
class LcfResult:
    """A linear combination fit of one spectrum.

    Parameters
    ----------
    weights, weights_err : ndarray
        Weight of each reference and its standard error.
    names : list of str
        The references.
    valence, valence_err : float
        Weighted mean valence and its uncertainty.
    r_factor, chi_square, reduced_chi_square : float
        Fit statistics (on normalised mu).
    window_ev : (float, float)
        Fit window (eV).
    sum_to_one : bool
        Whether the weights were forced to sum to one.

    Examples
    --------
    >>> e = np.linspace(5440.0, 5540.0, 401)
    >>> a, b = (0.5 + np.arctan((e - e0) / 2.0) / np.pi for e0 in (5476.0, 5480.0))
    >>> fit = lcf(e, 0.5 * (a + b), [("V3+", e, a), ("V5+", e, b)], [3.0, 5.0],
    ...           window_ev=(5450.0, 5520.0))
    >>> np.round(fit.weights, 3).tolist(), round(fit.valence, 2), fit.names
    ([0.5, 0.5], 4.0, ['V3+', 'V5+'])
    """

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


def _mean_valence_err(res, free: list[str], names: list[str], w: np.ndarray, vals: np.ndarray,
                      mean: float, sum_to_one: bool) -> float:
    """Error of the mean valence through the free weights' covariance (nan without one)."""
    if res.covar is None or not free:
        return float("nan")
    nc = len(names)
    cov = res.covar[np.ix_([res.var_names.index(p) for p in free],
                           [res.var_names.index(p) for p in free])]
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
    return float(np.sqrt(max(grad @ cov @ grad, 0.0)))


def lcf(energy_ev, norm, references, valences, *, window_ev: tuple[float, float], sum_to_one: bool = True,
        bounds: tuple[float, float] = (0.0, 1.0)) -> LcfResult:
    """Linear combination fit (Larch ``lincombo_fit``) of a normalised spectrum.

    The mean valence is sum(w_i v_i) / sum(w_i), its uncertainty from the weights' covariance.

    Parameters
    ----------
    energy_ev, norm : array_like
        The spectrum: calibrated energies (eV) and normalised mu.
    references : list of (name, energy_ev, norm)
        The reference spectra, at least two.
    valences : array_like
        Their valences.
    window_ev : (float, float)
        Fit window, absolute energies (eV).
    sum_to_one : bool
        Force the weights to sum to one.
    bounds : (float, float)
        Bounds of each weight.

    Returns
    -------
    LcfResult

    Examples
    --------
    30 % of a V3+ and 70 % of a V5+ reference:

    >>> e = np.linspace(5440.0, 5540.0, 401)
    >>> a = 0.5 + np.arctan((e - 5476.0) / 2.0) / np.pi
    >>> b = 0.5 + np.arctan((e - 5480.0) / 2.0) / np.pi
    >>> fit = lcf(e, 0.3 * a + 0.7 * b, [("V3+", e, a), ("V5+", e, b)], [3.0, 5.0],
    ...           window_ev=(5450.0, 5520.0))
    >>> np.round(fit.weights, 3).tolist(), round(fit.valence, 2)
    ([0.3, 0.7], 4.4)
    """
    # larch takes seconds to import: only when fitting
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
    res = out.result
    free = [p for p in res.var_names if p in names]
    mean = float(np.sum(w * vals) / np.sum(w))
    err = _mean_valence_err(res, free, names, w, vals, mean, sum_to_one)
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
    """Principal components of a series of spectra.

    Parameters
    ----------
    eigenvalues : ndarray
        Squared singular values, largest first.
    explained_variance : ndarray
        Fraction of the variance per component.
    ind : ndarray
        Malinowski's indicator function for 1, 2, ... components.
    n_components : int
        Where ``ind`` has its minimum.
    window_ev : (float, float)
        Energy window used (eV).

    Examples
    --------
    >>> e = np.linspace(5440.0, 5540.0, 401)
    >>> edges = np.array([0.5 + np.arctan((e - e0) / 2.0) / np.pi for e0 in (5476.0, 5480.0)])
    >>> p = pca(e, np.array([edges[0], edges[1], edges.mean(axis=0)]), window_ev=(5450.0, 5520.0))
    >>> p.ind.size, round(float(p.explained_variance.sum()), 6)
    (2, 1.0)
    """

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

    Parameters
    ----------
    energy_ev : array_like
        The common energy grid (eV).
    spectra : array_like
        Normalised spectra, one per row, at least 3.
    window_ev : (float, float)
        Energy window (eV).

    Returns
    -------
    PcaResult

    Examples
    --------
    Six mixtures of two edges, with a little noise, hold two components:

    >>> e = np.linspace(5440.0, 5540.0, 401)
    >>> a = 0.5 + np.arctan((e - 5476.0) / 2.0) / np.pi
    >>> b = 0.5 + np.arctan((e - 5480.0) / 2.0) / np.pi
    >>> mixes = np.array([(1 - f) * a + f * b for f in np.linspace(0.0, 1.0, 6)])
    >>> noisy = mixes + np.random.default_rng(0).normal(0.0, 1e-3, mixes.shape)
    >>> pca(e, noisy, window_ev=(5450.0, 5520.0)).n_components
    2
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
