"""The symmetric peak profiles shared by diffraction, photoemission and the data generators.

All are area-normalised (unit integral over ``x``), parameterised by the full width at half
maximum ``fwhm`` in the unit of ``x``, and broadcast over their arguments, so that
``x[None, :]`` against ``center[:, None]`` gives one row per peak. Technique-specific shapes
(CasaXPS GL/SGL/LA, Doniach-Sunjic, Voigt) live in :mod:`xpipe.xps.lineshapes`; the XRD
whole-pattern model (:mod:`xpipe.xrd.wholepattern`) evaluates the same pseudo-Voigt with its
analytic derivatives.

Example
-------
>>> import numpy as np
>>> from xpipe.lineshapes import pseudo_voigt
>>> x = np.linspace(-50, 50, 200001)
>>> round(float(np.trapezoid(pseudo_voigt(x, 0.0, 1.0, 0.5), x)), 3)  # Lorentzian tails beyond 50 widths
0.997
>>> round(float(pseudo_voigt(0.5, 0.0, 1.0, 0.3) / pseudo_voigt(0.0, 0.0, 1.0, 0.3)), 6)  # half maximum
0.5
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["GAUSS_C", "GAUSS_NORM", "gaussian", "lorentzian", "pseudo_voigt"]

#: ``4 ln 2``: a Gaussian of FWHM ``f`` is ``exp(-GAUSS_C ((x - x0) / f)^2)``.
GAUSS_C = 4.0 * math.log(2.0)
#: ``sqrt(4 ln 2 / pi)``: the unit-area Gaussian's height times its FWHM.
GAUSS_NORM = math.sqrt(GAUSS_C / math.pi)


def gaussian(x, center, fwhm):
    """Unit-area Gaussian of full width at half maximum ``fwhm``."""
    u = (np.asarray(x, dtype=float) - center) / fwhm
    return GAUSS_NORM / fwhm * np.exp(-GAUSS_C * u * u)


def lorentzian(x, center, fwhm):
    """Unit-area Lorentzian (Cauchy) of full width at half maximum ``fwhm``."""
    u = (np.asarray(x, dtype=float) - center) / fwhm
    return 2.0 / (math.pi * fwhm) / (1.0 + 4.0 * u * u)


def pseudo_voigt(x, center, fwhm, eta):
    """Pseudo-Voigt ``eta L + (1 - eta) G``: unit-area Lorentzian and Gaussian of one FWHM.

    ``eta`` is the Lorentzian fraction, 0 (Gaussian) to 1 (Lorentzian).
    """
    u = (np.asarray(x, dtype=float) - center) / fwhm
    u2 = u * u
    return eta * (2.0 / math.pi) / fwhm / (1.0 + 4.0 * u2) + (1.0 - eta) * GAUSS_NORM / fwhm * np.exp(-GAUSS_C * u2)
