"""Symmetric unit-area XPS lineshapes: CasaXPS GL(m) and SGL(m), pseudo-Voigt and Voigt.

Each has the call signature ``func(x, center, fwhm, **shape_params)`` (energies in eV) and unit
area; :mod:`xpipe.xps.lineshapes` lists them all.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfcx, voigt_profile

from ...lineshapes import pseudo_voigt as _pseudo_voigt

__all__ = ["gl", "pseudo_voigt", "sgl", "voigt"]

_LN2 = float(np.log(2.0))
# FWHM = 2 sqrt(2 ln 2) sigma for a Gaussian (definition of the normal distribution).
_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * _LN2)


def _gl_area_per_f(m: float) -> float:
    """Area of the height-1 GL(m) product for F = 1.

    ``int exp(-a u^2) / (1 + b u^2) du = (pi / sqrt(b)) erfcx(sqrt(a / b))`` with
    a = 4 ln2 (1 - m/100), b = 4 m/100 (substitute s = sqrt(b) u and use
    ``int exp(-k s^2)/(1+s^2) ds = pi exp(k) erfc(sqrt(k))``, Abramowitz & Stegun 7.4.11).
    erfcx keeps this stable for m -> 0, where it tends to the Gaussian area sqrt(pi / a).
    """
    w = m / 100.0
    a = 4.0 * _LN2 * (1.0 - w)
    b = 4.0 * w
    if b <= 0.0:
        return float(np.sqrt(np.pi / a))
    return float(np.pi / np.sqrt(b) * erfcx(np.sqrt(a / b)))


def gl(x, center, fwhm, m=30.0):
    """CasaXPS GL(m) Gaussian-Lorentzian product, normalised to unit area.

    ``h(x) = exp(-4 ln2 (1 - m/100) (x-E)^2 / F^2) / (1 + 4 (m/100) (x-E)^2 / F^2)``
    (CasaXPS manual, "Line shapes"), divided by its exact area (see :func:`_gl_area_per_f`).
    ``fwhm`` is CasaXPS's F: the true FWHM for m = 0 and m = 100, slightly smaller otherwise
    (e.g. 0.961 F at m = 30); use :func:`fwhm_of` for the true value.

    Parameters
    ----------
    x : float or array_like
        Binding energies (eV).
    center : float
        Peak position E (eV).
    fwhm : float
        CasaXPS width parameter F (eV), > 0.
    m : float, optional
        Lorentzian percentage, 0 (Gaussian) to 100 (Lorentzian).

    Returns
    -------
    y : numpy.ndarray
        Profile values (1/eV), integrating to 1 over x.

    Examples
    --------
    >>> x = np.linspace(-20.0, 20.0, 40001)
    >>> round(float(np.trapezoid(gl(x, 0.0, 1.0, m=30.0), x)), 4)
    1.0
    >>> round(float(gl(0.0, 0.0, 1.0, m=0.0)), 4)  # Gaussian peak height sqrt(4 ln2 / pi) / F
    0.9394
    """
    u = (np.asarray(x, dtype=float) - center) / fwhm
    w = m / 100.0
    u2 = u * u
    shape = np.exp(-4.0 * _LN2 * (1.0 - w) * u2) / (1.0 + 4.0 * w * u2)
    return shape / (_gl_area_per_f(m) * fwhm)


def sgl(x, center, fwhm, m=30.0):
    """CasaXPS SGL(m) Gaussian-Lorentzian sum, normalised to unit area.

    ``h(x) = (1 - m/100) G(x) + (m/100) L(x)`` with G and L of unit HEIGHT and the same F
    (CasaXPS manual, "Line shapes").  Both are 1/2 at x = E +- F/2, so F is the true FWHM.
    The height-1 areas are ``F sqrt(pi / (4 ln2))`` and ``F pi / 2``.

    Parameters
    ----------
    x : float or array_like
        Binding energies (eV).
    center : float
        Peak position E (eV).
    fwhm : float
        FWHM F (eV), > 0.
    m : float, optional
        Lorentzian percentage, 0 (Gaussian) to 100 (Lorentzian).

    Returns
    -------
    y : numpy.ndarray
        Profile values (1/eV), integrating to 1 over x.

    Examples
    --------
    >>> y = sgl(np.array([0.0, 0.5]), 0.0, 1.0, m=30.0)
    >>> round(float(y[1] / y[0]), 3)  # half the maximum at center + F/2
    0.5
    """
    w = m / 100.0
    u = (np.asarray(x, dtype=float) - center) / fwhm
    u2 = u * u
    shape = (1.0 - w) * np.exp(-4.0 * _LN2 * u2) + w / (1.0 + 4.0 * u2)
    area = (1.0 - w) * np.sqrt(np.pi / (4.0 * _LN2)) + w * np.pi / 2.0
    return shape / (area * fwhm)


def pseudo_voigt(x, center, fwhm, eta=0.5):
    """Pseudo-Voigt ``eta * L + (1 - eta) * G``; L and G have unit area and FWHM ``fwhm``.

    Parameters
    ----------
    x : float or array_like
        Binding energies (eV).
    center : float
        Peak position (eV).
    fwhm : float
        FWHM of both G and L (eV), > 0.
    eta : float, optional
        Lorentzian fraction, 0 to 1.

    Returns
    -------
    y : numpy.ndarray
        Profile values (1/eV), integrating to 1 over x.

    Examples
    --------
    >>> round(float(pseudo_voigt(0.0, 0.0, 1.0, eta=0.0)), 4)  # Gaussian peak height
    0.9394
    >>> round(float(pseudo_voigt(0.0, 0.0, 1.0, eta=1.0)), 4)  # Lorentzian: 2 / (pi F)
    0.6366
    """
    return _pseudo_voigt(x, center, fwhm, eta)


def voigt(x, center, fwhm, lorentz_fwhm=0.2):
    """Exact Voigt profile (``scipy.special.voigt_profile``), unit area.

    ``fwhm`` is the FWHM of the Gaussian component, ``lorentz_fwhm`` that of the Lorentzian
    component; lorentz_fwhm = 0 gives the Gaussian.

    Parameters
    ----------
    x : float or array_like
        Binding energies (eV).
    center : float
        Peak position (eV).
    fwhm : float
        FWHM of the Gaussian component (eV).
    lorentz_fwhm : float, optional
        FWHM of the Lorentzian component (eV).

    Returns
    -------
    y : numpy.ndarray
        Profile values (1/eV), integrating to 1 over x.

    Examples
    --------
    >>> round(float(voigt(0.0, 0.0, 1.0, lorentz_fwhm=0.0)), 4)  # the Gaussian peak height
    0.9394
    >>> x = np.linspace(-20.0, 20.0, 40001)
    >>> round(float(np.trapezoid(voigt(x, 0.0, 1.0, lorentz_fwhm=0.2), x)), 3)  # tails cut
    0.997
    """
    sigma = fwhm / _FWHM_PER_SIGMA
    return voigt_profile(np.asarray(x, dtype=float) - center, sigma, 0.5 * lorentz_fwhm)
