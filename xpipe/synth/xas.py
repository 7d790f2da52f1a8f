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

The normalised spectra live in :mod:`xpipe.synth.xas_spectra`, the beam path (samples,
foil, ion chambers, counts) in :mod:`xpipe.synth.xas_beamline`; this module holds the
experiment (clock, cell voltage) and :func:`make_xanes_series`, which writes the XDI files,
``truth.json`` and a README.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from .xas_beamline import (
    BEAM_NOISE_REL,
    CHAMBER_LENGTH_CM,
    FLUX_PER_S,
    SI111_D_SPACING_A,
    STANDARDS,
    CellModel,
    _Absorber,
    _CrossSections,
    _electrode_absorber,
    _simulate_counts,
    _standard_absorber,
)
from .xas_beamline import N2_DENSITY_G_CM3 as N2_DENSITY_G_CM3
from .xas_beamline import STANDARD_TAPE_G_CM2 as STANDARD_TAPE_G_CM2
from .xas_spectra import (
    _BACKSCATTER,
    COMPOUNDS,
    EDGE_HALF_HEIGHT_EV,
    ETOK,
    EXAFS_END_EV,
    K_STEP,
    MEAN_FREE_PATH_A,
    MONO_RESOLUTION_FWHM_EV,
    NAVP,
    NVP,
    PRE_EDGE_START_EV,
    PRE_EDGE_STEP_EV,
    S0_SQUARED,
    V_FOIL_EDGE_EV,
    V_K_CORE_HOLE_FWHM_EV,
    XANES_END_EV,
    XANES_START_EV,
    XANES_STEP_EV,
    Compound,
    FoilModel,
    _compound_norm,
    _derivative_max_ev,
    _fine_grid,
    _foil_norm,
    _solve_center,
    _solve_foil_center,
    dwell_times_s,
    energy_grid,
    half_height_edge_ev,
)
from .xas_spectra import V2O3 as V2O3
from .xas_spectra import V2O5 as V2O5
from .xas_spectra import VO2 as VO2

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

#: Experiment clock: standards first, then the cell.
STANDARDS_START = datetime(2025, 3, 15, 8, 0, 0)
SERIES_START = datetime(2025, 3, 15, 11, 0, 0)
SAMPLE_CHANGE_S = 300.0
MOTOR_OVERHEAD_S = 0.25
CHARGE_C_RATE = 0.2  # C/5 for 2 Na (117.6 mAh/g)
REST_BEFORE_SCAN_S = 600.0

_COMMENTS = (
    "Simulated data (xpipe.synth.xas), not a measurement.",
    "mu(sample) = ln(i0/itrans); mu(V foil) = ln(itrans/irefer).",
    "energy is the nominal mono energy; true energy = energy - mono offset (truth.json).",
)


# ----------------------------------------------------------------- electrochemistry


def cell_voltage_v(x_na: float, ocv: bool = False) -> float:
    """Cell voltage (V vs Na+/Na) at Na content x, read after the rest before each scan.

    Pristine open circuit 3.162 V; on the V3+/V4+ two-phase plateau 3.392 V rising by
    18 mV over the plateau, and an upturn at x -> 1 after the cut-off (rest voltage of
    NaV2(PO4)3 3.445 V).

    Parameters
    ----------
    x_na : float
        Na content x in Na_x V2(PO4)3 (3 pristine, 1 fully charged).
    ocv : bool
        True for the pristine cell at open circuit (before any current).

    Returns
    -------
    float
        Rest voltage, V vs Na+/Na.

    Examples
    --------
    >>> cell_voltage_v(3.0, ocv=True), round(cell_voltage_v(2.0), 4), round(cell_voltage_v(1.0), 4)
    (3.162, 3.401, 3.445)
    """
    if ocv:
        return 3.162
    return 3.392 + 0.018 * (3.0 - x_na) / 2.0 + 0.035 * math.exp(-(x_na - 1.0) / 0.06)


# ------------------------------------------------------------------------- writing


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def _round(v, nd=6):
    return float(round(float(v), nd))


def _xdi_text(fields: list, comments, energy, i0, it, iref) -> str:
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


# ------------------------------------------------------------------------- series


@dataclass
class _SeriesModel:
    """What every scan of a series shares: energy grids, cross-sections, normalised spectra."""

    xs: _CrossSections
    fine: np.ndarray  # model grid, eV
    energy: np.ndarray  # nominal energies of the step scan, eV
    dwell: np.ndarray  # s per point
    scan_s: float  # duration of one scan, s
    centers: dict  # compound name -> arctan centre, eV
    norms: dict  # compound name -> normalised spectrum on ``fine``
    foil: FoilModel
    foil_center: float
    foil_norm: np.ndarray
    m_foil: float  # g/cm2 of V in the foil

    def foil_mu(self, e_true: np.ndarray) -> np.ndarray:
        """mu*t of the V foil at true energies."""
        norm = np.interp(e_true, self.fine, self.foil_norm)
        return _Absorber([], self.m_foil).mu(self.xs, e_true, norm)

    def norm_at(self, name: str, e_true: np.ndarray) -> np.ndarray:
        """Normalised spectrum of compound ``name`` at true energies."""
        return np.interp(e_true, self.fine, self.norms[name])


