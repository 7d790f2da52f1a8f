"""XPS peak fitting: components and spin-orbit doublets over a background, with links and series.

The model is written the way a spectroscopist describes it: a list of :class:`Component` (one
peak) and :class:`Doublet` (a spin-orbit pair, two linked lines) on a binding-energy axis, links
written as text (``"fwhm(V4+ 2p3/2) = fwhm(V5+ 2p3/2)"``), a background kind and a fit region.
:func:`fit_spectrum` fits one spectrum, :func:`fit_series` several spectra at once with some
parameters shared. Both return :class:`XpsFit` objects holding every fitted quantity with its
uncertainty, component fractions, the mean valence, and diagnostics that flag an ill-posed fit.

Axis and units
    ``x`` is the binding energy in eV (any order; it is sorted ascending). Intensities are
    counts (or counts/s: then pass ``sigma`` or expect the reduced chi-square flag). Areas are
    in intensity x eV. Kinetic-energy data must be converted first (``BE = hv - KE - phi``; when
    the work function is not known, ``hv - KE`` is a binding-like axis whose energy differences
    are exact and whose absolute scale is fixed by charge correction, see
    :mod:`xpipe.xps.charge`).

Parameters of the model
    A :class:`Component` has a centre, a width parameter ``fwhm`` (the one the lineshape takes;
    :func:`~xpipe.xps.lineshapes.fwhm_of` gives the true FWHM that is reported), an area and
    the lineshape's own parameters (``m`` of GL, ``alpha`` of DS, ...). Lineshape parameters are
    held at the value given in ``shape_params`` (or the lineshape default) unless
    ``vary={"m": True}``. Default bounds: centre +- 1.5 eV, ``fwhm`` 0.3-4.0 eV, area >= 0.

    A :class:`Doublet` has the centre, width and shape of its major line (j = l + 1/2), its
    ``area`` is the TOTAL area of both lines, and the minor line (j = l - 1/2) sits at
    ``center + splitting`` with area ``area * r / (1 + r)`` (``r = area_ratio``, default from the
    degeneracy: p 1/2, d 2/3, f 3/4) and width ``fwhm * fwhm_ratio``. Its lines are named
    ``"<name><j>"`` when the name ends in the level (``"V5+ 2p"`` -> ``"V5+ 2p3/2"``,
    ``"V5+ 2p1/2"``), otherwise ``"<name> <j>"``.

Links
    ``"quantity(name) = expression"``: the left side is one quantity of one component, the right
    side numbers, ``quantity(name)`` terms, ``+ - * /`` and parentheses. Quantities: ``center``,
    ``fwhm`` (width parameter), ``area``, lineshape parameters, and for doublets ``splitting``,
    ``area_ratio``, ``fwhm_ratio`` (a doublet's name means its major line for centre, width and
    shape, and the total for the area). A small parser checks the text and turns it into an
    lmfit expression; nothing is evaluated as Python code. In a series, ``quantity(name)[k]``
    refers to spectrum ``k``; a link without index applies within every spectrum.

Background (computed on the fit region)
    ``"shirley"`` (iterated on the data), ``"linear"``, ``"tougaard"``, ``"none"`` are computed
    once from the data. ``"active_shirley"`` is rebuilt from the model peaks at every step of the
    fit (:func:`~xpipe.xps.backgrounds.shirley_active`); its end levels ``y_low`` (low BE end)
    and ``y_high`` (high BE end) start at the averages of the ``avg_points`` end points and are
    fitted together with the peaks (``background_options={"fit_endpoints": False}`` holds them at
    the averages).

Weights and uncertainties
    ``sigma`` defaults to Poisson ``sqrt(max(|y|, 1))`` (exact for counts; counts/s need their
    own ``sigma``); the fit minimises the sum of squared normalised residuals with
    Levenberg-Marquardt (lmfit ``leastsq``). The covariance of the free parameters comes from a
    central-difference Jacobian of the normalised residuals at the optimum, ``(J^T J)^-1``
    scaled by the reduced chi-square; a parameter sitting at a bound is held there (zero
    error, and an ``at_bound`` diagnostic) instead of making the whole matrix singular. Every
    reported error (centre, true FWHM, area, height, doublet line areas, fractions, mean
    valence) is propagated from the FULL covariance by the delta method (numerical gradients
    through the links and doublet rules), so correlations are respected. ``monte_carlo=N``
    adds N refits of noisy copies of the best model (Gaussian noise of sigma x sqrt(reduced
    chi-square), or a bootstrap of the normalised residuals; the data background recomputed
    each time); their standard deviations are in ``.mc`` and ``.monte_carlo``.

Diagnostics (:class:`Diagnostic`, in ``XpsFit.diagnostics``)
    ``unresolved`` (two lines closer than half their mean true FWHM), ``correlation`` (|r| > 0.9
    between free parameters), ``at_bound`` (within 0.1 % of the range of a bound),
    ``structured_residuals`` (Wald-Wolfowitz runs test on the residual signs, z < -3, or lag-1
    autocorrelation of the normalised residuals > 0.5), ``reduced_chi_square`` (< 0.5 or > 3),
    ``shirley_not_converged`` (error; a linear background is used), ``negative_peaks`` (the
    background more than 3 sigma above the data at > 5 % of the points, or a negative area),
    ``outside_region``, ``model_evaluation`` (the lineshape failed at trial points and the
    minimiser stepped back), ``not_converged`` and ``no_uncertainties`` (errors).

Fractions and mean valence
    The fraction of a component is ``(A_i / S_i) / sum_j (A_j / S_j)`` with ``S`` the relative
    sensitivity factor (1 by default) over all components of the spectrum; a doublet counts once
    with its total area (``XpsFit.species``) and its lines also have their own fraction. The mean
    valence is the fraction-weighted mean of ``label_valence`` over the components that carry
    one.

Example
-------
>>> import numpy as np
>>> from xpipe.xps.fit import Component, fit_spectrum
>>> from xpipe.xps.lineshapes import profile
>>> x = np.linspace(280, 292, 241)
>>> y = 100 + 5000 * profile("gl", x, 284.8, 1.1, m=30) + 2000 * profile("gl", x, 286.3, 1.1, m=30)
>>> fit = fit_spectrum(x, y, [Component("C-C", 285.0), Component("C-O", 286.0)],
...                    links=["fwhm(C-O) = fwhm(C-C)"], background="linear")
>>> [round(c.center, 2) for c in fit.components], round(fit.components[0].fraction, 3)
([284.8, 286.3], 0.714)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import lmfit
import numpy as np
from scipy.optimize import brentq, minimize_scalar, nnls

from . import backgrounds as _bg
from .lineshapes import LINESHAPES, fwhm_of

#: j labels (major, minor) of the spin-orbit pair of a p, d or f level.
J_LABELS: dict[str, tuple[str, str]] = {"p": ("3/2", "1/2"), "d": ("5/2", "3/2"), "f": ("7/2", "5/2")}
#: Minor/major area ratio from the degeneracy (2j + 1): p 2:4, d 4:6, f 6:8.
DEGENERACY_RATIO: dict[str, float] = {"p": 0.5, "d": 2.0 / 3.0, "f": 0.75}
#: Typical spin-orbit splittings (eV) of the metal or its common oxide (Ti 2p: TiO2). They move
#: by a few 0.1 eV with the chemical state (V 2p of the oxides is quoted between 7.3 and 7.6 eV,
#: Fe 2p 13.1 eV in the metal, about 13.6 eV in the oxides): set ``splitting`` explicitly when it
#: matters, or fit it (``vary_splitting=True``, best shared over a series).
SPIN_ORBIT_SPLITTING: dict[str, float] = {
    "Au 4f": 3.67, "Pt 4f": 3.33, "W 4f": 2.18, "Ag 3d": 6.00, "Pd 3d": 5.26, "Mo 3d": 3.13,
    "Sn 3d": 8.41, "Ti 2p": 5.7, "V 2p": 7.4, "Fe 2p": 13.1, "Co 2p": 15.0, "Ni 2p": 17.3,
    "Cu 2p": 19.75, "Zn 2p": 23.0, "S 2p": 1.18,
}
BACKGROUNDS = ("shirley", "active_shirley", "linear", "tougaard", "none")
_QUANTITY_ALIASES = {"position": "center", "centre": "center", "width": "fwhm", "ratio": "area_ratio",
                     "split": "splitting", "so_splitting": "splitting"}
_DOUBLET_QUANTITIES = ("splitting", "area_ratio", "fwhm_ratio")


# ----------------------------------------------------------------------------- model description


@dataclass
class Component:
    """One peak. ``area=None``: estimated from the data (non-negative least squares)."""

    name: str
    center: float  # eV (binding)
    shape: str = "gl"
    fwhm: float = 1.2  # width parameter of the lineshape, eV
    area: float | None = None
    shape_params: dict[str, float] = field(default_factory=dict)
    center_bounds: tuple[float, float] | None = None  # absolute eV; default center +- 1.5 eV
    fwhm_bounds: tuple[float, float] = (0.3, 4.0)
    vary: dict[str, bool] = field(default_factory=dict)  # e.g. {"center": False, "m": True}
    label_valence: float | None = None
    sensitivity: float = 1.0  # relative sensitivity factor


@dataclass
class Doublet:
    """Spin-orbit pair; centre/width/shape of the major line (j = l + 1/2), ``area`` = TOTAL area.

    ``splitting=None`` takes the typical value of :data:`SPIN_ORBIT_SPLITTING` for the element and
    level read from the name (``"V5+ 2p"`` -> ``"V 2p"``). ``vary_area_ratio=True`` fits the ratio
    within 0.5-1.5 x its default; ``vary_splitting=True`` fits the splitting within
    +- max(0.3 eV, 10 %).
    """

    name: str
    orbital: str  # "p", "d" or "f"
    center: float  # eV, major line (j = l + 1/2)
    splitting: float | None = None  # eV, minor line - major line (binding energy)
    shape: str = "gl"
    fwhm: float = 1.2
    area: float | None = None  # total of both lines
    shape_params: dict[str, float] = field(default_factory=dict)
    area_ratio: float | None = None  # minor / major; None: degeneracy
    fwhm_ratio: float = 1.0  # width of the minor line / major (Coster-Kronig broadening)
    vary_splitting: bool = False
    vary_area_ratio: bool = False
    center_bounds: tuple[float, float] | None = None
    fwhm_bounds: tuple[float, float] = (0.3, 4.0)
    vary: dict[str, bool] = field(default_factory=dict)
    label_valence: float | None = None
    sensitivity: float = 1.0  # for the total area of the pair

    def line_names(self) -> tuple[str, str]:
        """Names of the (major, minor) lines."""
        j1, j2 = J_LABELS[self.orbital]
        if re.search(r"\d[spdf]$", self.name):
            return self.name + j1, self.name + j2
        return f"{self.name} {j1}", f"{self.name} {j2}"


ModelEntry = Component | Doublet


# ----------------------------------------------------------------------------- results


@dataclass
class Diagnostic:
    """A warning (or error) about the fit; ``names`` are the components/parameters involved."""

    kind: str
    message: str
    severity: str = "warning"  # "warning" or "error"
    names: tuple[str, ...] = ()


@dataclass
class ComponentResult:
    """One fitted line (a component, or one line of a doublet)."""

    name: str
    shape: str
    center: float
    center_err: float
    fwhm: float  # true FWHM
    fwhm_err: float
    area: float
    area_err: float
    height: float
    height_err: float
    fraction: float  # of the total (sensitivity-corrected) area of the spectrum
    fraction_err: float
    label_valence: float | None
    sensitivity: float
    width_param: float  # the ``fwhm`` parameter passed to the lineshape
    shape_params: dict[str, float]
    doublet: str | None = None  # name of the doublet this line belongs to
    mc: dict[str, float] = field(default_factory=dict)  # Monte-Carlo standard deviations


@dataclass
class SpeciesResult:
    """One model entry: a component, or a doublet counted once with its total area."""

    name: str
    kind: str  # "component" or "doublet"
    lines: list[str]
    area: float
    area_err: float
    fraction: float
    fraction_err: float
    label_valence: float | None
    sensitivity: float
    splitting: float | None = None
    splitting_err: float | None = None
    area_ratio: float | None = None
    area_ratio_err: float | None = None
    fwhm_ratio: float | None = None
    fwhm_ratio_err: float | None = None
    mc: dict[str, float] = field(default_factory=dict)


@dataclass
class XpsFit:
    """Everything about one fitted spectrum (arrays on the fit region, BE ascending)."""

    components: list[ComponentResult]
    species: list[SpeciesResult]
    mean_valence: float | None
    mean_valence_err: float | None
    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray
    background: np.ndarray
    model: np.ndarray
    residual: np.ndarray  # y - model
    curves: dict[str, np.ndarray]  # each line (without background)
    region: tuple[float, float]
    background_kind: str
    chi_square: float
    reduced_chi_square: float
    n_points: int
    n_params: int
    success: bool
    message: str
    correlations: dict[tuple[str, str], float]
    diagnostics: list[Diagnostic]
    settings: dict[str, Any]
    parameters: dict[str, dict[str, Any]]  # label -> value, err, vary, expr, min, max
    monte_carlo: dict[str, Any] = field(default_factory=dict)
    params: lmfit.Parameters | None = field(default=None, repr=False)

    def get(self, name: str) -> ComponentResult | SpeciesResult:
        """The line or model entry called ``name`` (lines first)."""
        key = _norm_name(name)
        for c in self.components:
            if c.name == key:
                return c
        for s in self.species:
            if s.name == key:
                return s
        known = [c.name for c in self.components] + [s.name for s in self.species if s.kind == "doublet"]
        raise KeyError(f"no component {name!r}; known: {', '.join(known)}")

    def fraction(self, name: str) -> tuple[float, float]:
        """(fraction, error) of a component, doublet (total) or doublet line."""
        r = self.get(name)
        return r.fraction, r.fraction_err

    def diagnostic_kinds(self) -> set[str]:
        return {d.kind for d in self.diagnostics}

    def summary(self) -> str:
        """A plain-text table of the fit."""
        out = [f"XPS fit {self.region[0]:.2f}-{self.region[1]:.2f} eV, background {self.background_kind}, "
               f"chi2_red {self.reduced_chi_square:.3g} ({self.n_points} points, {self.n_params} parameters)"]
        out.append(f"{'line':<18} {'center (eV)':>18} {'FWHM (eV)':>15} {'area':>20} {'fraction':>15}")
        for c in self.components:
            out.append(f"{c.name:<18} {_pm(c.center, c.center_err, 3):>18} {_pm(c.fwhm, c.fwhm_err, 3):>15} "
                       f"{_pm(c.area, c.area_err, 4, g=True):>20} {_pm(c.fraction, c.fraction_err, 3):>15}")
        for s in self.species:
            if s.kind == "doublet":
                out.append(f"{s.name:<18} total area {_pm(s.area, s.area_err, 4, g=True)}, fraction "
                           f"{_pm(s.fraction, s.fraction_err, 3)}, splitting {_pm(s.splitting, s.splitting_err, 3)}, "
                           f"ratio {_pm(s.area_ratio, s.area_ratio_err, 3)}")
        if self.mean_valence is not None:
            out.append(f"mean valence {_pm(self.mean_valence, self.mean_valence_err, 3)}")
        for d in self.diagnostics:
            out.append(f"[{d.severity}] {d.kind}: {d.message}")
        return "\n".join(out)


class SeriesFit(list):
    """The :class:`XpsFit` of each spectrum of a joint fit, with the joint statistics as attributes."""

    def __init__(self, fits, *, chi_square, reduced_chi_square, n_points, n_params, success, message,
                 correlations, diagnostics, shared, monte_carlo, params):
        super().__init__(fits)
        self.chi_square = chi_square
        self.reduced_chi_square = reduced_chi_square
        self.n_points = n_points
        self.n_params = n_params
        self.success = success
        self.message = message
        self.correlations = correlations
        self.diagnostics = diagnostics
        self.shared = shared
        self.monte_carlo = monte_carlo
        self.params = params


def _pm(v, e, nd, g=False):
    if v is None:
        return "-"
    if g:
        return f"{v:.{nd}g} +- {e:.2g}" if e is not None and np.isfinite(e) else f"{v:.{nd}g}"
    return f"{v:.{nd}f} +- {e:.{nd}f}" if e is not None and np.isfinite(e) else f"{v:.{nd}f}"


# ----------------------------------------------------------------------------- compiled model


@dataclass
class _Q:
    """A model quantity: lmfit expression text, evaluator over the parameter values, and the
    parameter name when the quantity is one parameter (only those can be linked or shared)."""

    expr: str
    fn: Callable[[Mapping[str, float]], float]
    param: str | None = None


def _qp(name: str) -> _Q:
    return _Q(name, lambda v, n=name: v[n], name)


@dataclass
class _Line:
    name: str
    shape: str
    func: Callable[..., np.ndarray]
    species: int
    center: _Q
    fwhm: _Q
    area: _Q
    shape_q: dict[str, _Q]
    label_valence: float | None
    sensitivity: float
    doublet: str | None


@dataclass
class _Species:
    name: str
    kind: str
    lines: list[int]
    area: _Q
    label_valence: float | None
    sensitivity: float
    extra: dict[str, _Q]


@dataclass
class _Compiled:
    prefix: str
    lines: list[_Line]
    species: list[_Species]
    refs: dict[str, tuple[str, int]]  # name -> ("line", i) or ("species", i)
    labels: dict[str, str]  # parameter -> "quantity(name)"
    area_params: list[str]


def _norm_name(name: str) -> str:
    return " ".join(str(name).split())


def _doublet_splitting(d: Doublet) -> float:
    if d.splitting is not None:
        return float(d.splitting)
    m_el = re.match(r"\s*([A-Z][a-z]?)", d.name)
    m_lv = re.search(r"(\d[spdf])", d.name)
    key = f"{m_el.group(1)} {m_lv.group(1)}" if m_el and m_lv else None
    if key in SPIN_ORBIT_SPLITTING:
        return SPIN_ORBIT_SPLITTING[key]
    raise ValueError(f"doublet {d.name!r}: no splitting given and none tabulated for {key or 'its name'}; "
                     f"set splitting= (eV); tabulated: {', '.join(SPIN_ORBIT_SPLITTING)}")


def _shape_param_specs(entry: ModelEntry) -> dict[str, tuple[float, float, float]]:
    if entry.shape not in LINESHAPES:
        raise ValueError(f"{entry.name!r}: unknown lineshape {entry.shape!r}; expected one of {', '.join(LINESHAPES)}")
    spec = LINESHAPES[entry.shape].params
    unknown = set(entry.shape_params) - set(spec)
    if unknown:
        raise ValueError(f"{entry.name!r}: lineshape {entry.shape!r} has no parameter(s) {', '.join(sorted(unknown))}; "
                         f"its parameters: {', '.join(spec) or 'none'}")
    out = {}
    for k, (default, lo, hi) in spec.items():
        val = float(entry.shape_params.get(k, default))
        if not lo <= val <= hi:
            raise ValueError(f"{entry.name!r}: {entry.shape} parameter {k}={val} outside its range [{lo}, {hi}]")
        out[k] = (val, lo, hi)
    return out


def _compile(model: Sequence[ModelEntry], params: lmfit.Parameters, prefix: str, suffix: str) -> _Compiled:
    """Add the parameters of ``model`` to ``params`` (names ``<prefix>c<i>_...``) and describe its lines."""
    if not model:
        raise ValueError("the fit model is empty: give at least one Component or Doublet")
    lines: list[_Line] = []
    species: list[_Species] = []
    refs: dict[str, tuple[str, int]] = {}
    labels: dict[str, str] = {}
    area_params: list[str] = []

    def add_name(name, ref):
        if name in refs:
            raise ValueError(f"two components of the model are called {name!r}; names must be unique")
        refs[name] = ref

    def add(pname, label, value, vary, lo=-np.inf, hi=np.inf):
        params.add(pname, value=value, vary=vary, min=lo, max=hi)
        labels[pname] = label + suffix

    for i, e in enumerate(model):
        if not isinstance(e, (Component, Doublet)):
            raise TypeError(f"model entry {i} is {type(e).__name__}; expected Component or Doublet")
        name = _norm_name(e.name)
        is_d = isinstance(e, Doublet)
        p = f"{prefix}c{i}_"
        shape_specs = _shape_param_specs(e)
        allowed = {"center", "fwhm", "area", *shape_specs} | (set(_DOUBLET_QUANTITIES) if is_d else set())
        bad = set(e.vary) - allowed
        if bad:
            raise ValueError(f"{name!r}: vary has unknown key(s) {', '.join(sorted(bad))}; allowed: {', '.join(sorted(allowed))}")
        if is_d:
            if e.orbital not in J_LABELS:
                raise ValueError(f"doublet {name!r}: orbital {e.orbital!r}; expected 'p', 'd' or 'f'")
            major, minor = (_norm_name(n) for n in e.line_names())
            head = major
        else:
            head = name
        c0, w0 = float(e.center), float(e.fwhm)
        clo, chi = e.center_bounds if e.center_bounds is not None else (c0 - 1.5, c0 + 1.5)
        if not clo <= c0 <= chi:
            raise ValueError(f"{name!r}: center {c0} eV outside its bounds ({clo}, {chi})")
        wlo, whi = e.fwhm_bounds
        if not wlo <= w0 <= whi:
            raise ValueError(f"{name!r}: fwhm {w0} eV outside its bounds ({wlo}, {whi}); widen fwhm_bounds")
        if e.sensitivity <= 0:
            raise ValueError(f"{name!r}: sensitivity must be > 0, got {e.sensitivity}")
        add(p + "center", f"center({head})", c0, e.vary.get("center", True), clo, chi)
        add(p + "fwhm", f"fwhm({head})", w0, e.vary.get("fwhm", True), wlo, whi)
        a0 = np.nan if e.area is None else float(e.area)
        add(p + "area", f"area({name})", a0 if np.isfinite(a0) else 1.0, e.vary.get("area", True), 0.0, np.inf)
        params[p + "area"].user_data = {"estimate": e.area is None}
        area_params.append(p + "area")
        sq = {}
        for k, (val, lo, hi) in shape_specs.items():
            add(p + k, f"{k}({head})", val, e.vary.get(k, False), lo, hi)
            sq[k] = _qp(p + k)
        func = LINESHAPES[e.shape].func
        si = len(species)
        if not is_d:
            add_name(name, ("line", len(lines)))
            lines.append(_Line(name, e.shape, func, si, _qp(p + "center"), _qp(p + "fwhm"), _qp(p + "area"), sq,
                               e.label_valence, float(e.sensitivity), None))
            species.append(_Species(name, "component", [len(lines) - 1], _qp(p + "area"), e.label_valence,
                                    float(e.sensitivity), {}))
            continue
        s0 = _doublet_splitting(e)
        r_def = DEGENERACY_RATIO[e.orbital]
        r0 = float(e.area_ratio) if e.area_ratio is not None else r_def
        vs = e.vary.get("splitting", e.vary_splitting)
        vr = e.vary.get("area_ratio", e.vary_area_ratio)
        ds = max(0.3, 0.1 * abs(s0))
        add(p + "splitting", f"splitting({name})", s0, vs, s0 - ds, s0 + ds)
        add(p + "area_ratio", f"area_ratio({name})", r0, vr, 0.5 * r0, 1.5 * r0)
        add(p + "fwhm_ratio", f"fwhm_ratio({name})", float(e.fwhm_ratio), e.vary.get("fwhm_ratio", False),
            0.5 * min(1.0, e.fwhm_ratio), 3.0 * max(1.0, e.fwhm_ratio))
        pc, pw, pa, ps, pr, pf = (p + k for k in ("center", "fwhm", "area", "splitting", "area_ratio", "fwhm_ratio"))
        q_major_area = _Q(f"({pa} / (1 + {pr}))", lambda v, a=pa, r=pr: v[a] / (1 + v[r]))
        q_minor_area = _Q(f"({pa} * {pr} / (1 + {pr}))", lambda v, a=pa, r=pr: v[a] * v[r] / (1 + v[r]))
        q_minor_center = _Q(f"({pc} + {ps})", lambda v, c=pc, s=ps: v[c] + v[s])
        q_minor_fwhm = _Q(f"({pw} * {pf})", lambda v, w=pw, f=pf: v[w] * v[f])
        add_name(name, ("species", si))
        add_name(major, ("line", len(lines)))
        lines.append(_Line(major, e.shape, func, si, _qp(pc), _qp(pw), q_major_area, sq, e.label_valence,
                           float(e.sensitivity), name))
        add_name(minor, ("line", len(lines)))
        lines.append(_Line(minor, e.shape, func, si, q_minor_center, q_minor_fwhm, q_minor_area, sq,
                           e.label_valence, float(e.sensitivity), name))
        species.append(_Species(name, "doublet", [len(lines) - 2, len(lines) - 1], _qp(pa), e.label_valence,
                                float(e.sensitivity), {"splitting": _qp(ps), "area_ratio": _qp(pr), "fwhm_ratio": _qp(pf)}))
    return _Compiled(prefix, lines, species, refs, labels, area_params)


def _resolve(comp: _Compiled, quantity: str, name: str) -> _Q:
    """The quantity ``quantity(name)`` of a compiled model; ValueError with the choices otherwise."""
    q = _QUANTITY_ALIASES.get(quantity.lower(), quantity.lower())
    key = _norm_name(name)
    if key not in comp.refs:
        raise ValueError(f"unknown component {name!r}; the model has: {', '.join(comp.refs)}")
    kind, i = comp.refs[key]
    if kind == "species":  # a doublet by its own name
        sp = comp.species[i]
        if q == "area":
            return sp.area
        if q in sp.extra:
            return sp.extra[q]
        line = comp.lines[sp.lines[0]]
    else:
        line = comp.lines[i]
        if q in _DOUBLET_QUANTITIES:
            sp = comp.species[line.species]
            if sp.kind != "doublet":
                raise ValueError(f"{q}({name}): {name!r} is not part of a doublet")
            return sp.extra[q]
    if q == "center":
        return line.center
    if q == "fwhm":
        return line.fwhm
    if q == "area":
        return line.area
    if q in line.shape_q:
        return line.shape_q[q]
    allowed = ["center", "fwhm", "area", *line.shape_q] + (list(_DOUBLET_QUANTITIES) if line.doublet else [])
    raise ValueError(f"unknown quantity {quantity!r} for {name!r} ({line.shape} lineshape); expected one of {', '.join(allowed)}")


# ----------------------------------------------------------------------------- link parser

_NUM = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_LINK_FORM = ("expected 'quantity(component) = expression', e.g. 'fwhm(A) = fwhm(B)' or "
              "'center(B) = center(A) + 1.5' (numbers, quantity(component) terms, + - * / and parentheses)")


class _LinkError(ValueError):
    pass


def _tokenize(text: str) -> list[tuple[str, Any, int]]:
    toks: list[tuple[str, Any, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        m = _NUM.match(text, i)
        if m:
            toks.append(("num", m.group(0), i))
            i = m.end()
            continue
        m = _IDENT.match(text, i)
        if m:
            j = m.end()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != "(":
                raise _LinkError(f"{m.group(0)!r} at position {i} is not followed by '(component name)'")
            depth, k = 1, j + 1
            while k < n and depth:
                depth += {"(": 1, ")": -1}.get(text[k], 0)
                k += 1
            if depth:
                raise _LinkError(f"unclosed '(' after {m.group(0)!r}")
            name = _norm_name(text[j + 1:k - 1])
            if not name:
                raise _LinkError(f"empty component name in {m.group(0)}()")
            idx = None
            mi = re.match(r"\s*\[\s*(\d+)\s*\]", text[k:])
            if mi:
                idx = int(mi.group(1))
                k += mi.end()
            toks.append(("ref", (m.group(0), name, idx), i))
            i = k
            continue
        if c == "=" and i + 1 < n and text[i + 1] == "=":
            raise _LinkError("'==' found; a link is written with a single '='")
        if c in "+-*/()=":
            if c == "*" and i + 1 < n and text[i + 1] == "*":
                raise _LinkError("'**' (power) is not allowed")
            toks.append(("op", c, i))
            i += 1
            continue
        raise _LinkError(f"unexpected character {c!r} at position {i}")
    return toks


class _ExprParser:
    """Recursive descent over + - * / ( ) numbers and references; emits an lmfit expression."""

    def __init__(self, toks, resolve):
        self.toks, self.pos, self.resolve = toks, 0, resolve
        self.params: set[str] = set()

    def peek(self):
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self):
        t = self.peek()
        self.pos += 1
        return t

    def expr(self) -> str:
        s = self.term()
        while (t := self.peek()) is not None and t[0] == "op" and t[1] in "+-":
            self.take()
            s = f"{s} {t[1]} {self.term()}"
        return s

    def term(self) -> str:
        s = self.factor()
        while (t := self.peek()) is not None and t[0] == "op" and t[1] in "*/":
            self.take()
            s = f"{s} {t[1]} {self.factor()}"
        return s

    def factor(self) -> str:
        t = self.take()
        if t is None:
            raise _LinkError("the expression ends too early")
        kind, val, pos = t
        if kind == "op" and val in "+-":
            return f"({val}{self.factor()})"
        if kind == "num":
            return repr(float(val))
        if kind == "ref":
            q = self.resolve(*val)
            self.params |= _expr_names(q.expr)
            return f"({q.expr})"
        if kind == "op" and val == "(":
            s = self.expr()
            t2 = self.take()
            if t2 is None or t2[1] != ")":
                raise _LinkError(f"missing ')' for the '(' at position {pos}")
            return f"({s})"
        raise _LinkError(f"unexpected {val!r} at position {pos}: expected a number, quantity(component) or '('")


def _expr_names(expr: str) -> set[str]:
    return set(_IDENT.findall(expr)) - {"e"}


def _parse_link(text: str, resolve: Callable[[str, str, int | None], _Q]) -> tuple[_Q, str, set[str]]:
    """Parse ``lhs = rhs``; return (lhs quantity, lmfit expression of rhs, parameters it uses)."""
    if not isinstance(text, str):
        raise ValueError(f"link {text!r}: a link is a string; {_LINK_FORM}")
    try:
        toks = _tokenize(text)
        eq = [k for k, t in enumerate(toks) if t[0] == "op" and t[1] == "="]
        if len(eq) != 1:
            raise _LinkError("no '=' found" if not eq else "more than one '='")
        lhs, rhs = toks[:eq[0]], toks[eq[0] + 1:]
        if len(lhs) != 1 or lhs[0][0] != "ref":
            raise _LinkError("the left side must be a single quantity(component)")
        if not rhs:
            raise _LinkError("nothing on the right of '='")
        target = resolve(*lhs[0][1])
        if target.param is None:
            raise _LinkError(f"{lhs[0][1][0]}({lhs[0][1][1]}) is derived from other parameters "
                             "(a doublet's minor line follows its major line: link the doublet's "
                             "center/fwhm/area or its splitting, area_ratio, fwhm_ratio instead)")
        p = _ExprParser(rhs, resolve)
        expr = p.expr()
        if p.peek() is not None:
            raise _LinkError(f"unexpected {p.peek()[1]!r} at position {p.peek()[2]} after a complete expression")
        if target.param in p.params:
            raise _LinkError("the left side appears on the right side")
    except ValueError as err:  # _LinkError and unknown names/quantities from resolve
        raise ValueError(f"link {text!r}: {err}; {_LINK_FORM}") from None
    return target, expr, p.params


def _check_cycles(params: lmfit.Parameters):
    deps = {n: _expr_names(p.expr) & set(params) for n, p in params.items() if p.expr}
    state: dict[str, int] = {}

    def visit(n, path):
        if state.get(n) == 2 or n not in deps:
            return
        if state.get(n) == 1:
            raise ValueError(f"the links form a loop: {' -> '.join([*path, n])}")
        state[n] = 1
        for d in deps[n]:
            visit(d, [*path, n])
        state[n] = 2

    for n in deps:
        visit(n, [])


# ----------------------------------------------------------------------------- background and data


@dataclass
class _Spectrum:
    index: int
    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray
    region: tuple[float, float]
    kind: str
    bg_opts: dict
    bg_static: np.ndarray
    comp: _Compiled | None = None
    low: str | None = None  # active Shirley end-level parameters
    high: str | None = None
    bg_note: list[Diagnostic] = field(default_factory=list)
    weights: str = "poisson"


def _prepare(x, y, sigma, region, source) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float], str]:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length: {x.size} and {y.size}")
    if sigma is None or (isinstance(sigma, str) and sigma == "poisson"):
        s = np.sqrt(np.maximum(np.abs(y), 1.0))
        weights = "poisson sqrt(max(|y|, 1))"
    else:
        s = np.broadcast_to(np.asarray(sigma, dtype=float), y.shape).astype(float)
        weights = "given sigma"
    order = np.argsort(x, kind="stable")
    x, y, s = x[order], y[order], s[order]
    if source is not None:  # on the whole measured range: parents above the region count
        y = np.asarray(_bg.xray_satellites(x, y, source=source), dtype=float)
    if region is None:
        lo, hi = float(x[0]), float(x[-1])
    else:
        reg = [region] if np.ndim(region) == 1 else list(region)
        try:
            lo = float(min(min(r) for r in reg))
            hi = float(max(max(r) for r in reg))
        except (TypeError, ValueError):
            raise ValueError(f"region {region!r}: expected (lo, hi) in eV or a list of such pairs") from None
    keep = (x >= lo) & (x <= hi) & np.isfinite(y) & np.isfinite(s) & (s > 0)
    if keep.sum() < 8:
        raise ValueError(f"only {int(keep.sum())} usable points in the region {lo:g}-{hi:g} eV (data {x[0]:g}-{x[-1]:g} eV)")
    return x[keep], y[keep], s[keep], (lo, hi), weights


def _static_background(kind: str, x, y, opts) -> tuple[np.ndarray, list[Diagnostic]]:
    notes: list[Diagnostic] = []
    avg = opts.get("avg_points", 5)
    if kind == "none":
        return np.zeros_like(y), notes
    if kind == "linear":
        return np.asarray(_bg.linear(x, y, avg_points=avg), dtype=float), notes
    if kind in ("shirley", "active_shirley"):
        kw = {k: opts[k] for k in ("max_iter", "tol") if k in opts}
        try:
            out = _bg.shirley(x, y, avg_points=avg, **kw)
        except (ValueError, FloatingPointError, RuntimeError) as err:
            if kind == "active_shirley":  # only the starting areas use it
                return np.asarray(_bg.linear(x, y, avg_points=avg), dtype=float), notes
            notes.append(Diagnostic("shirley_not_converged", f"Shirley background failed ({err}); a linear "
                                    "background between the end averages is used instead", "error", ()))
            return np.asarray(_bg.linear(x, y, avg_points=avg), dtype=float), notes
        if isinstance(out, tuple):
            out = out[0]
        return np.asarray(out, dtype=float), notes
    if kind == "tougaard":
        kw = {k: v for k, v in opts.items() if k in ("B", "C", "D", "C_sign", "fit_B", "material")}
        out = _bg.tougaard(x, y, avg_points=avg, **kw)
        if isinstance(out, tuple):
            out = out[0]
        return np.asarray(out, dtype=float), notes
    raise ValueError(f"unknown background {kind!r}; expected one of {', '.join(BACKGROUNDS)}")


def _end_levels(y, avg) -> tuple[float, float]:
    n = max(1, min(int(avg), y.size // 2))
    return float(np.mean(y[:n])), float(np.mean(y[-n:]))


# ----------------------------------------------------------------------------- evaluation

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


def _bound_side(p: lmfit.Parameter, area_total: float | None) -> str | None:
    """'lower'/'upper' when a free parameter sits within 0.1 % of its range (for a half-open
    range: of the total peak area for areas, of its own value otherwise) of a bound."""
    lo, hi = p.min, p.max
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


# ----------------------------------------------------------------------------- the fit


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


def _build(spectra_in, model, *, shared, links, region, background, background_options, source, series):
    params = lmfit.Parameters()
    kind = str(background).lower()
    if kind not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; expected one of {', '.join(BACKGROUNDS)}")
    opts = dict(background_options or {})
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

    # links: within each spectrum, or once when they carry explicit [k] indices
    def resolver(k_default):
        def resolve(quantity, name, idx):
            k = k_default if idx is None else idx
            if not 0 <= k < len(spectra):
                raise ValueError(f"spectrum index [{idx}] out of range (0-{len(spectra) - 1})")
            return _resolve(spectra[k].comp, quantity, name)
        return resolve

    applied: list[tuple[str, str]] = []
    for text in links or ():
        explicit = isinstance(text, str) and re.search(r"\)\s*\[\s*\d+\s*\]", text) is not None
        targets = [0] if explicit else range(len(spectra))
        for k in targets:
            lhs, expr, _ = _parse_link(text, resolver(k))
            par = params[lhs.param]
            par.set(expr=expr, min=-np.inf, max=np.inf)
            applied.append((text, lhs.param))
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
    _check_cycles(params)
    try:
        params.update_constraints()
    except Exception as err:  # asteval reports bad expressions as NameError/SyntaxError
        raise ValueError(f"the links could not be evaluated: {err}") from None
    for sp in spectra:
        _initial_areas(sp, params)
    return spectra, params, applied, shared_params


def _model_settings(model) -> list[dict]:
    out = []
    for e in model:
        d = asdict(e)
        d["type"] = type(e).__name__
        if isinstance(e, Doublet):
            d["splitting"] = _doublet_splitting(e)
            d["area_ratio"] = e.area_ratio if e.area_ratio is not None else DEGENERACY_RATIO.get(e.orbital)
            d["lines"] = list(e.line_names())
            d["area_means"] = "total of both lines"
        d["shape_params"] = {k: v[0] for k, v in _shape_param_specs(e).items()}
        out.append(d)
    return out


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


def _finish(problem: _Problem, result, spectra: list[_Spectrum], model, *, links, shared_texts, applied,
            shared_params, background, options, source, method, monte_carlo, mc_kind, seed, series):
    params = result.params
    n_fail, last_fail = problem.failures, problem.last_failure
    if np.any(np.abs(problem.residual(params)) >= problem.BAD):
        raise ValueError(f"the model cannot be evaluated at the end of the fit ({problem.last_failure}); "
                         "check the starting values and bounds of the lineshape parameters")
    v = params.valuesdict()
    free = list(result.var_names)
    covar, held = _numeric_covariance(problem, params, free, float(result.redchi))
    stderr = dict(zip(free, np.sqrt(np.clip(np.diag(covar), 0, None)))) if covar is not None else {}
    keys = problem.qkeys()
    q0, qcov = _propagate(problem, params, free, covar)
    qerr = np.sqrt(np.clip(np.diag(qcov), 0, None)) if qcov is not None else np.full(q0.size, np.nan)
    kidx = {k: i for i, k in enumerate(keys)}

    labels: dict[str, str] = {}
    for sp in spectra:
        labels.update(sp.comp.labels)

    # correlations among the free parameters
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

    # Monte Carlo
    mc_std = None
    mc_info: dict[str, Any] = {}
    if monte_carlo and monte_carlo > 0:
        mc_std, mc_info = _monte_carlo(problem, result, spectra, int(monte_carlo), mc_kind, seed, method, options)

    # per-spectrum results
    fits = []
    param_deps = _free_dependencies(params)
    for sp in spectra:
        k = sp.index
        model_arr, bg, curves = _evaluate(sp, v, curves=True)
        resid = sp.y - model_arr
        rn = resid / sp.sigma
        chi2 = float(rn @ rn)
        own = [n for n in params if n.startswith(sp.comp.prefix)] if series else list(params)
        deps = set()
        for n in own:
            deps |= param_deps.get(n, set())
        npar = len(deps)
        npts = sp.x.size
        redchi = chi2 / max(npts - npar, 1)

        def val(kind, i, q, k=k):
            j = kidx[(k, kind, i, q)]
            e = qerr[j]
            m = float(mc_std[j]) if mc_std is not None else None
            return float(q0[j]), float(e), m

        comps = []
        for li, ln in enumerate(sp.comp.lines):
            got = {q: val("line", li, q) for q in ("center", "fwhm", "area", "height", "fraction")}
            c, w, a, kw = _line_values(ln, v)
            comps.append(ComponentResult(
                ln.name, ln.shape, got["center"][0], got["center"][1], got["fwhm"][0], got["fwhm"][1],
                got["area"][0], got["area"][1], got["height"][0], got["height"][1], got["fraction"][0],
                got["fraction"][1], ln.label_valence, ln.sensitivity, float(w), {kk: float(x) for kk, x in kw.items()},
                ln.doublet, {q: g[2] for q, g in got.items()} if mc_std is not None else {}))
        species = []
        for si, s in enumerate(sp.comp.species):
            ga, gf = val("species", si, "area"), val("species", si, "fraction")
            ex = {q: val("species", si, q) for q in s.extra}
            mc = {"area": ga[2], "fraction": gf[2], **{q: g[2] for q, g in ex.items()}} if mc_std is not None else {}
            species.append(SpeciesResult(
                s.name, s.kind, [sp.comp.lines[i].name for i in s.lines], ga[0], ga[1], gf[0], gf[1], s.label_valence,
                s.sensitivity, *(ex[q][j] if q in ex else None for q in _DOUBLET_QUANTITIES for j in (0, 1)), mc=mc))
        mv = val("mean_valence", 0, "value")
        has_val = any(s.label_valence is not None for s in sp.comp.species)

        # parameter table and correlations relevant to this spectrum
        ptable = {}
        for n in own:
            p = params[n]
            ptable[labels.get(n, n)] = {"value": float(p.value), "err": float(stderr[n]) if n in stderr else None,
                                        "vary": bool(p.vary and not p.expr), "expr": p.expr, "min": float(p.min),
                                        "max": float(p.max), "name": n}
        dep_labels = {labels.get(n, n) for n in deps}
        corr = {pair: r for pair, r in corr_all.items() if pair[0] in dep_labels and pair[1] in dep_labels}

        diags = list(sp.bg_note)
        diags += _diagnose(sp, params, free, covar, comps, corr, rn, redchi, result, labels, bg, own, series,
                           n_fail if sp.index == 0 else 0, last_fail)
        settings = {
            "model": _model_settings(model),
            "lineshapes": {c.name: {"shape": c.shape, **c.shape_params} for c in comps},
            "links": list(links or ()),
            "links_applied": [(t, labels.get(p, p)) for t, p in applied],
            "shared": list(shared_texts or ()),
            "background": {"kind": sp.kind, "options": dict(options),
                           "endpoints": (float(bg[0]), float(bg[-1])),
                           "fit_endpoints": bool(options.get("fit_endpoints", True)) if sp.kind == "active_shirley" else None},
            "region": sp.region,
            "weights": sp.weights,
            "source": source,
            "method": method,
            "covariance": ("central-difference Jacobian at the optimum, scaled by the reduced chi-square, "
                           "parameters at a bound held; derived errors by the delta method on the full covariance"),
            "held_at_bound": [labels.get(n, n) for n in held],
            "axis": "binding energy, eV, ascending",
        }
        mcd = {}
        if mc_std is not None:
            mcd = dict(mc_info)
            mcd["std"] = {}
            for key, j in kidx.items():
                if key[0] != k:
                    continue
                mcd["std"][_qlabel(sp, key)] = float(mc_std[j])
        fits.append(XpsFit(
            comps, species, mv[0] if has_val else None, mv[1] if has_val else None, sp.x, sp.y, sp.sigma, bg, model_arr,
            resid, curves, sp.region, sp.kind, chi2, redchi, int(npts), int(npar), bool(result.success),
            str(result.message), corr, diags, settings, ptable, mcd, params))
    return fits, corr_all, mc_info


def _qlabel(sp: _Spectrum, key) -> str:
    _, kind, i, q = key
    if kind == "line":
        return f"{q}({sp.comp.lines[i].name})"
    if kind == "species":
        return f"{q}({sp.comp.species[i].name})"
    return "mean_valence"


def _free_dependencies(params: lmfit.Parameters) -> dict[str, set[str]]:
    """Free parameters on which each parameter depends (itself when free)."""
    memo: dict[str, set[str]] = {}

    def deps(n, seen=()):
        if n in memo:
            return memo[n]
        p = params[n]
        if p.expr:
            out = set()
            for m in _expr_names(p.expr) & set(params):
                if m not in seen:
                    out |= deps(m, (*seen, n))
        else:
            out = {n} if p.vary else set()
        memo[n] = out
        return out

    return {n: deps(n) for n in params}


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


# ----------------------------------------------------------------------------- public API


def fit_spectrum(x, y, model: Sequence[ModelEntry], *, region=None, background: str = "shirley",
                 links: Sequence[str] = (), sigma=None, source: str | None = None, monte_carlo: int = 0,
                 seed: int = 0, background_options: Mapping[str, Any] | None = None, method: str = "leastsq",
                 mc_kind: str = "parametric") -> XpsFit:
    """Fit one XPS spectrum (binding energy ``x`` in eV) with ``model`` over ``background``.

    ``region``: ``(lo, hi)`` eV, or several pairs (their union's span is fitted under one
    background). ``links``: strings ``"quantity(A) = expression"``. ``sigma``: per-point errors
    (default Poisson ``sqrt(max(|y|, 1))``). ``source``: ``"Al"``/``"Mg"`` for a non-monochromatic
    anode, whose X-ray satellites are removed before fitting. ``monte_carlo``: number of refits of
    noisy copies (``mc_kind`` ``"parametric"`` or ``"bootstrap"``). ``background_options``:
    ``avg_points`` (end averages), ``fit_endpoints`` (active Shirley), ``max_iter``/``tol``
    (Shirley), ``B``/``C``/``D``/``fit_B`` (Tougaard).
    """
    if mc_kind not in ("parametric", "bootstrap"):
        raise ValueError(f"mc_kind {mc_kind!r}; expected 'parametric' or 'bootstrap'")
    spectra, params, applied, _ = _build([(x, y, sigma)], model, shared=(), links=links, region=region,
                                         background=background, background_options=background_options,
                                         source=source, series=False)
    problem = _Problem(spectra, params)
    result = problem.minimize(params, method)
    fits, _, _ = _finish(problem, result, spectra, model, links=links, shared_texts=(), applied=applied,
                         shared_params=[], background=background, options=dict(background_options or {}),
                         source=source, method=method, monte_carlo=monte_carlo, mc_kind=mc_kind, seed=seed,
                         series=False)
    return fits[0]


def fit_series(spectra: Sequence[tuple], model: Sequence[ModelEntry], *, shared: Sequence[str] = (),
               links: Sequence[str] = (), region=None, background: str = "shirley", monte_carlo: int = 0,
               seed: int = 0, source: str | None = None, background_options: Mapping[str, Any] | None = None,
               method: str = "leastsq", mc_kind: str = "parametric") -> SeriesFit:
    """Fit several spectra ``[(x, y) or (x, y, sigma), ...]`` at once with one model.

    Every parameter is per spectrum (prefix ``s<k>_``) except those listed in ``shared``
    (``"fwhm(V5+ 2p3/2)"``, ``"splitting(V5+ 2p)"``: one value for all spectra, taken from
    spectrum 0). One minimisation runs over the concatenated normalised residuals, so shared
    parameters are determined by all spectra and the per-spectrum errors include their
    uncertainty. Returns a :class:`SeriesFit` (a list of :class:`XpsFit`) with the joint
    chi-square, correlations and diagnostics as attributes.
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
    result = problem.minimize(params, method)
    fits, corr, mc_info = _finish(problem, result, sp_list, model, links=links, shared_texts=shared, applied=applied,
                                  shared_params=shared_params, background=background,
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
    return SeriesFit(fits, chi_square=float(result.chisqr), reduced_chi_square=float(result.redchi), n_points=npts,
                     n_params=int(result.nvarys), success=bool(result.success), message=str(result.message),
                     correlations=corr, diagnostics=diags, shared={t: labels.get(p, p) for t, p in zip(shared, shared_params)},
                     monte_carlo=mc_info, params=result.params)
