"""Simulated V K-edge XANES of a Na3V2(PO4)3 cathode on charge, with reference standards.

The scenario is a transmission XAS experiment at a bending-magnet beamline with a Si(111)
double-crystal monochromator and three N2 ion chambers (I0 before the sample, It after it,
Iref after a V metal foil placed downstream of It). A Na | Na3V2(PO4)3 ("NVP") cell is
charged to NaV2(PO4)3 ("NaVP") in steps; a step scan is taken at open circuit and after
every step. On charge V3+ is oxidised to V4+ in a two-phase reaction, so with
``x`` Na per formula unit (two V per formula unit) the V4+ fraction is ``(3 - x) / 2``
and the mean V valence ``3 + (3 - x) / 2``. Five reference pellets are measured too:
V2O3 (3+), VO2 (4+), V2O5 (5+) and the two end members NVP (3+) and NaVP (4+).

Model of the absorption coefficient (dimensionless mu*t):

* background: every element of the beam path except the V K edge, from the Elam tables
  (:func:`xraydb.mu_elam`): matrix (Na, P, O, C, F, H), binder, windows, electrolyte,
  plus the V cross-section below its K edge;
* V K edge: ``m_V * [mu_below(E) + J(E) * n(E)]`` with ``mu_below`` and ``mu_above``
  power laws fitted to the Elam V cross-section on either side of the edge,
  ``J = mu_above - mu_below`` the atomic edge jump, and ``n(E)`` the normalised XANES of
  the compound (-> 0 below, -> 1 far above the edge);
* ``n(E)`` = arctan step with the Lorentzian width of the V 1s core hole + Lorentzian
  pre-edge (1s -> 3d) components whose area grows with valence + Gaussian resonances
  above the edge (white line) + an EXAFS term ``chi(k)`` summed over neighbour shells
  (``S0^2 N F(k) / (k R^2) sin(2kR + phi(k)) exp(-2 sigma^2 k^2) exp(-2R/lambda)``),
  all convolved with the Gaussian resolution of the monochromator;
* the arctan centre of every compound is solved numerically so that the half-height
  crossing of its broadened ``n(E)`` falls on the edge position of its valence; partly
  charged states are linear combinations of the NVP and NaVP end-member mu(E) weighted
  by the V4+ fraction (a two-phase mixture), not interpolated edges;
* the V foil: a sharp step at the first inflection (solved so that the maximum of the
  derivative of the broadened spectrum falls on the tabulated 5465.0 eV), a broader main
  rise, a resonance and bcc V EXAFS.

Each scan has its own monochromator offset: the energy column holds the nominal mono
energies, and the spectrum seen by sample and foil alike is ``mu(E_file - offset)``, so
calibrating on the foil edge recovers the offset. Counts are Poisson-distributed
(I0 about 2e6 to 7e6 per point), with a common-mode beam fluctuation that cancels in the
ratios. Everything is deterministic for a given seed: no wall-clock time, noise from
``numpy.random.default_rng([seed, stream, index])``.

:func:`make_xanes_series` writes the XDI files, ``truth.json`` and a README.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

__all__ = [
    "COMPOUNDS",
    "DEFAULT_N_STATES",
    "DEFAULT_SEED",
    "ETOK",
    "GENERATOR_VERSION",
    "STANDARDS",
    "V_FOIL_EDGE_EV",
    "Compound",
    "FoilModel",
    "cell_voltage_v",
    "energy_grid",
    "half_height_edge_ev",
    "make_xanes_series",
]

GENERATOR_VERSION = "1.0.0"
DEFAULT_SEED = 20250314
DEFAULT_N_STATES = 6

#: V K edge of the metal, eV (Bearden & Burr, Rev. Mod. Phys. 39 (1967) 125, as tabulated by
#: xraydb.xray_edge("V", "K")); the first inflection point of a V foil, used to calibrate.
V_FOIL_EDGE_EV = 5465.0
#: Width (FWHM) of the V K (1s) level, eV: Krause & Oliver, J. Phys. Chem. Ref. Data 8 (1979)
#: 329 (xraydb.core_width("V", "K") = 1.01 eV).
V_K_CORE_HOLE_FWHM_EV = 1.01
#: Gaussian energy resolution (FWHM) of a Si(111) monochromator at 5.5 keV, eV: intrinsic
#: Darwin width dE/E = 1.3e-4 (0.7 eV) plus the vertical divergence of a bending-magnet beam.
MONO_RESOLUTION_FWHM_EV = 1.0
#: d(111) of Si written by the beamline (a = 5.431 A; XDI specification example value).
SI111_D_SPACING_A = 3.13551
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

#: Experiment clock: standards first, then the cell.
STANDARDS_START = datetime(2025, 3, 15, 8, 0, 0)
SERIES_START = datetime(2025, 3, 15, 11, 0, 0)
SAMPLE_CHANGE_S = 300.0
MOTOR_OVERHEAD_S = 0.25
CHARGE_C_RATE = 0.2  # C/5 for 2 Na (117.6 mAh/g)
REST_BEFORE_SCAN_S = 600.0

#: Photon flux reaching the I0 chamber, photons/s at 5465 eV (falls as E^-1 over the scan).
FLUX_PER_S = 1.0e7
BEAM_NOISE_REL = 0.002
#: Ion chambers: N2 at 1 atm, 293 K (density 1.165e-3 g/cm3), active lengths in cm.
N2_DENSITY_G_CM3 = 1.165e-3
CHAMBER_LENGTH_CM = {"i0": 10.0, "itrans": 30.0, "irefer": 30.0}

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

    ``pre_edge``: (energy eV, area in normalised units x eV) of Lorentzian 1s -> 3d
    components (FWHM = core-hole width). ``resonances``: (energy above the arctan centre eV,
    height, FWHM eV) of Gaussian peaks. ``shells``: (backscatterer, N, R A, sigma^2 A^2).
    Distances of the phosphates and V2O3 are those of the bundled CIFs
    (``xpipe/synth/structures``), VO2 from Longo & Kierkegaard, Acta Chem. Scand. 24 (1970)
    420, V2O5 from Enjalbert & Galy, Acta Cryst. C 42 (1986) 1467.
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

#: Reference pellets: (compound, edge step, cellulose filler g/cm2), in measuring order.
STANDARDS = (
    (V2O3, 1.05, 0.020),
    (VO2, 0.95, 0.020),
    (V2O5, 0.90, 0.025),
    (NVP, 1.10, 0.015),
    (NAVP, 0.85, 0.015),
)
#: Kapton tape holding each pellet, g/cm2 (2 x 50 um at 1.42 g/cm3, glue included).
STANDARD_TAPE_G_CM2 = 2 * 50e-4 * 1.42


@dataclass(frozen=True)
class CellModel:
    """Beam path through the operando cell, areal densities in g/cm2.

    Electrode: NVP with 10 wt % carbon black and 10 wt % PVDF, loading chosen for a V K edge
    step of ``edge_step`` (about 8.7 mg/cm2 of NVP); Kapton windows 2 x 25 um (1.42 g/cm3);
    a 25 um separator soaked with propylene carbonate (1.2 g/cm3). The Na anode is pierced
    where the beam passes.
    """

    edge_step: float = 1.0
    carbon_wt: float = 0.10
    binder_wt: float = 0.10
    window_g_cm2: float = 2 * 25e-4 * 1.42
    electrolyte_g_cm2: float = 25e-4 * 1.2


@dataclass(frozen=True)
class FoilModel:
    """V metal reference foil (bcc, a = 3.024 A): shoulder at the first inflection, main rise.

    ``shoulder_fraction`` of the step rises with the core-hole width at the first inflection;
    the rest, ``main_rise_ev`` above it, with ``main_width_ev`` (arctan FWHM).
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
    """Counting time per point: 1 s up to 5500 eV, then growing linearly with k (to ~3.5 s)."""
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


