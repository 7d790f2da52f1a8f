"""Simulated operando XRD of a Na3V2(PO4)3 cathode: scenario and data-set writer.

The scenario is one galvanostatic charge and discharge of a Na-ion half cell with a
Na3V2(PO4)3 ("NVP") cathode, followed by transmission XRD on a Pilatus 300K:

* electrochemistry: OCV rest, constant-current charge to 4.0 V, rest, constant-
  current discharge to 2.5 V, rest (:class:`CellProtocol`);
* structure: a short solid solution Na_x V2(PO4)3, 3.0 >= x >= 2.8, with a
  continuously contracting R-3c cell, then the two-phase reaction
  Na_2.8 V2(PO4)3 <-> NaV2(PO4)3 with fixed cells and phase fractions linear in
  capacity, reversed on discharge; a constant V2O3 impurity
  (:class:`ReactionPath`);
* diffraction: 1D powder patterns from the bundled CIFs (:mod:`xpipe.synth.powder`),
  projected on the detector with pyFAI geometry (solid angle, polarisation and a
  3 x 3 sub-pixel average of the pixel footprint), plus a smooth background,
  Poisson counting noise, and -1 in the module gaps as a Pilatus writes them.

:func:`make_example_data` writes the bundled demo data set (CBF frames, PONI file,
cycler log, scan log and ``truth.json``). Everything is deterministic for a given
seed: no wall-clock time, no unordered iteration.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from itertools import product
from pathlib import Path

import fabio.cbfimage
import gemmi
import numpy as np
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from pyFAI.io.ponifile import PoniFile
from scipy.interpolate import PchipInterpolator

from ..xrd.integrate import azimuthal_integrator
from . import powder

__all__ = [
    "DEFAULT_N_FRAMES",
    "DEFAULT_SEED",
    "GENERATOR_VERSION",
    "Background",
    "CellProtocol",
    "DetectorGeometry",
    "ReactionPath",
    "make_example_data",
    "phase_state",
    "pixel_two_theta_deg",
    "project_to_detector",
    "render_counts",
]

GENERATOR_VERSION = "1.0.0"
DEFAULT_N_FRAMES = 38
DEFAULT_SEED = 20250314
#: Start of the first exposure (local time of the beamline clock, as Pilatus writes it).
START_TIME = datetime(2025, 3, 14, 9, 0, 0)
EXPOSURE_TIME_S = 60.0
MASKED_VALUE = -1
NVP, NVP1, IMPURITY = "Na3V2(PO4)3", "NaV2(PO4)3", "V2O3"
PHASE_NAMES = (NVP, NVP1, IMPURITY)

_ATOMIC_WEIGHT = {el: gemmi.Element(el).weight for el in ("Na", "V", "P", "O")}


def molar_mass_na_x(x_na: float) -> float:
    """Molar mass of Na_x V2(PO4)3 in g/mol."""
    w = _ATOMIC_WEIGHT
    return x_na * w["Na"] + 2 * w["V"] + 3 * w["P"] + 12 * w["O"]


def molar_mass_v2o3() -> float:
    return 2 * _ATOMIC_WEIGHT["V"] + 3 * _ATOMIC_WEIGHT["O"]


# ------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class DetectorGeometry:
    """Pilatus 300K in transmission, beam centre below the detector (arcs).

    pyFAI conventions: ``poni1`` along the slow (vertical, 619 px) axis, ``poni2``
    along the fast (horizontal, 487 px) axis, rotations in radians. With these
    values 2theta on the active pixels spans about 3.9 to 29.9 deg.
    """

    detector: str = "Pilatus300k"
    distance_m: float = 0.230
    poni1_m: float = -0.011
    poni2_m: float = 0.044
    rot1_rad: float = 0.025
    rot2_rad: float = -0.020
    rot3_rad: float = 0.0
    wavelength_a: float = 0.7749

    @property
    def energy_kev(self) -> float:
        return 12.398419843320026 / self.wavelength_a

    def integrator(self) -> AzimuthalIntegrator:
        return azimuthal_integrator(
            self.detector, self.distance_m, self.poni1_m, self.poni2_m,
            self.rot1_rad, self.rot2_rad, self.rot3_rad, self.wavelength_a,
        )

    def poni_text(self) -> str:
        """PONI file text from pyFAI's writer, with its wall-clock comment line replaced."""
        buf = io.StringIO()
        PoniFile(self.integrator()).write(buf)
        lines = [
            "# Geometry of a simulated data set (xpipe.synth.operando); no calibration"
            if line.startswith("# Calibration done") else line
            for line in buf.getvalue().splitlines()
        ]
        return "\n".join(lines) + "\n"


