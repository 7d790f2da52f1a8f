"""Rendering and writing of scenarios: 1D patterns, detector frames, truth, recipe.

Detector model: the 1D pattern (counts per unit solid angle, see :mod:`.physics`) plus the
background is averaged over 2 x 2 sub-pixel points of every pixel (linear interpolation on
a 0.002 deg grid), multiplied by pyFAI's relative solid angle and polarisation factor
(0.99), by 0.01 in the beamstop shadow, and turned into Poisson counts with
``numpy.random.default_rng([seed, frame_index])``. Module gaps and dead pixels carry -1 and
-2 (Pilatus CBF, int32) or 2**32 - 1 (Eiger HDF5, uint32).
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse as sp
from pyFAI.io.ponifile import PoniFile

from .. import powder
from ..operando_detector import write_cbf
from . import physics
from .model import POLARIZATION_FACTOR, Scenario, beamstop_mask, integrator

try:
    import hdf5plugin
except ImportError:  # pragma: no cover - hdf5plugin is a dependency of the readers
    hdf5plugin = None

__all__ = ["render_patterns_1d", "write_scenario"]

GRID_STEP_DEG = 0.002
OVERSAMPLING = 2
EIGER_INVALID = 2**32 - 1
SHADOW_TRANSMISSION = 0.01


# --------------------------------------------------------------------- 1D patterns


class _PatternMaker:
    """Noise-free 1D patterns of the frames of a scenario on a fixed 2theta grid."""

    def __init__(self, scenario: Scenario, lo: float, hi: float):
        self.s = scenario
        self.lo = math.floor(lo / GRID_STEP_DEG) * GRID_STEP_DEG
        n = int(round((hi - self.lo) / GRID_STEP_DEG)) + 1
        self.grid = self.lo + GRID_STEP_DEG * np.arange(n)
        self._unit: dict = {}
        self.background = scenario.background(self.grid)
        first = self.crystalline(0)
        top = float(first.max()) if first.size else 0.0
        self.scale = scenario.peak_counts / top if top > 0 else 1.0

    def _unit_pattern(self, spec, cell, w_deg2) -> np.ndarray:
        """Pattern of one phase at weight fraction 1 (cached per cell and width)."""
        key = (spec.name, cell, w_deg2)
        out = self._unit.get(key)
        if out is None:
            model = physics.phase_model(spec.cif)
            lam = self.s.wavelength_a
            centers, areas = physics.peak_list(
                model, cell, lam, 1.0, spec.texture, self.grid[0] - 3.0, self.grid[-1] + 3.0)
            fwhm = powder.caglioti_fwhm_deg(centers, spec.u_deg2, spec.v_deg2, w_deg2)
            out = np.zeros_like(self.grid)
            physics.add_peaks(out, self.lo, GRID_STEP_DEG, centers, areas,
                              np.asarray(fwhm, float), spec.eta)
            self._unit[key] = out
        return out

    def crystalline(self, i: int) -> np.ndarray:
        out = np.zeros_like(self.grid)
        frame = self.s.frames[i]
        for spec in self.s.phases:
            st = frame.state(spec.name)
            if st.weight_fraction > 0:
                out += st.weight_fraction * self._unit_pattern(spec, st.cell, st.w_deg2)
        return out

    def expected(self, i: int) -> np.ndarray:
        """Counts per unit solid angle (per pixel at normal incidence) of frame ``i``."""
        return self.scale * self.crystalline(i) + self.background


def render_patterns_1d(scenario: Scenario, n_points: int = 3000) -> dict:
    """The scenario's patterns straight on a 1D 2theta grid, without a detector.

    Same phases, cells, widths, texture, Lorentz factor and background as the frames; the
    pattern is what a solid-angle- and polarisation-corrected azimuthal integration gives,
    bin-averaged over ``n_points`` bins spanning ``scenario.two_theta_range_deg``, times
    ``scenario.pixels_per_bin_1d`` (the counting level), with Poisson noise from
    ``numpy.random.default_rng([seed, frame_index, 1])``.

    Parameters
    ----------
    scenario : Scenario
        The scenario (:func:`make_scenario`).
    n_points : int
        Number of 2theta bins.

    Returns
    -------
    dict
        ``two_theta_deg`` (n_points,) bin centres, ``counts`` and ``sigma`` (frames,
        n_points) with ``sigma = sqrt(max(counts, 1))``, ``wavelength_a``,
        ``frame_time_s`` (frames,) mid-exposure times since the first frame's start.

    Examples
    --------
    >>> from xpipe.synth.scenarios import make_scenario
    >>> p = render_patterns_1d(make_scenario(10, n_frames=2), n_points=500)
    >>> p["counts"].shape, round(float(p["two_theta_deg"][0]), 3), int(p["counts"].max())
    ((2, 500), 6.097, 30294)
    """
    lo, hi = scenario.two_theta_range_deg
    edges = np.linspace(lo, hi, n_points + 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    maker = _PatternMaker(scenario, lo - 1.0, hi + 1.0)
    counts = np.empty((scenario.n_frames, n_points))
    for i in range(scenario.n_frames):
        y = maker.expected(i)
        # exact bin averages from the running integral of the fine pattern
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * GRID_STEP_DEG)])
        at = np.interp(edges, maker.grid, cum)
        mean = np.diff(at) / np.diff(edges)
        rng = np.random.default_rng([scenario.seed, i, 1])
        counts[i] = rng.poisson(np.clip(mean * scenario.pixels_per_bin_1d, 0.0, None))
    return {
        "two_theta_deg": centres,
        "counts": counts,
        "sigma": np.sqrt(np.maximum(counts, 1.0)),
        "wavelength_a": scenario.wavelength_a,
        "frame_time_s": np.array([f.mid_time_s for f in scenario.frames]),
    }


# ---------------------------------------------------------------------- detector


def _projection(ai, lo: float, n_grid: int):
    """Sparse (pixels x grid) matrix: sub-pixel average x solid angle x polarisation."""
    shape = ai.detector.shape
    ny, nx = shape
    ii, jj = np.meshgrid(np.arange(ny, dtype=float), np.arange(nx, dtype=float), indexing="ij")
    offsets = (np.arange(OVERSAMPLING) + 0.5) / OVERSAMPLING - 0.5
    cols, vals = [], []
    for di in offsets:
        for dj in offsets:
            f = (np.degrees(ai.tth(ii + di, jj + dj)).ravel() - lo) / GRID_STEP_DEG
            i0 = np.clip(np.floor(f), 0, n_grid - 2).astype(np.int32)
            w = np.clip(f - i0, 0.0, 1.0)
            cols += [i0, i0 + 1]
            vals += [1.0 - w, w]
    k = len(cols)
    cols = np.stack(cols, axis=1).ravel()
    norm = ai.solidAngleArray(shape).ravel() * ai.polarization(
        shape, factor=POLARIZATION_FACTOR).ravel() / (OVERSAMPLING * OVERSAMPLING)
    vals = (np.stack(vals, axis=1) * norm[:, None]).ravel()
    indptr = np.arange(0, ny * nx * k + 1, k, dtype=np.int64)
    return sp.csr_matrix((vals, cols, indptr), shape=(ny * nx, n_grid))


def _invalid_pixels(scenario: Scenario, ai) -> tuple[np.ndarray, np.ndarray]:
    """Module gaps (the detector's mask) and randomly placed dead pixels."""
    shape = ai.detector.shape
    gaps = (np.zeros(shape, bool) if ai.detector.mask is None
            else np.asarray(ai.detector.mask, bool))
    dead = np.zeros(shape, bool)
    rng = np.random.default_rng([scenario.seed, 424242])
    n = scenario.detector.dead_pixels
    dead.flat[rng.choice(dead.size, size=n, replace=False)] = True
    return gaps, dead & ~gaps


def _pilatus_header(scenario: Scenario, start: datetime, beam_xy) -> str:
    g = scenario.geometry
    lines = [
        f"# Detector: {scenario.detector.name.upper()} (simulated), S/N 0-0000-SIM",
        f"# {start.isoformat(timespec='milliseconds')}",
        "# Pixel_size 172e-6 m x 172e-6 m",
        "# Silicon sensor, thickness 0.001000 m",
        f"# Exposure_time {scenario.exposure_s:.6f} s",
        f"# Exposure_period {scenario.period_s:.6f} s",
        "# Tau = 0 s",
        "# Count_cutoff 1048575 counts",
        "# N_excluded_pixels = 0",
        f"# Wavelength {scenario.wavelength_a:.5f} A",
        f"# Detector_distance {g.distance_m:.5f} m",
        f"# Beam_xy ({beam_xy[0]:.2f}, {beam_xy[1]:.2f}) pixels",
        f"# Polarization {POLARIZATION_FACTOR:.3f}",
    ]
    return "\r\n".join(lines)


def _poni_text(ai) -> str:
    buf = io.StringIO()
    PoniFile(ai).write(buf)
    lines = ["# Geometry of a simulated data set (xpipe.synth.scenarios); no calibration"
             if line.startswith("# Calibration done") else line
             for line in buf.getvalue().splitlines()]
    return "\n".join(lines) + "\n"


def _write_hdf5(path: Path, scenario: Scenario, stack_writer, beam_xy, pixel_mask) -> None:
    if hdf5plugin is not None:
        compression = dict(hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
    else:  # pragma: no cover - hdf5plugin is a dependency of the readers
        compression = {"compression": "gzip", "compression_opts": 1}
    ny, nx = scenario.detector.shape
    n = scenario.n_frames
    start = datetime.fromisoformat(scenario.start_time_iso)
    with h5py.File(path, "w", libver="earliest", track_order=False) as h5:
        entry = h5.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "data"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "data"
        ds = data.create_dataset("data", shape=(n, ny, nx), dtype=np.uint32,
                                 chunks=(1, ny, nx), track_times=False, **compression)
        ds.attrs["image_nr_low"] = np.int32(1)
        ds.attrs["image_nr_high"] = np.int32(n)
        inst = entry.create_group("instrument")
        inst.attrs["NX_class"] = "NXinstrument"
        det = inst.create_group("detector")
        det.attrs["NX_class"] = "NXdetector"

        def scalar(group, name, value, units=None):
            d = group.create_dataset(name, data=value, track_times=False)
            if units:
                d.attrs["units"] = units

        scalar(det, "description", f"Dectris {scenario.detector.name} (simulated)")
        scalar(det, "count_time", float(scenario.exposure_s), "s")
        scalar(det, "frame_time", float(scenario.period_s), "s")
        scalar(det, "x_pixel_size", float(scenario.detector.pixel_m[1]), "m")
        scalar(det, "y_pixel_size", float(scenario.detector.pixel_m[0]), "m")
        scalar(det, "detector_distance", float(scenario.geometry.distance_m), "m")
        scalar(det, "beam_center_x", float(beam_xy[0]), "pixel")
        scalar(det, "beam_center_y", float(beam_xy[1]), "pixel")
        spec = det.create_group("detectorSpecific")
        scalar(spec, "data_collection_date", start.isoformat(timespec="milliseconds"))
        scalar(spec, "nimages", np.int64(n))
        spec.create_dataset("pixel_mask", data=pixel_mask.astype(np.uint32), track_times=False,
                            **compression)
        if scenario.time_source == "hdf5_dataset":
            scalar(entry, "start_time", start.isoformat(timespec="milliseconds"))
            scalar(det, "frame_start_time_s",
                   np.array([f.start_s for f in scenario.frames], dtype=np.float64), "s")
        beam = inst.create_group("beam")
        beam.attrs["NX_class"] = "NXbeam"
        scalar(beam, "incident_wavelength", float(scenario.wavelength_a), "angstrom")
        for i, frame in stack_writer():
            ds[i] = frame


# ------------------------------------------------------------------------- writer


def _r(v, nd=6):
    return float(round(float(v), nd))


def truth_dict(scenario: Scenario, ai=None) -> dict:
    """The content of ``truth.json`` (layout in the package docstring).

    Parameters
    ----------
    scenario : Scenario
        The scenario.
    ai : pyFAI.integrator.azimuthal.AzimuthalIntegrator, optional
        Its integrator, for the beam centre (default: :func:`integrator` of the scenario).

    Returns
    -------
    dict
        Plain JSON data (cells in angstrom and degrees, times in s).

    Examples
    --------
    >>> from xpipe.synth.scenarios import make_scenario
    >>> t = truth_dict(make_scenario(10, n_frames=2))
    >>> t["kind"], t["detector"]["name"], t["geometry"]["beam_position"]
    ('biphasic', 'Pilatus300k', 'off')
    >>> [f["phases"]["lambda-MnO2"]["weight_fraction"] for f in t["frames"]]
    [0.2190624, 1.0]
    """
    ai = ai or integrator(scenario)
    f2d = ai.getFit2D()
    g = scenario.geometry
    det = scenario.detector
    return {
        "seed": scenario.seed,
        "kind": scenario.kind,
        "description": scenario.description,
        "wavelength_a": scenario.wavelength_a,
        "detector": {
            "name": det.name,
            "format": det.file_format,
            "dtype": det.dtype,
            "shape": list(det.shape),
            "pixel_size_m": list(det.pixel_m),
            "invalid_value": -1 if det.dtype == "int32" else EIGER_INVALID,
            "dead_pixels": det.dead_pixels,
            "time_source": scenario.time_source,
            "start_time_iso": scenario.start_time_iso,
            "exposure_s": scenario.exposure_s,
            "period_s": scenario.period_s,
        },
        "geometry": {
            "dist_m": g.distance_m, "poni1_m": g.poni1_m, "poni2_m": g.poni2_m,
            "rot1_rad": g.rot1_rad, "rot2_rad": g.rot2_rad, "rot3_rad": g.rot3_rad,
            "beam_center_px": {"x": _r(f2d["centerX"], 3), "y": _r(f2d["centerY"], 3)},
            "beam_position": g.beam_position,
            "beamstop_radius_px": g.beamstop_radius_px,
            "polarization_factor": POLARIZATION_FACTOR,
            "two_theta_range_deg": list(scenario.two_theta_range_deg),
        },
        "counting": {
            "peak_counts_per_pixel": scenario.peak_counts,
            "pixels_per_bin_1d": scenario.pixels_per_bin_1d,
            "background": {k: getattr(scenario.background, k)
                           for k in scenario.background.__dataclass_fields__},
        },
        "phases": [_phase_truth(p) for p in scenario.phases],
        "frames": [_frame_truth(f) for f in scenario.frames],
        "two_phase_windows": [{"phases": [a, b], "first_frame": i, "last_frame": j}
                              for a, b, i, j in scenario.two_phase_windows],
    }


def _phase_truth(p) -> dict:
    """One entry of ``phases`` in ``truth.json``."""
    return {
        "name": p.name,
        "cif": f"structures/{p.cif}",
        "space_group": p.space_group,
        "system": p.system,
        "role": p.role,
        "preferred_orientation": None if p.po_hkl is None else {
            "march_dollase_hkl": list(p.po_hkl), "march_dollase_r": p.po_r},
        "profile": {"u_deg2": p.u_deg2, "v_deg2": p.v_deg2, "w_deg2": p.w_deg2,
                    "w_end_deg2": p.w_end_deg2, "eta": p.eta},
        "cif_cell": list(p.cif_cell),
    }


def _frame_truth(f) -> dict:
    """One entry of ``frames`` in ``truth.json``."""
    entry = {"file": f.file, "mid_time_s": f.mid_time_s, "state_of_charge": f.soc,
             "phases": {}}
    for name, st in f.phases:
        a, b, c, al, be, ga = st.cell
        entry["phases"][name] = {
            "weight_fraction": st.weight_fraction, "a_a": a, "b_a": b, "c_a": c,
            "alpha_deg": al, "beta_deg": be, "gamma_deg": ga,
            "volume_a3": _r(st.volume_a3, 4), "fwhm_w_deg2": st.w_deg2,
        }
    return entry


def recipe_text(scenario: Scenario, has_mask: bool) -> str:
    """The scenario's recipe (YAML), paths relative to the recipe's folder.

    Parameters
    ----------
    scenario : Scenario
        The scenario.
    has_mask : bool
        Whether a beamstop mask (``mask.npy``) is written beside the recipe.

    Returns
    -------
    str
        The recipe text.

    Examples
    --------
    >>> from xpipe.synth.scenarios import make_scenario
    >>> text = recipe_text(make_scenario(10, n_frames=2), has_mask=True)
    >>> [line for line in text.splitlines() if line.startswith("    - name")]
    ['    - name: "LiMn2O4"', '    - name: "NiO"', '    - name: "lambda-MnO2"']
    """
    q = json.dumps
    det = scenario.detector
    rng = np.random.default_rng([scenario.seed, 31337])
    npt = int(rng.integers(2000, 3001))
    lo, hi = scenario.two_theta_range_deg
    lines = [
        f"# Simulated operando XRD, scenario {scenario.seed} ({scenario.kind}), written by",
        "# xpipe.synth.scenarios.write_scenario; ground truth in truth.json beside this file.",
        f"name: {q(f'scenario {scenario.seed} ({scenario.kind})')}",
        f"description: {q(scenario.description)}",
        "output: results",
        "",
        "run:",
        "  executor: serial",
        "",
        "xrd:",
        "  frames:",
        *_recipe_frames(scenario),
        "  integrate:",
        "    poni: geometry.poni",
        f"    npt: {npt}",
        "    unit: 2th_deg",
        "    method: bbox/csr/cython",
        f"    polarization_factor: {POLARIZATION_FACTOR}",
        "    correct_solid_angle: true",
        "    error_model: poisson",
        "    use_detector_mask: true",
        "    mask_negative: true",
    ]
    if det.dtype == "uint32":
        lines += [f"    dummy: {EIGER_INVALID}", "    delta_dummy: 1.0"]
    if has_mask:
        lines.append("    mask: mask.npy                 # beamstop shadow")
    lines += [
        "  figures:",
        "    contour: false",
        "    tracked: false",
        "    lattice: false",
        "  peaks:",
        f"    range: [{lo:.2f}, {hi:.2f}]",
        "  phases:",
    ]
    for p in scenario.phases:
        lines += [f"    - name: {q(p.name)}", f"      cif: structures/{p.cif}"]
        if p.po_hkl is not None:  # the direction is known, r is left to the refinement
            h = ", ".join(str(v) for v in p.po_hkl)
            lines.append(f"      preferred_orientation: {{march_dollase_hkl: [{h}], "
                         "march_dollase_r: 1.0}")
    return "\n".join(lines) + "\n"


def _recipe_frames(scenario: Scenario) -> list[str]:
    """The ``xrd.frames`` lines of the recipe: files and where their times come from."""
    if scenario.detector.file_format == "cbf":
        lines = ["    files: frame_*.cbf"]
        if scenario.time_source == "scan_log":
            lines += ["    time_source: scan_log", "    scan_log:", "      file: scan_log.csv",
                      "      file_column: file", "      start_column: start_time",
                      "      end_column: end_time"]
        else:
            lines.append("    time_source: header")
        return lines
    lines = ["    files: frames.h5::/entry/data/data", "    time_source: hdf5"]
    if scenario.time_source == "hdf5_dataset":
        lines.append("    hdf5_time_dataset: /entry/instrument/detector/frame_start_time_s")
    return lines


def write_scenario(scenario: Scenario, out_dir: str | Path) -> Path:
    """Render and write a scenario; return the path of its ``recipe.yaml``.

    Writes the frames (``frame_0001.cbf``... or ``frames.h5``), ``geometry.poni`` (PONI 2.1),
    ``mask.npy`` (beamstop shadow, when the beam hits the detector), ``scan_log.csv`` (when
    the recipe takes times from it), ``structures/*.cif`` (every candidate phase),
    ``truth.json`` and ``recipe.yaml``. Same scenario, same bytes.

    Parameters
    ----------
    scenario : Scenario
        The scenario.
    out_dir : path
        Output folder (created).

    Returns
    -------
    pathlib.Path
        The recipe.

    Examples
    --------
    >>> import tempfile
    >>> from xpipe.synth.scenarios import make_scenario
    >>> recipe = write_scenario(make_scenario(10, n_frames=2), tempfile.mkdtemp())
    >>> recipe.name, sorted(p.name for p in recipe.parent.glob("*.cbf"))
    ('recipe.yaml', ['frame_0001.cbf', 'frame_0002.cbf'])
    >>> (recipe.parent / "scan_log.csv").read_text().splitlines()[1]
    'frame_0001.cbf,2025-01-11T13:46:00.000,2025-01-11T13:50:02.630'
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ai = integrator(scenario)
    shadow = beamstop_mask(ai, scenario.geometry)
    _write_frames(out, scenario, ai, shadow)
    if scenario.time_source == "scan_log":
        _write_scan_log(out, scenario)
    has_mask = bool(shadow.any())
    if has_mask:
        np.save(out / "mask.npy", shadow.astype(np.uint8))
    (out / "geometry.poni").write_text(_poni_text(ai))
    (out / "structures").mkdir(exist_ok=True)
    for p in scenario.phases:
        src = powder.structure_path(p.cif)
        (out / "structures" / src.name).write_bytes(src.read_bytes())
    with open(out / "truth.json", "w") as fh:
        json.dump(truth_dict(scenario, ai), fh, indent=1)
        fh.write("\n")
    recipe = out / "recipe.yaml"
    recipe.write_text(recipe_text(scenario, has_mask))
    return recipe


def _write_frames(out: Path, scenario: Scenario, ai, shadow: np.ndarray) -> None:
    """The frames, as CBF files or one HDF5 stack: projected patterns, Poisson counts."""
    shape = ai.detector.shape
    lo_det, hi_det = _detector_range(ai)
    maker = _PatternMaker(scenario, max(0.05, lo_det - 0.5), hi_det + 0.5)
    proj = _projection(ai, maker.lo, maker.grid.size)
    gaps, dead = _invalid_pixels(scenario, ai)
    transmission = np.where(shadow, SHADOW_TRANSMISSION, 1.0).ravel()
    f2d = ai.getFit2D()
    beam_xy = (f2d["centerX"], f2d["centerY"])
    start0 = datetime.fromisoformat(scenario.start_time_iso)

    def frames():
        for i in range(scenario.n_frames):
            expected = (proj @ maker.expected(i)) * transmission
            rng = np.random.default_rng([scenario.seed, i])
            counts = rng.poisson(np.clip(expected, 0.0, None)).reshape(shape)
            if scenario.detector.dtype == "int32":
                counts = counts.astype(np.int32)
                counts[gaps] = -1
                counts[dead] = -2
            else:
                counts = counts.astype(np.uint32)
                counts[gaps | dead] = EIGER_INVALID
            yield i, counts

    if scenario.detector.file_format == "cbf":
        for i, counts in frames():
            start = start0 + timedelta(seconds=scenario.frames[i].start_s)
            write_cbf(out / scenario.frames[i].file, counts,
                      _pilatus_header(scenario, start, beam_xy))
    else:
        _write_hdf5(out / "frames.h5", scenario, frames, beam_xy, gaps | dead)


def _write_scan_log(out: Path, scenario: Scenario) -> None:
    """``scan_log.csv``: file, start and end time (ISO 8601, ms) of every exposure."""
    start0 = datetime.fromisoformat(scenario.start_time_iso)
    with open(out / "scan_log.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["file", "start_time", "end_time"])
        for f in scenario.frames:
            t = start0 + timedelta(seconds=f.start_s)
            w.writerow([f.file, t.isoformat(timespec="milliseconds"),
                        (t + timedelta(seconds=scenario.exposure_s)).isoformat(
                            timespec="milliseconds")])


def _detector_range(ai) -> tuple[float, float]:
    """2theta range (deg) of all pixel corners."""
    ny, nx = ai.detector.shape
    yy, xx = np.mgrid[0: ny + 1: 8, 0: nx + 1: 8].astype(float) - 0.5
    tth = np.degrees(ai.tth(yy, xx))
    edge_y = np.arange(ny + 1, dtype=float) - 0.5
    edge_x = np.arange(nx + 1, dtype=float) - 0.5
    rims = [np.degrees(ai.tth(edge_y, np.full_like(edge_y, v))) for v in (-0.5, nx - 0.5)]
    rims += [np.degrees(ai.tth(np.full_like(edge_x, v), edge_x)) for v in (-0.5, ny - 0.5)]
    allv = np.concatenate([tth.ravel()] + rims)
    return float(allv.min()), float(allv.max())
