"""Simulated ex situ XPS of a Na3V2(PO4)3 cathode at several states of charge.

The scenario: Na | Na3V2(PO4)3 ("NVP") cells are charged to several Na contents ``x``
(open circuit, then steps to NaV2(PO4)3), disassembled in a glovebox and the rinsed
cathodes are moved under inert gas into a monochromatic Al Ka spectrometer. Two regions are
recorded per electrode: V 2p together with O 1s in one block (510-540 eV binding energy:
the V 2p1/2 line lies under the low-BE tail of O 1s, so both are fitted together under one
background), and C 1s (280-295 eV).

Model of the counts of one region (binding energy ``E`` on the instrument scale):

* peaks: a sum of CasaXPS GL(30) product lineshapes
  ``exp(-4 ln2 (1 - m) u^2) / (1 + 4 m u^2)``, ``u = (E - E_i) / FWHM_i``, ``m = 0.3``,
  normalised to their area;
* V 2p: one 2p3/2 + 2p1/2 doublet per valence (V3+, V4+, V5+) with a fixed spin-orbit
  splitting, 2p1/2 : 2p3/2 area 1 : 2 and the 2p1/2 broadened by Coster-Kronig decay;
  the valence fractions are those of the electrode *surface*, slightly more oxidised than
  the bulk (``3 + (3 - x) / 2``), with a V5+ fraction growing on charge;
* O 1s: lattice oxygen, a 531.5 eV component (hydroxyl, adsorbed and under-coordinated
  surface oxygen) and a 533 eV component (C=O / adsorbed water); C 1s: adventitious carbon
  (the charge reference), its oxidised forms, carbon black and the PVDF binder;
* every line of a state is moved by the same charge shift (the electrode floats a little
  positive under the X-ray beam and the neutraliser); the shift is the truth to recover;
* background: Shirley step ``k * (cumulative peak area from the low-BE end)`` on a constant
  level (the counts below the lowest-BE line); Poisson counting noise. No sloped term: the
  Shirley model of a fit (endpoint-anchored, proportional to the peak area) describes it
  exactly, so the recovered fractions test the peak model, not a background mismatch.

The files are VAMAS (ISO 14976) with a kinetic-energy abscissa, as written by common
instruments: Fermi-level referenced, ``BE = hv - KE`` with ``hv = 1486.6 eV``; the analyser
work function ``phi = 4.5 eV`` is recorded in every block, as Kratos and SPECS exports do, but
is already accounted for in the kinetic-energy scale. Everything is deterministic for a given seed: no
wall-clock time, the charge shift and the noise of state ``i`` from
``numpy.random.default_rng([seed, 1, i])``.

:func:`make_xps_series` writes the VAMAS files, ``truth.json`` and a README.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from scipy.special import erfcx

from .xas import cell_voltage_v

__all__ = [
    "C1S_COMPONENTS",
    "DEFAULT_N_STATES",
    "DEFAULT_SEED",
    "GENERATOR_VERSION",
    "HV_EV",
    "O1S_COMPONENTS",
    "REGIONS",
    "V2P32_BE_EV",
    "WORK_FUNCTION_EV",
    "Region",
    "gl_product",
    "make_xps_series",
    "surface_fractions",
]

GENERATOR_VERSION = "1.1.0"
DEFAULT_SEED = 20250314
DEFAULT_N_STATES = 5

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
    """One VAMAS block: a binding-energy window (eV, inclusive) and its labels."""

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

#: Experiment clock: electrodes measured one after the other on one day, 15 min to pump
#: down and position each (ex situ transfer).
MEASUREMENT_START = datetime(2025, 3, 20, 9, 0, 0)
SAMPLE_CHANGE_S = 900.0
GMT_OFFSET_H = 1


# ----------------------------------------------------------------- lineshapes


def gl_product(x, center: float, fwhm: float, m: float = GL_MIX) -> np.ndarray:
    """Unit-area CasaXPS GL(m) product lineshape.

    ``exp(-4 ln2 (1 - m/100) u^2) / (1 + 4 (m/100) u^2)`` with ``u = (x - center) / fwhm``,
    divided by its integral ``fwhm * pi / sqrt(b) * erfcx(sqrt(a / b))`` (``a = 4 ln2 (1 -
    m/100)``, ``b = 4 m/100``). ``fwhm`` is the width parameter F of CasaXPS, exact for the
    pure Gaussian and Lorentzian; the product form is a little narrower in between (its true
    full width at half maximum is 0.961 F for m = 30).
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