# ------------------------------------------------------------------- cross-sections


class _CrossSections:
    """Elam mass attenuation coefficients (cm2/g) from xraydb, V split at its K edge.

    Every cross-section is smooth between 5.2 and 6.2 keV (no other edge of the elements
    used), so it is represented by a fit of ln(mu) to a polynomial in ln(E) (quadratic;
    linear for V below its K edge), accurate to 1e-4.
    """

    def __init__(self):
        import xraydb

        self._xraydb = xraydb
        self._fits: dict = {}
        below = np.arange(5200.0, 5461.0, 10.0)
        above = np.arange(5470.0, 6201.0, 10.0)
        self.below_fit = np.polyfit(np.log(below / V_FOIL_EDGE_EV),
                                    np.log(xraydb.mu_elam("V", below)), 1)
        self.above_fit = np.polyfit(np.log(above / V_FOIL_EDGE_EV),
                                    np.log(xraydb.mu_elam("V", above)), 2)

    def mu_elam(self, element: str, e) -> np.ndarray:
        if element not in self._fits:
            grid = np.arange(5200.0, 6201.0, 10.0)
            self._fits[element] = np.polyfit(np.log(grid / V_FOIL_EDGE_EV),
                                             np.log(self._xraydb.mu_elam(element, grid)), 2)
        return np.exp(np.polyval(self._fits[element], np.log(np.asarray(e) / V_FOIL_EDGE_EV)))

    def v_below(self, e):
        return np.exp(np.polyval(self.below_fit, np.log(np.asarray(e) / V_FOIL_EDGE_EV)))

    def v_jump(self, e):
        x = np.log(np.asarray(e) / V_FOIL_EDGE_EV)
        return np.exp(np.polyval(self.above_fit, x)) - np.exp(np.polyval(self.below_fit, x))

    def composition(self, formula: str) -> dict:
        return {el: float(n) for el, n in self._xraydb.chemparse(formula).items()}

    def molar_mass(self, formula: str) -> float:
        return sum(n * self._xraydb.atomic_mass(el) for el, n in self.composition(formula).items())

    def v_mass_fraction(self, formula: str) -> float:
        comp = self.composition(formula)
        return comp.get("V", 0.0) * self._xraydb.atomic_mass("V") / self.molar_mass(formula)

    def mu_rho_without_v(self, formula: str, e) -> np.ndarray:
        """Mass attenuation of a compound without its V atoms, cm2 per g of compound."""
        comp = self.composition(formula)
        m = self.molar_mass(formula)
        out = np.zeros_like(np.asarray(e, dtype=float))
        for el, n in comp.items():
            if el != "V":
                out += n * self._xraydb.atomic_mass(el) / m * self.mu_elam(el, e)
        return out

    def layers_mu(self, layers, e) -> np.ndarray:
        """Absorption (mu*t) of (formula, g/cm2) layers, V excluded."""
        out = np.zeros_like(np.asarray(e, dtype=float))
        for formula, areal in layers:
            out += areal * self.mu_rho_without_v(formula, e)
        return out