def pixel_two_theta_deg(ai: AzimuthalIntegrator, oversampling: int = 3) -> np.ndarray:
    """2theta (deg) at ``oversampling**2`` sub-pixel points of every pixel.

    Returns an array of shape ``(oversampling**2, ny, nx)``; with ``oversampling=1``
    the pixel centres, as in :meth:`AzimuthalIntegrator.center_array`.
    """
    ny, nx = ai.detector.shape
    ii, jj = np.meshgrid(np.arange(ny, dtype=float), np.arange(nx, dtype=float), indexing="ij")
    offsets = (np.arange(oversampling) + 0.5) / oversampling - 0.5
    out = np.empty((oversampling * oversampling, ny, nx))
    for n, (di, dj) in enumerate(product(offsets, offsets)):
        out[n] = np.degrees(ai.tth(ii + di, jj + dj))
    return out


def project_to_detector(
    ai: AzimuthalIntegrator,
    two_theta_deg: np.ndarray,
    intensity: np.ndarray,
    pixel_tth_deg: np.ndarray | None = None,
    polarization_factor: float | None = 0.99,
    correct_solid_angle: bool = True,
) -> np.ndarray:
    """Expected image of an isotropic 1D pattern ``I(2theta)`` (per unit solid angle).

    Same model as :meth:`AzimuthalIntegrator.calcfrom1d` (interpolation at the pixel,
    times relative solid angle and polarisation), but the pattern is averaged over
    the sub-pixel points ``pixel_tth_deg`` (see :func:`pixel_two_theta_deg`) so that
    peaks narrower than a pixel keep their integrated intensity. With a single
    sub-pixel point this reproduces ``calcfrom1d``.
    """
    if pixel_tth_deg is None:
        pixel_tth_deg = pixel_two_theta_deg(ai, 1)
    shape = pixel_tth_deg.shape[1:]
    image = np.zeros(shape)
    for sub in pixel_tth_deg:
        image += np.interp(sub, two_theta_deg, intensity)
    image /= len(pixel_tth_deg)
    if correct_solid_angle:
        image *= ai.solidAngleArray(shape)
    if polarization_factor is not None:
        image *= ai.polarization(shape, factor=polarization_factor)
    return image


@dataclass(frozen=True)
class Background:
    """Smooth background per unit solid angle, in counts per pixel at normal incidence.

    Isotropic V K fluorescence (flat), air scatter falling off with angle, and two
    amorphous humps: the polyimide cell window (q ~ 1.2 1/A) and the wet glass-fibre
    separator / electrolyte (q ~ 2.0 1/A).
    """

    flat_counts: float = 22.0
    air_counts: float = 55.0
    air_decay_deg: float = 5.0
    window_counts: float = 30.0
    window_center_deg: float = 8.5
    window_fwhm_deg: float = 3.5
    electrolyte_counts: float = 18.0
    electrolyte_center_deg: float = 14.5
    electrolyte_fwhm_deg: float = 6.0

    def __call__(self, two_theta_deg: np.ndarray) -> np.ndarray:
        t = np.asarray(two_theta_deg, dtype=float)
        k = 4.0 * math.log(2.0)
        return (
            self.flat_counts
            + self.air_counts * np.exp(-(t - 4.0) / self.air_decay_deg)
            + self.window_counts
            * np.exp(-k * ((t - self.window_center_deg) / self.window_fwhm_deg) ** 2)
            + self.electrolyte_counts
            * np.exp(-k * ((t - self.electrolyte_center_deg) / self.electrolyte_fwhm_deg) ** 2)
        )


