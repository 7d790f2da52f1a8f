"""Normalised V K-edge spectra of the simulated XANES series: compounds, V foil, energy grid.

``n(E)`` of a compound (-> 0 below, -> 1 far above the edge) is an arctan step with the
Lorentzian width of the V 1s core hole, Lorentzian pre-edge (1s -> 3d) components whose area
grows with valence, Gaussian resonances above the edge (white line) and an EXAFS term
``chi(k)`` summed over neighbour shells
(``S0^2 N F(k) / (k R^2) sin(2kR + phi(k)) exp(-2 sigma^2 k^2) exp(-2R/lambda)``), all
convolved with the Gaussian resolution of the monochromator. The arctan centre of every
compound is solved numerically so that the half-height crossing of its broadened ``n(E)``
falls on the edge position of its valence (:data:`EDGE_HALF_HEIGHT_EV`).

The V foil: a sharp step at the first inflection (solved so that the maximum of the
derivative of the broadened spectrum falls on the tabulated 5465.0 eV), a broader main rise,
a resonance and bcc V EXAFS.

The spectra are computed on a fine grid (:func:`_fine_grid`, 0.02 eV) and interpolated at
the energies of the step scan (:func:`energy_grid`). :mod:`xpipe.synth.xas_beamline` turns
them into absorption and counts, :mod:`xpipe.synth.xas` writes the series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "COMPOUNDS",
    "EDGE_HALF_HEIGHT_EV",
    "ETOK",
    "V_FOIL_EDGE_EV",
    "Compound",
    "FoilModel",
    "dwell_times_s",
    "energy_grid",
    "half_height_edge_ev",
]

#: V K edge of the metal, eV (Bearden & Burr, Rev. Mod. Phys. 39 (1967) 125, as tabulated by
#: xraydb.xray_edge("V", "K")); the first inflection point of a V foil, used to calibrate.
V_FOIL_EDGE_EV = 5465.0
#: Width (FWHM) of the V K (1s) level, eV: Krause & Oliver, J. Phys. Chem. Ref. Data 8 (1979)
#: 329 (xraydb.core_width("V", "K") = 1.01 eV).
V_K_CORE_HOLE_FWHM_EV = 1.01
#: Gaussian energy resolution (FWHM) of a Si(111) monochromator at 5.5 keV, eV: intrinsic
#: Darwin width dE/E = 1.3e-4 (0.7 eV) plus the vertical divergence of a bending-magnet beam.
MONO_RESOLUTION_FWHM_EV = 1.0
#: 2 m_e / hbar^2 in 1/(eV A^2): k = sqrt(ETOK * (E - E0)) (CODATA 2018).
ETOK = 0.2624682917
#: EXAFS amplitude reduction factor, typical of 3d transition metals.
S0_SQUARED = 0.90
#: Photoelectron mean free path for the exp(-2R/lambda) damping, A (order of magnitude of the
#: universal curve at k = 4-10 1/A).
MEAN_FREE_PATH_A = 6.0

#: Half-height (0.5 of the normalised step) edge positions per V valence, eV on the foil scale
#: (V foil first inflection = 5465.0 eV), chosen close to the V oxide series (V2O3, VO2, V2O5)
#: of Wong, Lytle, Messmer & Maylotte, Phys. Rev. B 30 (1984) 5596, and Chaurand et al.,
#: J. Phys. Chem. B 111 (2007) 5101: the shift per valence is not linear (2.6 eV from 3+ to
#: 4+, 0.5 eV from 4+ to 5+).
EDGE_HALF_HEIGHT_EV = {3: 5478.3, 4: 5480.9, 5: 5481.4}

# Energy grid of the step scan (nominal monochromator energies)
PRE_EDGE_START_EV, PRE_EDGE_STEP_EV = 5365.0, 5.0
XANES_START_EV, XANES_END_EV, XANES_STEP_EV = 5445.0, 5500.0, 0.25
EXAFS_END_EV, K_STEP = 5900.0, 0.05

# Model grid: fine enough for the 1 eV features, wide enough for +-1.5 eV offsets and the
# Gaussian kernel
_FINE_START_EV, _FINE_STEP_EV, _FINE_N = 5290.0, 0.02, 35001

# ------------------------------------------------------------------- backscatterers
# Smooth stand-ins for FEFF backscattering amplitudes |f(k)| (A) and total phase shifts of a
# V absorber: a Gaussian envelope in k that peaks at higher k for heavier neighbours (Teo &
# Lee, J. Am. Chem. Soc. 101 (1979) 2815), and a phase linear in k whose slope (-0.8 to
# -0.9 A) puts the Fourier-transform peaks 0.4 A below the true distances.
_BACKSCATTER = {
    #       amp,  k_peak, k_width, phase0, phase1
    "O": (0.40, 1.0, 6.0, 2.0, -0.80),
    "Na": (0.35, 3.0, 5.0, 1.5, -0.80),
    "P": (0.55, 4.5, 5.0, 1.0, -0.85),
    "V": (0.65, 6.0, 5.0, 0.5, -0.90),
}


@dataclass(frozen=True)
class Compound:
    """Normalised V K-edge XANES model of one compound.

    Distances of the phosphates and V2O3 are those of the bundled CIFs
    (``xpipe/synth/structures``), VO2 from Longo & Kierkegaard, Acta Chem. Scand. 24 (1970)
    420, V2O5 from Enjalbert & Galy, Acta Cryst. C 42 (1986) 1467.

    Parameters
    ----------
    name, formula : str
        Name of the compound and its formula (for the absorption of its other elements).
    valence : int
        V valence (3, 4 or 5); sets the half-height edge (:attr:`edge_half_height_ev`).
    pre_edge : tuple of (float, float)
        (energy eV, area in normalised units x eV) of Lorentzian 1s -> 3d components
        (FWHM = core-hole width).
    resonances : tuple of (float, float, float)
        (energy above the arctan centre eV, height, FWHM eV) of Gaussian peaks.
    shells : tuple of (str, int, float, float)
        (backscatterer, N, R in A, sigma^2 in A^2) of the EXAFS shells.
    file_stem : str
        Stem of the standard's file name (``<stem>_std.xdi``).

    Examples
    --------
    >>> COMPOUNDS["VO2"].valence, COMPOUNDS["VO2"].edge_half_height_ev
    (4, 5480.9)
    """

    name: str
    formula: str
    valence: int
    pre_edge: tuple
    resonances: tuple
    shells: tuple
    file_stem: str = ""

    @property
    def edge_half_height_ev(self) -> float:
        return EDGE_HALF_HEIGHT_EV[self.valence]


# Pre-edge: centroid rises about 0.8-1 eV per valence step and the area grows from
# centrosymmetric octahedral V3+ (weak, two t2g/eg components) to the short vanadyl-like bonds
# of V4+ and the strongly distorted square pyramid of V2O5 (Chaurand et al. 2007; Wong et al.
# 1984).
NVP = Compound(
    "Na3V2(PO4)3", "Na3V2(PO4)3", 3,
    pre_edge=((5467.9, 0.06), (5469.5, 0.09)),
    resonances=((6.5, 0.50, 6.0), (17.0, 0.10, 8.0)),
    shells=(("O", 3, 2.010, 0.0035), ("O", 3, 2.047, 0.0040), ("P", 6, 3.40, 0.0060)),
    file_stem="NVP",
)
NAVP = Compound(
    "NaV2(PO4)3", "NaV2(PO4)3", 4,
    pre_edge=((5468.6, 0.15), (5470.0, 0.28)),
    resonances=((5.5, 0.38, 7.0), (17.0, 0.12, 8.0)),
    shells=(("O", 3, 1.912, 0.0040), ("O", 3, 1.973, 0.0050), ("P", 6, 3.30, 0.0060)),
    file_stem="NaVP",
)
V2O3 = Compound(
    "V2O3", "V2O3", 3,
    pre_edge=((5467.6, 0.07), (5469.2, 0.09)),
    resonances=((7.5, 0.40, 7.0), (20.0, 0.10, 8.0)),
    shells=(("O", 3, 1.971, 0.0040), ("O", 3, 2.049, 0.0050), ("V", 1, 2.697, 0.0040),
            ("V", 3, 2.882, 0.0060)),
    file_stem="V2O3",
)
VO2 = Compound(
    "VO2", "VO2", 4,
    pre_edge=((5469.2, 0.40),),
    resonances=((7.0, 0.30, 7.0), (19.0, 0.10, 8.0)),
    shells=(("O", 1, 1.76, 0.0030), ("O", 2, 1.865, 0.0040), ("O", 3, 2.03, 0.0060),
            ("V", 1, 2.65, 0.0040)),
    file_stem="VO2",
)
V2O5 = Compound(
    "V2O5", "V2O5", 5,
    pre_edge=((5470.4, 1.20),),
    resonances=((3.5, 0.10, 4.0), (8.0, 0.25, 8.0)),
    shells=(("O", 1, 1.585, 0.0020), ("O", 1, 1.78, 0.0030), ("O", 2, 1.88, 0.0040),
            ("O", 1, 2.02, 0.0050)),
    file_stem="V2O5",
)
COMPOUNDS = {c.name: c for c in (NVP, NAVP, V2O3, VO2, V2O5)}


@dataclass(frozen=True)
class FoilModel:
    """V metal reference foil (bcc, a = 3.024 A): shoulder at the first inflection, main rise.

    Parameters
    ----------
    thickness_um : float
        Foil thickness, micrometres.
    density_g_cm3 : float
        Density of V metal, g/cm3.
    shoulder_fraction : float
        Fraction of the step that rises with the core-hole width at the first inflection.
    main_rise_ev, main_width_ev : float
        Position of the main rise above the first inflection and its arctan FWHM, eV.
    resonances : tuple of (float, float, float)
        (energy above the first inflection eV, height, FWHM eV) of Gaussian peaks.
    shells : tuple of (str, int, float, float)
        (backscatterer, N, R in A, sigma^2 in A^2) of the bcc V shells.

    Examples
    --------
    >>> foil = FoilModel()
    >>> round(foil.thickness_um * 1e-4 * foil.density_g_cm3, 6)  # V, g/cm2
    0.002139
    """

    thickness_um: float = 3.5
    density_g_cm3: float = 6.11
    shoulder_fraction: float = 0.45
    main_rise_ev: float = 6.0
    main_width_ev: float = 3.0
    resonances: tuple = ((20.0, 0.12, 8.0),)
    shells: tuple = (("V", 8, 2.619, 0.0055), ("V", 6, 3.024, 0.0065))


# ----------------------------------------------------------------------- energy axis


def energy_grid() -> np.ndarray:
    """Nominal energies of the step scan, eV (3 decimals).

    Pre-edge 5365-5440 eV every 5 eV, XANES 5445-5500 eV every 0.25 eV, then EXAFS at
    constant k step 0.05 1/A (k from the foil edge 5465.0 eV) up to 5900 eV.

    Returns
    -------
    numpy.ndarray
        Increasing monochromator energies, eV.

    Examples
    --------
    >>> e = energy_grid()
    >>> e.size, float(e[0]), float(e[16]), float(e[-1])
    (390, 5365.0, 5445.0, 5897.138)
    """
    pre = PRE_EDGE_START_EV + PRE_EDGE_STEP_EV * np.arange(
        round((XANES_START_EV - PRE_EDGE_START_EV) / PRE_EDGE_STEP_EV))
    n_xanes = round((XANES_END_EV - XANES_START_EV) / XANES_STEP_EV) + 1
    xanes = XANES_START_EV + XANES_STEP_EV * np.arange(n_xanes)
    k_first = math.floor(math.sqrt(ETOK * (XANES_END_EV - V_FOIL_EDGE_EV)) / K_STEP + 1) * K_STEP
    k_last = math.sqrt(ETOK * (EXAFS_END_EV - V_FOIL_EDGE_EV))
    k = k_first + K_STEP * np.arange(math.floor((k_last - k_first) / K_STEP + 1e-9) + 1)
    exafs = V_FOIL_EDGE_EV + k * k / ETOK
    return np.round(np.concatenate([pre, xanes, exafs]), 3)


def dwell_times_s(energy: np.ndarray) -> np.ndarray:
    """Counting time per point: 1 s up to 5500 eV, then growing linearly with k (to ~3.5 s).

    Parameters
    ----------
    energy : numpy.ndarray
        Monochromator energies, eV.

    Returns
    -------
    numpy.ndarray
        Dwell time of every point, seconds (2 decimals above 5500 eV).

    Examples
    --------
    >>> dwell_times_s(np.array([5400.0, 5500.0, 5600.0, 5900.0])).tolist()
    [1.0, 1.0, 1.96, 3.53]
    """
    k = np.sqrt(np.clip(ETOK * (energy - V_FOIL_EDGE_EV), 0.0, None))
    k0 = math.sqrt(ETOK * (XANES_END_EV - V_FOIL_EDGE_EV))
    return np.where(energy <= XANES_END_EV, 1.0, np.round(k / k0, 2))


def _fine_grid() -> np.ndarray:
    return _FINE_START_EV + _FINE_STEP_EV * np.arange(_FINE_N)


# ------------------------------------------------------------------------- spectra


def _gauss_broaden(y: np.ndarray, step_ev: float, fwhm_ev: float) -> np.ndarray:
    sigma = fwhm_ev / (2.0 * math.sqrt(2.0 * math.log(2.0))) / step_ev
    half = int(math.ceil(5.0 * sigma))
    x = np.arange(-half, half + 1, dtype=float)
    kern = np.exp(-0.5 * (x / sigma) ** 2)
    kern /= kern.sum()
    padded = np.concatenate([np.full(half, y[0]), y, np.full(half, y[-1])])
    return np.convolve(padded, kern, mode="valid")


def _chi(k: np.ndarray, shells, k_onset: float = 2.5) -> np.ndarray:
    """EXAFS chi(k) of a sum of single-scattering shells, switched on smoothly at low k."""
    chi = np.zeros_like(k)
    kk = np.where(k > 1e-6, k, 1e-6)
    for element, n, r, sigma2 in shells:
        amp, kp, kw, p0, p1 = _BACKSCATTER[element]
        f = amp * np.exp(-0.5 * ((kk - kp) / kw) ** 2)
        chi += (S0_SQUARED * n * f / (kk * r * r) * np.sin(2.0 * kk * r + p0 + p1 * kk)
                * np.exp(-2.0 * sigma2 * kk * kk) * math.exp(-2.0 * r / MEAN_FREE_PATH_A))
    return chi * (1.0 - np.exp(-((k / k_onset) ** 2))) * (k > 0)


def _arctan_step(e: np.ndarray, center: float, fwhm: float) -> np.ndarray:
    return 0.5 + np.arctan((e - center) / (0.5 * fwhm)) / math.pi


def _compound_norm(e: np.ndarray, c: Compound, center: float) -> np.ndarray:
    """Broadened normalised XANES of ``c`` with its arctan step at ``center``."""
    g = V_K_CORE_HOLE_FWHM_EV
    step = _arctan_step(e, center, g)
    n = step.copy()
    for pos, area in c.pre_edge:
        n += area * (0.5 * g / math.pi) / ((e - pos) ** 2 + (0.5 * g) ** 2)
    for de, height, fwhm in c.resonances:
        n += height * np.exp(-4.0 * math.log(2.0) * ((e - center - de) / fwhm) ** 2)
    k = np.sqrt(np.clip(ETOK * (e - center), 0.0, None))
    n += step * _chi(k, c.shells)
    return _gauss_broaden(n, _FINE_STEP_EV, MONO_RESOLUTION_FWHM_EV)


def _foil_norm(e: np.ndarray, foil: FoilModel, center: float) -> np.ndarray:
    g = V_K_CORE_HOLE_FWHM_EV
    a = foil.shoulder_fraction
    step = (a * _arctan_step(e, center, g)
            + (1.0 - a) * _arctan_step(e, center + foil.main_rise_ev, foil.main_width_ev))
    n = step.copy()
    for de, height, fwhm in foil.resonances:
        n += height * np.exp(-4.0 * math.log(2.0) * ((e - center - de) / fwhm) ** 2)
    k = np.sqrt(np.clip(ETOK * (e - center), 0.0, None))
    n += step * _chi(k, foil.shells)
    return _gauss_broaden(n, _FINE_STEP_EV, MONO_RESOLUTION_FWHM_EV)


def half_height_edge_ev(energy, norm, search_ev=(5472.0, 5500.0)) -> float:
    """Energy where a normalised spectrum crosses 0.5 on its main rise.

    The main maximum (white line) is searched in ``search_ev``; the crossing is the last
    upward crossing of 0.5 below it (so an intense pre-edge peak is skipped), interpolated
    linearly.

    Parameters
    ----------
    energy : array_like
        Increasing energies, eV.
    norm : array_like
        Normalised absorption at ``energy`` (0 below, about 1 above the edge).
    search_ev : (float, float)
        Energy window of the white-line maximum, eV.

    Returns
    -------
    float
        Half-height edge energy, eV.

    Raises
    ------
    ValueError
        When the spectrum does not rise through 0.5 below its maximum.

    Examples
    --------
    An arctan step centred on 5480 eV with a white line 5 eV above it:

    >>> e = np.arange(5450.0, 5510.0, 0.1)
    >>> n = 0.5 + np.arctan(e - 5480.0) / np.pi + 0.4 * np.exp(-((e - 5485.0) / 3.0) ** 2)
    >>> round(half_height_edge_ev(e, n), 2)
    5479.93
    """
    e = np.asarray(energy, dtype=float)
    n = np.asarray(norm, dtype=float)
    idx = np.flatnonzero((e >= search_ev[0]) & (e <= search_ev[1]))
    im = int(idx[np.argmax(n[idx])])
    below = np.flatnonzero(n[:im] < 0.5)
    if below.size == 0:
        raise ValueError("the spectrum does not rise through 0.5 below its maximum")
    j = int(below[-1])
    return float(e[j] + (0.5 - n[j]) * (e[j + 1] - e[j]) / (n[j + 1] - n[j]))


def _derivative_max_ev(e: np.ndarray, y: np.ndarray, window=(5455.0, 5475.0)) -> float:
    d = np.gradient(y, e)
    idx = np.flatnonzero((e >= window[0]) & (e <= window[1]))
    i = int(idx[np.argmax(d[idx])])
    y0, y1, y2 = d[i - 1], d[i], d[i + 1]
    shift = 0.5 * (y0 - y2) / (y0 - 2.0 * y1 + y2)
    return float(e[i] + shift * (e[i + 1] - e[i]))


def _solve_center(fine: np.ndarray, c: Compound) -> float:
    """Arctan centre putting the half-height crossing of ``c`` on its valence's edge."""
    target = c.edge_half_height_ev
    center = target - 1.0
    for _ in range(8):
        center += target - half_height_edge_ev(fine, _compound_norm(fine, c, center))
    return center


def _solve_foil_center(fine: np.ndarray, foil: FoilModel) -> float:
    center = V_FOIL_EDGE_EV
    for _ in range(8):
        center += V_FOIL_EDGE_EV - _derivative_max_ev(fine, _foil_norm(fine, foil, center))
    return center