# ------------------------------------------------------------------------ VAMAS


def _fmt(v: float) -> str:
    """Compact decimal for header numbers (no exponent, no trailing zeros)."""
    s = f"{float(v):.6f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _vamas_text(*, experiment_id: str, comments: list, blocks: list) -> str:
    """VAMAS (ISO 14976) text: NORM experiment, REGULAR scans, one corresponding variable.

    ``blocks``: dicts with ``region`` (:class:`Region`), ``sample``, ``time`` (datetime),
    ``comments`` (list of str), ``voltage`` (the one experimental variable) and ``counts``
    (int array in increasing kinetic-energy order).
    """
    L = [
        "VAMAS Surface Chemical Analysis Standard Data Transfer Format 1988 May 4",
        "xpipe simulated laboratory",          # institution identifier
        "simulated monochromatic Al Ka XPS",   # instrument model identifier
        "xpipe.synth.xps",                     # operator identifier
        experiment_id,                         # experiment identifier
        str(len(comments)),                    # number of lines in comment
        *comments,
        "NORM",                                # experiment mode
        "REGULAR",                             # scan mode
        str(len(blocks)),                      # number of spectral regions
        "1",                                   # number of experimental variables
        "Cell voltage", "V",                   # experimental variable label, units
        "0",                                   # entries in parameter inclusion/exclusion list
        "0",                                   # number of manually entered items in block
        "0",                                   # number of future upgrade experiment entries
        "0",                                   # number of future upgrade block entries
        str(len(blocks)),                      # number of blocks
    ]
    for b in blocks:
        r: Region = b["region"]
        t: datetime = b["time"]
        counts = np.asarray(b["counts"], dtype=np.int64)
        L += [
            r.name,                            # block identifier
            b["sample"],                       # sample identifier
            str(t.year), str(t.month), str(t.day), str(t.hour), str(t.minute), str(t.second),
            str(GMT_OFFSET_H),                 # hours in advance of GMT
            str(len(b["comments"])),           # lines in block comment
            *b["comments"],
            "XPS",                             # technique
            _fmt(b["voltage"]),                # value of the experimental variable
            SOURCE_LABEL,                      # analysis source label
            _fmt(HV_EV),                       # analysis source characteristic energy
            _fmt(SOURCE_POWER_W),              # analysis source strength
            _fmt(ANALYSIS_WIDTH_UM[0]),        # analysis source beam width x
            _fmt(ANALYSIS_WIDTH_UM[1]),        # analysis source beam width y
            _fmt(SOURCE_POLAR_DEG),            # analysis source polar angle of incidence
            "0",                               # analysis source azimuth
            ANALYSER_MODE,                     # analyser mode
            _fmt(PASS_ENERGY_EV),              # analyser pass energy
            "1",                               # magnification of analyser transfer lens
            _fmt(WORK_FUNCTION_EV),            # analyser work function
            "0",                               # target bias
            _fmt(ANALYSIS_WIDTH_UM[0]),        # analysis width x
            _fmt(ANALYSIS_WIDTH_UM[1]),        # analysis width y
            "0",                               # analyser axis take off polar angle
            "0",                               # analyser axis take off azimuth
            r.species,                         # species label
            r.transition,                      # transition or charge state label
            "-1",                              # charge of detected particle
            "Kinetic Energy",                  # abscissa label
            "eV",                              # abscissa units
            _fmt(r.ke_start),                  # abscissa start
            _fmt(STEP_EV),                     # abscissa increment
            "1",                               # number of corresponding variables
            "counts", "d",                     # corresponding variable label, units
            "pulse counting",                  # signal mode
            _fmt(DWELL_S),                     # signal collection time (per channel, per scan)
            str(N_SCANS),                      # number of scans to compile this block
            "0",                               # signal time correction
            "0",                               # sample normal polar angle of tilt
            "0",                               # sample normal tilt azimuth
            "0",                               # sample rotation angle
            "0",                               # number of additional numerical parameters
            str(counts.size),                  # number of ordinate values
            str(int(counts.min())), str(int(counts.max())),  # min, max of the variable
            *(str(int(c)) for c in counts.tolist()),
        ]
    L.append("end of experiment")
    return "\r\n".join(L) + "\r\n"


