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

Modules
    :mod:`~xpipe.xps.fit.model` (components, doublets, spin-orbit tables),
    :mod:`~xpipe.xps.fit.compiled` (the model as lmfit parameters),
    :mod:`~xpipe.xps.fit.links` (the link parser), :mod:`~xpipe.xps.fit.data` (region, weights,
    data background), :mod:`~xpipe.xps.fit.evaluate` (model, residual, reported quantities),
    :mod:`~xpipe.xps.fit.uncertainty` (covariance, delta method, Monte Carlo),
    :mod:`~xpipe.xps.fit.fitting` (starts and the fit), :mod:`~xpipe.xps.fit.report` and
    :mod:`~xpipe.xps.fit.diagnostics` (results, areas, shares and flags),
    :mod:`~xpipe.xps.fit.results` (the result classes). Everything public is importable from
    :mod:`xpipe.xps.fit` itself.

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

from .fitting import fit_series, fit_spectrum
from .model import (
    BACKGROUNDS,
    DEGENERACY_RATIO,
    J_LABELS,
    SPIN_ORBIT_SPLITTING,
    Component,
    Doublet,
    ModelEntry,
)
from .results import ComponentResult, Diagnostic, SeriesFit, SpeciesResult, XpsFit

__all__ = [
    "BACKGROUNDS", "DEGENERACY_RATIO", "J_LABELS", "SPIN_ORBIT_SPLITTING", "Component",
    "ComponentResult", "Diagnostic", "Doublet", "ModelEntry", "SeriesFit", "SpeciesResult", "XpsFit",
    "fit_series", "fit_spectrum",
]
