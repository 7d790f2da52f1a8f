"""How far to trust a valence from XANES: every method, leave-one-out, and a status per value.

A valence read off a calibration is only as good as the curve between the standards. This
module measures that on the standards themselves and checks every spectrum:

- **Methods.** The same standards calibrate four edge features, each with the series' curve
  (:class:`~xpipe.xas.valence.ValenceCalibration`): the edge at a fraction of the step
  (``edge_half_height``), the maximum of the main-edge derivative (``edge_derivative``), and
  the pre-edge peak's centroid and area (``pre_edge_centroid``, ``pre_edge_area``); a linear
  combination fit of the reference spectra (``lcf``) joins them when it was run. A feature
  that is not monotonic in valence over the standards gives no calibration and says why.
- **Leave-one-out.** Each standard is predicted from the others, for every method; the error
  of the standards that lie inside the others' range (an interpolation, as a sample would be)
  is the method's calibration uncertainty. A method whose leave-one-out error exceeds 0.2
  says so.
- **Status per spectrum.** ``extrapolated`` (on the series' calibration, beyond the end
  standard by more than twice its valence uncertainty and at least 0.05), ``sparse_standards``
  (the standards on either side are more than ``max_gap`` valence units apart),
  ``methods_disagree`` (the reported method and another differ by more than their combined
  uncertainty: statistical and leave-one-out, in quadrature), ``unverified`` (fewer than two
  methods gave a value, so nothing was cross-checked), else ``ok``.

Energies are in eV, pre-edge areas in normalised mu x eV, valences in elementary charges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .valence import ValenceCalibration, lcf
from .xanes import XasEdgeError, edge_position

#: the methods compared, in the order they are written
METHODS = ("edge_half_height", "edge_derivative", "pre_edge_centroid", "pre_edge_area", "lcf")
#: leave-one-out error (valence units) above which a method is called unfit for 0.2 accuracy
TARGET_ERROR = 0.2
#: valence units beyond the end standard that count as an extrapolation, at the least
EXTRAPOLATION_TOLERANCE = 0.05


def feature_method(feature: str, edge_method: str) -> str:
    """The method name of a series' calibration feature.

    Parameters
    ----------
    feature : {'edge_energy_ev', 'pre_edge_area', 'pre_edge_centroid_ev'}
        What the series' calibration maps to valence.
    edge_method : str
        The series' edge method ('half_height', 'derivative', ...).

    Returns
    -------
    str
        'edge_<edge_method>', 'pre_edge_area' or 'pre_edge_centroid'.

    Examples
    --------
    >>> feature_method("edge_energy_ev", "half_height"), feature_method("pre_edge_area", "derivative")
    ('edge_half_height', 'pre_edge_area')
    """
    if feature == "edge_energy_ev":
        return f"edge_{edge_method}"
    return {"pre_edge_area": "pre_edge_area", "pre_edge_centroid_ev": "pre_edge_centroid"}[feature]


def spectrum_features(r, *, main_window_ev: tuple[float, float], edge_method: str, fraction: float = 0.5,
                      smooth_ev: float = 0.5, n_monte_carlo: int = 8) -> dict[str, tuple[float, float]]:
    """Every calibration feature of one processed spectrum, with its uncertainty.

    The series' own edge method is taken from the spectrum as processed; the other edge
    method is measured on its normalised mu in the same main-edge window.

    Parameters
    ----------
    r : xpipe.xas.series.SpectrumResult
        The processed spectrum (``energy_ev``, ``norm``, ``noise``, edge and pre-edge fields).
    main_window_ev : (float, float)
        Main-edge window, absolute energies (eV).
    edge_method : str
        The edge method the spectrum was processed with.
    fraction, smooth_ev : float
        Half-height fraction and derivative smoothing (eV).
    n_monte_carlo : int
        Draws for the derivative's uncertainty.

    Returns
    -------
    dict
        ``{method: (value, uncertainty)}`` for the four feature methods (NaN where a feature
        could not be measured).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> e = np.linspace(5440.0, 5560.0, 481)
    >>> norm = 0.5 + np.arctan((e - 5480.0) / 1.5) / np.pi
    >>> r = SimpleNamespace(energy_ev=e, norm=norm, noise=0.002, edge_energy_ev=5480.0,
    ...                     edge_energy_err_ev=0.01, pre_edge_centroid_ev=np.nan,
    ...                     pre_edge_centroid_err_ev=np.nan, pre_edge_area=0.0, pre_edge_area_err=0.001)
    >>> f = spectrum_features(r, main_window_ev=(5473.0, 5510.0), edge_method="half_height")
    >>> round(f["edge_derivative"][0], 1), f["edge_half_height"]
    (5480.0, (5480.0, 0.01))
    """
    out = {"pre_edge_centroid": (float(r.pre_edge_centroid_ev), float(r.pre_edge_centroid_err_ev)),
           "pre_edge_area": (float(r.pre_edge_area), float(r.pre_edge_area_err))}
    for method in ("half_height", "derivative"):
        if method == edge_method:
            out[f"edge_{method}"] = (float(r.edge_energy_ev), float(r.edge_energy_err_ev))
            continue
        try:
            edge = edge_position(r.energy_ev, r.norm, method=method, window_ev=main_window_ev, fraction=fraction,
                                 smooth_ev=smooth_ev, noise=r.noise, n_monte_carlo=n_monte_carlo)
            out[f"edge_{method}"] = (edge.energy_ev, edge.energy_err_ev)
        except (XasEdgeError, ValueError):
            out[f"edge_{method}"] = (float("nan"), float("nan"))
    if edge_method not in ("half_height", "derivative"):
        out[f"edge_{edge_method}"] = (float(r.edge_energy_ev), float(r.edge_energy_err_ev))
    return out


@dataclass
class LeaveOneOut:
    """Each standard predicted by a method calibrated on the other standards.

    Parameters
    ----------
    method : str
        The method (see :data:`METHODS`).
    names : list of str
        The standards.
    declared, predicted : ndarray
        Declared valence and the prediction from the others (NaN where none could be made).
    extrapolated : ndarray of bool
        The standard lay outside the others' range: the prediction is an extrapolation.
    reasons : list of str
        Why a prediction is missing ('' where there is one).

    Examples
    --------
    >>> loo = leave_one_out([7118.4, 7119.3, 7123.5, 7121.9], [0, 2, 3, 2.67], names=["Fe", "FeO", "Fe2O3", "Fe3O4"])
    >>> np.round(loo.error, 2).tolist(), loo.extrapolated.tolist()
    ([1.77, -1.31, 0.08, -0.05], [True, False, True, False])
    >>> round(loo.interior_rms, 2), round(loo.max_error, 2)
    (0.93, 1.77)
    """

    method: str
    names: list[str]
    declared: np.ndarray
    predicted: np.ndarray
    extrapolated: np.ndarray
    reasons: list[str] = field(default_factory=list)

    @property
    def error(self) -> np.ndarray:
        """Predicted minus declared valence per standard."""
        return self.predicted - self.declared

    @property
    def rms_error(self) -> float:
        """Root-mean-square error over every standard predicted (NaN when none was)."""
        e = self.error[np.isfinite(self.error)]
        return float(np.sqrt(np.mean(e**2))) if e.size else float("nan")

    @property
    def max_error(self) -> float:
        """Largest absolute error over every standard predicted (NaN when none was)."""
        e = self.error[np.isfinite(self.error)]
        return float(np.max(np.abs(e))) if e.size else float("nan")

    @property
    def interior_rms(self) -> float:
        """RMS error over the standards inside the others' range: the method's calibration
        uncertainty for a sample between standards (NaN when no standard is interior)."""
        e = self.error[np.isfinite(self.error) & ~self.extrapolated]
        return float(np.sqrt(np.mean(e**2))) if e.size else float("nan")


def leave_one_out(x, valence, x_err=None, *, names=None, model: str = "piecewise_linear",
                  feature: str = "edge_energy_ev", method: str | None = None) -> LeaveOneOut:
    """Predict each standard from a calibration through all the others.

    Parameters
    ----------
    x, valence : array_like
        Feature and declared valence of each standard.
    x_err : array_like, optional
        Feature uncertainties.
    names : list of str, optional
        The standards' names.
    model : str
        The calibration curve (see :class:`~xpipe.xas.valence.ValenceCalibration`).
    feature : str
        What ``x`` is.
    method : str, optional
        Name recorded in the result (default: ``feature``).

    Returns
    -------
    LeaveOneOut

    Examples
    --------
    V2O3 from VO, VO2 and V2O5 (half-height edges, eV):

    >>> loo = leave_one_out([5474.75, 5478.25, 5480.92, 5481.42], [2, 3, 4, 5],
    ...                     names=["VO", "V2O3", "VO2", "V2O5"])
    >>> round(float(loo.predicted[1]), 2), loo.extrapolated.tolist()
    (3.13, [True, False, False, True])
    """
    x = np.asarray(x, dtype=float)
    v = np.asarray(valence, dtype=float)
    xe = np.zeros_like(x) if x_err is None else np.asarray(x_err, dtype=float)
    names = list(names) if names is not None else [f"standard {i + 1}" for i in range(x.size)]
    pred = np.full(x.size, np.nan)
    extrap = np.zeros(x.size, bool)
    reasons = []
    for i in range(x.size):
        keep = np.arange(x.size) != i
        try:
            cal = ValenceCalibration.fit(x[keep], v[keep], xe[keep], names=[n for n, k in zip(names, keep) if k],
                                         model=model, feature=feature)
        except ValueError as exc:
            reasons.append(str(exc))
            continue
        if not np.isfinite(x[i]):
            reasons.append(f"no {feature} for {names[i]}")
            continue
        pred[i] = float(cal.predict(x[i])[0])
        extrap[i] = not bool(cal.inside(x[i]))
        reasons.append("")
    return LeaveOneOut(method or feature, names, v, pred, extrap, reasons)


def leave_one_out_lcf(references, valences, *, window_ev: tuple[float, float]) -> LeaveOneOut:
    """Predict each reference spectrum by a linear combination fit of the others.

    A combination of the others can only give a valence inside their range, so a reference
    at either end is reported as an extrapolation.

    Parameters
    ----------
    references : list of (name, energy_ev, norm)
        The reference spectra (normalised mu on calibrated energies, eV).
    valences : array_like
        Their declared valences.
    window_ev : (float, float)
        Fit window, absolute energies (eV).

    Returns
    -------
    LeaveOneOut

    Examples
    --------
    >>> e = np.linspace(5440.0, 5540.0, 401)
    >>> refs = [(f"V{v}", e, 0.5 + np.arctan((e - e0) / 2.0) / np.pi)
    ...         for v, e0 in ((3, 5476.0), (4, 5478.0), (5, 5480.0))]
    >>> loo = leave_one_out_lcf(refs, [3, 4, 5], window_ev=(5450.0, 5520.0))
    >>> np.round(loo.predicted, 2).tolist(), loo.extrapolated.tolist()
    ([4.0, 4.0, 4.0], [True, False, True])
    """
    v = np.asarray(valences, dtype=float)
    names = [r[0] for r in references]
    pred = np.full(v.size, np.nan)
    extrap = (v <= v.min()) | (v >= v.max()) if v.size else np.zeros(0, bool)
    reasons = []
    for i, (_name, e, norm) in enumerate(references):
        others = [r for j, r in enumerate(references) if j != i]
        if len(others) < 2:
            reasons.append("LCF needs at least two other references")
            continue
        try:
            fit = lcf(e, norm, others, np.delete(v, i), window_ev=window_ev)
        except Exception as exc:  # one failed fit must not stop the check
            reasons.append(f"LCF failed: {exc}")
            continue
        pred[i] = fit.valence
        reasons.append("")
    return LeaveOneOut("lcf", names, v, pred, np.asarray(extrap, bool), reasons)


@dataclass
class MethodValence:
    """One method's valence for every spectrum of a series, and how well it did on the standards.

    Parameters
    ----------
    method : str
        See :data:`METHODS`.
    valence, valence_err : ndarray
        Per spectrum (NaN where the method gave none); ``valence_err`` is statistical.
    loo : LeaveOneOut or None
        Its leave-one-out on the standards.
    reason : str
        Why the method gave no valence ('' when it did).
    calibration : ValenceCalibration or None
        The curve (None for LCF and for a method that failed).
    x : ndarray or None
        The feature of every spectrum (None for LCF).

    Examples
    --------
    >>> m = MethodValence("lcf", np.array([3.2]), np.array([0.01]), None)
    >>> m.usable, m.calibration_err
    (True, 0.0)
    """

    method: str
    valence: np.ndarray
    valence_err: np.ndarray
    loo: LeaveOneOut | None
    reason: str = ""
    calibration: ValenceCalibration | None = None
    x: np.ndarray | None = None

    @property
    def usable(self) -> bool:
        """The method gave a valence for at least one spectrum."""
        return bool(np.isfinite(self.valence).any())

    @property
    def calibration_err(self) -> float:
        """The calibration uncertainty: leave-one-out RMS over interior standards, 0 when
        no standard could be predicted by interpolation."""
        if self.loo is None or not np.isfinite(self.loo.interior_rms):
            return 0.0
        return self.loo.interior_rms

    @property
    def total_err(self) -> np.ndarray:
        """Statistical and calibration uncertainty in quadrature, per spectrum."""
        return np.hypot(self.valence_err, self.calibration_err)


def calibrate_method(method: str, x, x_err, std_x, std_err, std_valence, std_names, *,
                     model: str) -> MethodValence:
    """Valence of every spectrum by one feature method, with its leave-one-out.

    Parameters
    ----------
    method : str
        Feature method name (see :data:`METHODS`).
    x, x_err : array_like
        The feature of every spectrum and its uncertainty.
    std_x, std_err, std_valence : array_like
        The standards' feature, its uncertainty and their declared valences.
    std_names : list of str
        The standards' names.
    model : str
        The calibration curve.

    Returns
    -------
    MethodValence
        NaN valences and the reason when the standards give no calibration.

    Examples
    --------
    >>> m = calibrate_method("edge_half_height", [7121.9], [0.01], [7118.4, 7119.3, 7123.5],
    ...                      [0.03, 0.01, 0.01], [0, 2, 3], ["Fe", "FeO", "Fe2O3"],
    ...                      model="piecewise_linear")
    >>> round(float(m.valence[0]), 2), np.round(m.loo.error, 2).tolist()
    (2.62, [1.79, -1.47, 8.33])
    """
    x = np.asarray(x, dtype=float)
    nan = np.full(x.shape, np.nan)
    feature = "pre_edge_area" if method == "pre_edge_area" else f"{method}_ev"
    # a standard without this feature (a metal has no pre-edge peak) calibrates the others
    ok = np.isfinite(np.asarray(std_x, dtype=float))
    std_x, std_err, std_valence = (np.asarray(a, dtype=float)[ok] for a in (std_x, std_err, std_valence))
    std_names = [n for n, k in zip(std_names, ok) if k]
    loo = leave_one_out(std_x, std_valence, std_err, names=std_names, model=model, feature=feature, method=method)
    try:
        cal = ValenceCalibration.fit(std_x, std_valence, std_err, names=std_names, model=model, feature=feature)
    except ValueError as exc:
        return MethodValence(method, nan, nan.copy(), loo, str(exc), None, x)
    v, ve = cal.predict(x, np.nan_to_num(np.asarray(x_err, dtype=float), nan=0.0))
    v = np.where(np.isfinite(x), v, np.nan)
    return MethodValence(method, np.asarray(v, float), np.asarray(ve, float), loo, "", cal, x)


def disagreements(methods: list[MethodValence]) -> list[list[tuple[str, str]]]:
    """Per spectrum, the pairs of methods that differ by more than their combined uncertainty.

    The combined uncertainty of two methods is the quadrature sum of both methods'
    statistical and calibration (leave-one-out) uncertainties.

    Parameters
    ----------
    methods : list of MethodValence
        The usable methods.

    Returns
    -------
    list of list of (str, str)
        One list per spectrum.

    Examples
    --------
    >>> a = MethodValence("edge_half_height", np.array([2.6, 3.0]), np.array([0.05, 0.05]), None)
    >>> b = MethodValence("edge_derivative", np.array([3.0, 3.02]), np.array([0.05, 0.05]), None)
    >>> disagreements([a, b])
    [[('edge_half_height', 'edge_derivative')], []]
    """
    if not methods:
        return []
    n = methods[0].valence.size
    out: list[list[tuple[str, str]]] = [[] for _ in range(n)]
    for i, a in enumerate(methods):
        for b in methods[i + 1:]:
            diff = np.abs(a.valence - b.valence)
            tol = np.hypot(a.total_err, b.total_err)
            for k in np.flatnonzero(np.isfinite(diff) & (diff > tol)):
                out[k].append((a.method, b.method))
    return out


@dataclass
class ValenceCheck:
    """Every method's valence for a series, the leave-one-out of each, and a status per spectrum.

    Parameters
    ----------
    methods : list of MethodValence
        One per method tried, usable or not (see :data:`METHODS`).
    reported : str
        The method whose valence the series reports.
    series_method : str
        The method of the series' calibration feature (its range and spacing decide
        ``extrapolated`` and ``sparse_standards``).
    status : list of str
        Per spectrum: 'ok', or the problems found joined by '; '.
    gap : ndarray
        Per spectrum: valence spacing of the standards around it (NaN outside their range).
    warnings : list of str
        What a user should know, one line each.
    max_gap : float
        Spacing (valence units) above which standards are too far apart.

    Examples
    --------
    >>> chk = ValenceCheck([], "lcf", "edge_half_height", ["unverified"], np.array([np.nan]), [], 1.0)
    >>> chk.method("lcf") is None, chk.status
    (True, ['unverified'])
    """

    methods: list[MethodValence]
    reported: str
    series_method: str
    status: list[str]
    gap: np.ndarray
    warnings: list[str]
    max_gap: float

    def method(self, name: str) -> MethodValence | None:
        """The method called ``name``, or None when it was not tried.

        Parameters
        ----------
        name : str
            See :data:`METHODS`.

        Returns
        -------
        MethodValence or None

        Examples
        --------
        >>> ValenceCheck([], "lcf", "edge_half_height", [], np.array([]), [], 1.0).method("lcf")
        """
        return next((m for m in self.methods if m.method == name), None)


def _listing(labels: list[str], idx, limit: int = 5) -> str:
    names = [labels[i] for i in idx]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _loo_warnings(methods: list[MethodValence]) -> list[str]:
    out = []
    for m in methods:
        if m.loo is None:
            continue
        interior = [(n, e) for n, e, x in zip(m.loo.names, m.loo.error, m.loo.extrapolated) if np.isfinite(e) and not x]
        if not interior:
            out.append(f"leave-one-out {m.method}: no standard lies between two others, so the calibration "
                       "error between standards is unknown")
            continue
        worst = max(interior, key=lambda t: abs(t[1]))
        if abs(worst[1]) > TARGET_ERROR:
            out.append(f"leave-one-out {m.method}: {worst[0]} predicted from the other standards is off by "
                       f"{worst[1]:+.2f} (RMS {m.loo.interior_rms:.2f} over {len(interior)} standard(s) between others); "
                       f"this method cannot reach {TARGET_ERROR} with these standards")
    return out


#: valence units beyond the end standard that count as an extrapolation, at the least
EXTRAPOLATION_TOLERANCE = 0.05


def _range_flags(series: MethodValence):
    """(beyond, gap): outside the standards' range by more than twice the valence uncertainty
    and at least :data:`EXTRAPOLATION_TOLERANCE`, and the valence spacing of the standards
    around each spectrum."""
    cal = series.calibration
    v = series.valence
    if cal is None or series.x is None:
        return np.zeros(v.shape, bool), np.full(v.shape, np.nan)
    ends = [float(cal.predict(xe)[0]) for xe in (cal.x.min(), cal.x.max())]
    tol = np.maximum(2 * np.nan_to_num(series.valence_err, nan=0.0), EXTRAPOLATION_TOLERANCE)
    beyond = np.isfinite(v) & ((v < min(ends) - tol) | (v > max(ends) + tol))
    return beyond, cal.bracket_gap(series.x)


def check_valence(methods: list[MethodValence], labels: list[str], *, reported: str,
                  series_method: str, max_gap: float = 1.0) -> ValenceCheck:
    """Status of every spectrum's valence: range, spacing of the standards, agreement of methods.

    Parameters
    ----------
    methods : list of MethodValence
        Every method tried (see :func:`calibrate_method`); unusable ones are reported, not used.
    labels : list of str
        The spectra.
    reported : str
        The method whose valence is reported.
    series_method : str
        The method of the series' calibration feature.
    max_gap : float
        Largest spacing (valence units) of the standards around a spectrum that is not flagged.

    Returns
    -------
    ValenceCheck

    Examples
    --------
    Magnetite-like edges on a calibration from Fe, FeO and Fe2O3:

    >>> std = ([7118.4, 7119.3, 7123.5], [0.03, 0.01, 0.01], [0, 2, 3], ["Fe", "FeO", "Fe2O3"])
    >>> half = calibrate_method("edge_half_height", [7121.9, 7118.9, 7130.0], [0.01] * 3, *std,
    ...                         model="piecewise_linear")
    >>> chk = check_valence([half], ["Fe3O4", "x", "y"], reported="edge_half_height",
    ...                     series_method="edge_half_height")
    >>> chk.status
    ['unverified', 'sparse_standards; unverified', 'extrapolated; unverified']
    """
    usable = [m for m in methods if m.usable]
    series = next((m for m in methods if m.method == series_method), None)
    n = len(labels)
    if series is not None:
        beyond, gap = _range_flags(series)
    else:
        beyond, gap = np.zeros(n, bool), np.full(n, np.nan)
    pairs = [[p for p in row if reported in p] for row in disagreements(usable)]
    n_valued = np.sum([np.isfinite(m.valence) for m in usable], axis=0) if usable else np.zeros(n, int)
    status = []
    for i in range(n):
        kinds = []
        if beyond[i]:
            kinds.append("extrapolated")
        if np.isfinite(gap[i]) and gap[i] > max_gap + 1e-9:
            kinds.append("sparse_standards")
        if pairs and pairs[i]:
            kinds.append("methods_disagree")
        if n_valued[i] < 2:
            kinds.append("unverified")
        status.append("; ".join(kinds) or "ok")
    warns = [f"{m.method}: no valence ({m.reason})" for m in methods if not m.usable and m.reason]
    warns += _loo_warnings(usable)
    if beyond.any():
        warns.append(f"{int(beyond.sum())} spectrum(s) outside the standards' range (extrapolated): "
                     f"{_listing(labels, np.flatnonzero(beyond))}")
    wide = np.flatnonzero(np.isfinite(gap) & (gap > max_gap + 1e-9))
    if wide.size:
        warns.append(f"{wide.size} spectrum(s) between standards more than {max_gap:g} valence unit(s) apart: "
                     f"{_listing(labels, wide)}")
    by_method = {m.method: m for m in usable}
    for other in [m.method for m in usable if m.method != reported]:
        idx = [i for i in range(n) if pairs and any(other in p for p in pairs[i])]
        if not idx:
            continue
        a, b, i = by_method[reported], by_method[other], idx[0]
        warns.append(f"{reported} disagrees with {other} beyond their combined uncertainty on {len(idx)} spectrum(s), "
                     f"e.g. {labels[i]}: {a.valence[i]:.2f} ± {a.total_err[i]:.2f} against "
                     f"{b.valence[i]:.2f} ± {b.total_err[i]:.2f}")
    return ValenceCheck(methods, reported, series_method, status, gap, warns, max_gap)