# ------------------------------------------------------------------------- output


def _round(v, nd=6):
    return float(round(float(v), nd))


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


README_TEMPLATE = """\
# nvp_xps: simulated ex situ XPS of a Na3V2(PO4)3 cathode on charge

Simulated (not measured) XPS data for the XPS demo and tests: {n_states} ex situ Na3V2(PO4)3
electrodes from open circuit to NaV2(PO4)3, one VAMAS file each, with the ground truth.

## Contents

| file | what |
| --- | --- |
| `nvp_xps_0.vms` ... `nvp_xps_{last}.vms` | electrodes at x in Na_x V2(PO4)3 = {x_list} |
| `truth.json` | ground truth: per state x_na, voltage, charge shift, V3+/V4+/V5+ surface fractions, mean surface valence, O 1s and C 1s components; model constants and their `sources` |

Each file is VAMAS (ISO 14976; NORM experiment mode, REGULAR scan mode, CRLF line ends) with
two blocks:

| block | species / transition | binding energy | points |
| --- | --- | --- | --- |
| `V 2p/O 1s` | V / 2p | 510-540 eV | 301 |
| `C 1s` | C / 1s | 280-295 eV | 151 |

The abscissa is **kinetic energy** (`Kinetic Energy`, eV, start and 0.1 eV increment), as
instruments store it. Convert with `BE = hv - KE`: source energy hv = {hv} eV
(monochromatic Al Ka, `Al Ka mono`). The kinetic energies are Fermi-level referenced, as in
Kratos and SPECS exports: the analyser work function phi = {phi} eV written in every block is
already accounted for and must not be subtracted again. The
single corresponding variable is `counts` (pulse counting, summed over
{n_scans} scans of {dwell} s per channel; FAT, pass energy {pe} eV). One experimental variable,
`Cell voltage` (V vs Na+/Na), holds the rest voltage before disassembly.

## Experiment and model

* Cells charged from open circuit ({ocv:.3f} V) to x = {x_last:.1f} on the V3+/V4+ plateau
  (about 3.40 V vs Na+/Na; same voltage convention as `nvp_xanes`), disassembled and
  transferred without air; electrodes measured one after another.
* Charge shift: every line of a state is shifted by `charge_shift_ev` (uniform in
  {cs_lo}-{cs_hi} eV), so the binding energy on the file scale is the true value +
  `charge_shift_ev`. Referencing adventitious C-C to 284.8 eV (Barr & Seal 1995) recovers it.
* Lines: CasaXPS GL(30) product lineshapes, unit area; the widths below are the GL width
  parameter F (true full width at half maximum 0.961 F).
  V 2p3/2 at {v3} (V3+), {v4} (V4+), {v5} (V5+) eV (Biesinger et al. 2010; Silversmit et
  al. 2004), width {w3} / {w4} / {w5} eV; 2p1/2 at +{split} eV, area 1/2 of 2p3/2, width x
  {ck} (Coster-Kronig broadening). O 1s: lattice {o_lat} eV, hydroxyl/adsorbed/surface O
  {o_oh} eV, C=O and adsorbed water {o_h2o} eV. C 1s: C-C 284.8, C-O 286.3, C=O 287.8,
  O-C=O 288.9 eV, carbon black 284.4 eV, PVDF CH2 286.4 and CF2 290.8 eV.
* Surface V valence: the bulk reaction is two-phase V3+ -> V4+, bulk valence 3 + (3 - x)/2;
  the surface is {dval} more oxidised, with a V5+ fraction {f5max} (3 - x)/2 growing on
  charge. The V3+/V4+/V5+ fractions are in `truth.json` (`fractions`).
* Intensities: V 2p3/2 area {v_area:.0f} counts eV for every electrode; lattice O 1s from
  6 O per V and Scofield cross-sections (2.93 vs 6.37); the other O 1s and C 1s components
  grow on charge (interphase).
* Background: Shirley step k x (cumulative peak area from the low-BE end), k = {k_vo} /eV
  (V 2p/O 1s) and {k_c} /eV (C 1s), on a constant level ({c_vo:.0f} and {c_c:.0f} counts; no
  sloped term, so a Shirley background describes it); Poisson noise (seed {seed}).

Regenerate (byte-identical for the same seed and numpy version):

```
python -c "from xpipe.synth.xps import make_xps_series; make_xps_series('example_data/nvp_xps', seed={seed}, n_states={n_states})"
```
"""


