"""Asymmetric unit-area XPS lineshapes: Doniach-Sunjic, CasaXPS-style LA and LF, Gaussian-broadened.

The unconvolved profile is integrated analytically over the cells of a uniform grid (so sharp
cusps are handled exactly), convolved by FFT with a unit-sum discrete Gaussian, and
interpolated to ``x`` with a cubic spline. Far from the peak (beyond 40 widths) the Gaussian
smoothing is negligible and the analytic unconvolved profile is used directly. The tails lie
on the HIGH binding-energy side.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.signal import fftconvolve
from scipy.special import betainc, gammaln

from .symmetric import _FWHM_PER_SIGMA

__all__ = ["doniach_sunjic", "ds", "la", "lf"]

#: Smallest LA exponent: (1 + 4 u^2)^-p has a finite area only for p > 1/2.
LA_MIN_EXPONENT = 0.5
_LN2 = float(np.log(2.0))
# Gauss-Legendre nodes and weights (8 points) for the cell integrals of "lf".
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)

# Numerical settings of the grid convolution used by "ds" and "la".
_STEPS_PER_GAUSS_FWHM = 30  # grid step = Gaussian FWHM / 30 (cubic spline error < 1e-6)
_KERNEL_HALF_WIDTH_SIGMA = 8.0  # discrete Gaussian kernel truncated at +-8 sigma (< 1e-14)
_FAR_FIELD_WIDTHS = 40.0  # beyond 40 widths the unconvolved profile is used
_MAX_GRID = 1 << 20


# --------------------------------------------------------------- grid convolution helper
def _convolved(x, center, gauss_fwhm, cdf, density, width):
    """Gaussian-broadened profile from its unconvolved cumulative ``cdf(t)`` (t = x - center).

    ``density(t)`` is the unconvolved profile (used far from the peak), ``width`` the scale
    beyond which the broadening is negligible.
    """
    x = np.asarray(x, dtype=float)
    out = np.empty(x.shape)
    if x.size == 0:
        return out
    t = x - center
    far = _FAR_FIELD_WIDTHS * (width + gauss_fwhm)
    near = np.abs(t) <= far
    if np.any(~near):
        out[~near] = density(t[~near])
    if not np.any(near):
        return out
    sigma = gauss_fwhm / _FWHM_PER_SIGMA
    half = _KERNEL_HALF_WIDTH_SIGMA * sigma
    tn = t[near]
    lo = tn.min() - half
    hi = tn.max() + half
    h = gauss_fwhm / _STEPS_PER_GAUSS_FWHM
    n = int(np.ceil((hi - lo) / h)) + 1
    if n > _MAX_GRID:
        n = _MAX_GRID
        h = (hi - lo) / (n - 1)
    grid = lo + h * np.arange(n)
    edges = np.concatenate(([grid[0] - 0.5 * h], grid + 0.5 * h))
    mass = np.diff(cdf(edges))  # exact cell integrals of the unconvolved profile
    nk = int(np.ceil(half / h))
    # Placing each cell's mass at its centre adds the variance h^2/12 of a box of width h;
    # take it off the kernel so the convolution is exact to second order in h.
    sigma_k = np.sqrt(sigma * sigma - h * h / 12.0)
    k = np.exp(-0.5 * (h * np.arange(-nk, nk + 1) / sigma_k) ** 2)
    k /= k.sum()
    conv = fftconvolve(mass, k, mode="same") / h
    out[near] = CubicSpline(grid, conv)(tn)
    return out


# ------------------------------------------------------------------------- Doniach-Sunjic
def _ds_raw(eps, alpha, gamma):
    """DS profile ``cos(pi a/2 + (1-a) atan(eps/g)) / (eps^2 + g^2)^((1-a)/2)`` (unnormalised).

    Written as Re[exp(i pi a / 2) (g - i eps)^(a - 1)], which is identical and avoids the
    branch bookkeeping of atan; eps > 0 is the side WITHOUT the tail.
    """
    z = gamma - 1j * np.asarray(eps, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.real(np.exp(0.5j * np.pi * alpha) * z ** (alpha - 1.0))


def _ds_antiderivative(eps, alpha, gamma):
    """Antiderivative in eps of :func:`_ds_raw`: Re[exp(i pi a/2) i (g - i eps)^a / a].

    For a -> 0 the limit is atan(eps / g) (the Lorentzian cumulative).
    """
    eps = np.asarray(eps, dtype=float)
    if alpha < 1e-8:
        return np.arctan2(eps, gamma)
    z = gamma - 1j * eps
    return np.real(np.exp(0.5j * np.pi * alpha) * 1j * z**alpha / alpha)


def _ds_window(center, fwhm, lorentz_fwhm):
    """Normalisation window of "ds": center - 10 W .. center + 50 W, W = fwhm + lorentz_fwhm."""
    w = fwhm + lorentz_fwhm
    return center - 10.0 * w, center + 50.0 * w


def doniach_sunjic(x, center, lorentz_fwhm, alpha):
    """Unbroadened Doniach-Sunjic profile with its tail on the high-BE side (not normalised).

    Doniach & Sunjic, J. Phys. C 3 (1970) 285:
    ``I(eps) = cos(pi alpha / 2 + (1 - alpha) atan(eps / gamma)) / (eps^2 + gamma^2)^((1-alpha)/2)``
    with gamma = lorentz_fwhm / 2 and eps = center - x (kinetic-energy-like, so the
    power-law tail ``|eps|^(alpha - 1)`` lies at x > center).

    Parameters
    ----------
    x : float or array_like
        Binding energies (eV).
    center : float
        DS energy E0 (eV).
    lorentz_fwhm : float
        Lifetime FWHM 2 gamma (eV).
    alpha : float
        Singularity (asymmetry) index, 0 <= alpha < 1.

    Returns
    -------
    y : numpy.ndarray
        Unnormalised profile values (1/eV); 1/gamma at the centre for alpha = 0.

    Examples
    --------
    >>> doniach_sunjic(np.array([0.0]), 0.0, 0.5, 0.0).tolist()  # Lorentzian, 1/gamma
    [4.0]
    >>> np.round(doniach_sunjic(np.array([-1.0, 1.0]), 0.0, 0.5, 0.2), 3).tolist()  # tail at +1
    [0.19, 0.716]
    """
    return _ds_raw(center - np.asarray(x, dtype=float), alpha, 0.5 * lorentz_fwhm)


def ds(x, center, fwhm, alpha=0.1, lorentz_fwhm=0.2):
    """Doniach-Sunjic profile convolved with a Gaussian of FWHM ``fwhm``.

    ``alpha`` is the singularity (asymmetry) index, ``lorentz_fwhm`` the lifetime FWHM
    2 gamma (Doniach & Sunjic, J. Phys. C 3 (1970) 285).  For alpha > 0 the DS profile decays
    as |x - center|^(alpha - 1) on the high-BE side and is NOT integrable, so the profile is
    normalised to unit area over the finite window
    ``center - 10 (fwhm + lorentz_fwhm) .. center + 50 (fwhm + lorentz_fwhm)``
    (it is still evaluated, with the same scale, outside the window).  The same window is used
    for alpha = 0, where the shape is the Voigt profile divided by its area inside the window,
    so the normalisation is continuous in alpha.  ``center`` is the DS energy E0; the maximum
    sits slightly above it in binding energy when alpha > 0.

    Parameters
    ----------
    x : float or array_like
        Binding energies (eV).
    center : float
        DS energy E0 (eV).
    fwhm : float
        FWHM of the broadening Gaussian (eV); 0 gives the unbroadened profile.
    alpha : float, optional
        Singularity (asymmetry) index, 0 <= alpha < 1.
    lorentz_fwhm : float, optional
        Lifetime FWHM 2 gamma (eV).

    Returns
    -------
    y : numpy.ndarray
        Profile values (1/eV), unit area over the normalisation window.

    Examples
    --------
    >>> x = np.linspace(270.0, 300.0, 3001)
    >>> y = ds(x, 285.0, 0.8, alpha=0.1, lorentz_fwhm=0.2)
    >>> round(float(x[np.argmax(y)]), 2)  # the maximum, just above E0 = 285 eV
    285.05
    >>> round(float(np.trapezoid(y, x)), 3)  # the rest of the area is in the tail above 300 eV
    0.886
    """
    gamma = 0.5 * lorentz_fwhm
    lo, hi = _ds_window(center, fwhm, lorentz_fwhm)
    # cumulative in x: int DS(center - x') dx' = -F(center - x)
    f_lo = -_ds_antiderivative(center - lo, alpha, gamma)
    f_hi = -_ds_antiderivative(center - hi, alpha, gamma)
    norm = float(f_hi - f_lo)

    def cdf(t):
        return -_ds_antiderivative(-t, alpha, gamma) / norm

    def density(t):
        return _ds_raw(-t, alpha, gamma) / norm

    if fwhm <= 0.0:
        return density(np.asarray(x, dtype=float) - center)
    return _convolved(x, center, fwhm, cdf, density, fwhm + lorentz_fwhm)


# ------------------------------------------------------------------------------------ LA
def _half_area(p):
    """``int_0^inf (1 + 4 t^2)^(-p) dt = sqrt(pi) Gamma(p - 1/2) / (4 Gamma(p))``, p > 1/2."""
    return 0.25 * np.sqrt(np.pi) * np.exp(gammaln(p - 0.5) - gammaln(p))


def _half_cdf(t, p):
    """``int_0^|t| (1 + 4 s^2)^(-p) ds`` via the regularised incomplete beta function.

    With u = 2 s: 1/2 int_0^(2|t|) (1 + u^2)^(-p) du = 1/4 B(1/2, p - 1/2) I_z(1/2, p - 1/2),
    z = 4 t^2 / (1 + 4 t^2) (Abramowitz & Stegun 6.6.2 after u^2 = z / (1 - z)).
    """
    t2 = 4.0 * np.asarray(t, dtype=float) ** 2
    return _half_area(p) * betainc(0.5, p - 0.5, t2 / (1.0 + t2))


def la(x, center, fwhm, alpha=1.0, beta=1.0, gauss_fwhm=0.5):
    """CasaXPS-style LA(alpha, beta, m) asymmetric Lorentzian, unit area.

    Unbroadened shape, with L(x) = 1 / (1 + 4 (x - center)^2 / F^2) and F = ``fwhm``:

    * ``L(x)^alpha`` on the HIGH binding-energy side (x > center),
    * ``L(x)^beta`` on the LOW binding-energy side (x < center),

    then convolved with a Gaussian of FWHM ``gauss_fwhm`` (eV); gauss_fwhm = 0 gives the
    unbroadened shape.  Exponents > 1 make a side decay faster (shorter tail); alpha < beta
    therefore gives the usual metallic tail to high binding energy.  Exponents must exceed 1/2
    for the area to be finite (CasaXPS accepts smaller ones on its finite grid; use :func:`lf`,
    whose damped tails have a finite area for any exponent); the area is exact (incomplete beta
    function), not truncated.  CasaXPS's two-argument form LA(alpha, m) is LA(alpha, alpha, m).

    Relation to CasaXPS: CasaXPS defines LA(alpha, beta, m) as the same piecewise power of
    the Lorentzian, with alpha governing the HIGH binding-energy side and beta the low side
    (CasaXPS manual "Line shapes"; Harwell XPS knowledge base, "LA and LF lineshapes"), so
    alpha and beta here have the CasaXPS meaning and values transfer directly.  CasaXPS's m
    (0..499) is the width of the broadening Gaussian in points of CasaXPS's internal
    evaluation grid and has no fixed meaning in eV; here the Gaussian is given directly as
    ``gauss_fwhm`` in eV, so m values do not transfer.  As in CasaXPS, F is the Lorentzian
    width parameter; the true FWHM depends on alpha, beta and gauss_fwhm (see :func:`fwhm_of`).

    Parameters
    ----------
    x : float or array_like
        Binding energies (eV).
    center : float
        Peak position (eV).
    fwhm : float
        Lorentzian width parameter F (eV), > 0.
    alpha : float, optional
        Exponent on the high binding-energy side, > 1/2.
    beta : float, optional
        Exponent on the low binding-energy side, > 1/2.
    gauss_fwhm : float, optional
        FWHM of the broadening Gaussian (eV); 0 for none.

    Returns
    -------
    y : numpy.ndarray
        Profile values (1/eV), integrating to 1 over x.

    Examples
    --------
    >>> round(float(la(0.0, 0.0, 1.0, alpha=1.0, beta=1.0, gauss_fwhm=0.0)), 4)  # 2 / (pi F)
    0.6366
    >>> x = np.linspace(270.0, 300.0, 3001)
    >>> y = la(x, 285.0, 1.0, alpha=1.2, beta=2.0, gauss_fwhm=0.5)
    >>> round(float(x[np.argmax(y)]), 2)  # pushed up in BE by the longer high-BE tail
    285.04
    """
    if not (alpha > LA_MIN_EXPONENT and beta > LA_MIN_EXPONENT):
        raise ValueError(f"la needs alpha and beta above 1/2 (finite area), got {alpha} and {beta}; "
                         "lf has finite tails for any exponent")
    s_hi = _half_area(alpha)
    s_lo = _half_area(beta)
    total = (s_hi + s_lo) * fwhm

    def cdf(t):
        t = np.asarray(t, dtype=float)
        u = t / fwhm
        pos = u > 0
        out = np.empty(u.shape)
        out[pos] = s_lo + _half_cdf(u[pos], alpha)
        out[~pos] = s_lo - _half_cdf(u[~pos], beta)
        return out * fwhm / total

    def density(t):
        u = np.asarray(t, dtype=float) / fwhm
        base = 1.0 / (1.0 + 4.0 * u * u)
        return np.where(u > 0, base**alpha, base**beta) / total

    if gauss_fwhm <= 0.0:
        return density(np.asarray(x, dtype=float) - center)
    return _convolved(x, center, gauss_fwhm, cdf, density, fwhm)


# ------------------------------------------------------------------------------------ LF
def _lf_raw(t, fwhm, alpha, beta, damping_fwhm):
    """Unnormalised LF profile at ``t = x - center`` (LA exponents times the damping envelope)."""
    u = np.asarray(t, dtype=float) / fwhm
    base = 1.0 / (1.0 + 4.0 * u * u)
    with np.errstate(under="ignore"):
        damp = np.exp(-4.0 * _LN2 * (np.asarray(t, dtype=float) / damping_fwhm) ** 2)
        return np.where(u > 0, base**alpha, base**beta) * damp


def _lf_area(fwhm, alpha, beta, damping_fwhm):
    """Area of :func:`_lf_raw`: 8-point Gauss-Legendre on 120 pieces a side, the first from the
    centre to 1e-3 of the narrower width, the rest growing geometrically out to 8 damping widths
    (where the envelope is below 1e-76); the integrand is smooth on each piece, so the relative
    error is below 1e-10 (checked against adaptive quadrature in the tests)."""
    reach = 8.0 * damping_fwhm
    edges = np.concatenate(([0.0], np.geomspace(1e-3 * min(fwhm, damping_fwhm), reach, 120)))
    mid = 0.5 * (edges[1:] + edges[:-1])
    half = 0.5 * np.diff(edges)
    t = (mid[:, None] + half[:, None] * _GL_NODES[None, :]).ravel()
    w = (half[:, None] * _GL_WEIGHTS[None, :]).ravel()
    return float(np.sum(w * (_lf_raw(t, fwhm, alpha, beta, damping_fwhm)
                             + _lf_raw(-t, fwhm, alpha, beta, damping_fwhm))))


def lf(x, center, fwhm, alpha=1.0, beta=1.0, damping_fwhm=10.0, gauss_fwhm=0.5):
    """CasaXPS-style LF(alpha, beta, w, m): the LA profile with finite (damped) tails, unit area.

    Unbroadened shape, with L(x) = 1 / (1 + 4 (x - center)^2 / F^2), F = ``fwhm`` and
    W = ``damping_fwhm``:

    * ``L(x)^alpha D(x)`` on the HIGH binding-energy side (x > center),
    * ``L(x)^beta D(x)`` on the LOW binding-energy side (x < center),

    with the damping envelope ``D(x) = exp(-4 ln2 (x - center)^2 / W^2)``, then convolved with a
    Gaussian of FWHM ``gauss_fwhm`` (eV).  The envelope is 1 at the centre and 1/2 at
    ``center +- W/2``; the smaller W, the stronger the damping, and W -> infinity gives
    :func:`la`.  Because of it the area is finite for every alpha, beta > 0, including the
    exponents at or below 1/2 for which LA's area diverges; it is found by Gauss-Legendre
    quadrature (relative error below 1e-10).

    Relation to CasaXPS: LF(alpha, beta, w, m) is LA(alpha, beta, m) with an extra parameter w
    "that controls the damping of the asymmetric tails ... the smaller the number the more
    extreme the damping" (Harwell XPS knowledge base, "LA and LF lineshapes"; CasaXPS manual,
    "Line Shapes and Backgrounds"): alpha and beta keep their CasaXPS meaning (high- and
    low-BE exponents) and values transfer directly.  CasaXPS gives w and m (0..499) as widths
    in points of its internal evaluation grid and publishes neither the damping function nor
    their energy scale, so here both are widths in eV (``damping_fwhm``, ``gauss_fwhm``): fix
    them from the data, or let the fit refine them.

    Parameters
    ----------
    x : float or array_like
        Binding energies (eV).
    center : float
        Peak position (eV).
    fwhm : float
        Lorentzian width parameter F (eV), > 0.
    alpha : float, optional
        Exponent on the high binding-energy side, > 0.
    beta : float, optional
        Exponent on the low binding-energy side, > 0.
    damping_fwhm : float, optional
        FWHM W of the damping envelope (eV), > 0.
    gauss_fwhm : float, optional
        FWHM of the broadening Gaussian (eV); 0 for none.

    Returns
    -------
    y : numpy.ndarray
        Profile values (1/eV), integrating to 1 over x.

    Examples
    --------
    >>> x = np.linspace(260.0, 310.0, 50001)
    >>> y = lf(x, 285.0, 1.0, alpha=0.4, beta=1.0, damping_fwhm=6.0, gauss_fwhm=0.5)
    >>> round(float(np.trapezoid(y, x)), 4)  # finite area although alpha < 1/2
    1.0
    >>> big = lf(x, 285.0, 1.0, alpha=1.2, beta=2.0, damping_fwhm=1e4, gauss_fwhm=0.5)
    >>> bool(np.allclose(big, la(x, 285.0, 1.0, alpha=1.2, beta=2.0, gauss_fwhm=0.5), atol=1e-6))
    True
    """
    if not (alpha > 0 and beta > 0 and damping_fwhm > 0):
        raise ValueError(f"lf needs alpha > 0, beta > 0 and damping_fwhm > 0, got {alpha}, {beta}, {damping_fwhm}")
    norm = _lf_area(fwhm, alpha, beta, damping_fwhm)

    def density(t):
        return _lf_raw(t, fwhm, alpha, beta, damping_fwhm) / norm

    def cdf(edges):
        # only called on the cell edges of the convolution grid: cumulative Gauss-Legendre sums
        mid = 0.5 * (edges[1:] + edges[:-1])
        half = 0.5 * np.diff(edges)
        mass = (density(mid[:, None] + half[:, None] * _GL_NODES[None, :]) * _GL_WEIGHTS).sum(axis=1) * half
        return np.concatenate(([0.0], np.cumsum(mass)))

    if gauss_fwhm <= 0.0:
        return density(np.asarray(x, dtype=float) - center)
    return _convolved(x, center, gauss_fwhm, cdf, density, min(fwhm, damping_fwhm))