def _series_model() -> _SeriesModel:
    """Grids, cross-sections and the normalised spectra of every compound and of the foil."""
    fine = _fine_grid()
    energy = energy_grid()
    dwell = dwell_times_s(energy)
    centers = {name: _solve_center(fine, c) for name, c in COMPOUNDS.items()}
    foil = FoilModel()
    foil_center = _solve_foil_center(fine, foil)
    return _SeriesModel(
        xs=_CrossSections(), fine=fine, energy=energy, dwell=dwell,
        scan_s=float(np.sum(dwell) + MOTOR_OVERHEAD_S * energy.size),
        centers=centers,
        norms={name: _compound_norm(fine, c, centers[name]) for name, c in COMPOUNDS.items()},
        foil=foil, foil_center=foil_center, foil_norm=_foil_norm(fine, foil, foil_center),
        m_foil=foil.thickness_um * 1e-4 * foil.density_g_cm3,
    )


def _write_standards(out: Path, m: _SeriesModel, seed: int) -> list:
    """Write the reference pellets' scans (``standards/*.xdi``); their truth entries."""
    standards = []
    t = STANDARDS_START
    for j, (c, step, filler) in enumerate(STANDARDS):
        rng = np.random.default_rng([seed, 2, j])
        offset = round(float(rng.uniform(-1.5, 1.5)), 3)
        e_true = m.energy - offset
        absorber = _standard_absorber(m.xs, c, step, filler)
        mu_s = absorber.mu(m.xs, e_true, m.norm_at(c.name, e_true))
        i0, it, iref = _simulate_counts(m.xs, e_true, mu_s, m.foil_mu(e_true), m.dwell, rng)
        fname = f"{c.file_stem}_std.xdi"
        end = t + timedelta(seconds=m.scan_s)
        fields = _common_fields() + [
            ("Scan.start_time", _iso(t)),
            ("Scan.end_time", _iso(end)),
            ("Sample.name", f"{c.name} reference pellet in cellulose"),
            ("Sample.stoichiometry", c.formula),
            ("Sample.valence", f"{c.valence}"),
            ("Sample.temperature", "295 K"),
        ]
        (out / "standards" / fname).write_text(
            _xdi_text(fields, _COMMENTS, m.energy, i0, it, iref))
        e_ref = c.edge_half_height_ev
        standards.append({
            "file": f"standards/{fname}",
            "compound": c.name,
            "formula": c.formula,
            "valence": c.valence,
            "mono_offset_ev": offset,
            "scan_start_time": _iso(t),
            "scan_end_time": _iso(end),
            "edge_step": _round(absorber.m_v * m.xs.v_jump(e_ref), 5),
            "edge_half_height_ev": _round(half_height_edge_ev(m.fine, m.norms[c.name]), 4),
            "mu_below_edge": _round(np.interp(5440.0, e_true, mu_s), 4),
        })
        t = end + timedelta(seconds=SAMPLE_CHANGE_S)
    return standards


def _write_cell_scans(out: Path, m: _SeriesModel, seed: int, x_values: np.ndarray) -> list:
    """Write the scans of the cell (``nvp_xanes_<i>.xdi``); their truth entries."""
    cell = CellModel()
    absorbers = (_electrode_absorber(m.xs, cell, 3.0), _electrode_absorber(m.xs, cell, 1.0))
    capacity_per_na_h = 0.5 / CHARGE_C_RATE  # hours per Na at the C-rate (2 Na = 1 C)
    states = []
    t = SERIES_START
    for i, x in enumerate(x_values.tolist()):
        if i > 0:
            dx = float(x_values[i - 1] - x_values[i])
            t = t + timedelta(seconds=round(dx * capacity_per_na_h * 3600.0 + REST_BEFORE_SCAN_S))
        states.append(_write_cell_scan(out, m, seed, i, _round(x, 6), t, absorbers))
        t = t + timedelta(seconds=m.scan_s)
    return states


def _write_cell_scan(out: Path, m: _SeriesModel, seed: int, i: int, x: float, t: datetime,
                     absorbers: tuple) -> dict:
    """Write cell scan ``i`` at Na content ``x``, started at ``t``; its truth entry."""
    pristine, charged = absorbers
    f4 = (3.0 - x) / 2.0
    rng = np.random.default_rng([seed, 1, i])
    offset = round(float(rng.uniform(-1.5, 1.5)), 3)
    e_true = m.energy - offset
    mu3 = pristine.mu(m.xs, e_true, m.norm_at(NVP.name, e_true))
    mu4 = charged.mu(m.xs, e_true, m.norm_at(NAVP.name, e_true))
    mu_s = (1.0 - f4) * mu3 + f4 * mu4
    i0, it, iref = _simulate_counts(m.xs, e_true, mu_s, m.foil_mu(e_true), m.dwell, rng)
    voltage = round(cell_voltage_v(x, ocv=(i == 0)), 4)
    fname = f"nvp_xanes_{i}.xdi"
    end = t + timedelta(seconds=m.scan_s)
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
    (out / fname).write_text(_xdi_text(fields, _COMMENTS, m.energy, i0, it, iref))
    norm_mix = (1.0 - f4) * m.norms[NVP.name] + f4 * m.norms[NAVP.name]
    e_half = half_height_edge_ev(m.fine, norm_mix)
    return {
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
        "edge_step": _round(pristine.m_v * m.xs.v_jump(e_half), 5),
        "edge_half_height_ev": _round(e_half, 4),
        "mu_below_edge": _round(np.interp(5440.0, e_true, mu_s), 4),
    }