def render_counts(expected: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson counts from an expected image, masked pixels set to -1, as int32."""
    counts = rng.poisson(np.clip(expected, 0.0, None)).astype(np.int32)
    counts[mask] = MASKED_VALUE
    return counts


# ------------------------------------------------------------------ electrochemistry


@dataclass(frozen=True)
class CellProtocol:
    """Galvanostatic cycle of a Na | NVP half cell, Na content x in Na_x V2(PO4)3.

    The theoretical capacity 117.6 mAh/g is that of 2 Na per Na3V2(PO4)3
    (x = 3 -> 1). Times in seconds from the start of the first exposure.
    """

    active_mass_mg: float = 3.0
    theoretical_capacity_mah_g: float = 117.6
    c_rate: float = 1.0 / 3.0
    ocv_rest_s: float = 600.0
    top_rest_s: float = 600.0
    duration_s: float = 22800.0
    x_start: float = 3.0
    x_top_of_charge: float = 1.05
    x_end_of_discharge: float = 2.97
    v_min: float = 2.5
    v_max: float = 4.0

    @property
    def capacity_per_na_mah(self) -> float:
        return self.active_mass_mg * 1e-3 * self.theoretical_capacity_mah_g / 2.0

    @property
    def current_ma(self) -> float:
        """Charge current; the C-rate refers to the theoretical capacity."""
        return self.active_mass_mg * 1e-3 * self.theoretical_capacity_mah_g * self.c_rate

    @property
    def charge_time_s(self) -> float:
        dx = self.x_start - self.x_top_of_charge
        return dx * self.capacity_per_na_mah / self.current_ma * 3600

    @property
    def discharge_time_s(self) -> float:
        dx = self.x_end_of_discharge - self.x_top_of_charge
        return dx * self.capacity_per_na_mah / self.current_ma * 3600

    def step_times_s(self) -> dict[str, float]:
        t1 = self.ocv_rest_s
        t2 = t1 + self.charge_time_s
        t3 = t2 + self.top_rest_s
        t4 = t3 + self.discharge_time_s
        if t4 > self.duration_s:
            raise ValueError("protocol longer than its duration")
        return {"charge_start_s": t1, "charge_end_s": t2, "discharge_start_s": t3,
                "discharge_end_s": t4, "end_s": self.duration_s}

    def state(self, t_s) -> dict[str, np.ndarray]:
        """x_na, current_ma (positive on charge), capacity_mah (net, since start), step."""
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        s = self.step_times_s()
        rate_x_per_s = self.current_ma / (self.capacity_per_na_mah * 3600)
        x = np.full_like(t, self.x_start)
        current = np.zeros_like(t)
        step = np.zeros(t.shape, dtype=int)  # 0 OCV, 1 charge, 2 rest, 3 discharge, 4 rest
        ch = (t >= s["charge_start_s"]) & (t < s["charge_end_s"])
        x[ch] = self.x_start - rate_x_per_s * (t[ch] - s["charge_start_s"])
        current[ch] = self.current_ma
        step[ch] = 1
        top = (t >= s["charge_end_s"]) & (t < s["discharge_start_s"])
        x[top] = self.x_top_of_charge
        step[top] = 2
        dis = (t >= s["discharge_start_s"]) & (t < s["discharge_end_s"])
        x[dis] = self.x_top_of_charge + rate_x_per_s * (t[dis] - s["discharge_start_s"])
        current[dis] = -self.current_ma
        step[dis] = 3
        end = t >= s["discharge_end_s"]
        x[end] = self.x_end_of_discharge
        step[end] = 4
        capacity = (self.x_start - x) * self.capacity_per_na_mah
        return {"x_na": x, "current_ma": current, "capacity_mah": capacity, "step": step}

    # voltage profile: monotone (PCHIP) curves through knots typical of NVP at C/3,
    # V3+/V4+ plateau near 3.4 V with ~25 mV polarisation either way
    _CHARGE_KNOTS = (
        (1.05, 4.000), (1.07, 3.620), (1.10, 3.480), (1.20, 3.435), (1.50, 3.420),
        (2.00, 3.410), (2.50, 3.405), (2.80, 3.395), (2.90, 3.360), (2.96, 3.300),
        (3.00, 3.200),
    )
    _DISCHARGE_KNOTS = (
        (1.05, 3.450), (1.08, 3.390), (1.15, 3.372), (1.50, 3.362), (2.00, 3.356),
        (2.50, 3.350), (2.80, 3.330), (2.88, 3.280), (2.93, 3.150), (2.955, 2.950),
        (2.97, 2.500),
    )

    def voltage_v(self, t_s) -> np.ndarray:
        """Cell voltage (V vs Na+/Na) at times ``t_s``."""
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        st = self.state(t)
        x, step = st["x_na"], st["step"]
        s = self.step_times_s()
        charge = PchipInterpolator(*np.array(self._CHARGE_KNOTS).T)
        discharge = PchipInterpolator(*np.array(self._DISCHARGE_KNOTS).T)
        v = np.empty_like(t)
        ocv = step == 0
        v[ocv] = 3.160 + 0.010 * np.exp(-t[ocv] / 300.0)
        m = step == 1
        v[m] = charge(np.clip(x[m], 1.05, 3.0))
        m = step == 2
        v[m] = 3.455 + (self.v_max - 3.455) * np.exp(-(t[m] - s["charge_end_s"]) / 150.0)
        m = step == 3
        v[m] = discharge(np.clip(x[m], 1.05, self.x_end_of_discharge))
        m = step == 4
        v[m] = 3.080 - (3.080 - self.v_min) * np.exp(-(t[m] - s["discharge_end_s"]) / 200.0)
        return v


# --------------------------------------------------------------- structural path


@dataclass(frozen=True)
class ReactionPath:
    """Structural response of Na_x V2(PO4)3 to the Na content x.

    * ``x >= x_boundary``: one R-3c phase (Na3V2(PO4)3 CIF) whose a and c shrink
      linearly from the CIF values to ``(1 + strain) *`` CIF at the boundary; Na is
      removed from the Na2 (18e) site.
    * ``x_desodiated < x < x_boundary``: two phases with fixed cells, the boundary
      Na_x V2(PO4)3 and NaV2(PO4)3 (CIF), molar fraction of the latter
      ``(x_boundary - x) / (x_boundary - x_desodiated)``.
    * V2O3: constant mass, ``impurity_weight_fraction`` of the pristine electrode.
    """

    x_pristine: float = 3.0
    x_boundary: float = 2.8
    x_desodiated: float = 1.0
    strain_a_at_boundary: float = -0.0035
    strain_c_at_boundary: float = -0.0020
    na1_occupancy: float = 0.84
    impurity_weight_fraction: float = 0.05
    profiles: dict[str, powder.PeakProfile] = field(default_factory=lambda: {
        NVP: powder.PeakProfile(u_deg2=0.004, v_deg2=-0.001, w_deg2=0.0025, eta=0.5),
        NVP1: powder.PeakProfile(u_deg2=0.012, v_deg2=-0.001, w_deg2=0.0040, eta=0.6),
        IMPURITY: powder.PeakProfile(u_deg2=0.004, v_deg2=-0.001, w_deg2=0.0030, eta=0.5),
    })


def phase_state(x_na: float, path: ReactionPath, base: dict[str, powder.Lattice]) -> dict:
    """Lattices, Na content and weight fractions of all phases at Na content ``x_na``.

    ``base`` holds the CIF cells of the three phases. Returns
    ``{name: {"lattice", "x_na" (NVP phases), "mole_fraction", "weight_fraction"}}``
    for every phase (weight fraction 0 where absent; its cell is then the one it would
    have).
    """
    xb = path.x_boundary
    if x_na >= xb:
        frac_ss = (path.x_pristine - x_na) / (path.x_pristine - xb)
        x_a, f_b = x_na, 0.0
    else:
        frac_ss = 1.0
        x_a = xb
        f_b = (xb - x_na) / (xb - path.x_desodiated)
    lat_a = base[NVP].scaled(1.0 + path.strain_a_at_boundary * frac_ss,
                             1.0 + path.strain_c_at_boundary * frac_ss)
    m_a = (1.0 - f_b) * molar_mass_na_x(x_a)
    m_b = f_b * molar_mass_na_x(path.x_desodiated)
    w_imp = path.impurity_weight_fraction
    m_imp = w_imp / (1.0 - w_imp) * molar_mass_na_x(path.x_pristine)
    total = m_a + m_b + m_imp
    return {
        NVP: {"lattice": lat_a, "x_na": x_a, "mole_fraction": 1.0 - f_b,
              "weight_fraction": m_a / total},
        NVP1: {"lattice": base[NVP1], "x_na": path.x_desodiated, "mole_fraction": f_b,
               "weight_fraction": m_b / total},
        IMPURITY: {"lattice": base[IMPURITY], "x_na": None, "mole_fraction": None,
                   "weight_fraction": m_imp / total},
    }


def _phases_for_state(state: dict, structures: dict, path: ReactionPath) -> list[powder.Phase]:
    """powder.Phase objects for one state of :func:`phase_state`."""
    phases = []
    for name in PHASE_NAMES:
        st = state[name]
        structure = powder.with_lattice(structures[name], st["lattice"])
        if name == NVP:
            # Na leaves the Na2 (18e) site: 6*occ(Na1) + 18*occ(Na2) = 6x per cell
            na2 = (6.0 * st["x_na"] - 6.0 * path.na1_occupancy) / 18.0
            structure = powder.with_occupancy(structure, {"Na1": path.na1_occupancy, "Na2": na2})
        phases.append(powder.Phase(name, structure, st["weight_fraction"], path.profiles[name]))
    return phases


# ----------------------------------------------------------------------- writer


def _iso_ms(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds")


def _pilatus_header(start: datetime, period_s: float, geometry: DetectorGeometry, beam_xy) -> str:
    lines = [
        "# Detector: PILATUS 300K (simulated), S/N 3-0000-SIM",
        f"# {_iso_ms(start)}",
        "# Pixel_size 172e-6 m x 172e-6 m",
        "# Silicon sensor, thickness 0.000450 m",
        f"# Exposure_time {EXPOSURE_TIME_S:.6f} s",
        f"# Exposure_period {period_s:.6f} s",
        "# Tau = 0 s",
        "# Count_cutoff 1048575 counts",
        "# Threshold_setting: 8000 eV",
        "# Gain_setting: autog (vrf = 1.000)",
        "# N_excluded_pixels = 0",
        "# Excluded_pixels: (nil)",
        "# Flat_field: (nil)",
        "# Trim_file: (nil)",
        "# Image_path: /ramdisk/",
        f"# Wavelength {geometry.wavelength_a:.4f} A",
        "# Energy_range (0, 0) eV",
        f"# Detector_distance {geometry.distance_m:.5f} m",
        "# Detector_Voffset 0.00000 m",
        f"# Beam_xy ({beam_xy[0]:.2f}, {beam_xy[1]:.2f}) pixels",
        "# Flux 0.000000",
        "# Filter_transmission 1.0000",
        "# Start_angle 0.0000 deg.",
        "# Angle_increment 0.0000 deg.",
        "# Detector_2theta 0.0000 deg.",
        "# Polarization 0.990",
        "# Alpha 0.0000 deg.",
        "# Kappa 0.0000 deg.",
        "# Phi 0.0000 deg.",
        "# Chi 0.0000 deg.",
        "# Oscillation_axis X, CW",
        "# N_oscillations 1",
    ]
    return "\r\n".join(lines)


def write_cbf(path: Path, counts: np.ndarray, header_contents: str) -> None:
    """Write a Pilatus-style mini-CBF (byte-offset compressed int32) with fabio."""
    header = {
        "_array_data.header_convention": "PILATUS_1.2",
        "_array_data.header_contents": header_contents,
    }
    data = np.ascontiguousarray(counts, dtype=np.int32)
    image = fabio.cbfimage.CbfImage(data=data, header=header)
    image.write(str(path))


def _round(v, nd=6):
    return None if v is None else float(round(float(v), nd))


def _reflection_table(phase: powder.Phase, wavelength_a: float, tth_range, n_max: int) -> list:
    d_min = wavelength_a / (2 * math.sin(math.radians(tth_range[1] / 2)))
    d_max = wavelength_a / (2 * math.sin(math.radians(tth_range[0] / 2)))
    refl = phase.reflections(d_min, d_max)
    tth = refl.two_theta_deg(wavelength_a)
    inten = refl.intensity(wavelength_a, "debye_scherrer_2d")
    order = sorted(range(len(refl)), key=lambda i: (-round(float(inten[i]), 6), i))[:n_max]
    top = float(inten[order[0]]) if order else 1.0
    return [
        {
            "hkl": [int(v) for v in refl.hkl[i]],
            "d_a": _round(refl.d_a[i], 6),
            "two_theta_deg": _round(tth[i], 5),
            "multiplicity": int(refl.multiplicity[i]),
            "relative_intensity": _round(100.0 * inten[i] / top, 2),
        }
        for i in order
    ]


README_TEMPLATE = """\
# nvp_operando: simulated operando XRD of a Na3V2(PO4)3 cathode

Simulated (not measured) data set bundled with xpipe for the demo recipe
`recipes/nvp_operando.yaml` and for the tests. It mimics a transmission operando
experiment on a Na | Na3V2(PO4)3 half cell at a synchrotron beamline.

## Contents

| file | what |
| --- | --- |
| `nvp_0001.cbf` ... `nvp_{last:04d}.cbf` | {n_frames} Pilatus 300K frames (mini-CBF, byte-offset, int32; gaps = -1) |
| `geometry.poni` | pyFAI geometry (PONI 2.1) |
| `structures/*.cif` | the three structures the patterns were calculated from |
| `cycler.csv` | potentiostat log: `time_s,voltage_v,current_ma,capacity_mah`, every 30 s |
| `scan_log.csv` | `file,start_time,end_time` of every exposure (ISO 8601, ms) |
| `truth.json` | ground truth: geometry, cycling protocol, per-frame Na content, voltage, lattice parameters and weight fractions, strongest reflections |

## Experiment

* X-rays: {energy:.2f} keV, wavelength {wavelength} A; Pilatus 300K (487 x 619 px,
  172 um) at {dist_mm:.0f} mm, beam centre below the detector edge
  (Beam_xy {bx:.1f}, {by:.1f} px), small tilt; 2theta about {tmin:.1f} to {tmax:.1f} deg.
* One frame every {period:.0f} s ({exposure:.0f} s exposure), starting {start}.
* Cell: {mass:.1f} mg Na3V2(PO4)3 (theoretical capacity {cap} mAh/g for 2 Na),
  {rest:.0f} s OCV, charge at C/{inv_rate:.0f} ({current:.4f} mA) to 4.0 V, {top:.0f} s rest,
  discharge to 2.5 V, rest. `capacity_mah` in `cycler.csv` is the net charge since the
  start (up on charge, down on discharge); x in Na_x V2(PO4)3 = 3 - capacity / {qna:.4f} mAh.
* Reaction: solid solution from x = 3.0 to 2.8 (a -0.35 %, c -0.20 %), then the
  two-phase reaction Na2.8V2(PO4)3 <-> NaV2(PO4)3 with fixed cells, reversed on
  discharge; 5 wt % V2O3 impurity (constant mass, so its weight fraction rises
  slightly as Na leaves).

## truth.json

`frames[i]`: `file`, `frame_index` (1-based, as in the file names), `start_time_iso`,
`mid_time_s` (middle of the exposure, seconds since the start of frame 1), `x_na`,
`voltage_v`, `current_ma`, `capacity_mah` at mid-exposure, and for every phase
(`Na3V2(PO4)3`, `NaV2(PO4)3`, `V2O3`) `a_a`, `c_a`, `volume_a3` (hexagonal cell, A)
and `weight_fraction` (0 while a phase is absent; its cell is then the one it has
when present). `reflections_frame1`: the 15 strongest reflections of each phase in
the detector range (hkl, d_a, two_theta_deg, multiplicity, intensity relative to the
strongest, as seen after solid-angle-corrected azimuthal integration).

## How it was made

`xpipe.synth.operando.make_example_data`: 1D patterns from the CIFs in
`xpipe/synth/structures` (gemmi structure factors, multiplicities, Debye-Scherrer
Lorentz factor, pseudo-Voigt peaks, weight-fraction phase scales), projected on the
detector with the pyFAI geometry (solid angle, polarisation factor 0.99, 3 x 3
sub-pixel average), smooth background (fluorescence, air, cell window and
electrolyte humps), Poisson noise (seed {seed}). Integrate with
`polarization_factor=0.99`, the detector mask and pixels < 0 masked.

Regenerate (byte-identical for the same seed and the same fabio version, which each CBF names
in its first line):

```
python scripts/make_example_data.py --out example_data/nvp_operando --frames {n_frames} --seed {seed}
```
"""


def make_example_data(
    outdir: str | Path,
    n_frames: int = DEFAULT_N_FRAMES,
    seed: int = DEFAULT_SEED,
    *,
    geometry: DetectorGeometry | None = None,
    protocol: CellProtocol | None = None,
    path: ReactionPath | None = None,
    background: Background | None = None,
    peak_counts: float = 1000.0,
    oversampling: int = 3,
) -> dict:
    """Generate the simulated operando data set into ``outdir``.

    Parameters
    ----------
    outdir : path
        Output directory (created; existing files of the same names are overwritten).
    n_frames : int
        Number of frames, evenly spread over the cycle (``protocol.duration_s``):
        the exposure period is ``duration_s / n_frames`` (600 s for 38 frames).
    seed : int
        Seed of the noise; frame ``i`` uses ``numpy.random.default_rng([seed, i])``.
    peak_counts : float
        Scale: the strongest peak of the pristine 1D pattern, per unit solid angle,
        before pixel averaging, in counts.

    Returns
    -------
    dict
        The content written to ``truth.json``.
    """
    if n_frames < 1:
        raise ValueError("n_frames must be >= 1")
    geometry = geometry or DetectorGeometry()
    protocol = protocol or CellProtocol()
    path = path or ReactionPath()
    background = background or Background()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)

    lam = geometry.wavelength_a
    ai = geometry.integrator()
    mask = ai.detector.mask.astype(bool)
    sub_tth = pixel_two_theta_deg(ai, oversampling)
    active = sub_tth[:, ~mask]
    tth_min, tth_max = float(active.min()), float(active.max())
    grid = np.arange(math.floor(tth_min) - 1.0, math.ceil(tth_max) + 1.0 + 1e-9, 0.002)
    fit2d = ai.getFit2D()
    beam_xy = (fit2d["centerX"], fit2d["centerY"])

    structures = {name: powder.load_structure(name) for name in PHASE_NAMES}
    base = {name: powder.lattice_of(structures[name]) for name in PHASE_NAMES}

    # frame timing
    period_s = protocol.duration_s / n_frames
    starts_s = np.arange(n_frames) * period_s
    mids_s = starts_s + EXPOSURE_TIME_S / 2.0
    cyc = protocol.state(mids_s)
    volt = protocol.voltage_v(mids_s)

    # intensity scale fixed by the pristine pattern, independent of n_frames
    pristine = _phases_for_state(phase_state(path.x_pristine, path, base), structures, path)
    scale = peak_counts / float(powder.powder_pattern(grid, pristine, lam).max())
    bkg = background(grid)

    frames = []
    for i in range(n_frames):
        x = float(cyc["x_na"][i])
        state = phase_state(x, path, base)
        phases = _phases_for_state(state, structures, path)
        pattern = scale * powder.powder_pattern(grid, phases, lam) + bkg
        expected = project_to_detector(ai, grid, pattern, sub_tth, polarization_factor=0.99)
        counts = render_counts(expected, mask, np.random.default_rng([seed, i]))
        start = START_TIME + timedelta(seconds=float(starts_s[i]))
        fname = f"nvp_{i + 1:04d}.cbf"
        write_cbf(out / fname, counts, _pilatus_header(start, period_s, geometry, beam_xy))
        frames.append({
            "file": fname,
            "frame_index": i + 1,
            "start_time_iso": _iso_ms(start),
            "end_time_iso": _iso_ms(start + timedelta(seconds=EXPOSURE_TIME_S)),
            "mid_time_s": _round(mids_s[i], 3),
            "x_na": _round(x, 6),
            "voltage_v": _round(volt[i], 5),
            "current_ma": _round(cyc["current_ma"][i], 6),
            "capacity_mah": _round(cyc["capacity_mah"][i], 6),
            "phases": {
                name: {
                    "a_a": _round(state[name]["lattice"].a_a, 6),
                    "c_a": _round(state[name]["lattice"].c_a, 6),
                    "volume_a3": _round(state[name]["lattice"].volume_a3, 4),
                    "weight_fraction": _round(state[name]["weight_fraction"], 6),
                    "mole_fraction": _round(state[name]["mole_fraction"], 6),
                    "x_na": _round(state[name]["x_na"], 6),
                }
                for name in PHASE_NAMES
            },
        })

    # cycler log, one row every 30 s
    t_log = np.arange(0.0, protocol.duration_s + 1e-9, 30.0)
    log_state = protocol.state(t_log)
    log_v = protocol.voltage_v(t_log)
    noise = np.random.default_rng([seed, 10**6]).normal(0.0, 0.0003, t_log.shape)
    with open(out / "cycler.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["time_s", "voltage_v", "current_ma", "capacity_mah"])
        rows = zip(t_log, log_v + noise, log_state["current_ma"], log_state["capacity_mah"],
                   strict=True)
        for t, v, c, q in rows:
            w.writerow([f"{t:.1f}", f"{v:.4f}", f"{c:.5f}", f"{q:.6f}"])

    with open(out / "scan_log.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["file", "start_time", "end_time"])
        for fr in frames:
            w.writerow([fr["file"], fr["start_time_iso"], fr["end_time_iso"]])

    (out / "geometry.poni").write_text(geometry.poni_text())
    # the structures the frames were made from, for recipes that index and refine them
    (out / "structures").mkdir(exist_ok=True)
    for name in PHASE_NAMES:
        src = powder.structure_path(name)
        (out / "structures" / src.name).write_bytes(src.read_bytes())

    tth_range = (tth_min, tth_max)
    first = _phases_for_state(phase_state(float(cyc["x_na"][0]), path, base), structures, path)
    reflections = {ph.name: _reflection_table(ph, lam, tth_range, 15) for ph in first}
    truth = {
        "generator": {
            "name": "xpipe.synth.operando",
            "version": GENERATOR_VERSION,
            "seed": int(seed),
            "n_frames": int(n_frames),
            "noise": "Poisson, numpy.random.default_rng([seed, frame_index - 1])",
            "command": f"python scripts/make_example_data.py --frames {n_frames} --seed {seed}",
        },
        "wavelength_a": lam,
        "energy_kev": _round(geometry.energy_kev, 4),
        "detector": {
            "name": geometry.detector,
            "shape": [int(v) for v in ai.detector.shape],
            "pixel_size_m": [ai.detector.pixel1, ai.detector.pixel2],
            "masked_value": MASKED_VALUE,
            "two_theta_range_deg": [_round(tth_min, 3), _round(tth_max, 3)],
        },
        "geometry": {
            "dist_m": geometry.distance_m,
            "poni1_m": geometry.poni1_m,
            "poni2_m": geometry.poni2_m,
            "rot1_rad": geometry.rot1_rad,
            "rot2_rad": geometry.rot2_rad,
            "rot3_rad": geometry.rot3_rad,
            "beam_center_px": {"x": _round(beam_xy[0], 3), "y": _round(beam_xy[1], 3)},
            "polarization_factor": 0.99,
        },
        "acquisition": {
            "start_time_iso": _iso_ms(START_TIME),
            "exposure_time_s": EXPOSURE_TIME_S,
            "exposure_period_s": _round(period_s, 6),
            "peak_counts": peak_counts,
            "pixel_oversampling": oversampling,
            "background": asdict(background),
        },
        "electrochemistry": {
            "cathode": NVP,
            "active_mass_mg": protocol.active_mass_mg,
            "theoretical_capacity_mah_g": protocol.theoretical_capacity_mah_g,
            "capacity_per_na_mah": _round(protocol.capacity_per_na_mah, 8),
            "c_rate": _round(protocol.c_rate, 6),
            "current_ma": _round(protocol.current_ma, 8),
            "voltage_window_v": [protocol.v_min, protocol.v_max],
            "x_start": protocol.x_start,
            "x_top_of_charge": protocol.x_top_of_charge,
            "x_end_of_discharge": protocol.x_end_of_discharge,
            "steps_s": {k: _round(v, 3) for k, v in protocol.step_times_s().items()},
            "capacity_convention": (
                "net charge since start, mAh; x_na = x_start - capacity / capacity_per_na"
            ),
        },
        "reaction_path": {
            "x_pristine": path.x_pristine,
            "x_solid_solution_boundary": path.x_boundary,
            "x_desodiated": path.x_desodiated,
            "strain_a_at_boundary": path.strain_a_at_boundary,
            "strain_c_at_boundary": path.strain_c_at_boundary,
            "impurity": IMPURITY,
            "impurity_weight_fraction_pristine": path.impurity_weight_fraction,
            "cif": {name: powder.BUNDLED_STRUCTURES[name] for name in PHASE_NAMES},
            "cif_cells": {name: asdict(base[name]) for name in PHASE_NAMES},
            "profiles": {name: asdict(path.profiles[name]) for name in PHASE_NAMES},
        },
        "frames": frames,
        "reflections_frame1": reflections,
    }
    with open(out / "truth.json", "w") as fh:
        json.dump(truth, fh, indent=1)
        fh.write("\n")

    (out / "README.md").write_text(README_TEMPLATE.format(
        last=n_frames, n_frames=n_frames, energy=geometry.energy_kev, wavelength=lam,
        dist_mm=geometry.distance_m * 1e3, bx=beam_xy[0], by=beam_xy[1], tmin=tth_min,
        tmax=tth_max, period=period_s, exposure=EXPOSURE_TIME_S, start=_iso_ms(START_TIME),
        mass=protocol.active_mass_mg, cap=protocol.theoretical_capacity_mah_g,
        rest=protocol.ocv_rest_s, inv_rate=1.0 / protocol.c_rate, current=protocol.current_ma,
        top=protocol.top_rest_s, qna=protocol.capacity_per_na_mah, seed=seed,
    ))
    return truth