@dataclass
class _Absorber:
    """mu*t of one sample at true energies: background + m_V * (below + J * n)."""

    layers: list  # (formula, g/cm2), V atoms excluded from their attenuation
    m_v: float  # g/cm2 of V

    def mu(self, xs: _CrossSections, e: np.ndarray, norm: np.ndarray) -> np.ndarray:
        return xs.layers_mu(self.layers, e) + self.m_v * (xs.v_below(e) + xs.v_jump(e) * norm)


def _electrode_absorber(xs: _CrossSections, cell: CellModel, x_na: float) -> _Absorber:
    """Operando cell at Na content x (V amount fixed by the edge step at the V3+ edge)."""
    m_v = cell.edge_step / float(xs.v_jump(EDGE_HALF_HEIGHT_EV[3]))
    m_nvp_pristine = m_v / xs.v_mass_fraction("Na3V2(PO4)3")
    formula = f"Na{x_na:.6f}V2(PO4)3"
    m_active = m_v / xs.v_mass_fraction(formula)
    m_electrode = m_nvp_pristine / (1.0 - cell.carbon_wt - cell.binder_wt)
    layers = [
        (formula, m_active),
        ("C", cell.carbon_wt * m_electrode),
        ("C2H2F2", cell.binder_wt * m_electrode),
        ("C22H10N2O5", cell.window_g_cm2),
        ("C4H6O3", cell.electrolyte_g_cm2),
    ]
    return _Absorber(layers, m_v)


