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

The cell lives in :mod:`xpipe.synth.operando_cell`, the detector in
:mod:`xpipe.synth.operando_detector`; :func:`make_example_data` writes the bundled demo
data set (CBF frames, PONI file, cycler log, scan log and ``truth.json``). Everything is
deterministic for a given seed: no wall-clock time, no unordered iteration.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from pyFAI.integrator.azimuthal import AzimuthalIntegrator

from . import powder
from .operando_cell import (
    IMPURITY,
    NVP,
    PHASE_NAMES,
    CellProtocol,
    ReactionPath,
    _phases_for_state,
    phase_state,
)
from .operando_cell import NVP1 as NVP1
from .operando_cell import molar_mass_na_x as molar_mass_na_x
from .operando_cell import molar_mass_v2o3 as molar_mass_v2o3
from .operando_detector import (
    MASKED_VALUE,
    Background,
    DetectorGeometry,
    pixel_two_theta_deg,
    project_to_detector,
    render_counts,
    write_cbf,
)

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


# ------------------------------------------------------------------------ steps


@dataclass(frozen=True)
class _Settings:
    """Everything :func:`make_example_data` was asked for."""

    n_frames: int
    seed: int
    geometry: DetectorGeometry
    protocol: CellProtocol
    path: ReactionPath
    background: Background
    peak_counts: float
    oversampling: int

    @property
    def period_s(self) -> float:
        return self.protocol.duration_s / self.n_frames


@dataclass(frozen=True)
class _Detector:
    """Integrator, mask, sub-pixel 2theta and the 1D model grid of the detector."""

    ai: AzimuthalIntegrator
    mask: np.ndarray
    sub_tth: np.ndarray  # (oversampling**2, ny, nx), deg
    tth_range: tuple  # 2theta of the active sub-pixel points, deg
    grid: np.ndarray  # 1D pattern grid, deg
    beam_xy: tuple  # Fit2D beam centre, pixels


def _detector(geometry: DetectorGeometry, oversampling: int) -> _Detector:
    ai = geometry.integrator()
    mask = ai.detector.mask.astype(bool)
    sub_tth = pixel_two_theta_deg(ai, oversampling)
    active = sub_tth[:, ~mask]
    tth_min, tth_max = float(active.min()), float(active.max())
    grid = np.arange(math.floor(tth_min) - 1.0, math.ceil(tth_max) + 1.0 + 1e-9, 0.002)
    fit2d = ai.getFit2D()
    return _Detector(ai, mask, sub_tth, (tth_min, tth_max), grid,
                     (fit2d["centerX"], fit2d["centerY"]))


class _Sample:
    """The three phases of the electrode: CIF structures and cells, state at any x."""

    def __init__(self, path: ReactionPath):
        self.path = path
        self.structures = {name: powder.load_structure(name) for name in PHASE_NAMES}
        self.base = {name: powder.lattice_of(self.structures[name]) for name in PHASE_NAMES}

    def state(self, x_na: float) -> dict:
        return phase_state(x_na, self.path, self.base)

    def phases(self, x_na: float) -> list[powder.Phase]:
        return _phases_for_state(self.state(x_na), self.structures, self.path)


def _write_frames(out: Path, s: _Settings, det: _Detector, sample: _Sample) -> list:
    """Write the CBF frames; their entries of ``truth.json``."""
    lam = s.geometry.wavelength_a
    starts_s = np.arange(s.n_frames) * s.period_s
    mids_s = starts_s + EXPOSURE_TIME_S / 2.0
    cyc = s.protocol.state(mids_s)
    volt = s.protocol.voltage_v(mids_s)
    # intensity scale fixed by the pristine pattern, independent of n_frames
    pristine = sample.phases(s.path.x_pristine)
    scale = s.peak_counts / float(powder.powder_pattern(det.grid, pristine, lam).max())
    bkg = s.background(det.grid)
    frames = []
    for i in range(s.n_frames):
        x = float(cyc["x_na"][i])
        pattern = scale * powder.powder_pattern(det.grid, sample.phases(x), lam) + bkg
        expected = project_to_detector(det.ai, det.grid, pattern, det.sub_tth,
                                       polarization_factor=0.99)
        counts = render_counts(expected, det.mask, np.random.default_rng([s.seed, i]))
        start = START_TIME + timedelta(seconds=float(starts_s[i]))
        fname = f"nvp_{i + 1:04d}.cbf"
        write_cbf(out / fname, counts, _pilatus_header(start, s.period_s, s.geometry, det.beam_xy))
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
            "phases": _phases_truth(sample.state(x)),
        })
    return frames