# -------------------------------------------------------------------------- truth


def _truth(m: _SeriesModel, seed: int, n_states: int, states: list, standards: list) -> dict:
    """The content of ``truth.json`` (JSON types: tuples become lists)."""
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
            "foil_derivative_max_ev": _round(_derivative_max_ev(m.fine, m.foil_norm), 4),
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
            "foil": {"thickness_um": m.foil.thickness_um,
                     "edge_step": _round(m.m_foil * m.xs.v_jump(V_FOIL_EDGE_EV + 10.0), 4)},
        },
        "energy_grid": {
            "n_points": int(m.energy.size),
            "pre_edge_ev": [PRE_EDGE_START_EV, XANES_START_EV - PRE_EDGE_STEP_EV,
                            PRE_EDGE_STEP_EV],
            "xanes_ev": [XANES_START_EV, XANES_END_EV, XANES_STEP_EV],
            "exafs_k_step": K_STEP,
            "exafs_k0_ev": V_FOIL_EDGE_EV,
            "exafs_end_ev": EXAFS_END_EV,
            "dwell_s": "1 up to 5500 eV, then k / k(5500 eV)",
            "scan_duration_s": _round(m.scan_s, 2),
        },
        "model": _truth_model(m),
        "states": states,
        "standards": standards,
    }
    return json.loads(json.dumps(truth))  # tuples -> lists, plain JSON types


def _truth_model(m: _SeriesModel) -> dict:
    """The ``model`` section of ``truth.json``: edges, EXAFS constants, compounds, foil, cell."""
    window = (m.fine > 5466.0) & (m.fine < 5472.0)
    return {
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
                "arctan_center_ev": _round(m.centers[name], 4),
                "pre_edge_lorentzians_ev_area": [list(p) for p in c.pre_edge],
                "resonances_de_height_fwhm": [list(r) for r in c.resonances],
                "shells_element_n_r_sigma2": [list(s) for s in c.shells],
                "pre_edge_peak_height": _round(np.max(m.norms[name][window]), 4),
            }
            for name, c in COMPOUNDS.items()
        },
        "foil": {**asdict(m.foil), "shoulder_center_ev": _round(m.foil_center, 4)},
        "cell": asdict(CellModel()),
        "mixing": "mu = (1 - fraction_v4) * mu(Na3V2(PO4)3 cell) + fraction_v4 * mu(NaV2(PO4)3 cell)",
    }


def _readme_text(n_states: int, x_values: np.ndarray, states: list, foil: FoilModel,
                 seed: int) -> str:
    return README_TEMPLATE.format(
        n_states=n_states, last=n_states - 1,
        x_list=", ".join(f"{v:.2f}" for v in x_values), res=MONO_RESOLUTION_FWHM_EV,
        gamma=V_K_CORE_HOLE_FWHM_EV, foil_um=foil.thickness_um,
        mu_pre=states[0]["mu_below_edge"], ocv=states[0]["voltage_v"],
        x_last=float(x_values[-1]), e3=EDGE_HALF_HEIGHT_EV[3], e4=EDGE_HALF_HEIGHT_EV[4],
        e5=EDGE_HALF_HEIGHT_EV[5], seed=seed,
    )


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
        The content written to ``truth.json`` (energies in eV, voltages in V vs Na+/Na).

    Raises
    ------
    ValueError
        When ``n_states`` is below 2.

    Examples
    --------
    >>> import tempfile
    >>> truth = make_xanes_series(tempfile.mkdtemp(), n_states=2)
    >>> [(s["x_na"], s["fraction_v4"], s["edge_half_height_ev"]) for s in truth["states"]]
    [(3.0, 0.0, 5478.3), (1.0, 1.0, 5480.9)]
    >>> [s["file"] for s in truth["standards"]][:2]
    ['standards/V2O3_std.xdi', 'standards/VO2_std.xdi']
    """
    if n_states < 2:
        raise ValueError("n_states must be >= 2 (open circuit and the charged state)")
    out = Path(out_dir)
    (out / "standards").mkdir(parents=True, exist_ok=True)
    m = _series_model()
    standards = _write_standards(out, m, seed)
    x_values = np.linspace(3.0, 1.0, n_states)
    states = _write_cell_scans(out, m, seed, x_values)
    truth = _truth(m, seed, n_states, states, standards)
    with open(out / "truth.json", "w") as fh:
        json.dump(truth, fh, indent=1)
        fh.write("\n")
    (out / "README.md").write_text(_readme_text(n_states, x_values, states, m.foil, seed))
    return truth