def _standard_absorber(xs: _CrossSections, c: Compound, step: float,
                       filler: float) -> _Absorber:
    m_v = step / float(xs.v_jump(c.edge_half_height_ev))
    layers = [
        (c.formula, m_v / xs.v_mass_fraction(c.formula)),
        ("C6H10O5", filler),
        ("C22H10N2O5", STANDARD_TAPE_G_CM2),
    ]
    return _Absorber(layers, m_v)


def _chamber_absorption(xs: _CrossSections, e: np.ndarray, name: str) -> np.ndarray:
    return N2_DENSITY_G_CM3 * CHAMBER_LENGTH_CM[name] * xs.mu_elam("N", e)


# ----------------------------------------------------------------- electrochemistry


def cell_voltage_v(x_na: float, ocv: bool = False) -> float:
    """Cell voltage (V vs Na+/Na) at Na content x, read after the rest before each scan.

    Pristine open circuit 3.162 V; on the V3+/V4+ two-phase plateau 3.392 V rising by
    18 mV over the plateau, and an upturn at x -> 1 after the cut-off (rest voltage of
    NaV2(PO4)3 3.445 V).
    """
    if ocv:
        return 3.162
    return 3.392 + 0.018 * (3.0 - x_na) / 2.0 + 0.035 * math.exp(-(x_na - 1.0) / 0.06)


# ------------------------------------------------------------------------- writing


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def _round(v, nd=6):
    return float(round(float(v), nd))


def _xdi_text(fields: list, comments: list, energy, i0, it, iref) -> str:
    lines = [f"# XDI/1.0 xpipe.synth.xas/{GENERATOR_VERSION}",
             "# Column.1: energy eV",
             "# Column.2: i0",
             "# Column.3: itrans",
             "# Column.4: irefer"]
    lines += [f"# {key}: {value}" for key, value in fields]
    lines.append("# ///")
    lines += [f"# {c}" for c in comments]
    lines.append("#----")
    lines.append("# energy i0 itrans irefer")
    lines += [f"{e:10.3f} {a:10d} {b:10d} {c:10d}"
              for e, a, b, c in zip(energy.tolist(), i0.tolist(), it.tolist(), iref.tolist())]
    return "\n".join(lines) + "\n"


def _common_fields() -> list:
    return [
        ("Element.symbol", "V"),
        ("Element.edge", "K"),
        ("Element.reference", "V"),
        ("Element.ref_edge", "K"),
        ("Mono.name", "Si(111)"),
        ("Mono.d_spacing", f"{SI111_D_SPACING_A}"),
        ("Facility.name", "simulated"),
        ("Beamline.name", "simulated bending-magnet XAS beamline"),
        ("Detector.I0", "10 cm N2 ion chamber"),
        ("Detector.I1", "30 cm N2 ion chamber"),
        ("Detector.I2", "30 cm N2 ion chamber, after V foil"),
        ("Scan.edge_energy", f"{V_FOIL_EDGE_EV:.1f} eV"),
    ]


def _simulate_counts(xs, e_true, mu_sample, mu_foil, dwell, rng):
    """Expected and Poisson counts of the three chambers."""
    a0 = _chamber_absorption(xs, e_true, "i0")
    a1 = _chamber_absorption(xs, e_true, "itrans")
    a2 = _chamber_absorption(xs, e_true, "irefer")
    beam = FLUX_PER_S * (e_true / V_FOIL_EDGE_EV) ** -1 * dwell
    beam = beam * (1.0 + BEAM_NOISE_REL * rng.standard_normal(e_true.shape))
    i0 = beam * (1.0 - np.exp(-a0))
    behind_sample = beam * np.exp(-a0 - mu_sample)
    it = behind_sample * (1.0 - np.exp(-a1))
    iref = behind_sample * np.exp(-a1 - mu_foil) * (1.0 - np.exp(-a2))
    return (rng.poisson(i0).astype(np.int64), rng.poisson(it).astype(np.int64),
            rng.poisson(iref).astype(np.int64))


