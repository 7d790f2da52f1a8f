"""Stage: tracked peaks, events, lattice parameters and phase fractions from the pattern stack.

Runs on the whole pattern stack once the integrate (or patterns) stage has written it (no
per-frame work for the runner to distribute); the science is in :mod:`xpipe.xrd.operando`. Writes
``/entry/xrd/{peaks,events,lattice}``, the matching CSV tables and the figures
``xrd_contour_tracked.png`` and ``lattice.png``.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

import numpy as np

from ..nexus import nx_name, radial_units, set_units
from ..outfiles import atomic_open, safe_target
from ..recipe.sections.xrd_phases import LatticeConfig, PeaksConfig, PhaseConfig
from ..results import read_patterns
from ..store import nx_group, set_attrs, write_record, write_strings
from ..xrd.geometry import d_spacing_a
from ..xrd.operando import CELL_KEYS, AnalysisSettings, PhaseAnalysis, analyse_stack
from ..xrd.phases import PhaseModel, make_phase
from ..xrd.sequential import RefinementSettings
from .base import Stage, StageSummary
from .output import RADIAL_COLUMN, csv_value
from .xrd_figures import plot_lattice, plot_tracked_contour

log = logging.getLogger("xpipe")

#: Names of the cell datasets in /entry/xrd/lattice/<phase>/ and the CSV columns.
LATTICE_NAMES = {"a_a": "a", "b_a": "b", "c_a": "c", "alpha_deg": "alpha", "beta_deg": "beta",
                 "gamma_deg": "gamma", "volume_a3": "volume"}
LATTICE_UNITS = {"a_a": "angstrom", "b_a": "angstrom", "c_a": "angstrom", "alpha_deg": "deg",
                 "beta_deg": "deg", "gamma_deg": "deg", "volume_a3": "angstrom^3"}


# ----------------------------------------------------------------------------- recipe


# ----------------------------------------------------------------------------- stage


def analysis_settings(peaks: PeaksConfig, lattice: LatticeConfig, phases: list[PhaseConfig] = ()) -> AnalysisSettings:
    """The settings of the stack analysis from the recipe's ``xrd.peaks`` and ``xrd.lattice``.

    Parameters
    ----------
    peaks : xpipe.recipe.sections.xrd_phases.PeaksConfig
        Peak finding and tracking (radial range in the stack's unit, background, prominence).
    lattice : xpipe.recipe.sections.xrd_phases.LatticeConfig
        Indexing, cell refinement and the whole-pattern refinement settings.
    phases : list of xpipe.recipe.sections.xrd_phases.PhaseConfig
        The phases; their preferred orientation becomes the refinement's texture.

    Returns
    -------
    xpipe.xrd.operando.AnalysisSettings
        What :func:`xpipe.xrd.operando.analyse_stack` takes.

    Examples
    --------
    >>> import pathlib, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> xrd = xpipe.load_recipe(root / "recipes" / "nvp_operando.yaml").recipe.xrd
    >>> s = analysis_settings(xrd.peaks, xrd.lattice, xrd.phases)
    >>> s.radial_range, s.background_method, s.min_frames, s.cell_method, s.refinement.texture
    ((6.0, 28.0), 'snip', 3, 'auto', {})
    """
    return AnalysisSettings(
        radial_range=tuple(peaks.range) if peaks.range else None,
        background_method=peaks.background,
        prominence_noise=peaks.prominence,
        shift_fwhm=peaks.max_shift_fwhm,
        max_gap=peaks.max_gap,
        min_frames=peaks.min_frames,
        separation_fwhm=peaks.separation_fwhm,
        block_size=peaks.block_size,
        absolute_sigma=peaks.absolute_sigma,
        split_relative=peaks.split_relative,
        shift_sigma=peaks.shift_sigma,
        tolerance_relative=lattice.tolerance_relative,
        tolerance_fwhm=lattice.tolerance_fwhm,
        clean_fwhm=lattice.clean_fwhm,
        zero_shift=lattice.zero_shift,
        cell_method=lattice.method,
        lorentz=lattice.lorentz,
        refinement=RefinementSettings(
            background_spacing_fwhm=lattice.background_spacing_fwhm, snip_background=lattice.snip_background,
            significance_z=lattice.significance_z, stay_z=min(lattice.stay_z, lattice.significance_z),
            max_step=lattice.max_step, max_cell_change=lattice.max_cell_change,
            search_relative=lattice.search_relative, zero_shift=lattice.zero_shift,
            direction=lattice.direction, fraction_jump=lattice.fraction_jump, lorentz=lattice.lorentz,
            refine_profile_z=10.0 if lattice.refine_profile else math.inf,
            texture={p.name: (tuple(int(v) for v in p.preferred_orientation.march_dollase_hkl),
                              p.preferred_orientation.march_dollase_r, p.preferred_orientation.refine)
                     for p in phases if p.preferred_orientation is not None}),
    )


def _build_phases(configs: list[PhaseConfig], d_min_a: float, d_max_a: float) -> list[PhaseModel]:
    """Phase models with reflections from ``d_min_a`` to ``d_max_a`` (a margin is added)."""
    out = []
    for pc in configs:
        out.append(make_phase(pc.name, cif=pc.cif, space_group=pc.space_group, cell=pc.approximate_cell(),
                              family=pc.family, d_min_a=d_min_a * 0.95, d_max_a=d_max_a * 1.05))
    return out


def _d_range(x: np.ndarray, unit: str, wavelength_a: float | None,
             radial_range) -> tuple[float, float]:
    lo, hi = (radial_range if radial_range else (float(np.nanmin(x)), float(np.nanmax(x))))
    d = d_spacing_a(np.array([max(lo, 1e-6), hi]), unit, wavelength_a)
    return float(np.min(d)), float(min(np.max(d), 1e3))


def radial_unit(xrd) -> str:
    """The radial unit of the stack the recipe's ``xrd`` section makes (frames or patterns).

    Parameters
    ----------
    xrd : xpipe.recipe.sections.xrd.XrdConfig
        The recipe's ``xrd`` section.

    Returns
    -------
    str
        pyFAI's spelling: ``2th_deg``, ``q_nm^-1`` or ``q_A^-1``.

    Examples
    --------
    >>> import pathlib, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> xrd = xpipe.load_recipe(root / "recipes" / "nvp_operando.yaml").recipe.xrd
    >>> radial_unit(xrd)
    '2th_deg'
    """
    return xrd.patterns.unit if xrd.patterns is not None else xrd.integrate.unit


class PhasesStage(Stage):
    """Whole-stack stage: no items of its own, it works in :meth:`write`.

    :meth:`write` reads the stack the integrate (or patterns) stage wrote, tracks its peaks,
    indexes them and refines the phases' cells, and writes ``/entry/xrd/{peaks,events,
    lattice}``; :meth:`after` writes the CSV tables and the figures.

    Parameters
    ----------
    xrd : xpipe.recipe.sections.xrd.XrdConfig
        The recipe's ``xrd`` section, with ``peaks``.
    base_dir : Path
        The recipe's folder.

    Examples
    --------
    >>> import tempfile, h5py
    >>> from xpipe.stages.registry import build_stages
    >>> import pathlib, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_operando.yaml")
    >>> stage = build_stages(loaded.recipe, loaded.base_dir)[1]
    >>> stage.name, stage.keys(), stage.depends_on
    ('xrd_phases', [], ('xrd.integrate', 'xrd.patterns'))
    >>> stage.plan_lines()[0][:54]
    'peaks in [6.0, 28.0], phases: Na3V2(PO4)3, NaV2(PO4)3,'
    >>> with h5py.File(pathlib.Path(tempfile.mkdtemp()) / "results.h5", "w") as h5:
    ...     stage.write(h5.create_group("entry"), None).failed  # no stack written before it
    [('xrd peaks', 'no integrated patterns to analyse')]
    """

    name = "xrd_phases"
    caches_state = True
    label = "pattern stack"

    @classmethod
    def from_recipe(cls, recipe, base_dir: Path, built: dict[str, Stage]) -> PhasesStage | None:
        xrd = recipe.xrd
        return cls(xrd, base_dir) if xrd is not None and xrd.peaks is not None else None

    def __init__(self, xrd, base_dir: Path) -> None:
        self.cfg = xrd
        self.base_dir = base_dir
        self.analysis: PhaseAnalysis | None = None
        self.error: str | None = None

    depends_on = ("xrd.integrate", "xrd.patterns")

    def keys(self) -> list[str]:
        return []

    def fingerprint(self):
        return (self.cfg.peaks, self.cfg.phases, self.cfg.lattice), []

    def cache_state(self):
        return {"analysis": self.analysis, "error": self.error}

    def restore_state(self, state) -> None:
        self.analysis, self.error = state["analysis"], state["error"]

    def worker(self):
        return None

    def plan_lines(self) -> list[str]:
        names = ", ".join(p.name for p in self.cfg.phases) or "none (tracks and events only)"
        rng = self.cfg.peaks.range
        return [f"peaks in {list(rng) if rng else 'the whole radial range'}, phases: {names}, "
                f"cells by {self.cfg.lattice.method}"]

    def write(self, entry, checkpoints):
        if "xrd/integrated" not in entry:
            return StageSummary(0, [("xrd peaks", "no integrated patterns to analyse")], [])
        stack = read_patterns(entry)
        if stack.n_frames < 1:
            return StageSummary(0, [("xrd peaks", "no frame was integrated, nothing to track")], [])
        unit = stack.unit or radial_unit(self.cfg)
        try:
            phases = []
            if self.cfg.phases:
                lo, hi = _d_range(stack.radial, unit, stack.wavelength_a, self.cfg.peaks.range)
                phases = _build_phases(self.cfg.phases, lo, hi)
            self.analysis = analyse_stack(
                stack.radial, stack.intensity, stack.sigma if np.isfinite(stack.sigma).any() else None,
                unit=unit, wavelength_a=stack.wavelength_a, phases=phases, frame_time_s=stack.frame_time_s,
                settings=analysis_settings(self.cfg.peaks, self.cfg.lattice, self.cfg.phases))
        except ValueError as exc:
            self.error = str(exc)
            log.error("xrd peaks: %s", exc)
            return StageSummary(0, [("xrd peaks", str(exc))], [])
        for m in self.analysis.messages:
            log.warning("xrd peaks: %s", m)
        _write_analysis(entry["xrd"], self.analysis)
        inputs = [(str(pc.cif), None) for pc in self.cfg.phases if pc.cif]
        return StageSummary(0, [], inputs)

    def after(self, results_path: Path, outdir: Path) -> list[Path]:
        if self.analysis is None:
            return []
        files = _write_tables(self.analysis, outdir)
        figs = self.cfg.figures
        if figs.tracked:
            files.append(plot_tracked_contour(results_path, self.analysis, safe_target(outdir, "figures/xrd_contour_tracked.png"), figs))
        if figs.lattice and self.analysis.lattices:
            files.append(plot_lattice(self.analysis, safe_target(outdir, "figures/lattice.png"), figs))
        return [f for f in files if f is not None]


# ----------------------------------------------------------------------------- results


def _hkl_of(an: PhaseAnalysis) -> np.ndarray:
    out = np.full((an.tracks.n_tracks, 3), -9999, dtype=int)
    if an.assignment is None:
        return out
    for t in range(an.tracks.n_tracks):
        if an.assignment.status[t] == "indexed":
            p = an.phases[an.assignment.phase[t]]
            out[t] = p.group_hkl()[an.assignment.group[t]]
    return out


def _phase_of(an: PhaseAnalysis) -> list[str]:
    if an.assignment is None:
        return [""] * an.tracks.n_tracks
    return [an.phases[i].name if i >= 0 else "" for i in an.assignment.phase]


def _write_analysis(xrd, an: PhaseAnalysis) -> None:
    """Write ``peaks``, ``events`` and ``lattice`` groups (and ``refinement``) under ``/entry/xrd``.

    Parameters
    ----------
    xrd : h5py.Group
        ``/entry/xrd`` of the results file being written.
    an : PhaseAnalysis
        The analysis of the pattern stack: tracked peaks and their fits, events, and the cells
        and fractions of the phases (with the whole-pattern refinement where one was run).

    Returns
    -------
    None
    """
    unit_name = radial_units(an.unit)
    _write_peaks(xrd, an, unit_name)
    if an.refinement is not None:
        _write_refinement(xrd, an)
    _write_events(xrd, an, unit_name)
    if an.lattices:
        _write_lattices(xrd, an)


def _write_peaks(xrd, an: PhaseAnalysis, unit_name: str) -> None:
    """``/entry/xrd/peaks``: the fitted peaks as [frame, track] arrays, the tracks' phase and hkl,
    the fit windows, the background and the settings."""
    fits = an.fits
    g = nx_group(xrd, "peaks", "NXcollection")
    set_attrs(g, description="tracked peaks: [frame, track] arrays, NaN where a track is absent or its fit failed",
              radial_unit=an.unit)
    g.create_dataset("frame_time_s", data=an.frame_time_s).attrs["units"] = "s"
    g.create_dataset("track", data=np.arange(an.tracks.n_tracks))
    for name, arr, err, unit in (
        ("position", fits.position, fits.position_sigma, unit_name),
        ("fwhm", fits.fwhm, fits.fwhm_sigma, unit_name),
        ("area", fits.area, fits.area_sigma, f"counts*{unit_name}"),
        ("eta", fits.eta, fits.eta_sigma, "1"),
    ):
        long_name = "Lorentzian fraction of the pseudo-Voigt" if name == "eta" else None
        set_units(g.create_dataset(name, data=arr), unit, long_name)
        set_units(g.create_dataset(f"{name}_err", data=err), unit)
    g.create_dataset("detected_position", data=an.tracks.position).attrs["units"] = unit_name
    g.create_dataset("success", data=fits.success)
    write_strings(g, "reason", [str(r) for r in fits.reason.ravel()]).attrs["shape"] = fits.reason.shape
    g.create_dataset("clean", data=an.clean)
    g.create_dataset("track_first_frame", data=an.tracks.first)
    g.create_dataset("track_last_frame", data=an.tracks.last)
    write_strings(g, "track_phase", _phase_of(an))
    g.create_dataset("track_hkl", data=_hkl_of(an)).attrs["note"] = "-9999 where not indexed to one reflection"
    write_strings(g, "track_label", [an.track_label(t) for t in range(an.tracks.n_tracks)])
    status = an.assignment.status if an.assignment is not None else np.full(an.tracks.n_tracks, "unindexed")
    write_strings(g, "track_status", [str(s) for s in status])
    g.create_dataset("windows", data=fits.windows).attrs["units"] = unit_name
    g.create_dataset("track_window", data=fits.peak_window)
    bg = nx_group(g, "background", "NXcollection")
    bg.create_dataset("radial", data=an.x).attrs["units"] = unit_name
    set_units(bg.create_dataset("baseline", data=an.baseline, compression="gzip", shuffle=True), "counts")
    write_record(nx_group(g, "settings", "NXparameters"), _jsonable(an.settings))


def _write_events(xrd, an: PhaseAnalysis, unit_name: str) -> None:
    """``/entry/xrd/events``: one row per event (the columns of ``xrd_events.csv``), the kind of
    every frame and the stretches of frames of one kind."""
    ev = nx_group(xrd, "events", "NXcollection")
    rows = _event_rows(an)
    cols = ["kind", "track", "frame", "end_frame", "frame_time_s", "end_time_s", "partner", "phase", "hkl",
            "position", "change", "change_err"]
    for c in cols:
        vals = [r[c] for r in rows]
        if c in ("kind", "phase", "hkl"):
            write_strings(ev, c, [str(v) for v in vals])
        else:
            ev.create_dataset(c, data=np.asarray(vals, dtype=float if c not in ("track", "frame", "end_frame", "partner") else int))
    ev["position"].attrs["units"] = unit_name
    ev["change"].attrs["units"] = unit_name
    ev["frame_time_s"].attrs["units"] = "s"
    write_strings(ev, "frame_kind", [str(k) for k in an.frame_kind])
    st = an.stretches()
    write_strings(ev, "stretch_kind", [s[0] for s in st])
    ev.create_dataset("stretch_first_frame", data=np.array([s[1] for s in st], dtype=int))
    ev.create_dataset("stretch_last_frame", data=np.array([s[2] for s in st], dtype=int))


def _write_lattices(xrd, an: PhaseAnalysis) -> None:
    """``/entry/xrd/lattice/<phase>``: per frame the cell with its errors and changes, the phase
    fraction, presence and its test, and how each cell was found."""
    lat_root = nx_group(xrd, "lattice", "NXcollection")
    for lat, ph in zip(an.lattices, an.phases):
        lg = nx_group(lat_root, nx_name(lat.phase), "NXcollection", long_name=lat.phase)
        set_attrs(lg, system=lat.system, space_group=ph.space_group, family=ph.family, source=ph.source)
        lg.create_dataset("frame_time_s", data=an.frame_time_s).attrs["units"] = "s"
        for k in CELL_KEYS:
            name = LATTICE_NAMES[k]
            lg.create_dataset(name, data=lat.values[k]).attrs["units"] = LATTICE_UNITS[k]
            lg.create_dataset(f"{name}_err", data=lat.errors[k]).attrs["units"] = LATTICE_UNITS[k]
            lg.create_dataset(f"{name}_change_percent", data=lat.change_percent(k)).attrs["units"] = "percent"
        basis = "weight fraction (Hill & Howard)" if ph.has_structure else "share of diffracted intensity"
        set_units(lg.create_dataset("phase_fraction", data=lat.fraction), "1", basis, basis=basis)
        set_units(lg.create_dataset("phase_fraction_err", data=lat.fraction_err), "1")
        lg.create_dataset("present", data=lat.present)
        set_units(lg.create_dataset("significance_z", data=lat.z), "1", note=(
            "one-sided Gaussian z of the F-test for the phase (chi^2 rise when it is removed)"))
        set_units(lg.create_dataset("detection_limit", data=lat.detection_limit), "1", "weight fraction",
                  note="smallest weight fraction the presence test would find in this frame")
        lg.create_dataset("n_reflections", data=lat.n_reflections)
        write_strings(lg, "method", [str(m) for m in lat.method])
        write_strings(lg, "status", [str(m) for m in lat.status])
        write_strings(lg, "reason", [str(m) for m in lat.reason])
        lg.create_dataset("start_cell", data=[ph.cell.a_a, ph.cell.b_a, ph.cell.c_a, ph.cell.alpha_deg,
                                              ph.cell.beta_deg, ph.cell.gamma_deg])
        lg["start_cell"].attrs["long_name"] = "starting cell a, b, c (angstrom), alpha, beta, gamma (deg)"


def _write_refinement(xrd, an: PhaseAnalysis) -> None:
    """``/entry/xrd/refinement``: per-frame fit quality, calculated pattern, profiles, texture."""
    ref = an.refinement
    g = nx_group(xrd, "refinement", "NXcollection")
    unit = radial_units(an.unit)
    set_attrs(g, program="xpipe", description=ref.settings.get("method", ""), radial_unit=an.unit)
    g.create_dataset("frame_time_s", data=an.frame_time_s).attrs["units"] = "s"
    set_units(g.create_dataset("chi2_reduced", data=ref.chi2_nu), "1", "reduced chi-square")
    set_units(g.create_dataset("rwp", data=ref.rwp), "1", "weighted profile R factor",
              note="weighted profile R factor, fraction")
    set_units(g.create_dataset("zero_shift", data=ref.zero), unit, "zero shift of the radial axis")
    set_units(g.create_dataset("radial", data=an.x), unit, pyfai_unit=an.unit)
    for name, arr in (("calculated", ref.calculated), ("background", ref.background)):
        set_units(g.create_dataset(name, data=arr.astype(np.float32), compression="gzip", shuffle=True), "counts")
    write_strings(g, "phase", list(ref.phases))
    for name, arr, units, long_name in (
            ("scale", ref.scale, "1", "scale factor"), ("scale_err", ref.scale_sigma, "1", None),
            ("fwhm_u", ref.fwhm_u, f"{unit}^2", "Caglioti U"), ("fwhm_w", ref.fwhm_w, f"{unit}^2", "Caglioti W"),
            ("eta", ref.eta, "1", "Lorentzian fraction of the pseudo-Voigt"),
            ("march_dollase_r", ref.texture_r, "1", "March-Dollase texture parameter r"),
            ("march_dollase_r_err", ref.texture_r_sigma, "1", None)):
        set_units(g.create_dataset(name, data=arr), units, long_name)
    write_record(nx_group(g, "settings", "NXparameters"), _jsonable(ref.settings))


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        if obj and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj):
            return list(obj)
        return str(obj) if obj and not all(isinstance(v, str) for v in obj) else list(obj)
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, (int, float, str)):
        return obj
    if obj is None:
        return None
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def _event_rows(an: PhaseAnalysis) -> list[dict]:
    phase_of = _phase_of(an)
    t = an.frame_time_s
    out = []
    for e in an.events:
        label = an.assignment.label[e.track] if an.assignment is not None else ""
        out.append({
            "kind": e.kind, "track": e.track, "frame": e.frame, "end_frame": e.end_frame,
            "frame_time_s": float(t[min(e.frame, t.size - 1)]), "end_time_s": float(t[min(e.end_frame, t.size - 1)]),
            "partner": e.partner, "phase": phase_of[e.track], "hkl": label,
            "position": e.position, "change": e.change, "change_err": e.change_sigma,
        })
    return out


def _write_tables(an: PhaseAnalysis, outdir: Path) -> list[Path]:
    """``xrd_peaks.csv``, ``xrd_events.csv``, ``xrd_stretches.csv`` and ``xrd_lattice.csv`` beside results.h5."""
    outdir.mkdir(parents=True, exist_ok=True)
    files = []
    fits = an.fits
    phase_of = _phase_of(an)
    labels = an.assignment.label if an.assignment is not None else [""] * an.tracks.n_tracks
    path = outdir / "xrd_peaks.csv"
    with atomic_open(path, "w", newline="", outdir=outdir) as fh:
        w = csv.writer(fh)
        r = RADIAL_COLUMN.get(an.unit, "radial")
        w.writerow(["track", "frame", "frame_time_s", "phase", "hkl", f"position_{r}", f"position_err_{r}", f"fwhm_{r}",
                    f"fwhm_err_{r}", f"area_au_{r}", f"area_err_au_{r}", "eta", "eta_err", "success", "reason"])
        alive = an.tracks.alive()
        for t in range(an.tracks.n_tracks):
            for f in np.flatnonzero(alive[:, t]):
                w.writerow([t, f, csv_value(an.frame_time_s[f]), phase_of[t], labels[t]] + [
                    csv_value(v) for v in (fits.position[f, t], fits.position_sigma[f, t], fits.fwhm[f, t], fits.fwhm_sigma[f, t],
                                      fits.area[f, t], fits.area_sigma[f, t], fits.eta[f, t], fits.eta_sigma[f, t])]
                    + [int(fits.success[f, t]), fits.reason[f, t]])
    files.append(path)
    path = outdir / "xrd_events.csv"
    rows = _event_rows(an)
    with atomic_open(path, "w", newline="", outdir=outdir) as fh:
        w = csv.writer(fh)
        cols = ["kind", "track", "frame", "end_frame", "frame_time_s", "end_time_s", "partner", "phase", "hkl",
                "position", "change", "change_err"]
        r = RADIAL_COLUMN.get(an.unit, "radial")
        w.writerow(cols[:9] + [f"position_{r}", f"change_{r}", f"change_err_{r}"])
        for row in rows:
            w.writerow([csv_value(row[c]) for c in cols])
    files.append(path)
    path = outdir / "xrd_stretches.csv"
    with atomic_open(path, "w", newline="", outdir=outdir) as fh:
        w = csv.writer(fh)
        w.writerow(["stretch", "first_frame", "last_frame", "start_time_s", "end_time_s"])
        for kind, a, b in an.stretches():
            w.writerow([kind, a, b, csv_value(an.frame_time_s[a]), csv_value(an.frame_time_s[b])])
    files.append(path)
    if an.lattices:
        path = outdir / "xrd_lattice.csv"
        with atomic_open(path, "w", newline="", outdir=outdir) as fh:
            w = csv.writer(fh)
            head = ["phase", "frame", "frame_time_s"]
            for k in CELL_KEYS:
                unit = LATTICE_UNITS[k].replace("^", "")
                head += [f"{LATTICE_NAMES[k]}_{unit}", f"{LATTICE_NAMES[k]}_err_{unit}"]
            head += ["volume_change_percent", "phase_fraction", "phase_fraction_err", "method", "n_reflections", "status", "reason"]
            w.writerow(head)
            for lat in an.lattices:
                dv = lat.change_percent("volume_a3")
                for f in range(an.frame_time_s.size):
                    row = [lat.phase, f, csv_value(an.frame_time_s[f])]
                    for k in CELL_KEYS:
                        row += [csv_value(lat.values[k][f]), csv_value(lat.errors[k][f])]
                    row += [csv_value(dv[f]), csv_value(lat.fraction[f]), csv_value(lat.fraction_err[f]), lat.method[f],
                            int(lat.n_reflections[f]), lat.status[f], lat.reason[f]]
                    w.writerow(row)
        files.append(path)
    return files
