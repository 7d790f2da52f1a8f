"""EXAFS chi(k) and chi(R): background removal (Larch ``autobk``) and Fourier transform (``xftf``).

Energies are in eV, k in 1/Angstrom, R in Angstrom. :func:`background` turns mu(E) into a
:class:`Chi`; :func:`fourier` turns chi(k) into an :class:`Ft`.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Chi:
    """EXAFS chi(k) on a uniform k grid.

    Parameters
    ----------
    k : ndarray
        Photoelectron wavenumber (1/Angstrom), uniform grid.
    chi : ndarray
        chi(k), unweighted.
    e0_ev : float
        Edge energy (eV) k is counted from.
    settings : dict
        Every setting of the background removal, as resolved.
    label : str
        The spectrum's name.
    edge_step : float
        The edge step chi was normalised by.

    Examples
    --------
    >>> import numpy as np
    >>> k = np.arange(0.0, 14.0, 0.05)
    >>> c = Chi(k=k, chi=0.1 * np.sin(4.0 * k), e0_ev=7112.0, label="FeO")
    >>> c.k.size, c.e0_ev, c.edge_step
    (280, 7112.0, nan)
    """

    k: np.ndarray
    chi: np.ndarray
    e0_ev: float
    settings: dict = field(default_factory=dict)
    label: str = ""
    edge_step: float = float("nan")


@dataclass
class Ft:
    """chi(R) from a forward Fourier transform of k^w chi(k).

    Parameters
    ----------
    r_a : ndarray
        Distance R (Angstrom).
    chir_mag, chir_re, chir_im : ndarray
        Magnitude, real and imaginary parts of chi(R) (1/Angstrom^(w+1)).
    settings : dict
        The transform settings.

    Examples
    --------
    >>> import numpy as np
    >>> k = np.arange(0.0, 14.0, 0.05)
    >>> ft = fourier(k, 0.1 * np.sin(2 * 2.5 * k))
    >>> round(float(ft.r_a[np.argmax(ft.chir_mag)]), 1)
    2.5
    """

    r_a: np.ndarray
    chir_mag: np.ndarray
    chir_re: np.ndarray
    chir_im: np.ndarray
    settings: dict = field(default_factory=dict)


def _check_xy(x: np.ndarray, y: np.ndarray, xname: str, yname: str) -> None:
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"{xname} and {yname} must be 1D arrays of one length, got {x.shape} "
                         f"and {y.shape}")
    if x.size < 10:
        raise ValueError(f"{xname} needs at least 10 points, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"{xname} and {yname} must be finite")
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"{xname} must increase strictly")


def find_e0(energy_ev, mu) -> float:
    """Edge energy as Larch's ``pre_edge`` finds it (largest derivative of mu near the edge).

    Parameters
    ----------
    energy_ev : array_like
        Energies (eV), strictly increasing.
    mu : array_like
        Absorption on those energies.

    Returns
    -------
    float
        E0 (eV).

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(7000.0, 7300.0, 601)
    >>> find_e0(e, 0.5 + np.arctan((e - 7112.0) / 2.0) / np.pi)
    7112.0
    """
    # larch takes seconds to import: only when E0 is searched
    from larch import Group
    from larch.xafs import pre_edge

    e, m = np.asarray(energy_ev, float), np.asarray(mu, float)
    _check_xy(e, m, "energy_ev", "mu")
    g = Group()
    pre_edge(e, m, group=g)
    return float(g.e0)


def background(energy_ev, mu, *, e0_ev: float | None, rbkg_a: float = 1.0, kweight: int = 2,
               kmin: float = 0.0, kmax: float | None = None, dk: float = 0.1,
               window: str = "hanning", nknots: int | None = None, edge_step: float | None = None,
               nclamp: int = 3, clamp_lo: float = 0.0, clamp_hi: float = 1.0, kstep: float = 0.05,
               nfft: int = 2048, label: str = "") -> Chi:
    """Remove the post-edge background with Larch ``autobk`` and return chi(k).

    Parameters
    ----------
    energy_ev, mu : array_like
        The spectrum: energies (eV), strictly increasing, and absorption.
    e0_ev : float or None
        Edge energy (eV); None: Larch's ``pre_edge`` finds it.
    rbkg_a : float
        R (Angstrom) below which the spline may take up signal.
    kweight, kmin, kmax, dk, window
        The transform the spline is optimised on (k in 1/Angstrom; ``kmax`` None: end of data).
    nknots : int or None
        Spline knots; None: 1 + 2 rbkg (kmax - kmin)/pi.
    edge_step : float or None
        Normalisation; None: from ``pre_edge``.
    nclamp, clamp_lo, clamp_hi, kstep, nfft
        Passed on to ``autobk`` (``kstep`` in 1/Angstrom).
    label : str
        Name of the spectrum, kept in the result.

    Returns
    -------
    Chi
        chi(k) with ``settings`` recording every value as used.

    Examples
    --------
    An arctan edge with one EXAFS wave of R = 2 Angstrom:

    >>> import numpy as np
    >>> e = np.linspace(7000.0, 7700.0, 1401)
    >>> k = np.sqrt(np.clip(e - 7112.0, 0.0, None) / 3.81)
    >>> mu = (0.5 + np.arctan((e - 7112.0) / 2.0) / np.pi
    ...       + 0.05 * np.sin(4.0 * k) * np.exp(-0.02 * k**2))
    >>> chi = background(e, mu, e0_ev=7112.0)
    >>> chi.k[:3], chi.settings["nknots"]
    (array([0.  , 0.05, 0.1 ]), 8)
    >>> ft = fourier(chi.k, chi.chi)
    >>> round(float(ft.r_a[np.argmax(ft.chir_mag)]), 1)
    2.0
    """
    # larch takes seconds to import: only when a background is removed
    from larch import Group
    from larch.xafs import autobk

    e, m = np.asarray(energy_ev, float), np.asarray(mu, float)
    _check_xy(e, m, "energy_ev", "mu")
    if e0_ev is not None and not (e[0] < e0_ev < e[-1]):
        raise ValueError(f"e0_ev={e0_ev} lies outside the energy range {e[0]:.1f}-{e[-1]:.1f} eV")
    g = Group()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        autobk(e, m, group=g, rbkg=rbkg_a, ek0=e0_ev, edge_step=edge_step, kmin=kmin, kmax=kmax,
               kweight=kweight, dk=dk, win=window, nknots=nknots, nclamp=nclamp,
               clamp_lo=clamp_lo, clamp_hi=clamp_hi, kstep=kstep, nfft=nfft)
    if getattr(g, "chi", None) is None:
        raise ValueError(f"autobk did not return chi(k): {out.getvalue().strip() or 'no message'}")
    d = g.autobk_details
    # autobk sets edge_step on the group only when it ran pre_edge itself
    step = float(edge_step) if edge_step is not None else float(g.edge_step)
    settings = {"e0_ev": float(g.ek0), "e0_source": "given" if e0_ev is not None else "pre_edge",
                "edge_step": step, "rbkg_a": float(g.rbkg), "kweight": kweight,
                "kmin": float(kmin), "kmax": float(d.kmax), "dk": dk, "window": window,
                "nknots": int(d.nspl), "nclamp": nclamp, "clamp_lo": clamp_lo,
                "clamp_hi": clamp_hi, "kstep": kstep, "nfft": nfft, "engine": "larch.autobk"}
    return Chi(k=np.asarray(g.k, float), chi=np.asarray(g.chi, float), e0_ev=float(g.ek0),
               settings=settings, label=label, edge_step=step)


def fourier(k, chi, *, kmin: float = 3.0, kmax: float = 12.0, dk: float = 1.0,
            window: str = "hanning", kweight: int = 2, rmax_out: float = 10.0,
            dk2: float | None = None, nfft: int = 2048, kstep: float | None = None) -> Ft:
    """Forward Fourier transform of k^kweight chi(k) over [kmin, kmax] (1/Å) with Larch ``xftf``.

    Parameters
    ----------
    k, chi : array_like
        chi(k) on a uniform k grid (1/Angstrom).
    kmin, kmax : float
        The k range (1/Angstrom).
    dk, dk2 : float
        Window tapers (1/Angstrom); ``dk2`` None: ``dk``.
    window : str
        Window shape (Larch names: hanning, kaiser, parzen, welch, sine, gaussian).
    kweight : int
        Power of k chi is weighted by.
    rmax_out : float
        Last R (Angstrom) returned.
    nfft : int
        FFT length.
    kstep : float or None
        k grid step (None: ``k[1] - k[0]``).

    Returns
    -------
    Ft
        chi(R) and the settings used.

    Examples
    --------
    >>> import numpy as np
    >>> k = np.arange(0.0, 14.0, 0.05)
    >>> ft = fourier(k, 0.1 * np.sin(2 * 1.8 * k), kmin=3.0, kmax=12.0, kweight=2)
    >>> round(float(ft.r_a[np.argmax(ft.chir_mag)]), 1), ft.settings["kstep"]
    (1.8, 0.05)
    """
    # larch takes seconds to import: only when a transform is made
    from larch import Group
    from larch.xafs import xftf

    k, chi = np.asarray(k, float), np.asarray(chi, float)
    _check_xy(k, chi, "k", "chi")
    if not kmin < kmax:
        raise ValueError(f"kmin must be below kmax, got {kmin} and {kmax}")
    g = Group()
    xftf(k, chi, group=g, kmin=kmin, kmax=kmax, dk=dk, dk2=dk2, window=window, kweight=kweight,
         rmax_out=rmax_out, nfft=nfft, kstep=kstep)
    settings = {"kmin": kmin, "kmax": kmax, "dk": dk, "dk2": dk if dk2 is None else dk2,
                "window": window, "kweight": kweight, "rmax_out": rmax_out, "nfft": nfft,
                "kstep": float(k[1] - k[0]) if kstep is None else kstep, "engine": "larch.xftf"}
    return Ft(r_a=np.asarray(g.r, float), chir_mag=np.asarray(g.chir_mag, float),
              chir_re=np.asarray(g.chir_re, float), chir_im=np.asarray(g.chir_im, float),
              settings=settings)