README_TEMPLATE = """\
# nvp_xanes: simulated V K-edge XANES of a Na3V2(PO4)3 cathode on charge

Simulated (not measured) transmission XAS data bundled with xpipe for the XAS demo and tests:
{n_states} step scans of a Na | Na3V2(PO4)3 cell from open circuit to NaV2(PO4)3, plus five
reference pellets, each with a V foil reference channel.

## Contents

| file | what |
| --- | --- |
| `nvp_xanes_0.xdi` ... `nvp_xanes_{last}.xdi` | cell scans, x in Na_x V2(PO4)3 = {x_list} |
| `standards/V2O3_std.xdi`, `VO2_std.xdi`, `V2O5_std.xdi` | V3+, V4+, V5+ oxide pellets |
| `standards/NVP_std.xdi`, `NaVP_std.xdi` | end members Na3V2(PO4)3 (V3+) and NaV2(PO4)3 (V4+) |
| `truth.json` | ground truth: per scan x_na, voltage, mean V valence, V4+ fraction, mono offset, half-height edge; model parameters |

All files are XDI 1.0 with columns `energy` (nominal mono energy, eV), `i0`, `itrans`,
`irefer` (counts). Transmission of the sample: mu = ln(i0 / itrans); V foil: ln(itrans /
irefer). Header fields: `Element.*`, `Mono.d_spacing` (Si 111), `Scan.start_time` /
`Scan.end_time` (ISO 8601), `Sample.name`, `Sample.stoichiometry`; cell scans add
`Sample.x_na`, `Sample.voltage_v`, `Sample.state` (ocv, charge); standards add
`Sample.valence`.

## Experiment

* Step scan: 5365-5440 eV every 5 eV, 5445-5500 eV every 0.25 eV, then constant k steps of
  0.05 1/A (k from 5465.0 eV) to 5900 eV; 1 s per point up to 5500 eV, then growing with k.
* Monochromator Si(111), Gaussian resolution {res} eV FWHM; V 1s core-hole width {gamma} eV
  FWHM (Krause & Oliver 1979). Ion chambers with N2: I0 10 cm, I1 30 cm, I2 30 cm; a V foil
  ({foil_um} um, edge step about 1) between I1 and I2.
* Each scan has its own monochromator offset (uniform in +-1.5 eV, `mono_offset_ev` in
  truth.json): the true energy is `energy - mono_offset_ev`. Sample and foil are shifted
  together, so aligning the first inflection of the foil on 5465.0 eV recovers it.
* Cell: electrode of Na3V2(PO4)3 with 10 wt % carbon and 10 wt % PVDF (V edge step 1.0),
  Kapton windows, wet separator; background mu below the edge about {mu_pre:.2f}.
  Scan 0 at open circuit ({ocv:.3f} V), then charge steps at C/5 to x = {x_last:.1f}, each
  followed by a 10 min rest before the scan; `voltage_v` is the cell voltage at the start
  of the scan (plateau near 3.40 V vs Na+/Na).
* V4+ fraction = (3 - x) / 2, mean V valence = 3 + (3 - x) / 2 (2 V per formula unit).

## Model

Background from the Elam cross-sections of every element in the beam (xraydb); the V K edge
as m_V [mu_below(E) + J(E) n(E)] with the atomic jump J(E) and the normalised XANES n(E):
arctan step of the core-hole width, Lorentzian pre-edge components (area grows with
valence), Gaussian white-line resonances and an EXAFS sum over V-O, V-P and V-V shells, all
convolved with the mono resolution. Half-height edges: V3+ {e3} eV, V4+ {e4} eV, V5+ {e5}
eV. Partly charged scans are linear combinations of the NVP and NaVP end members weighted by
the V4+ fraction (two-phase reaction), so linear combination fitting with
`standards/NVP_std.xdi` and `standards/NaVP_std.xdi` recovers the V4+ fraction. Poisson
noise (seed {seed}).

Regenerate (byte-identical for the same seed, numpy and xraydb versions):

```
python -c "from xpipe.synth.xas import make_xanes_series; make_xanes_series('example_data/nvp_xanes', seed={seed}, n_states={n_states})"
```
"""