def _phases_truth(state: dict) -> dict:
    """Cell, fractions and Na content of every phase of one :func:`phase_state`."""
    return {
        name: {
            "a_a": _round(state[name]["lattice"].a_a, 6),
            "c_a": _round(state[name]["lattice"].c_a, 6),
            "volume_a3": _round(state[name]["lattice"].volume_a3, 4),
            "weight_fraction": _round(state[name]["weight_fraction"], 6),
            "mole_fraction": _round(state[name]["mole_fraction"], 6),
            "x_na": _round(state[name]["x_na"], 6),
        }
        for name in PHASE_NAMES
    }


def _write_logs(out: Path, s: _Settings, frames: list) -> None:
    """``cycler.csv`` (one row every 30 s) and ``scan_log.csv`` (one row per frame)."""
    t_log = np.arange(0.0, s.protocol.duration_s + 1e-9, 30.0)
    log_state = s.protocol.state(t_log)
    log_v = s.protocol.voltage_v(t_log)
    noise = np.random.default_rng([s.seed, 10**6]).normal(0.0, 0.0003, t_log.shape)
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


def _write_geometry_and_structures(out: Path, geometry: DetectorGeometry) -> None:
    """``geometry.poni`` and the CIFs the frames were made from (``structures/``)."""
    (out / "geometry.poni").write_text(geometry.poni_text())
    # the structures the frames were made from, for recipes that index and refine them
    (out / "structures").mkdir(exist_ok=True)
    for name in PHASE_NAMES:
        src = powder.structure_path(name)
        (out / "structures" / src.name).write_bytes(src.read_bytes())


# ------------------------------------------------------------------------ truth


def _truth(s: _Settings, det: _Detector, sample: _Sample, frames: list) -> dict:
    """The content of ``truth.json``."""
    g = s.geometry
    x_first = float(s.protocol.state(EXPOSURE_TIME_S / 2.0)["x_na"][0])  # mid first frame
    first = sample.phases(x_first)
    lam = g.wavelength_a
    return {
        "generator": {
            "name": "xpipe.synth.operando",
            "version": GENERATOR_VERSION,
            "seed": int(s.seed),
            "n_frames": int(s.n_frames),
            "noise": "Poisson, numpy.random.default_rng([seed, frame_index - 1])",
            "command": f"python scripts/make_example_data.py --frames {s.n_frames} --seed {s.seed}",
        },
        "wavelength_a": lam,
        "energy_kev": _round(g.energy_kev, 4),
        "detector": {
            "name": g.detector,
            "shape": [int(v) for v in det.ai.detector.shape],
            "pixel_size_m": [det.ai.detector.pixel1, det.ai.detector.pixel2],
            "masked_value": MASKED_VALUE,
            "two_theta_range_deg": [_round(det.tth_range[0], 3), _round(det.tth_range[1], 3)],
        },
        "geometry": {
            "dist_m": g.distance_m,
            "poni1_m": g.poni1_m,
            "poni2_m": g.poni2_m,
            "rot1_rad": g.rot1_rad,
            "rot2_rad": g.rot2_rad,
            "rot3_rad": g.rot3_rad,
            "beam_center_px": {"x": _round(det.beam_xy[0], 3), "y": _round(det.beam_xy[1], 3)},
            "polarization_factor": 0.99,
        },
        "acquisition": {
            "start_time_iso": _iso_ms(START_TIME),
            "exposure_time_s": EXPOSURE_TIME_S,
            "exposure_period_s": _round(s.period_s, 6),
            "peak_counts": s.peak_counts,
            "pixel_oversampling": s.oversampling,
            "background": asdict(s.background),
        },
        "electrochemistry": _truth_electrochemistry(s.protocol),
        "reaction_path": _truth_reaction_path(s.path, sample),
        "frames": frames,
        "reflections_frame1": {ph.name: _reflection_table(ph, lam, det.tth_range, 15)
                               for ph in first},
    }


