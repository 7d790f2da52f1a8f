"""XPS backgrounds and X-ray satellite removal.

All functions take a binding-energy axis ``x`` in ASCENDING order (eV) and the intensity
``y(x)``.  Inelastically scattered electrons lose kinetic energy and so appear at HIGHER
binding energy than the peak they come from: backgrounds step up from the low-BE end to the
high-BE end.

* :func:`linear` - straight line through the averaged end points.
* :func:`shirley` - iterative Shirley background (Shirley, Phys. Rev. B 5 (1972) 4709;
  iteration of Proctor & Sherwood, Anal. Chem. 54 (1982) 13).
* :func:`shirley_active` - Shirley step computed from MODEL peaks, for fitting the background
  together with the peaks ("active" Shirley).
* :func:`tougaard` - Tougaard background with the universal or a three-parameter inelastic
  cross-section (Tougaard, Surf. Interface Anal. 25 (1997) 137).
* :func:`xray_satellites` - removal of the K-alpha3,4,5,6 and K-beta ghost peaks of a
  non-monochromatic Mg or Al anode.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

__all__ = [
    "TOUGAARD_CLASSES",
    "TOUGAARD_CLASS_B",
    "TOUGAARD_C_SIGN",
    "XRAY_SATELLITES",
    "linear",
    "shirley",
    "shirley_active",
    "tougaard",
    "tougaard_kernel",
    "xray_satellites",
]

# Inelastic-scattering cross-section classes of Tougaard, Surf. Interface Anal. 25 (1997) 137,
# K(T) = B T / ((C + s T^2)^2 + D T^2), name -> (C [eV^2], D [eV^2]); the sign s is in
# TOUGAARD_C_SIGN.  "universal" is the two-parameter universal cross-section of
# Tougaard, Surf. Interface Anal. 11 (1988) 453 / 25 (1997) 137 (B = 2866 eV^2,
# C = 1643 eV^2), valid for most metals and their oxides; the others are the material-class
# three-parameter forms of the 1997 paper (Table 1).  The polymer (551, 436) and SiO2
# (542, 275) values are also the ones shipped by CasaXPS ("U Poly Tougaard",
# "U SiO2 Tougaard") and other public XPS codes; for Si and Ge the loss maxima
# sqrt(C - D/2) = 16.6 eV and 15.9 eV match their bulk plasmon energies (16.7, 16.0 eV).
TOUGAARD_CLASSES: dict[str, tuple[float, float]] = {
    "universal": (1643.0, 0.0),
    "polymer": (551.0, 436.0),
    "silicon_dioxide": (542.0, 275.0),
    "silicon": (325.0, 96.0),
    "germanium": (258.0, 12.0),
}
# Sign s of T^2 in (C + s T^2)^2: +1 for the universal form, -1 for the three-parameter
# forms (Tougaard 1997, eqs. 1-2).
TOUGAARD_C_SIGN: dict[str, int] = {
    "universal": +1,
    "polymer": -1,
    "silicon_dioxide": -1,
    "silicon": -1,
    "germanium": -1,
}
# Class B values [eV^2] of Tougaard 1997, Table 1 (used when fit_B=False and material is
# given); universal: B = 2866 eV^2.
TOUGAARD_CLASS_B: dict[str, float] = {
    "universal": 2866.0,
    "polymer": 434.0,
    "silicon_dioxide": 325.0,
    "silicon": 132.0,
    "germanium": 73.0,
}

# Satellites of non-monochromatic K-alpha1,2 sources: (label, offset [eV], intensity [% of
# K-alpha1,2]).  The satellite photons are MORE energetic, so each photoelectron line has a
# ghost at binding energy (BE - offset).  Values: Moulder, Stickle, Sobol & Bomben, Handbook
# of X-ray Photoelectron Spectroscopy (Perkin-Elmer, 1992), Table 1 "X-ray satellite energies
# and intensities" (after Krause & Ferreira, J. Phys. B 8 (1975) 2007); refined line
# positions for both anodes are in Klauber, Surf. Interface Anal. 20 (1993) 703.
XRAY_SATELLITES: dict[str, tuple[tuple[str, float, float], ...]] = {
    "Mg": (
        ("a'", 4.5, 1.0),
        ("a3", 8.4, 9.2),
        ("a4", 10.1, 5.1),
        ("a5", 17.6, 0.8),
        ("a6", 20.6, 0.5),
        ("b", 48.7, 2.0),
    ),
    "Al": (
        ("a'", 5.6, 1.0),
        ("a3", 9.6, 7.8),
        ("a4", 11.5, 3.3),
        ("a5", 19.8, 0.4),
        ("a6", 23.4, 0.3),
        ("b", 69.7, 0.6),
    ),
}


# ----------------------------------------------------------------------------- helpers
def _xy(x, y):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D of equal length, got {x.shape} and {y.shape}")
    if x.size < 2:
        raise ValueError("need at least two points")
    if np.any(np.diff(x) <= 0):
        raise ValueError("x must be strictly ascending (binding energy)")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite")
    return x, y


def _n_avg(n, size):
    n = int(n)
    if n < 1:
        raise ValueError(f"avg_points must be >= 1, got {n}")
    return min(n, max(1, size // 2))


def _ends(y, n):
    """Mean of the first and of the last ``n`` points."""
    return float(np.mean(y[:n])), float(np.mean(y[-n:]))


def _cumtrapz(x, y):
    out = np.zeros(np.shape(y), dtype=float)
    out[1:] = np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(x))
    return out


# ------------------------------------------------------------------------------ linear
def linear(x, y, *, avg_points=5) -> np.ndarray:
    """Straight line through the end points of the region.

    Each end point is the mean of ``avg_points`` points (intensity and energy), so a linear
    spectrum is reproduced exactly.

    Parameters
    ----------
    x : array_like
        Binding energies (eV), strictly ascending.
    y : array_like
        Intensities at ``x`` (counts or counts/s).
    avg_points : int, optional
        Points averaged at each end.

    Returns
    -------
    background : numpy.ndarray
        The line on ``x``, in the unit of ``y``.

    Examples
    --------
    >>> x = np.linspace(280.0, 290.0, 11)
    >>> linear(x, 2.0 * x + 1.0, avg_points=1)[[0, -1]].tolist()
    [561.0, 581.0]
    >>> bool(np.allclose(linear(x, 2.0 * x + 1.0), 2.0 * x + 1.0))
    True
    """
    x, y = _xy(x, y)
    n = _n_avg(avg_points, y.size)
    x_lo, x_hi = _ends(x, n)
    y_lo, y_hi = _ends(y, n)
    return y_lo + (y_hi - y_lo) * (x - x_lo) / (x_hi - x_lo)


# ----------------------------------------------------------------------------- Shirley
def shirley_active(x, peaks, y_low, y_high) -> np.ndarray:
    """Shirley background from a peak model (for fitting background and peaks together).

    ``B(x) = y_low + (y_high - y_low) * int_{x_min}^{x} P / int_{x_min}^{x_max} P``
    with P = ``peaks`` (the model peak sum on ``x``, without background) and trapezoidal
    integration.  If the total peak area is zero the step is spread linearly in x instead.

    Parameters
    ----------
    x : array_like
        Binding energies (eV), ascending.
    peaks : array_like
        Model peak sum on ``x``, without background.
    y_low, y_high : float
        Background levels at the low-BE and the high-BE end (unit of the intensity).

    Returns
    -------
    background : numpy.ndarray
        The Shirley step on ``x``, from ``y_low`` to ``y_high``.

    Examples
    --------
    >>> shirley_active([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 1.0, 0.0], 10.0, 20.0).tolist()
    [10.0, 12.5, 17.5, 20.0]
    """
    x = np.asarray(x, dtype=float)
    peaks = np.asarray(peaks, dtype=float)
    c = _cumtrapz(x, peaks)
    total = c[-1]
    if not np.isfinite(total) or abs(total) <= 1e-300:
        frac = (x - x[0]) / (x[-1] - x[0])
    else:
        frac = c / total
    return y_low + (y_high - y_low) * frac


def shirley(x, y, *, avg_points=5, max_iter=100, tol=1e-7) -> np.ndarray:
    """Iterative Shirley background (Shirley 1972; Proctor & Sherwood 1982).

    The end levels are the means of ``avg_points`` points at each end; the step rises from
    the low-BE level to the high-BE level in proportion to the peak area (``y - B``) at
    lower binding energy.  Iterates ``B <- shirley_active(x, y - B, y_low, y_high)`` until
    the largest change is below ``tol`` times the step height (or times max|y| when the two
    levels are equal).

    Parameters
    ----------
    x : array_like
        Binding energies (eV), strictly ascending.
    y : array_like
        Intensities at ``x`` (counts or counts/s).
    avg_points : int, optional
        Points averaged for each end level.
    max_iter : int, optional
        Most iterations.
    tol : float, optional
        Convergence threshold, relative to the step height.

    Returns
    -------
    background : numpy.ndarray
        The Shirley background on ``x``, in the unit of ``y``.

    Raises
    ------
    ValueError
        If not converged after ``max_iter`` iterations, or the peak area vanishes.

    Examples
    --------
    A peak at 285 eV on a step from 10 to 30 that follows its area:

    >>> x = np.linspace(280.0, 295.0, 301)
    >>> peak = 100.0 * np.exp(-0.5 * ((x - 285.0) / 0.6) ** 2)
    >>> y = 10.0 + peak + 20.0 * np.cumsum(peak) / peak.sum()
    >>> bg = shirley(x, y)
    >>> round(float(bg[0]), 2), round(float(np.interp(285.0, x, bg)), 2), round(float(bg[-1]), 2)
    (10.0, 20.0, 30.0)
    """
    x, y = _xy(x, y)
    n = _n_avg(avg_points, y.size)
    y_lo, y_hi = _ends(y, n)
    scale = abs(y_hi - y_lo)
    if scale == 0.0:
        return np.full_like(y, y_lo)
    bg = np.full_like(y, y_lo)
    change = np.inf
    for _ in range(int(max_iter)):
        peaks = y - bg
        total = float(_cumtrapz(x, peaks)[-1])
        if not np.isfinite(total) or abs(total) <= 1e-12 * scale * (x[-1] - x[0]):
            raise ValueError("Shirley background undefined: the peak area above it is zero")
        new = shirley_active(x, peaks, y_lo, y_hi)
        change = float(np.max(np.abs(new - bg)))
        bg = new
        if change < tol * scale:
            return bg
    raise ValueError(
        f"Shirley background did not converge in {int(max_iter)} iterations "
        f"(last relative change {change / scale:.3g}, tol {tol:g})"
    )


# ----------------------------------------------------------------------------- Tougaard
def tougaard_kernel(T, *, B=2866.0, C=1643.0, D=0.0, C_sign=+1) -> np.ndarray:
    """Inelastic cross-section ``K(T) = B T / ((C + C_sign T^2)^2 + D T^2)``, 0 for T <= 0.

    Universal: B = 2866 eV^2, C = 1643 eV^2, D = 0, C_sign = +1; three-parameter classes use
    C_sign = -1 (Tougaard, Surf. Interface Anal. 25 (1997) 137).

    Parameters
    ----------
    T : float or array_like
        Energy loss (eV).
    B, C, D : float, optional
        Cross-section parameters (eV^2).
    C_sign : int, optional
        Sign of T^2 in ``(C + C_sign T^2)^2``: +1 universal, -1 three-parameter classes.

    Returns
    -------
    K : numpy.ndarray
        The cross-section (1/eV) at each loss.

    Examples
    --------
    >>> tougaard_kernel(np.array([0.0, 23.4, 50.0])).round(3).tolist()  # maximum near 23 eV
    [0.0, 0.014, 0.008]
    """
    T = np.asarray(T, dtype=float)
    Tp = np.where(T > 0, T, 0.0)
    den = (C + C_sign * Tp * Tp) ** 2 + D * Tp * Tp
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(T > 0, B * Tp / den, 0.0)
    return k


def _loss_integral(x, y, kernel):
    """``I(E_i) = int_{x_0}^{E_i} k(E_i - E') y(E') dE'`` (trapezoid rule in E')."""
    n = x.size
    h = np.diff(x)
    w = np.zeros(n)
    w[:-1] += 0.5 * h
    w[1:] += 0.5 * h
    if np.allclose(h, h[0], rtol=1e-9, atol=0.0):
        # uniform axis: a causal convolution; the trapezoid end weight at E' = E_i multiplies
        # k(0) = 0, so uniform weights h are exact except at the first point.
        k = kernel(h[0] * np.arange(n))
        wy = y * h[0]
        wy[0] *= 0.5
        return fftconvolve(wy, k)[:n]
    d = x[:, None] - x[None, :]
    return (kernel(d) * (w * y)[None, :]).sum(axis=1)


def tougaard(
    x,
    y,
    *,
    B=2866.0,
    C=1643.0,
    D=0.0,
    C_sign=+1,
    avg_points=5,
    fit_B=True,
    material=None,
) -> np.ndarray:
    """Tougaard background on a binding-energy axis.

    Electrons that lose energy T appear T higher in binding energy, so the background at E is
    built from the spectrum at lower binding energy:

    ``bg(E) = y_low + int_{x_min}^{E} K(E - E') (y(E') - y_low) dE'``

    with ``K`` from :func:`tougaard_kernel` and y_low the mean of the first ``avg_points``
    points (the low-BE, high-KE end, taken as the level that does not belong to the region).
    The universal cross-section (B = 2866 eV^2, C = 1643 eV^2; Tougaard, Surf. Interface Anal.
    25 (1997) 137) is the default.  ``material`` (a key of :data:`TOUGAARD_CLASSES`) sets C,
    D and C_sign (and B, if ``fit_B`` is False) to that class.

    With ``fit_B`` (default), B is scaled so that the background equals the data at the
    high-BE end (mean of the last ``avg_points`` points), as is usual when the region ends far
    enough above the peak.

    Parameters
    ----------
    x : array_like
        Binding energies (eV), strictly ascending.
    y : array_like
        Intensities at ``x`` (counts or counts/s).
    B, C, D : float, optional
        Cross-section parameters (eV^2) of :func:`tougaard_kernel`.
    C_sign : int, optional
        +1 for the universal form, -1 for the three-parameter classes.
    avg_points : int, optional
        Points averaged for each end level.
    fit_B : bool, optional
        Scale B so that the background meets the data at the high-BE end.
    material : str or None, optional
        A key of :data:`TOUGAARD_CLASSES` that sets C, D and C_sign (and B without
        ``fit_B``).

    Returns
    -------
    background : numpy.ndarray
        The Tougaard background on ``x``, in the unit of ``y``.

    Examples
    --------
    >>> x = np.linspace(280.0, 295.0, 301)
    >>> peak = 100.0 * np.exp(-0.5 * ((x - 285.0) / 0.6) ** 2)
    >>> y = 10.0 + peak + 20.0 * np.cumsum(peak) / peak.sum()
    >>> bg = tougaard(x, y)
    >>> round(float(bg[0]), 2), round(float(bg[-5:].mean()), 2)  # meets y at both ends
    (10.0, 30.0)
    """
    x, y = _xy(x, y)
    if material is not None:
        if material not in TOUGAARD_CLASSES:
            raise ValueError(f"unknown material class {material!r}; "
                             f"known: {sorted(TOUGAARD_CLASSES)}")
        C, D = TOUGAARD_CLASSES[material]
        C_sign = TOUGAARD_C_SIGN[material]
        if not fit_B:
            B = TOUGAARD_CLASS_B[material]
    n = _n_avg(avg_points, y.size)
    y_lo, y_hi = _ends(y, n)
    integral = _loss_integral(x, y - y_lo, lambda T: tougaard_kernel(T, B=1.0, C=C, D=D,
                                                                     C_sign=C_sign))
    if fit_B:
        ref = float(np.mean(integral[-n:]))
        if ref == 0.0 or not np.isfinite(ref):
            raise ValueError("cannot scale B: the loss integral vanishes at the high-BE end")
        B = (y_hi - y_lo) / ref
    return y_lo + B * integral


# -------------------------------------------------------------------------- satellites
def xray_satellites(x, y, *, source="Al", lines=None) -> np.ndarray:
    """Remove the ghost peaks of a non-monochromatic Mg or Al K-alpha source.

    Each satellite line i (offset d_i, relative intensity r_i, see :data:`XRAY_SATELLITES`)
    produces a replica of the whole spectrum shifted by d_i to LOWER binding energy:
    ``y(E) = s(E) + sum_i r_i s(E + d_i)``.  The satellite-free spectrum is recovered exactly
    by the recursion ``s(E) = y(E) - sum_i r_i s(E + d_i)``, which starts at the high-BE
    (low-KE) end, where no parent lies above, and proceeds down in binding energy; blocks
    narrower than the smallest offset are done at once.  Parents above the measured range
    are taken as absent.  ``lines`` restricts the correction to the given labels (e.g.
    ``("a3", "a4")``).  Returns the corrected spectrum.

    Parameters
    ----------
    x : array_like
        Binding energies (eV), strictly ascending, with a step below the smallest offset.
    y : array_like
        Measured intensities at ``x``.
    source : str, optional
        Anode, ``'Al'`` or ``'Mg'`` (a key of :data:`XRAY_SATELLITES`).
    lines : sequence of str or None, optional
        Satellite labels to remove; None for all of the anode's.

    Returns
    -------
    corrected : numpy.ndarray
        The spectrum without the satellites, in the unit of ``y``.

    Examples
    --------
    A C 1s line at 285 eV with its Al K-alpha3 ghost (7.8 %) 9.6 eV lower:

    >>> x = np.arange(260.0, 300.0, 0.1)
    >>> line = 100.0 * np.exp(-0.5 * ((x - 285.0) / 0.6) ** 2)
    >>> ghost = 7.8 * np.exp(-0.5 * ((x - 275.4) / 0.6) ** 2)
    >>> s = xray_satellites(x, line + ghost, source="Al", lines=("a3",))
    >>> round(float(np.interp(275.4, x, line + ghost)), 2), round(float(np.interp(275.4, x, s)), 2)
    (7.8, 0.0)
    """
    x, y = _xy(x, y)
    try:
        table = XRAY_SATELLITES[source]
    except KeyError:
        raise ValueError(f"unknown source {source!r}; known: {sorted(XRAY_SATELLITES)}") from None
    if lines is not None:
        wanted = set(lines)
        unknown = wanted - {lab for lab, _, _ in table}
        if unknown:
            raise ValueError(f"unknown satellite line(s) {sorted(unknown)} for {source}")
        table = tuple(t for t in table if t[0] in wanted)
    if not table:
        return y.copy()
    offsets = np.array([d for _, d, _ in table])
    ratios = np.array([r for _, _, r in table]) / 100.0
    d_min = float(offsets.min())
    if np.max(np.diff(x)) >= d_min:
        raise ValueError(f"energy step must be smaller than the smallest satellite offset "
                         f"({d_min} eV)")
    s = y.copy()
    x_top = x[-1]
    # first block: points with no parent inside the range (E + d_min > x_top)
    hi = int(np.searchsorted(x, x_top - d_min, side="right"))
    while hi > 0:
        # s[hi:] is final; every E >= x[hi] - d_min has all its parents E + d_i >= x[hi]
        lo = min(int(np.searchsorted(x, x[hi] - d_min, side="left")), hi - 1)
        e = x[lo:hi]
        corr = np.zeros(e.size)
        for d, r in zip(offsets, ratios):
            target = e + d
            inside = target <= x_top
            corr[inside] += r * np.interp(target[inside], x[hi:], s[hi:])
        s[lo:hi] = y[lo:hi] - corr
        hi = lo
    return s