def make_xanes_series(out_dir, *, seed: int = DEFAULT_SEED,
                      n_states: int = DEFAULT_N_STATES) -> dict:
    """Write the simulated V K-edge XANES series and its standards into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Output directory (created, with a ``standards`` subfolder; files of the same names
        are overwritten).
    seed : int
        Seed of the mono offsets and the noise: cell scan ``i`` uses
        ``numpy.random.default_rng([seed, 1, i])``, standard ``j``
        ``numpy.random.default_rng([seed, 2, j])``.
    n_states : int
        Number of cell scans, x in Na_x V2(PO4)3 evenly from 3.0 (open circuit) to 1.0.

    Returns
    -------
    dict
        The content written to ``truth.json``.
    """
    if n_states < 2:
        raise ValueError("n_states must be >= 2 (open circuit and the charged state)")
    out = Path(out_dir)
    (out / "standards").mkdir(parents=True, exist_ok=True)
    xs = _CrossSections()
    fine = _fine_grid()
    energy = energy_grid()
    dwell = dwell_times_s(energy)
    scan_s = float(np.sum(dwell) + MOTOR_OVERHEAD_S * energy.size)

    # normalised spectra of every compound on the fine grid
    centers = {name: _solve_center(fine, c) for name, c in COMPOUNDS.items()}
    norms = {name: _compound_norm(fine, c, centers[name]) for name, c in COMPOUNDS.items()}
    foil = FoilModel()
    foil_center = _solve_foil_center(fine, foil)
    foil_norm = _foil_norm(fine, foil, foil_center)
    foil_derivative_max = _derivative_max_ev(fine, foil_norm)
    m_foil = foil.thickness_um * 1e-4 * foil.density_g_cm3
    foil_absorber = _Absorber([], m_foil)

    def foil_mu(e_true):
        return foil_absorber.mu(xs, e_true, np.interp(e_true, fine, foil_norm))

    comments = [
        "Simulated data (xpipe.synth.xas), not a measurement.",
        "mu(sample) = ln(i0/itrans); mu(V foil) = ln(itrans/irefer).",
        "energy is the nominal mono energy; true energy = energy - mono offset (truth.json).",
    ]

    # ------------------------------------------------------------------ standards
    standards = []
    t = STANDARDS_START
    for j, (c, step, filler) in enumerate(STANDARDS):
        rng = np.random.default_rng([seed, 2, j])
        offset = round(float(rng.uniform(-1.5, 1.5)), 3)
        e_true = energy - offset
        absorber = _standard_absorber(xs, c, step, filler)
        mu_s = absorber.mu(xs, e_true, np.interp(e_true, fine, norms[c.name]))
        i0, it, iref = _simulate_counts(xs, e_true, mu_s, foil_mu(e_true), dwell, rng)
        fname = f"{c.file_stem}_std.xdi"
        end = t + timedelta(seconds=scan_s)
        fields = _common_fields() + [
            ("Scan.start_time", _iso(t)),
            ("Scan.end_time", _iso(end)),
            ("Sample.name", f"{c.name} reference pellet in cellulose"),
            ("Sample.stoichiometry", c.formula),
            ("Sample.valence", f"{c.valence}"),
            ("Sample.temperature", "295 K"),
        ]
        (out / "standards" / fname).write_text(
            _xdi_text(fields, comments, energy, i0, it, iref))
        e_ref = c.edge_half_height_ev
        standards.append({
            "file": f"standards/{fname}",
            "compound": c.name,
            "formula": c.formula,
            "valence": c.valence,
            "mono_offset_ev": offset,
            "scan_start_time": _iso(t),
            "scan_end_time": _iso(end),
            "edge_step": _round(absorber.m_v * xs.v_jump(e_ref), 5),
            "edge_half_height_ev": _round(half_height_edge_ev(fine, norms[c.name]), 4),
            "mu_below_edge": _round(np.interp(5440.0, e_true, mu_s), 4),
        })
        t = end + timedelta(seconds=SAMPLE_CHANGE_S)

    # --------------------------------------------------------------- cell series
    x_values = np.linspace(3.0, 1.0, n_states)
    cell = CellModel()
    pristine = _electrode_absorber(xs, cell, 3.0)
    charged = _electrode_absorber(xs, cell, 1.0)
    norm3, norm4 = norms[NVP.name], norms[NAVP.name]
    capacity_per_na_h = 0.5 / CHARGE_C_RATE  # hours per Na at the C-rate (2 Na = 1 C)
    states = []
    t = SERIES_START
    for i, x in enumerate(x_values.tolist()):
        x = _round(x, 6)
        f4 = (3.0 - x) / 2.0
        if i > 0:
            dx = float(x_values[i - 1] - x_values[i])
            t = t + timedelta(seconds=round(dx * capacity_per_na_h * 3600.0 + REST_BEFORE_SCAN_S))
        rng = np.random.default_rng([seed, 1, i])
        offset = round(float(rng.uniform(-1.5, 1.5)), 3)
        e_true = energy - offset
        mu3 = pristine.mu(xs, e_true, np.interp(e_true, fine, norm3))
        mu4 = charged.mu(xs, e_true, np.interp(e_true, fine, norm4))
        mu_s = (1.0 - f4) * mu3 + f4 * mu4
        i0, it, iref = _simulate_counts(xs, e_true, mu_s, foil_mu(e_true), dwell, rng)
        voltage = round(cell_voltage_v(x, ocv=(i == 0)), 4)
        fname = f"nvp_xanes_{i}.xdi"
        end = t + timedelta(seconds=scan_s)
        state = "ocv" if i == 0 else "charge"
        fields = _common_fields() + [
            ("Scan.start_time", _iso(t)),
            ("Scan.end_time", _iso(end)),
            ("Sample.name", f"Na3V2(PO4)3 electrode in operando cell, scan {i} ({state})"),
            ("Sample.stoichiometry", f"Na{x:.3f}V2(PO4)3"),
            ("Sample.x_na", f"{x:.4f}"),
            ("Sample.voltage_v", f"{voltage:.4f}"),
            ("Sample.state", state),
            ("Sample.temperature", "298 K"),
        ]
        (out / fname).write_text(_xdi_text(fields, comments, energy, i0, it, iref))
        norm_mix = (1.0 - f4) * norm3 + f4 * norm4
        e_half = half_height_edge_ev(fine, norm_mix)
        states.append({
            "file": fname,
            "index": i,
            "state": state,
            "x_na": x,
            "voltage_v": voltage,
            "mean_valence": _round(3.0 + f4, 6),
            "fraction_v4": _round(f4, 6),
            "fraction_v3": _round(1.0 - f4, 6),
            "mono_offset_ev": offset,
            "scan_start_time": _iso(t),
            "scan_end_time": _iso(end),
            "edge_step": _round(pristine.m_v * xs.v_jump(e_half), 5),
            "edge_half_height_ev": _round(e_half, 4),
            "mu_below_edge": _round(np.interp(5440.0, e_true, mu_s), 4),
        })
        t = end

    truth = {
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "generator": {
            "name": "xpipe.synth.xas",
            "version": GENERATOR_VERSION,
            "seed": int(seed),
            "n_states": int(n_states),
            "noise": ("Poisson counts; cell scan i: numpy.random.default_rng([seed, 1, i]), "
                      "standard j: numpy.random.default_rng([seed, 2, j]); first draw is the "
                      "mono offset"),
        },
        "element": "V",
        "edge": "K",
        "calibration": {
            "convention": "true energy = file energy - mono_offset_ev",
            "foil_edge_ev": V_FOIL_EDGE_EV,
            "foil_derivative_max_ev": _round(foil_derivative_max, 4),
            "mono_offset_range_ev": [-1.5, 1.5],
        },
        "beamline": {
            "mono": "Si(111)",
            "d_spacing_a": SI111_D_SPACING_A,
            "resolution_fwhm_ev": MONO_RESOLUTION_FWHM_EV,
            "core_hole_fwhm_ev": V_K_CORE_HOLE_FWHM_EV,
            "flux_per_s_at_edge": FLUX_PER_S,
            "beam_noise_rel": BEAM_NOISE_REL,
            "ion_chambers_n2_cm": dict(CHAMBER_LENGTH_CM),
            "foil": {"thickness_um": foil.thickness_um,
                     "edge_step": _round(m_foil * xs.v_jump(V_FOIL_EDGE_EV + 10.0), 4)},
        },
        "energy_grid": {
            "n_points": int(energy.size),
            "pre_edge_ev": [PRE_EDGE_START_EV, XANES_START_EV - PRE_EDGE_STEP_EV,
                            PRE_EDGE_STEP_EV],
            "xanes_ev": [XANES_START_EV, XANES_END_EV, XANES_STEP_EV],
            "exafs_k_step": K_STEP,
            "exafs_k0_ev": V_FOIL_EDGE_EV,
            "exafs_end_ev": EXAFS_END_EV,
            "dwell_s": "1 up to 5500 eV, then k / k(5500 eV)",
            "scan_duration_s": _round(scan_s, 2),
        },
        "model": {
            "edge_half_height_ev_by_valence": {str(k): v for k, v in EDGE_HALF_HEIGHT_EV.items()},
            "etok": ETOK,
            "s0_squared": S0_SQUARED,
            "mean_free_path_a": MEAN_FREE_PATH_A,
            "backscatter": {el: dict(zip(("amp", "k_peak", "k_width", "phase0", "phase1"), p))
                            for el, p in _BACKSCATTER.items()},
            "compounds": {
                name: {
                    "valence": c.valence,
                    "edge_half_height_ev": c.edge_half_height_ev,
                    "arctan_center_ev": _round(centers[name], 4),
                    "pre_edge_lorentzians_ev_area": [list(p) for p in c.pre_edge],
                    "resonances_de_height_fwhm": [list(r) for r in c.resonances],
                    "shells_element_n_r_sigma2": [list(s) for s in c.shells],
                    "pre_edge_peak_height": _round(
                        np.max(norms[name][(fine > 5466.0) & (fine < 5472.0)]), 4),
                }
                for name, c in COMPOUNDS.items()
            },
            "foil": {**asdict(foil), "shoulder_center_ev": _round(foil_center, 4)},
            "cell": asdict(cell),
            "mixing": "mu = (1 - fraction_v4) * mu(Na3V2(PO4)3 cell) + fraction_v4 * mu(NaV2(PO4)3 cell)",
        },
        "states": states,
        "standards": standards,
    }
    truth = json.loads(json.dumps(truth))  # tuples -> lists, plain JSON types
    with open(out / "truth.json", "w") as fh:
        json.dump(truth, fh, indent=1)
        fh.write("\n")

    (out / "README.md").write_text(README_TEMPLATE.format(
        n_states=n_states, last=n_states - 1,
        x_list=", ".join(f"{v:.2f}" for v in x_values), res=MONO_RESOLUTION_FWHM_EV,
        gamma=V_K_CORE_HOLE_FWHM_EV, foil_um=foil.thickness_um,
        mu_pre=states[0]["mu_below_edge"], ocv=states[0]["voltage_v"],
        x_last=float(x_values[-1]), e3=EDGE_HALF_HEIGHT_EV[3], e4=EDGE_HALF_HEIGHT_EV[4],
        e5=EDGE_HALF_HEIGHT_EV[5], seed=seed,
    ))
    return truth