def _truth_electrochemistry(protocol: CellProtocol) -> dict:
    return {
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
    }


def _truth_reaction_path(path: ReactionPath, sample: _Sample) -> dict:
    return {
        "x_pristine": path.x_pristine,
        "x_solid_solution_boundary": path.x_boundary,
        "x_desodiated": path.x_desodiated,
        "strain_a_at_boundary": path.strain_a_at_boundary,
        "strain_c_at_boundary": path.strain_c_at_boundary,
        "impurity": IMPURITY,
        "impurity_weight_fraction_pristine": path.impurity_weight_fraction,
        "cif": {name: powder.BUNDLED_STRUCTURES[name] for name in PHASE_NAMES},
        "cif_cells": {name: asdict(sample.base[name]) for name in PHASE_NAMES},
        "profiles": {name: asdict(path.profiles[name]) for name in PHASE_NAMES},
    }


def _readme_text(s: _Settings, det: _Detector) -> str:
    g, protocol = s.geometry, s.protocol
    return README_TEMPLATE.format(
        last=s.n_frames, n_frames=s.n_frames, energy=g.energy_kev, wavelength=g.wavelength_a,
        dist_mm=g.distance_m * 1e3, bx=det.beam_xy[0], by=det.beam_xy[1],
        tmin=det.tth_range[0], tmax=det.tth_range[1], period=s.period_s,
        exposure=EXPOSURE_TIME_S, start=_iso_ms(START_TIME),
        mass=protocol.active_mass_mg, cap=protocol.theoretical_capacity_mah_g,
        rest=protocol.ocv_rest_s, inv_rate=1.0 / protocol.c_rate, current=protocol.current_ma,
        top=protocol.top_rest_s, qna=protocol.capacity_per_na_mah, seed=s.seed,
    )


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
    geometry, protocol, path, background : optional
        Detector geometry, cycling protocol, structural path and background (default:
        those of the bundled data set).
    peak_counts : float
        Scale: the strongest peak of the pristine 1D pattern, per unit solid angle,
        before pixel averaging, in counts.
    oversampling : int
        Sub-pixel points per pixel side of the detector projection.

    Returns
    -------
    dict
        The content written to ``truth.json`` (times in s, cells in angstrom, voltages in
        V vs Na+/Na).

    Raises
    ------
    ValueError
        When ``n_frames`` is below 1.

    Examples
    --------
    One frame with pixel-centre sampling:

    >>> import tempfile
    >>> truth = make_example_data(tempfile.mkdtemp(), n_frames=1, oversampling=1)
    >>> frame = truth["frames"][0]
    >>> frame["file"], frame["x_na"], frame["phases"]["Na3V2(PO4)3"]["a_a"]
    ('nvp_0001.cbf', 3.0, 8.7288)
    """
    if n_frames < 1:
        raise ValueError("n_frames must be >= 1")
    s = _Settings(n_frames, seed, geometry or DetectorGeometry(), protocol or CellProtocol(),
                  path or ReactionPath(), background or Background(), peak_counts,
                  oversampling)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    det = _detector(s.geometry, oversampling)
    sample = _Sample(s.path)
    frames = _write_frames(out, s, det, sample)
    _write_logs(out, s, frames)
    _write_geometry_and_structures(out, s.geometry)
    truth = _truth(s, det, sample, frames)
    with open(out / "truth.json", "w") as fh:
        json.dump(truth, fh, indent=1)
        fh.write("\n")
    (out / "README.md").write_text(_readme_text(s, det))
    return truth
