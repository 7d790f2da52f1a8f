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

The model (instrument, regions, lines, expected counts) lives in
:mod:`xpipe.synth.xps_model`, the file format in :mod:`xpipe.synth.xps_vamas`; this module
holds :func:`make_xps_series`, which writes the VAMAS files, ``truth.json`` and a README.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from .xas import cell_voltage_v
from .xps_model import (
    ANALYSER_MODE,
    C1S_AREA_GROWTH,
    C1S_AREA_OCV,
    C1S_COMPONENTS,
    CHARGE_SHIFT_RANGE_EV,
    CONSTANT_BACKGROUND,
    DWELL_S,
    GL_MIX,
    HV_EV,
    N_SCANS,
    O1S_COMPONENTS,
    O1S_EXTRA_GROWTH,
    O1S_EXTRA_OCV,
    O_PER_V,
    PASS_ENERGY_EV,
    REGIONS,
    SCOFIELD_O1S,
    SCOFIELD_V2P32,
    SHIRLEY_K_PER_EV,
    SOURCE_LABEL,
    SOURCE_POLAR_DEG,
    SOURCE_POWER_W,
    STEP_EV,
    SURFACE_EXCESS_VALENCE,
    V2P12_AREA_RATIO,
    V2P12_FWHM_FACTOR,
    V2P32_AREA,
    V2P32_BE_EV,
    V2P32_FWHM_EV,
    V2P_SPLITTING_EV,
    V5_FRACTION_CHARGED,
    WORK_FUNCTION_EV,
    Region,
    _components,
    _expected_counts,
    gl_product,
    surface_fractions,
)
from .xps_model import ANALYSIS_WIDTH_UM as ANALYSIS_WIDTH_UM
from .xps_vamas import GMT_OFFSET_H as GMT_OFFSET_H
from .xps_vamas import _fmt, _vamas_text

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

#: Experiment clock: electrodes measured one after the other on one day, 15 min to pump
#: down and position each (ex situ transfer).
MEASUREMENT_START = datetime(2025, 3, 20, 9, 0, 0)
SAMPLE_CHANGE_S = 900.0

_COMMENTS = (
    "Simulated data (xpipe.synth.xps), not a measurement.",
    f"Abscissa is kinetic energy, Fermi-level referenced: BE = {_fmt(HV_EV)} - KE eV.",
    "Ex situ Na3V2(PO4)3 electrode; ground truth in truth.json.",
)

#: The source of every model constant, written to ``truth.json``.
_SOURCES = {
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
}


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


# ------------------------------------------------------------------------- series


def _write_state(out: Path, seed: int, i: int, x: float, t: datetime) -> tuple[dict, datetime]:
    """Write electrode ``i`` at Na content ``x`` from ``t`` on; its truth entry, the next start."""
    rng = np.random.default_rng([seed, 1, i])
    shift = round(float(rng.uniform(*CHARGE_SHIFT_RANGE_EV)), 3)
    voltage = round(cell_voltage_v(x, ocv=(i == 0)), 4)
    state = "ocv" if i == 0 else "charge"
    comps = _components(x, shift)
    blocks = []
    block_times = []
    for r in REGIONS:
        counts = rng.poisson(_expected_counts(r, comps[r.name])).astype(np.int64)
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
        t = t + timedelta(seconds=r.n_points * DWELL_S * N_SCANS)
    fname = f"nvp_xps_{i}.vms"
    (out / fname).write_bytes(_vamas_text(
        experiment_id=f"nvp_xps_{i}", comments=list(_COMMENTS), blocks=blocks).encode("ascii"))
    entry = {"file": fname, "index": i, "state": state, "x_na": x, "voltage_v": voltage,
             "charge_shift_ev": shift}
    entry.update(_state_truth(x, comps, block_times))
    return entry, t + timedelta(seconds=SAMPLE_CHANGE_S)


def _state_truth(x: float, comps: dict, block_times: list) -> dict:
    """Valences, component fractions, block times and components of one electrode."""
    q = (3.0 - x) / 2.0
    fr = surface_fractions(x)
    o_comps = [c for c in comps["V 2p/O 1s"] if c["name"].startswith("O 1s")]
    o_total = sum(c["area"] for c in o_comps)
    c_total = sum(c["area"] for c in comps["C 1s"])
    return {
        "bulk_valence": _round(3.0 + q),
        "fractions": {k: _round(v) for k, v in fr.items()},
        "mean_surface_valence": _round(3 * fr["V3+"] + 4 * fr["V4+"] + 5 * fr["V5+"]),
        "o1s_fractions": {c["name"][5:]: _round(c["area"] / o_total) for c in o_comps},
        "c1s_fractions": {c["name"][5:]: _round(c["area"] / c_total) for c in comps["C 1s"]},
        "block_start_times": dict(zip([r.name for r in REGIONS], block_times)),
        "components": comps,
    }


# -------------------------------------------------------------------------- truth


def _truth(seed: int, n_states: int, states: list) -> dict:
    """The content of ``truth.json`` (JSON types: tuples become lists)."""
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
        "regions": {r.name: _truth_region(r) for r in REGIONS},
        "model": _truth_model(),
        "sources": _SOURCES,
        "states": states,
    }
    return json.loads(json.dumps(truth))  # tuples -> lists, plain JSON types


def _truth_region(r: Region) -> dict:
    return {
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


def _truth_model() -> dict:
    """The ``model`` section of ``truth.json``: every constant of :mod:`.xps_model`."""
    return {
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
    }


def _readme_text(n_states: int, x_values: np.ndarray, states: list, seed: int) -> str:
    return README_TEMPLATE.format(
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
    )


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
        The content written to ``truth.json`` (energies in eV, voltages in V vs Na+/Na).

    Raises
    ------
    ValueError
        When ``n_states`` is below 2.

    Examples
    --------
    >>> import tempfile
    >>> truth = make_xps_series(tempfile.mkdtemp(), n_states=2)
    >>> [(s["file"], s["charge_shift_ev"], s["fractions"]["V4+"]) for s in truth["states"]]
    [('nvp_xps_0.vms', 0.689, 0.1), ('nvp_xps_1.vms', 0.672, 0.9)]
    """
    if n_states < 2:
        raise ValueError("n_states must be >= 2 (open circuit and the charged state)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x_values = np.linspace(3.0, 1.0, n_states)
    states = []
    t = MEASUREMENT_START
    for i, x in enumerate(x_values.tolist()):
        entry, t = _write_state(out, seed, i, _round(x, 6), t)
        states.append(entry)
    truth = _truth(seed, n_states, states)
    with open(out / "truth.json", "w") as fh:
        json.dump(truth, fh, indent=1)
        fh.write("\n")
    (out / "README.md").write_text(_readme_text(n_states, x_values, states, seed))
    return truth
