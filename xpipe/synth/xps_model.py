"""Model of the simulated ex situ XPS series: instrument, regions, lines, counts.

Counts of one region (binding energy ``E`` on the instrument scale):

* peaks: a sum of CasaXPS GL(30) product lineshapes (:func:`gl_product`), normalised to
  their area;
* V 2p: one 2p3/2 + 2p1/2 doublet per valence (V3+, V4+, V5+) with a fixed spin-orbit
  splitting, 2p1/2 : 2p3/2 area 1 : 2 and the 2p1/2 broadened by Coster-Kronig decay; the
  valence fractions are those of the electrode *surface* (:func:`surface_fractions`);
* O 1s: lattice oxygen, a 531.5 eV component (hydroxyl, adsorbed and under-coordinated
  surface oxygen) and a 533 eV component (C=O / adsorbed water); C 1s: adventitious carbon
  (the charge reference), its oxidised forms, carbon black and the PVDF binder;
* every line of a state is moved by the same charge shift;
* background: Shirley step ``k * (cumulative peak area from the low-BE end)`` on a constant
  level; Poisson noise is drawn by :func:`xpipe.synth.xps.make_xps_series`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erfcx

__all__ = [
    "C1S_COMPONENTS",
    "HV_EV",
    "O1S_COMPONENTS",
    "REGIONS",
    "V2P32_BE_EV",
    "WORK_FUNCTION_EV",
    "Region",
    "gl_product",
    "surface_fractions",
]

# ------------------------------------------------------------------ instrument

#: Photon energy of the monochromatised Al Ka1 line, eV (Moulder, Stickle, Sobol & Bomben,
#: Handbook of X-ray Photoelectron Spectroscopy, Perkin-Elmer 1992).
HV_EV = 1486.6
#: Analyser work function, eV: the instrument constant that places the Fermi level, set by
#: the energy-scale calibration of ISO 15472 (Au 4f7/2 83.96 eV, Cu 2p3/2 932.62 eV; Seah,
#: Surf. Interface Anal. 31 (2001) 721); 4.5 eV is a typical laboratory value (Kratos Axis
#: instruments record 4.5 eV, with a negative sign, in their VAMAS exports).
WORK_FUNCTION_EV = 4.5
#: Source label written into the blocks (VAMAS "analysis source label").
SOURCE_LABEL = "Al Ka mono"
#: Source to analyser geometry: X-rays at the magic angle 54.7 deg to the analyser axis,
#: where the photoelectron asymmetry parameter drops out of the intensities (Reilman,
#: Msezane & Manson, J. Electron Spectrosc. Relat. Phenom. 8 (1976) 389).
SOURCE_POLAR_DEG = 54.7
#: Analyser: fixed analyser transmission at 20 eV pass energy, the usual setting of
#: high-resolution regions (Moulder et al. 1992); gives about 0.5 eV instrumental FWHM,
#: included in the component widths below.
ANALYSER_MODE = "FAT"
PASS_ENERGY_EV = 20.0
#: Acquisition settings written to the blocks (chosen, typical of a laboratory instrument
#: such as a Kratos Axis): X-ray power 15 kV x 15 mA (W), 700 x 300 um slot aperture.
SOURCE_POWER_W = 225.0
ANALYSIS_WIDTH_UM = (700.0, 300.0)
#: Acquisition settings (chosen): channel step 0.1 eV as usual for high-resolution regions,
#: dwell per channel and per scan (s), number of scans.
STEP_EV = 0.1
DWELL_S = 0.1
N_SCANS = 20


@dataclass(frozen=True)
class Region:
    """One VAMAS block: a binding-energy window (eV, inclusive) and its labels.

    Parameters
    ----------
    name : str
        Block identifier (``"V 2p/O 1s"``, ``"C 1s"``).
    be_low, be_high : float
        Binding-energy window, eV, both ends recorded (channel step :data:`STEP_EV`).
    species, transition : str
        VAMAS species and transition labels (``"V"``, ``"2p"``).

    Examples
    --------
    >>> r = REGIONS[1]
    >>> r.name, r.n_points, r.ke_start, float(r.binding_energy()[0])
    ('C 1s', 151, 1191.6, 295.0)
    """

    name: str
    be_low: float
    be_high: float
    species: str
    transition: str

    @property
    def n_points(self) -> int:
        return round((self.be_high - self.be_low) / STEP_EV) + 1

    @property
    def ke_start(self) -> float:
        """Kinetic energy of the first channel (the highest binding energy), eV."""
        return round(HV_EV - self.be_high, 6)

    def kinetic_energy(self) -> np.ndarray:
        return np.round(self.ke_start + STEP_EV * np.arange(self.n_points), 6)

    def binding_energy(self) -> np.ndarray:
        """BE of every channel, in file (increasing kinetic energy) order."""
        return np.round(HV_EV - self.kinetic_energy(), 6)


#: V 2p and O 1s are recorded and fitted together (the V 2p1/2 line sits on the low-BE
#: side of O 1s; Biesinger et al., Appl. Surf. Sci. 257 (2010) 887); C 1s alone.
REGIONS = (
    Region("V 2p/O 1s", 510.0, 540.0, "V", "2p"),
    Region("C 1s", 280.0, 295.0, "C", "1s"),
)

# ----------------------------------------------------------------------- lines

#: GL(m) mixing of the CasaXPS product Gaussian-Lorentzian (N. Fairley, CasaXPS manual,
#: "Lineshapes"); GL(30) is the usual choice for oxide and polymer lines (Biesinger et al.
#: 2010).
GL_MIX = 30.0

#: V 2p3/2 binding energies (eV, C 1s 284.8 eV scale) by valence: V2O3 (3+), VO2 (4+),
#: V2O5 (5+): Biesinger et al., Appl. Surf. Sci. 257 (2010) 887; Silversmit, Depla, Poelman,
#: Marin & De Gryse, J. Electron Spectrosc. Relat. Phenom. 135 (2004) 167.
V2P32_BE_EV = {3: 515.7, 4: 516.3, 5: 517.2}
#: V 2p3/2 FWHM (eV): V5+ (3d0) narrowest; the open-shell V4+ (3d1) and V3+ (3d2) lines are
#: broadened by unresolved multiplet splitting (Sawatzky & Post, Phys. Rev. B 20 (1979) 1546;
#: Silversmit et al. 2004; Biesinger et al. 2010).
V2P32_FWHM_EV = {3: 1.6, 4: 1.5, 5: 1.3}
#: Spin-orbit splitting E(2p1/2) - E(2p3/2), eV: 7.3-7.6 eV in V oxides and the metal
#: (Silversmit et al. 2004; Biesinger et al. 2010; 7.4 eV for V2O5 in the Thermo Scientific
#: XPS reference table); one value for all valences.
V2P_SPLITTING_EV = 7.4
#: 2p1/2 : 2p3/2 area, the (2j + 1) degeneracy ratio 2 : 4 (Moulder et al. 1992).
V2P12_AREA_RATIO = 0.5
#: FWHM(2p1/2) / FWHM(2p3/2): the 2p1/2 hole decays also by L2-L3M45 Coster-Kronig
#: transitions, which shortens its lifetime (Fuggle & Alvarado, Phys. Rev. A 22 (1980) 1615);
#: fitted ratios for V oxides are about 1.5-2 (Silversmit et al. 2004; Biesinger et al.
#: 2010).
V2P12_FWHM_FACTOR = 1.7

#: Surface vs bulk: ex situ electrodes (glovebox, rinsing, transfer) expose an outer layer
#: more oxidised than the bulk; V(III) surfaces oxidise readily to V(IV)/V(V) (Biesinger et
#: al. 2010; Silversmit et al. 2004). Mean surface valence = bulk + SURFACE_EXCESS_VALENCE,
#: with a V5+ fraction V5_FRACTION_CHARGED * (3 - x) / 2 that grows on charge.
SURFACE_EXCESS_VALENCE = 0.10
V5_FRACTION_CHARGED = 0.10

#: O 1s components (name: true BE eV, FWHM eV). Lattice oxide/phosphate O of V-O-P near
#: 530.0-530.3 eV (O 1s of V oxides at 530.0 eV, Silversmit et al. 2004; Biesinger et al.
#: 2010); 531.5 eV hydroxyl / adsorbed / under-coordinated surface oxygen (Idriss, Surf. Sci.
#: 712 (2021) 121894, who shows that this line is not evidence of O vacancies); 533.0 eV
#: C=O of organic species and adsorbed water (Beamson & Briggs, High Resolution XPS of
#: Organic Polymers, Wiley 1992). Widths as in oxide fits at 20 eV pass energy (Biesinger et
#: al. 2010).
O1S_COMPONENTS = {
    "lattice": (530.2, 1.3),
    "hydroxyl_adsorbed": (531.5, 1.6),
    "carbonyl_water": (533.0, 1.8),
}
#: C 1s components (name: true BE eV, FWHM eV). Adventitious C-C/C-H at 284.8 eV, the
#: charge reference (Barr & Seal, J. Vac. Sci. Technol. A 13 (1995) 1239); C-O 286.3,
#: C=O 287.8, O-C=O 288.9 eV (Beamson & Briggs 1992); carbon black (graphitic sp2) 284.4 eV
#: (Estrade-Szwarckopf, Carbon 42 (2004) 1713); PVDF binder CH2 286.4 and CF2 290.8 eV,
#: equal areas (Beamson & Briggs 1992).
C1S_COMPONENTS = {
    "C-C": (284.8, 1.3),
    "C-O": (286.3, 1.4),
    "C=O": (287.8, 1.4),
    "O-C=O": (288.9, 1.4),
    "carbon_black": (284.4, 0.8),
    "PVDF_CH2": (286.4, 1.1),
    "PVDF_CF2": (290.8, 1.1),
}

# ------------------------------------------------------------------ intensities

#: Total V 2p3/2 area (counts x eV, all valences) of every electrode.
V2P32_AREA = 8000.0
#: Scofield photoionisation cross-sections at 1486.6 eV relative to C 1s (J. Electron
#: Spectrosc. Relat. Phenom. 8 (1976) 129): O 1s 2.93, V 2p3/2 6.37.
SCOFIELD_O1S = 2.93
SCOFIELD_V2P32 = 6.37
#: O per V in Na3V2(PO4)3 (12 O, 2 V per formula unit). Lattice O 1s area =
#: V 2p3/2 area * 6 * sigma(O 1s) / sigma(V 2p3/2); the kinetic energies (952 and 966 eV)
#: differ by 1.5 %, so inelastic mean free paths and analyser transmission cancel.
O_PER_V = 6.0
#: Non-lattice O 1s areas as fractions of the lattice area at open circuit and their growth
#: with the charged fraction q = (3 - x) / 2 (surface electrolyte residues / interphase grow
#: at high voltage; Goodenough & Kim, Chem. Mater. 22 (2010) 587).
O1S_EXTRA_OCV = {"hydroxyl_adsorbed": 0.24, "carbonyl_water": 0.12}
O1S_EXTRA_GROWTH = {"hydroxyl_adsorbed": 0.06, "carbonyl_water": 0.08}
#: C 1s areas (counts x eV) at open circuit and their growth with q (oxidised carbon of the
#: interphase grows on charge; Goodenough & Kim 2010). Adventitious carbon dominates as on
#: any air- or glovebox-exposed surface (Barr & Seal 1995).
C1S_AREA_OCV = {
    "C-C": 6000.0,
    "C-O": 1500.0,
    "C=O": 600.0,
    "O-C=O": 700.0,
    "carbon_black": 600.0,
    "PVDF_CH2": 1400.0,
    "PVDF_CF2": 1400.0,
}
C1S_AREA_GROWTH = {"C-O": 500.0, "C=O": 400.0, "O-C=O": 600.0}

#: Shirley background: step = k * cumulative peak area from the low-BE end (Shirley, Phys.
#: Rev. B 5 (1972) 4709). k = 0.10 /eV gives a step of about 15 % of the peak height for
#: the bulk V 2p/O 1s lines; emitters confined to the outer surface (the carbon overlayer)
#: lose less energy on the way out and have a smaller step (Tougaard, Surf. Interface Anal.
#: 11 (1988) 453), hence 0.05 /eV for C 1s.
SHIRLEY_K_PER_EV = {"V 2p/O 1s": 0.10, "C 1s": 0.05}
#: Constant level under each region (counts): the inelastic tails of lines at lower binding
#: energy and the secondary electrons (Tougaard 1988). The rise to higher binding energy is
#: the Shirley step alone, as the Shirley model assumes (Shirley 1972): a sloped term on top
#: of it is not representable by an endpoint-anchored Shirley background and would bias the
#: fitted areas of the broad V 2p lines (a fit wanting a slope needs a Tougaard or a
#: Shirley + linear model).
CONSTANT_BACKGROUND = {"V 2p/O 1s": 2400.0, "C 1s": 900.0}

#: Charge shift range, eV: a rinsed composite electrode on a metal foil, with the
#: neutraliser on, floats a few tenths of an eV positive (Baer et al., J. Vac. Sci. Technol.
#: A 38 (2020) 031204); drawn uniformly per state.
CHARGE_SHIFT_RANGE_EV = (0.2, 0.9)


# ----------------------------------------------------------------- lineshapes


def gl_product(x, center: float, fwhm: float, m: float = GL_MIX) -> np.ndarray:
    """Unit-area CasaXPS GL(m) product lineshape.

    ``exp(-4 ln2 (1 - m/100) u^2) / (1 + 4 (m/100) u^2)`` with ``u = (x - center) / fwhm``,
    divided by its integral ``fwhm * pi / sqrt(b) * erfcx(sqrt(a / b))`` (``a = 4 ln2 (1 -
    m/100)``, ``b = 4 m/100``). ``fwhm`` is the width parameter F of CasaXPS, exact for the
    pure Gaussian and Lorentzian; the product form is a little narrower in between (its true
    full width at half maximum is 0.961 F for m = 30).

    Parameters
    ----------
    x : array_like
        Energies, eV.
    center : float
        Line position, eV.
    fwhm : float
        Width parameter F, eV.
    m : float
        Lorentzian share in percent (0 Gaussian, 100 Lorentzian).

    Returns
    -------
    numpy.ndarray
        Lineshape at ``x``, 1/eV (unit area over energy).

    Examples
    --------
    >>> e = np.arange(270.0, 300.0, 0.01)
    >>> y = gl_product(e, 284.8, 1.3)
    >>> round(float(y.sum() * 0.01), 3), round(float(y.max()), 3)
    (1.0, 0.738)
    """
    u = (np.asarray(x, dtype=float) - center) / fwhm
    a = 4.0 * math.log(2.0) * (1.0 - m / 100.0)
    b = 4.0 * m / 100.0
    if b == 0.0:
        norm = math.sqrt(math.pi / a)
    elif a == 0.0:
        norm = math.pi / math.sqrt(b)
    else:
        norm = math.pi / math.sqrt(b) * float(erfcx(math.sqrt(a / b)))
    return np.exp(-a * u * u) / (1.0 + b * u * u) / (norm * fwhm)


# ------------------------------------------------------------------- chemistry


def surface_fractions(x_na: float) -> dict:
    """V3+, V4+, V5+ fractions of the electrode surface at Na content ``x_na``.

    The bulk reaction Na3V2(PO4)3 -> NaV2(PO4)3 + 2 Na is a two-phase V3+/V4+ reaction
    (Jian et al., Electrochem. Commun. 14 (2012) 86): charged fraction ``q = (3 - x) / 2``,
    bulk valence ``3 + q``. At the surface V5+ = ``V5_FRACTION_CHARGED * q`` and the mean
    valence is ``3 + q + SURFACE_EXCESS_VALENCE``, so V4+ = ``q + d - 2 f5`` and
    V3+ = ``1 - V4+ - V5+``.

    Parameters
    ----------
    x_na : float
        Na content x in Na_x V2(PO4)3 (3 pristine, 1 fully charged).

    Returns
    -------
    dict
        ``{"V3+", "V4+", "V5+"}`` fractions (sum 1).

    Raises
    ------
    ValueError
        When ``x_na`` is outside the range the model covers (a negative fraction).

    Examples
    --------
    >>> {k: round(v, 3) for k, v in surface_fractions(2.0).items()}
    {'V3+': 0.45, 'V4+': 0.5, 'V5+': 0.05}
    """
    q = (3.0 - x_na) / 2.0
    f5 = V5_FRACTION_CHARGED * q
    f4 = q + SURFACE_EXCESS_VALENCE - 2.0 * f5
    f3 = 1.0 - f4 - f5
    if min(f3, f4, f5) < -1e-9:
        raise ValueError(f"x_na = {x_na} gives negative fractions")
    return {"V3+": max(f3, 0.0), "V4+": max(f4, 0.0), "V5+": max(f5, 0.0)}


def _components(x_na: float, shift: float) -> dict:
    """Every peak of one state: region -> list of component dicts (true BE, areas)."""
    q = (3.0 - x_na) / 2.0
    fr = surface_fractions(x_na)
    vo = []
    for v, key in ((3, "V3+"), (4, "V4+"), (5, "V5+")):
        area = V2P32_AREA * fr[key]
        e32, w32 = V2P32_BE_EV[v], V2P32_FWHM_EV[v]
        vo.append({"name": f"V{v}+ 2p3/2", "be_ev": e32, "fwhm_ev": w32, "area": area})
        vo.append({"name": f"V{v}+ 2p1/2", "be_ev": round(e32 + V2P_SPLITTING_EV, 6),
                   "fwhm_ev": round(w32 * V2P12_FWHM_FACTOR, 6),
                   "area": area * V2P12_AREA_RATIO})
    lattice = V2P32_AREA * O_PER_V * SCOFIELD_O1S / SCOFIELD_V2P32
    o_areas = {"lattice": lattice}
    for name in ("hydroxyl_adsorbed", "carbonyl_water"):
        o_areas[name] = lattice * (O1S_EXTRA_OCV[name] + O1S_EXTRA_GROWTH[name] * q)
    for name, (be, w) in O1S_COMPONENTS.items():
        vo.append({"name": f"O 1s {name}", "be_ev": be, "fwhm_ev": w, "area": o_areas[name]})
    c = []
    for name, (be, w) in C1S_COMPONENTS.items():
        area = C1S_AREA_OCV[name] + C1S_AREA_GROWTH.get(name, 0.0) * q
        c.append({"name": f"C 1s {name}", "be_ev": be, "fwhm_ev": w, "area": area})
    out = {}
    for region, comps in (("V 2p/O 1s", vo), ("C 1s", c)):
        out[region] = [
            {**cp, "be_apparent_ev": round(cp["be_ev"] + shift, 6), "area": round(cp["area"], 3)}
            for cp in comps
        ]
    return out


def _expected_counts(region: Region, comps: list) -> np.ndarray:
    """Noise-free counts on the channels of ``region`` (file order, increasing KE)."""
    be = region.binding_energy()
    order = np.argsort(be)  # increasing BE
    be_up = be[order]
    peaks = np.zeros_like(be_up)
    for cp in comps:
        peaks += cp["area"] * gl_product(be_up, cp["be_apparent_ev"], cp["fwhm_ev"])
    cum = np.zeros_like(peaks)
    cum[1:] = np.cumsum(0.5 * (peaks[1:] + peaks[:-1]) * np.diff(be_up))
    c0 = CONSTANT_BACKGROUND[region.name]
    total_up = c0 + SHIRLEY_K_PER_EV[region.name] * cum + peaks
    total = np.empty_like(total_up)
    total[order] = total_up
    return total
