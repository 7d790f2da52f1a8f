"""Charge correction of XPS binding energies from a reference line.

:func:`charge_shift` fits the reference line in the measured spectrum and returns the shift to
ADD to the measured binding energies (``BE_corrected = BE_measured + shift``). References
(:data:`REFERENCES`):

* ``"C 1s C-C"`` 284.8 eV: adventitious carbon (Barr & Seal, J. Vac. Sci. Technol. A 13 (1995)
  1239). Default model: C-C, C-O (+1.5 eV), C=O (+3.0 eV), O-C=O (+4.3 eV), GL(30) lines with
  one shared FWHM and fixed offsets from C-C, Shirley background, window 280-292 eV.
* ``"O 1s lattice"`` 530.0 eV: lattice oxygen of a metal oxide. Default model: lattice O, a
  defect/hydroxide line 0.8-2.2 eV above it and an adsorbed-species line 2.2-4.0 eV above it,
  GL(30), shared FWHM, Shirley, window 526-536 eV.
* ``"Au 4f7/2"`` 83.96 eV: ISO 15472 energy-scale reference (Seah, Surf. Interface Anal. 31
  (2001) 721). Default model: Au 4f doublet (splitting 3.67 eV, area ratio 3/4) with a GL line
  whose Lorentzian share is fitted, Shirley, window 80-92 eV.

The window is on the measured (uncorrected) axis; the default model starts from the strongest
point of the window, so a charged spectrum is found as long as the line is inside the window.
The uncertainty is the fit error of the reference centre (covariance scaled by the reduced
chi-square); it does not include the uncertainty of the reference energy itself (adventitious
carbon is good to a few 0.1 eV at best, which is why a sample's own line or a Au reference is
preferred when available).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .fit import Component, Doublet, XpsFit, fit_spectrum

REFERENCES: dict[str, float] = {"C 1s C-C": 284.8, "O 1s lattice": 530.0, "Au 4f7/2": 83.96}
DEFAULT_WINDOWS: dict[str, tuple[float, float]] = {
    "C 1s C-C": (280.0, 292.0),
    "O 1s lattice": (526.0, 536.0),
    "Au 4f7/2": (80.0, 92.0),
}


@dataclass
class ChargeShift:
    """Shift (eV) to ADD to measured binding energies, from the fitted reference line.

    Parameters
    ----------
    shift_ev : float
        ``reference_ev - measured_ev`` (eV), to add to measured binding energies.
    shift_err_ev : float
        Fit uncertainty of the shift (eV, one standard deviation).
    measured_ev : float
        Fitted position of the reference line on the measured axis (eV).
    reference_ev : float
        Its true binding energy (eV).
    method : str
        How the shift was found, for reports.
    reference : str
        Name of the reference (a key of :data:`REFERENCES` or the caller's).
    fit : XpsFit or None
        The fit behind it.

    Examples
    --------
    >>> cs = ChargeShift(-1.2, 0.01, 286.0, 284.8, "C 1s fitted at 286.0 eV")
    >>> np.round(cs.apply([286.0, 531.2]), 2).tolist()
    [284.8, 530.0]
    """

    shift_ev: float
    shift_err_ev: float
    measured_ev: float
    reference_ev: float
    method: str
    reference: str = ""
    fit: XpsFit | None = field(default=None, repr=False)

    def apply(self, x):
        """Corrected binding energies ``x + shift``.

        Parameters
        ----------
        x : float or array_like
            Measured binding energies (eV).

        Returns
        -------
        corrected : numpy.ndarray
            Binding energies (eV) after the charge correction.
        """
        return np.asarray(x, dtype=float) + self.shift_ev


def _guess_peak(x, y) -> float:
    k = max(1, y.size // 60)
    ys = np.convolve(y, np.ones(2 * k + 1) / (2 * k + 1), mode="same") if y.size > 2 * k + 1 else y
    inner = slice(k, y.size - k) if y.size > 2 * k + 2 else slice(None)
    idx = np.arange(y.size)[inner][np.argmax(ys[inner])]
    return float(x[idx])


def default_model(reference: str, guess_ev: float) -> tuple[list, list[str], str, str]:
    """(model, links, name of the reference line, description) of the default fit of ``reference``.

    Parameters
    ----------
    reference : str
        A key of :data:`REFERENCES`.
    guess_ev : float
        Starting position of the reference line (eV, measured axis).

    Returns
    -------
    model : list
        :class:`~xpipe.xps.fit.Component` / :class:`~xpipe.xps.fit.Doublet` lines.
    links : list of str
        Constraints between them, as :func:`~xpipe.xps.fit.fit_spectrum` takes them.
    line_name : str
        Name of the model line whose centre is the reference.
    description : str
        One line describing the model.

    Raises
    ------
    ValueError
        For a reference without a default model.

    Examples
    --------
    >>> model, links, line_name, _ = default_model("C 1s C-C", 285.0)
    >>> [c.name for c in model], line_name
    (['C-C', 'C-O', 'C=O', 'O-C=O'], 'C-C')
    >>> links[0]
    'center(C-O) = center(C-C) + 1.5'
    """
    g = float(guess_ev)
    if reference == "C 1s C-C":
        gl = {"m": 30.0}
        model = [
            Component("C-C", g, shape="gl", fwhm=1.2, shape_params=gl, center_bounds=(g - 1.5, g + 1.5)),
            Component("C-O", g + 1.5, shape="gl", fwhm=1.2, shape_params=gl),
            Component("C=O", g + 3.0, shape="gl", fwhm=1.2, shape_params=gl),
            Component("O-C=O", g + 4.3, shape="gl", fwhm=1.2, shape_params=gl),
        ]
        links = ["center(C-O) = center(C-C) + 1.5", "center(C=O) = center(C-C) + 3.0",
                 "center(O-C=O) = center(C-C) + 4.3",
                 "fwhm(C-O) = fwhm(C-C)", "fwhm(C=O) = fwhm(C-C)", "fwhm(O-C=O) = fwhm(C-C)"]
        return model, links, "C-C", ("C 1s: C-C, C-O +1.5, C=O +3.0, O-C=O +4.3 eV, GL(30), one FWHM, "
                                     "Shirley background")
    if reference == "O 1s lattice":
        gl = {"m": 30.0}
        model = [
            Component("O lattice", g, shape="gl", fwhm=1.1, shape_params=gl, center_bounds=(g - 1.5, g + 1.5)),
            Component("O defect/OH", g + 1.5, shape="gl", fwhm=1.1, shape_params=gl,
                      center_bounds=(g + 0.8, g + 2.2)),
            Component("O adsorbed", g + 3.0, shape="gl", fwhm=1.1, shape_params=gl,
                      center_bounds=(g + 2.2, g + 4.0)),
        ]
        links = ["fwhm(O defect/OH) = fwhm(O lattice)", "fwhm(O adsorbed) = fwhm(O lattice)"]
        return model, links, "O lattice", ("O 1s: lattice O, defect/OH (+0.8..2.2 eV), adsorbed (+2.2..4.0 eV), "
                                           "GL(30), one FWHM, Shirley background")
    if reference == "Au 4f7/2":
        model = [Doublet("Au 4f", "f", center=g, splitting=3.67, shape="gl", fwhm=0.8, shape_params={"m": 30.0},
                         vary={"m": True}, fwhm_bounds=(0.1, 3.0))]
        return model, [], "Au 4f7/2", "Au 4f doublet (3.67 eV, ratio 3/4), GL with fitted Lorentzian share, Shirley"
    raise ValueError(f"no default model for reference {reference!r}; known: {', '.join(REFERENCES)} "
                     "(or pass model= and reference_ev=)")


def _reference_line(fit: XpsFit, name: str):
    """The component (or major line of the doublet) called ``name``, else the one called like the
    end of ``name`` ("C 1s C-C" -> "C-C"), else the first one."""
    for key in dict.fromkeys((name, name.split(maxsplit=2)[-1] if name.strip() else name)):
        for c in fit.components:
            if c.name == key:
                return c
        for s in fit.species:
            if s.name == key:
                return next(c for c in fit.components if c.name == s.lines[0])
    return fit.components[0]


def _reference_and_window(reference: str, reference_ev: float | None,
                          window: tuple[float, float] | None) -> tuple[float, float, float]:
    """(reference energy, window low end, window high end) in eV, defaults filled in."""
    if reference_ev is None:
        if reference not in REFERENCES:
            raise ValueError(f"unknown reference {reference!r}: give reference_ev= (eV) or use one of "
                             f"{', '.join(REFERENCES)}")
        reference_ev = REFERENCES[reference]
    reference_ev = float(reference_ev)
    if window is None:
        window = DEFAULT_WINDOWS.get(reference, (reference_ev - 5.0, reference_ev + 7.0))
    lo, hi = sorted(float(w) for w in window)
    return reference_ev, lo, hi


def charge_shift(x, y, *, reference: str = "C 1s C-C", reference_ev: float | None = None,
                 window: tuple[float, float] | None = None, model: Sequence | None = None,
                 links: Sequence[str] = (), background: str = "shirley", sigma=None) -> ChargeShift:
    """Fit ``reference`` in the spectrum ``(x, y)`` (binding energy, eV) and return the shift to add.

    ``reference_ev`` defaults to :data:`REFERENCES`; ``window`` to :data:`DEFAULT_WINDOWS` (or
    -5..+7 eV around the reference energy). With ``model`` (a list of Component/Doublet, with
    ``links``) the reference line is the model line or doublet called ``reference`` (a doublet
    gives its major line), else the one called like the end of ``reference`` (``"C 1s C-C"`` ->
    ``"C-C"``), otherwise the first one.

    Parameters
    ----------
    x : array_like
        Measured binding energies (eV).
    y : array_like
        Intensities at ``x``.
    reference : str, optional
        The reference line: a key of :data:`REFERENCES`, or the name of a line of ``model``.
    reference_ev : float or None, optional
        True binding energy of the reference line (eV).
    window : (float, float) or None, optional
        Fit window on the measured axis (eV).
    model : sequence or None, optional
        Component/Doublet lines to fit instead of the default model.
    links : sequence of str, optional
        Constraints between the lines of ``model``.
    background : str, optional
        Background fitted with the lines (``'shirley'``, ...).
    sigma : array_like or None, optional
        Uncertainty of each intensity; None for the fit's default weighting.

    Returns
    -------
    shift : ChargeShift
        The shift to add (eV), its uncertainty and the fit.

    Raises
    ------
    ValueError
        For an unknown reference without ``reference_ev``, or fewer than 8 points in the
        window.

    Examples
    --------
    Adventitious carbon found at 286.0 eV instead of 284.8 eV:

    >>> x = np.linspace(278.0, 294.0, 321)
    >>> y = (200.0 + 1000.0 * np.exp(-0.5 * ((x - 286.0) / 0.55) ** 2)
    ...      + 150.0 * np.exp(-0.5 * ((x - 287.5) / 0.55) ** 2))
    >>> cs = charge_shift(x, y)
    >>> round(cs.shift_ev, 2), round(cs.measured_ev, 2), cs.reference_ev
    (-1.2, 286.0, 284.8)
    """
    reference_ev, lo, hi = _reference_and_window(reference, reference_ev, window)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    inside = (x >= lo) & (x <= hi)
    if inside.sum() < 8:
        raise ValueError(f"charge_shift: only {int(inside.sum())} points in the window {lo:g}-{hi:g} eV "
                         f"(data {x.min():g}-{x.max():g} eV); give window= around the measured {reference} line")
    if model is None:
        guess = _guess_peak(x[inside][np.argsort(x[inside])], y[inside][np.argsort(x[inside])])
        model, links, line_name, desc = default_model(reference, guess)
    else:
        model = list(model)
        line_name = reference
        desc = "user model"
    fit = fit_spectrum(x, y, model, region=(lo, hi), background=background, links=links, sigma=sigma)
    line = _reference_line(fit, line_name)
    measured = float(line.center)
    err = float(line.center_err)
    method = (f"fit of {reference} ({line.name}) in {lo:g}-{hi:g} eV: {desc}; measured {measured:.3f} eV, "
              f"reference {reference_ev:.2f} eV")
    return ChargeShift(reference_ev - measured, err, measured, reference_ev, method, reference, fit)