def make_xps_series(out_dir, *, seed: int = DEFAULT_SEED,
                    n_states: int = DEFAULT_N_STATES) -> dict:
    """Write the simulated ex situ XPS series into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Output directory (created; files of the same names are overwritten).
    seed : int
        Seed of the charge shifts and the noise: state ``i`` uses
        ``numpy.random.default_rng([seed, 1, i])``, whose first draw is the charge shift.
    n_states : int
        Number of electrodes, x in Na_x V2(PO4)3 evenly from 3.0 (open circuit) to 1.0.

    Returns
    -------
    dict
        The content written to ``truth.json``.
    """
    if n_states < 2:
        raise ValueError("n_states must be >= 2 (open circuit and the charged state)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x_values = np.linspace(3.0, 1.0, n_states)
    region_s = {r.name: r.n_points * DWELL_S * N_SCANS for r in REGIONS}
    comments = [
        "Simulated data (xpipe.synth.xps), not a measurement.",
        f"Abscissa is kinetic energy, Fermi-level referenced: BE = {_fmt(HV_EV)} - KE eV.",
        "Ex situ Na3V2(PO4)3 electrode; ground truth in truth.json.",
    ]
    states = []
    t = MEASUREMENT_START
    for i, x in enumerate(x_values.tolist()):
        x = _round(x, 6)
        q = (3.0 - x) / 2.0
        rng = np.random.default_rng([seed, 1, i])
        shift = round(float(rng.uniform(*CHARGE_SHIFT_RANGE_EV)), 3)
        voltage = round(cell_voltage_v(x, ocv=(i == 0)), 4)
        state = "ocv" if i == 0 else "charge"
        comps = _components(x, shift)
        blocks = []
        block_times = []
        for r in REGIONS:
            expected = _expected_counts(r, comps[r.name])
            counts = rng.poisson(expected).astype(np.int64)
            blocks.append({
                "region": r,
                "sample": f"Na{x:.2f}V2(PO4)3 electrode ({state})",
                "time": t,
                "comments": [f"Region: {r.name}",
                             f"Electrode {i}, x in NaxV2(PO4)3 = {x:.4f}, state {state}",
                             f"Rest voltage before disassembly {voltage:.4f} V vs Na+/Na"],
                "voltage": voltage,
                "counts": counts,
            })
            block_times.append(_iso(t))
            t = t + timedelta(seconds=region_s[r.name])
        fname = f"nvp_xps_{i}.vms"
        (out / fname).write_bytes(_vamas_text(
            experiment_id=f"nvp_xps_{i}", comments=comments, blocks=blocks).encode("ascii"))
        t = t + timedelta(seconds=SAMPLE_CHANGE_S)

        fr = surface_fractions(x)
        o_comps = [c for c in comps["V 2p/O 1s"] if c["name"].startswith("O 1s")]
        o_total = sum(c["area"] for c in o_comps)
        c_total = sum(c["area"] for c in comps["C 1s"])
        states.append({
            "file": fname,
            "index": i,
            "state": state,
            "x_na": x,
            "voltage_v": voltage,
            "charge_shift_ev": shift,
            "bulk_valence": _round(3.0 + q),
            "fractions": {k: _round(v) for k, v in fr.items()},
            "mean_surface_valence": _round(3 * fr["V3+"] + 4 * fr["V4+"] + 5 * fr["V5+"]),
            "o1s_fractions": {c["name"][5:]: _round(c["area"] / o_total) for c in o_comps},
            "c1s_fractions": {c["name"][5:]: _round(c["area"] / c_total)
                              for c in comps["C 1s"]},
            "block_start_times": dict(zip([r.name for r in REGIONS], block_times)),
            "components": comps,
        })

    regions = {
        r.name: {
            "block_identifier": r.name,
            "species": r.species,
            "transition": r.transition,
            "be_range_ev": [r.be_low, r.be_high],
            "ke_start_ev": r.ke_start,
            "ke_step_ev": STEP_EV,
            "n_points": r.n_points,
            "shirley_k_per_ev": SHIRLEY_K_PER_EV[r.name],
            "constant_background_counts": CONSTANT_BACKGROUND[r.name],
        }
        for r in REGIONS
    }
    truth = {
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "generator": {
            "name": "xpipe.synth.xps",
            "version": GENERATOR_VERSION,
            "seed": int(seed),
            "n_states": int(n_states),
            "noise": ("Poisson counts; state i: numpy.random.default_rng([seed, 1, i]); first "
                      "draw is the charge shift, then the counts of each block in file order"),
        },
        "technique": "XPS",
        "format": "VAMAS ISO 14976, NORM, REGULAR, kinetic-energy abscissa, CRLF",
        "energy_convention": {
            "binding_energy": "BE = source_energy_ev - KE",
            "true_binding_energy": "BE - charge_shift_ev",
            "source_energy_ev": HV_EV,
            "work_function_ev": WORK_FUNCTION_EV,
            "charge_reference": "adventitious C-C at 284.8 eV",
            "kinetic_energy_reference": ("Fermi level: KE = hv - BE; the work function is "
                                         "recorded but already accounted for"),
        },
        "instrument": {
            "source": SOURCE_LABEL,
            "source_power_w": SOURCE_POWER_W,
            "source_polar_angle_deg": SOURCE_POLAR_DEG,
            "analyser_mode": ANALYSER_MODE,
            "pass_energy_ev": PASS_ENERGY_EV,
            "dwell_s": DWELL_S,
            "n_scans": N_SCANS,
            "counts": "summed over the scans",
        },
        "regions": regions,
        "model": {
            "lineshape": f"GL({GL_MIX:g}) CasaXPS product form, unit area",
            "gl_formula": ("exp(-4 ln2 (1 - m/100) u^2) / (1 + 4 (m/100) u^2), "
                           "u = (E - E0) / FWHM"),
            "gl_m": GL_MIX,
            "fwhm_meaning": ("fwhm_ev is the GL width parameter F; the true full width at "
                             "half maximum of GL(30) is 0.961 F"),
            "v2p32_be_ev": {f"V{k}+": v for k, v in V2P32_BE_EV.items()},
            "v2p32_fwhm_ev": {f"V{k}+": v for k, v in V2P32_FWHM_EV.items()},
            "v2p_spin_orbit_splitting_ev": V2P_SPLITTING_EV,
            "v2p12_to_v2p32_area_ratio": V2P12_AREA_RATIO,
            "v2p12_fwhm_factor": V2P12_FWHM_FACTOR,
            "v2p32_total_area": V2P32_AREA,
            "surface_excess_valence": SURFACE_EXCESS_VALENCE,
            "v5_fraction_charged": V5_FRACTION_CHARGED,
            "surface_fractions": ("q = (3 - x)/2; V5+ = v5_fraction_charged q; V4+ = q + "
                                  "surface_excess_valence - 2 V5+; V3+ = 1 - V4+ - V5+"),
            "o1s_components_be_fwhm_ev": {k: list(v) for k, v in O1S_COMPONENTS.items()},
            "c1s_components_be_fwhm_ev": {k: list(v) for k, v in C1S_COMPONENTS.items()},
            "scofield_cross_sections": {"O 1s": SCOFIELD_O1S, "V 2p3/2": SCOFIELD_V2P32},
            "o_per_v": O_PER_V,
            "o1s_extra_fraction_of_lattice": {"ocv": O1S_EXTRA_OCV, "growth_per_q": O1S_EXTRA_GROWTH},
            "c1s_area": {"ocv": C1S_AREA_OCV, "growth_per_q": C1S_AREA_GROWTH},
            "background": "c0 + k * cumulative peak area from BE_low (Shirley step on a constant)",
            "charge_shift_range_ev": list(CHARGE_SHIFT_RANGE_EV),
        },
        "sources": {
            "source_energy": "Moulder et al., Handbook of X-ray Photoelectron Spectroscopy, Perkin-Elmer 1992",
            "work_function_calibration": "ISO 15472; Seah, Surf. Interface Anal. 31 (2001) 721",
            "magic_angle": "Reilman, Msezane & Manson, J. Electron Spectrosc. Relat. Phenom. 8 (1976) 389",
            "gl_lineshape": "N. Fairley, CasaXPS manual (GL(m) product lineshape)",
            "v2p32_positions": "Biesinger et al., Appl. Surf. Sci. 257 (2010) 887; Silversmit et al., J. Electron Spectrosc. Relat. Phenom. 135 (2004) 167",
            "v2p32_widths": "Sawatzky & Post, Phys. Rev. B 20 (1979) 1546 (multiplet broadening of V3+/V4+); Silversmit et al. 2004; Biesinger et al. 2010",
            "v2p_splitting": "7.3-7.6 eV in V oxides and metal: Silversmit et al. 2004; Biesinger et al. 2010",
            "v2p_area_ratio": "(2j+1) degeneracy 2:4; Moulder et al. 1992",
            "v2p12_coster_kronig": "Fuggle & Alvarado, Phys. Rev. A 22 (1980) 1615",
            "surface_oxidation": "Biesinger et al. 2010; Silversmit et al. 2004 (V(III) surfaces oxidise)",
            "nvp_two_phase": "Jian et al., Electrochem. Commun. 14 (2012) 86",
            "o1s_lattice": "Silversmit et al. 2004; Biesinger et al. 2010",
            "o1s_531": "Idriss, Surf. Sci. 712 (2021) 121894 (hydroxyl/adsorbed O, not vacancies)",
            "o1s_533_and_c1s_organic": "Beamson & Briggs, High Resolution XPS of Organic Polymers, Wiley 1992",
            "c1s_reference": "Barr & Seal, J. Vac. Sci. Technol. A 13 (1995) 1239",
            "carbon_black": "Estrade-Szwarckopf, Carbon 42 (2004) 1713",
            "pvdf": "Beamson & Briggs 1992",
            "scofield": "Scofield, J. Electron Spectrosc. Relat. Phenom. 8 (1976) 129",
            "interphase_growth": "Goodenough & Kim, Chem. Mater. 22 (2010) 587",
            "shirley": "Shirley, Phys. Rev. B 5 (1972) 4709",
            "surface_emitter_background": "Tougaard, Surf. Interface Anal. 11 (1988) 453",
            "charging": "Baer et al., J. Vac. Sci. Technol. A 38 (2020) 031204",
        },
        "states": states,
    }
    truth = json.loads(json.dumps(truth))  # tuples -> lists, plain JSON types
    with open(out / "truth.json", "w") as fh:
        json.dump(truth, fh, indent=1)
        fh.write("\n")

    (out / "README.md").write_text(README_TEMPLATE.format(
        n_states=n_states, last=n_states - 1,
        x_list=", ".join(f"{v:.2f}" for v in x_values), hv=_fmt(HV_EV),
        phi=_fmt(WORK_FUNCTION_EV), n_scans=N_SCANS, dwell=_fmt(DWELL_S),
        pe=_fmt(PASS_ENERGY_EV), ocv=states[0]["voltage_v"], x_last=float(x_values[-1]),
        cs_lo=CHARGE_SHIFT_RANGE_EV[0], cs_hi=CHARGE_SHIFT_RANGE_EV[1],
        v3=V2P32_BE_EV[3], v4=V2P32_BE_EV[4], v5=V2P32_BE_EV[5],
        w3=V2P32_FWHM_EV[3], w4=V2P32_FWHM_EV[4], w5=V2P32_FWHM_EV[5],
        split=V2P_SPLITTING_EV, ck=V2P12_FWHM_FACTOR,
        o_lat=O1S_COMPONENTS["lattice"][0], o_oh=O1S_COMPONENTS["hydroxyl_adsorbed"][0],
        o_h2o=O1S_COMPONENTS["carbonyl_water"][0], dval=f"+{SURFACE_EXCESS_VALENCE:g}",
        f5max=f"{V5_FRACTION_CHARGED:g}", v_area=V2P32_AREA,
        k_vo=SHIRLEY_K_PER_EV["V 2p/O 1s"], k_c=SHIRLEY_K_PER_EV["C 1s"],
        c_vo=CONSTANT_BACKGROUND["V 2p/O 1s"], c_c=CONSTANT_BACKGROUND["C 1s"], seed=seed,
    ))
    return truth
