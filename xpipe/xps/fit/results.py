"""What a fit reports: each line and model entry with its errors, the fit as a whole, a series.

Errors (``*_err``) are one standard deviation propagated from the full covariance of the free
parameters; ``mc`` holds the Monte-Carlo standard deviations when the fit asked for refits.
Energies are binding energies in eV, areas in intensity x eV, fractions and ratios
dimensionless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lmfit
import numpy as np

from .model import _norm_name


@dataclass
class Diagnostic:
    """A warning (or error) about a fit, naming the components or parameters involved.

    Parameters
    ----------
    kind : str
        What is wrong: ``unresolved``, ``correlation``, ``at_bound``,
        ``structured_residuals``, ``reduced_chi_square``, ``shirley_not_converged``,
        ``negative_peaks``, ``outside_region``, ``model_evaluation``, ``not_converged`` or
        ``no_uncertainties``.
    message : str
        The explanation, with the numbers behind it and what to change.
    severity : str
        ``"warning"`` or ``"error"``.
    names : tuple of str
        Lines or parameter labels involved (may be empty).

    Examples
    --------
    >>> d = Diagnostic("unresolved", "'A' and 'B' are 0.30 eV apart", names=("A", "B"))
    >>> d.severity, d.names
    ('warning', ('A', 'B'))
    """

    kind: str
    message: str
    severity: str = "warning"  # "warning" or "error"
    names: tuple[str, ...] = ()


@dataclass
class ComponentResult:
    """One fitted line: a component, or one line of a doublet.

    Parameters
    ----------
    name : str
        Name of the line (``"V5+ 2p3/2"`` for a doublet line).
    shape : str
        Lineshape.
    center, center_err : float
        Binding energy of the line and its error, eV.
    fwhm, fwhm_err : float
        True full width at half maximum and its error, eV.
    area, area_err : float
        Area of the line and its error, intensity x eV.
    height, height_err : float
        Peak height above the background and its error, intensity.
    fraction, fraction_err : float
        Share of the sensitivity-corrected total area of the spectrum and its error.
    label_valence : float or None
        Valence of the chemical state, if the model gave one.
    sensitivity : float
        Relative sensitivity factor.
    width_param : float
        The ``fwhm`` parameter passed to the lineshape, eV.
    shape_params : dict of str to float
        Fitted (or held) lineshape parameters.
    doublet : str or None
        Name of the doublet this line belongs to.
    mc : dict of str to float
        Monte-Carlo standard deviations of ``center``, ``fwhm``, ``area``, ``height`` and
        ``fraction`` (empty without refits).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xps.fit import Component, fit_spectrum
    >>> from xpipe.xps.lineshapes import profile
    >>> x = np.linspace(280, 290, 201)
    >>> y = 100 + 5000 * profile("gl", x, 284.8, 1.1, m=30)
    >>> c = fit_spectrum(x, y, [Component("C-C", 285.0)], background="linear").components[0]
    >>> round(c.center, 2), round(c.width_param, 2), c.fraction
    (284.8, 1.1, 1.0)
    """

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
    """One fitted model entry: a component, or a doublet counted once with its total area.

    Parameters
    ----------
    name : str
        Name of the entry.
    kind : str
        ``"component"`` or ``"doublet"``.
    lines : list of str
        Names of its lines (one, or the major and minor line of a doublet).
    area, area_err : float
        Total area and its error, intensity x eV.
    fraction, fraction_err : float
        Share of the sensitivity-corrected total area of the spectrum and its error.
    label_valence : float or None
        Valence of the chemical state, if the model gave one.
    sensitivity : float
        Relative sensitivity factor of the total area.
    splitting, splitting_err : float or None
        Spin-orbit splitting and its error, eV (doublets only).
    area_ratio, area_ratio_err : float or None
        Minor / major area ratio and its error (doublets only).
    fwhm_ratio, fwhm_ratio_err : float or None
        Minor / major width ratio and its error (doublets only).
    mc : dict of str to float
        Monte-Carlo standard deviations (empty without refits).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xps.fit import Doublet, fit_spectrum
    >>> from xpipe.xps.lineshapes import profile
    >>> x = np.linspace(512, 530, 181)
    >>> y = 200 + 4000 * profile("gl", x, 517.2, 1.2) + 2000 * profile("gl", x, 524.6, 1.2)
    >>> s = fit_spectrum(x, y, [Doublet("V5+ 2p", "p", 517.0)], background="linear").species[0]
    >>> s.kind, s.lines, round(s.area, -2), s.splitting
    ('doublet', ['V5+ 2p3/2', 'V5+ 2p1/2'], 6000.0, 7.4)
    """

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
    """Everything about one fitted spectrum (arrays on the fit region, binding energy ascending).

    Parameters
    ----------
    components : list of ComponentResult
        Every line (a doublet gives two).
    species : list of SpeciesResult
        Every model entry (a doublet counted once).
    mean_valence, mean_valence_err : float or None
        Fraction-weighted mean of ``label_valence`` and its error; ``None`` when no entry
        carries a valence.
    x : numpy.ndarray
        Binding energy, eV.
    y, sigma : numpy.ndarray
        Data and its standard deviation, intensity.
    background, model : numpy.ndarray
        Background and model (background plus lines), intensity.
    residual : numpy.ndarray
        ``y - model``, intensity.
    curves : dict of str to numpy.ndarray
        Each line without background, intensity.
    region : (float, float)
        Fitted range, eV.
    background_kind : str
        One of :data:`~xpipe.xps.fit.model.BACKGROUNDS`.
    chi_square, reduced_chi_square : float
        Sum of squared normalised residuals, and that over ``n_points - n_params``.
    n_points, n_params : int
        Points in the region and free parameters the spectrum depends on.
    success : bool
        Whether the minimiser converged.
    message : str
        The minimiser's message.
    correlations : dict of (str, str) to float
        Correlation coefficients above 0.5 in magnitude between free parameters.
    diagnostics : list of Diagnostic
        Warnings and errors about the fit.
    settings : dict
        Every choice the fit made (model, links, background, weights, method).
    parameters : dict of str to dict
        Parameter label -> ``value``, ``err``, ``vary``, ``expr``, ``min``, ``max``, ``name``.
    monte_carlo : dict
        Refit statistics and standard deviations (empty without refits).
    params : lmfit.Parameters or None
        The fitted lmfit parameters.
    optimum : dict
        How the optimum was found (:class:`xpipe.xps.fit.multistart.Optimum` as plain data:
        starts screened, local fits, how many reached the best chi-square); empty for a single
        lmfit run.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xps.fit import Component, fit_spectrum
    >>> from xpipe.xps.lineshapes import profile
    >>> x = np.linspace(280, 290, 201)
    >>> y = (100 + 5000 * profile("gl", x, 284.8, 1.1, m=30)
    ...      + 1000 * profile("gl", x, 286.5, 1.1, m=30))
    >>> fit = fit_spectrum(x, y, [Component("C-C", 285.0), Component("C-O", 286.4)],
    ...                    background="linear")
    >>> round(fit.get("C-O").center, 2), round(fit.fraction("C-C")[0], 3), fit.n_params
    (286.5, 0.833, 6)
    >>> fit.valence_shares()  # no entry carries a valence
    {}
    >>> print(fit.summary().splitlines()[1])
    line                      center (eV)       FWHM (eV)                 area        fraction
    """

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
    optimum: dict[str, Any] = field(default_factory=dict)

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

    def valence_shares(self) -> dict[float, float]:
        """Share of each valence among the model entries that carry one: the fractions of all
        entries of that valence (multiplet lines and satellites of an envelope together), over
        the total of the labelled entries. Empty when no entry carries a valence."""
        tot: dict[float, float] = {}
        for s in self.species:
            if s.label_valence is not None:
                tot[float(s.label_valence)] = tot.get(float(s.label_valence), 0.0) + s.fraction
        norm = sum(tot.values())
        return {v: f / norm for v, f in sorted(tot.items())} if norm > 0 else {}

    def diagnostic_kinds(self) -> set[str]:
        """The kinds of the diagnostics raised."""
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
    """The :class:`XpsFit` of each spectrum of a joint fit, with the joint statistics as attributes.

    Parameters
    ----------
    fits : list of XpsFit
        One fit per spectrum, in the order given.
    chi_square, reduced_chi_square : float
        Of the joint fit over all spectra.
    n_points, n_params : int
        Points of all spectra and free parameters of the joint fit.
    success : bool
        Whether the joint minimisation converged.
    message : str
        The minimiser's message.
    correlations : dict of (str, str) to float
        Correlation coefficients above 0.5 in magnitude (labels carry `` [k]`` for spectrum k).
    diagnostics : list of Diagnostic
        Joint correlation warnings and every spectrum's other diagnostics.
    shared : dict of str to str
        Each ``shared`` text -> the label of the one parameter it became.
    monte_carlo : dict
        Refit statistics (empty without refits).
    params : lmfit.Parameters
        The fitted joint parameters.
    optimum : dict
        How the joint optimum was found (as :attr:`XpsFit.optimum`).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xps.fit import Component, fit_series
    >>> from xpipe.xps.lineshapes import profile
    >>> x = np.linspace(280, 290, 201)
    >>> spectra = [(x, 100 + a * profile("gl", x, 284.8, 1.1, m=30)) for a in (3000, 6000)]
    >>> series = fit_series(spectra, [Component("C-C", 285.0)], shared=["fwhm(C-C)"],
    ...                     background="linear")
    >>> len(series), series.shared, [round(f.get("C-C").area, -2) for f in series]
    (2, {'fwhm(C-C)': 'fwhm(C-C) [0]'}, [3000.0, 6000.0])
    """

    def __init__(self, fits, *, chi_square, reduced_chi_square, n_points, n_params, success, message,
                 correlations, diagnostics, shared, monte_carlo, params, optimum=None):
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
        self.optimum = dict(optimum or {})


def _pm(v, e, nd, g=False):
    if v is None:
        return "-"
    if g:
        return f"{v:.{nd}g} +- {e:.2g}" if e is not None and np.isfinite(e) else f"{v:.{nd}g}"
    return f"{v:.{nd}f} +- {e:.{nd}f}" if e is not None and np.isfinite(e) else f"{v:.{nd}f}"
