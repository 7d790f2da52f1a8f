"""Unit-area XPS peak lineshapes on a binding-energy axis.

Every profile has the call signature ``func(x, center, fwhm, **shape_params)``, is vectorised
over ``x`` (eV) and has unit area, so a fitted amplitude *is* the peak area.  Asymmetric
profiles put their tail on the HIGH binding-energy side (the low kinetic-energy side, where
intrinsic and extrinsic losses end up).

Shapes (keys of :data:`LINESHAPES`):

``gl``
    CasaXPS GL(m) Gaussian-Lorentzian *product*.  ``fwhm`` is CasaXPS's width parameter F,
    which is the true FWHM only for m = 0 and m = 100; :func:`fwhm_of` gives the true width.
``sgl``
    CasaXPS SGL(m) Gaussian-Lorentzian *sum*; F is the true FWHM for every m.
``pseudo_voigt``
    ``eta * L + (1 - eta) * G`` with unit-area L and G of equal FWHM.
``voigt``
    Exact Voigt; ``fwhm`` is the Gaussian FWHM, ``lorentz_fwhm`` the Lorentzian FWHM.
``ds``
    Doniach-Sunjic profile convolved with a Gaussian; normalised over a finite window.
``la``
    CasaXPS-style LA(alpha, beta, m): a Lorentzian raised to different powers on either side,
    convolved with a Gaussian.
``lf``
    CasaXPS-style LF(alpha, beta, w, m): LA with its tails damped, so that its area is finite
    for every alpha, beta > 0.

Conventions for the numerically convolved shapes (``ds``, ``la``, ``lf``): the unconvolved profile is
integrated analytically over the cells of a uniform grid (so sharp cusps are handled exactly),
convolved by FFT with a unit-sum discrete Gaussian, and interpolated to ``x`` with a cubic
spline.  Far from the peak (beyond 40 widths) the Gaussian smoothing is negligible and the
analytic unconvolved profile is used directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from ...lineshapes import gaussian, lorentzian
from .asymmetric import LA_MIN_EXPONENT, doniach_sunjic, ds, la, lf
from .asymmetric import _ds_window as _ds_window  # kept reachable here, where it was
from .symmetric import _gl_area_per_f as _gl_area_per_f  # kept reachable here, where it was
from .symmetric import gl, pseudo_voigt, sgl, voigt

__all__ = [
    "LINESHAPES",
    "Lineshape",
    "doniach_sunjic",
    "fwhm_of",
    "gaussian",
    "gl",
    "la",
    "lf",
    "lorentzian",
    "profile",
    "pseudo_voigt",
    "sgl",
    "voigt",
    "ds",
]


@dataclass(frozen=True)
class Lineshape:
    """A named unit-area lineshape.

    Parameters
    ----------
    name : str
        Key in :data:`LINESHAPES`.
    params : dict
        Shape parameter -> ``(default, min, max)``; ``center`` and ``fwhm`` (eV) are not
        included.
    func : callable
        ``func(x, center, fwhm, **params) -> ndarray`` (1/eV) with unit area.
    doc : str
        One-paragraph description (what ``fwhm`` means, normalisation, references).

    Examples
    --------
    >>> shape = LINESHAPES["gl"]
    >>> shape.name, shape.params
    ('gl', {'m': (30.0, 0.0, 100.0)})
    >>> round(float(shape.func(0.0, 0.0, 1.0, m=0.0)), 4)  # a unit-area Gaussian of FWHM 1 eV
    0.9394
    """

    name: str
    params: dict[str, tuple[float, float, float]]
    func: Callable[..., np.ndarray]
    doc: str


# ----------------------------------------------------------------------------- registry
# LA's exponents must exceed 1/2 (its area diverges at 1/2); LF's damping makes any positive
# exponent usable. CasaXPS sets no upper limit; 1000 is far beyond any tail seen in practice.
_LA_MIN = LA_MIN_EXPONENT + 1e-6
_LF_MIN = 1e-6
_MAX_EXPONENT = 1000.0
LINESHAPES: dict[str, Lineshape] = {
    "gl": Lineshape(
        "gl",
        {"m": (30.0, 0.0, 100.0)},
        gl,
        "CasaXPS GL(m) Gaussian-Lorentzian product, m = Lorentzian percentage; fwhm is "
        "CasaXPS's F (true FWHM only at m = 0 or 100). Unit area (exact erfcx closed form).",
    ),
    "sgl": Lineshape(
        "sgl",
        {"m": (30.0, 0.0, 100.0)},
        sgl,
        "CasaXPS SGL(m) Gaussian-Lorentzian sum of height-normalised G and L with the same "
        "F; fwhm is the true FWHM. Unit area.",
    ),
    "pseudo_voigt": Lineshape(
        "pseudo_voigt",
        {"eta": (0.5, 0.0, 1.0)},
        pseudo_voigt,
        "eta * L + (1 - eta) * G, both unit area with the same FWHM. Unit area.",
    ),
    "voigt": Lineshape(
        "voigt",
        {"lorentz_fwhm": (0.2, 0.0, 5.0)},
        voigt,
        "Exact Voigt; fwhm = Gaussian FWHM, lorentz_fwhm = Lorentzian FWHM (eV). Unit area.",
    ),
    "ds": Lineshape(
        "ds",
        {"alpha": (0.1, 0.0, 0.5), "lorentz_fwhm": (0.2, 0.0, 5.0)},
        ds,
        "Doniach-Sunjic (J. Phys. C 3 (1970) 285) with asymmetry alpha and lifetime FWHM "
        "lorentz_fwhm, convolved with a Gaussian of FWHM fwhm; tail to high BE. Unit area "
        "over center - 10 W .. center + 50 W, W = fwhm + lorentz_fwhm.",
    ),
    "la": Lineshape(
        "la",
        {
            "alpha": (1.0, _LA_MIN, _MAX_EXPONENT),
            "beta": (1.0, _LA_MIN, _MAX_EXPONENT),
            "gauss_fwhm": (0.5, 0.0, 5.0),
        },
        la,
        "CasaXPS-style LA(alpha, beta, m): Lorentzian of width F = fwhm raised to alpha on "
        "the high-BE side and beta on the low-BE side (each above 1/2, where the area is "
        "finite), convolved with a Gaussian of FWHM gauss_fwhm (eV). Unit area (exact).",
    ),
    "lf": Lineshape(
        "lf",
        {
            "alpha": (1.0, _LF_MIN, _MAX_EXPONENT),
            "beta": (1.0, _LF_MIN, _MAX_EXPONENT),
            "damping_fwhm": (10.0, 0.01, 1000.0),
            "gauss_fwhm": (0.5, 0.0, 5.0),
        },
        lf,
        "CasaXPS-style LF(alpha, beta, w, m): LA times the damping envelope "
        "exp(-4 ln2 (x - center)^2 / damping_fwhm^2), so any alpha, beta > 0 gives a finite "
        "area, convolved with a Gaussian of FWHM gauss_fwhm (eV). Unit area (quadrature).",
    ),
}


def profile(name, x, center, fwhm, **params) -> np.ndarray:
    """Evaluate the unit-area lineshape ``name`` at ``x``.

    Shape parameters not given take their defaults from ``LINESHAPES[name].params``.

    Parameters
    ----------
    name : str
        A key of :data:`LINESHAPES` (``'gl'``, ``'sgl'``, ``'pseudo_voigt'``, ``'voigt'``,
        ``'ds'``, ``'la'``, ``'lf'``).
    x : float or array_like
        Binding energies (eV).
    center : float
        Peak position (eV).
    fwhm : float
        Width parameter (eV), > 0; its meaning depends on the shape.
    **params
        Shape parameters (``m``, ``eta``, ``alpha``, ...).

    Returns
    -------
    y : numpy.ndarray
        Profile values (1/eV) with unit area.

    Raises
    ------
    ValueError
        For an unknown shape or parameter, or ``fwhm <= 0``.

    Examples
    --------
    >>> x = np.linspace(-50.0, 50.0, 20001)
    >>> round(float(np.trapezoid(profile("sgl", x, 0.0, 1.0, m=0.0), x)), 6)
    1.0
    """
    try:
        shape = LINESHAPES[name]
    except KeyError:
        raise ValueError(f"unknown lineshape {name!r}; known: {sorted(LINESHAPES)}") from None
    unknown = set(params) - set(shape.params)
    if unknown:
        raise ValueError(f"lineshape {name!r} has no parameter(s) {sorted(unknown)}")
    if not fwhm > 0:
        raise ValueError(f"fwhm must be > 0, got {fwhm}")
    kw = {k: v[0] for k, v in shape.params.items()}
    kw.update(params)
    return shape.func(x, center, fwhm, **kw)


def fwhm_of(name, fwhm, **params) -> float:
    """True full width at half maximum of lineshape ``name`` for width parameter ``fwhm``.

    Found numerically: the maximum is located on a dense grid and refined, then the two
    half-maximum crossings are bracketed on the grid and solved with Brent's method.

    Parameters
    ----------
    name : str
        A key of :data:`LINESHAPES`.
    fwhm : float
        Width parameter (eV) as :func:`profile` takes it.
    **params
        Shape parameters; those not given take their defaults.

    Returns
    -------
    fwhm_ev : float
        The true full width at half maximum (eV).

    Examples
    --------
    >>> round(fwhm_of("gl", 1.0, m=0.0), 6)
    1.0
    >>> round(fwhm_of("gl", 1.0, m=30.0), 3)  # CasaXPS's F is not the FWHM of GL(30)
    0.961
    """
    shape = LINESHAPES[name]
    kw = {k: v[0] for k, v in shape.params.items()}
    kw.update(params)
    scale = fwhm + sum(float(kw[k]) for k in ("lorentz_fwhm", "gauss_fwhm") if k in kw)

    def f(t):
        return float(profile(name, np.array([t]), 0.0, fwhm, **kw)[0])

    grid = np.linspace(-10.0 * scale, 10.0 * scale, 8001)
    y = profile(name, grid, 0.0, fwhm, **kw)
    i = int(np.argmax(y))
    step = grid[1] - grid[0]
    lo_b, hi_b = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = minimize_scalar(lambda t: -f(t), bounds=(lo_b, hi_b), method="bounded",
                          options={"xatol": 1e-10 * scale})
    t_max = float(res.x) if -res.fun >= y[i] else float(grid[i])
    half = 0.5 * max(-res.fun, y[i])

    def crossing(direction):
        t_in = t_max
        t_out = t_max + direction * step
        while f(t_out) > half:
            t_in = t_out
            t_out = t_max + 2.0 * (t_out - t_max)
            if abs(t_out - t_max) > 1e4 * scale:
                raise ValueError(f"no half-maximum crossing found for {name!r}")
        return brentq(lambda t: f(t) - half, t_in, t_out, xtol=1e-12 * scale)

    return float(crossing(+1.0) - crossing(-1.0))
