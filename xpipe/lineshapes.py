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
    """Unit-area Gaussian of full width at half maximum ``fwhm``.

    Parameters
    ----------
    x : array_like
        Where to evaluate (any unit).
    center, fwhm : float or array_like
        Centre and full width at half maximum, in the unit of ``x``.

    Returns
    -------
    ndarray
        Values in 1/unit of ``x`` (broadcast shape of the arguments).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.lineshapes import gaussian
    >>> np.round(gaussian(np.array([0.0, 1.0]), 0.0, 2.0), 6).tolist()  # half maximum at fwhm / 2
    [0.469719, 0.234859]
    """
    u = (np.asarray(x, dtype=float) - center) / fwhm
    return GAUSS_NORM / fwhm * np.exp(-GAUSS_C * u * u)


def lorentzian(x, center, fwhm):
    """Unit-area Lorentzian (Cauchy) of full width at half maximum ``fwhm``.

    Parameters
    ----------
    x : array_like
        Where to evaluate (any unit).
    center, fwhm : float or array_like
        Centre and full width at half maximum, in the unit of ``x``.

    Returns
    -------
    ndarray
        Values in 1/unit of ``x`` (broadcast shape of the arguments).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.lineshapes import lorentzian
    >>> np.round(lorentzian(np.array([0.0, 0.5]), 0.0, 1.0), 6).tolist()  # 2 / (pi fwhm), then half
    [0.63662, 0.31831]
    """
    u = (np.asarray(x, dtype=float) - center) / fwhm
    return 2.0 / (math.pi * fwhm) / (1.0 + 4.0 * u * u)


def pseudo_voigt(x, center, fwhm, eta):
    """Pseudo-Voigt ``eta L + (1 - eta) G``: unit-area Lorentzian and Gaussian of one FWHM.

    Parameters
    ----------
    x : array_like
        Where to evaluate (any unit).
    center, fwhm : float or array_like
        Centre and full width at half maximum, in the unit of ``x``.
    eta : float or array_like
        Lorentzian fraction, 0 (Gaussian) to 1 (Lorentzian).

    Returns
    -------
    ndarray
        Values in 1/unit of ``x`` (broadcast shape of the arguments).

    Examples
    --------
    One row per peak:

    >>> import numpy as np
    >>> from xpipe.lineshapes import pseudo_voigt
    >>> x = np.linspace(9.0, 11.0, 5)
    >>> np.round(pseudo_voigt(x[None, :], np.array([[9.5], [10.0]]), 0.5, 0.3), 3).tolist()
    [[0.159, 1.697, 0.159, 0.022, 0.01], [0.022, 0.159, 1.697, 0.159, 0.022]]
    """
    u = (np.asarray(x, dtype=float) - center) / fwhm
    u2 = u * u
    return eta * (2.0 / math.pi) / fwhm / (1.0 + 4.0 * u2) + (1.0 - eta) * GAUSS_NORM / fwhm * np.exp(-GAUSS_C * u2)
