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
    """Shift (eV) to ADD to measured binding energies, from the fitted reference line."""

    shift_ev: float
    shift_err_ev: float
    measured_ev: float
    reference_ev: float
    method: str
    reference: str = ""
    fit: XpsFit | None = field(default=None, repr=False)

    def apply(self, x):
        """Corrected binding energies ``x + shift``."""
        return np.asarray(x, dtype=float) + self.shift_ev


def _guess_peak(x, y) -> float:
    k = max(1, y.size // 60)
    ys = np.convolve(y, np.ones(2 * k + 1) / (2 * k + 1), mode="same") if y.size > 2 * k + 1 else y
    inner = slice(k, y.size - k) if y.size > 2 * k + 2 else slice(None)
    idx = np.arange(y.size)[inner][np.argmax(ys[inner])]
    return float(x[idx])


def default_model(reference: str, guess_ev: float) -> tuple[list, list[str], str, str]:
    """(model, links, name of the reference line, description) of the default fit of ``reference``."""
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


def charge_shift(x, y, *, reference: str = "C 1s C-C", reference_ev: float | None = None,
                 window: tuple[float, float] | None = None, model: Sequence | None = None,
                 links: Sequence[str] = (), background: str = "shirley", sigma=None) -> ChargeShift:
    """Fit ``reference`` in the spectrum ``(x, y)`` (binding energy, eV) and return the shift to add.

    ``reference_ev`` defaults to :data:`REFERENCES`; ``window`` to :data:`DEFAULT_WINDOWS` (or
    -5..+7 eV around the reference energy). With ``model`` (a list of Component/Doublet, with
    ``links``) the reference line is the model line or doublet called ``reference`` (a doublet
    gives its major line), else the one called like the end of ``reference`` (``"C 1s C-C"`` ->
    ``"C-C"``), otherwise the first one.
    """
    if reference_ev is None:
        if reference not in REFERENCES:
            raise ValueError(f"unknown reference {reference!r}: give reference_ev= (eV) or use one of "
                             f"{', '.join(REFERENCES)}")
        reference_ev = REFERENCES[reference]
    reference_ev = float(reference_ev)
    if window is None:
        window = DEFAULT_WINDOWS.get(reference, (reference_ev - 5.0, reference_ev + 7.0))
    lo, hi = sorted(float(w) for w in window)
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
