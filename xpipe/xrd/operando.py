"""From a stack of operando patterns to tracked peaks, events, cells and phase fractions.

This core chains the others, arrays in and a :class:`PhaseAnalysis` out (no files):

1. background per frame (:func:`xpipe.xrd.peaks.background`, pybaselines), subtracted;
2. peak candidates per frame (:func:`xpipe.xrd.peaks.find_peaks_1d`);
3. tracks linked across frames (:func:`xpipe.xrd.tracking.link_peaks`);
4. tracks indexed to (phase, hkl) (:func:`xpipe.xrd.phases.assign_tracks`);
5. every track fitted in every frame of its life, all frames batched and warm-started
   (:func:`xpipe.xrd.peaks.fit_peaks`), in windows that group only peaks closer than
   ``separation_fwhm`` FWHM;
6. cells per phase and frame by least squares on 1/d^2 from the *clean* indexed peaks (no
   other expected reflection within ``clean_fwhm`` FWHM), all frames in one batched call
   (:func:`xpipe.xrd.cell.refine_cells`);
7. where two members of one family coexist or a present phase has too few clean peaks,
   the cells of the phases present are refined against the whole pattern windows instead
   (Pawley-style, :func:`xpipe.xrd.pawley.pawley_fit`), started from the previous frame;
8. phase fractions (Hill & Howard) from the integrated intensities of each phase;
9. events (appear, vanish, split, merge, shift) and the classification of every frame
   as two-phase, solid-solution or stable.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np

from .cell import CellFit, refine_cells, relative_change
from .peaks import PeakFits, background, find_peaks_1d, fit_peaks
from .phases import (
    Assignment,
    PhaseModel,
    area_on_two_theta,
    assign_tracks,
    positions_kw,
    set_families,
    weight_fractions,
)
from .sequential import RefinementSettings, SequentialRefinement, absence_text, refine_sequence
from .tracking import Event, Tracks, classify_frames, find_events, link_peaks, stretches
from .trackview import index_tracks

log = logging.getLogger("xpipe")

__all__ = ["AnalysisSettings", "Lattice", "PhaseAnalysis", "analyse_stack", "track_windows"]

CELL_KEYS = ("a_a", "b_a", "c_a", "alpha_deg", "beta_deg", "gamma_deg", "volume_a3")


@dataclass(frozen=True)
class AnalysisSettings:
    """Settings of :func:`analyse_stack` (units: those of the radial axis unless named)."""

    radial_range: tuple[float, float] | None = None
    background_method: str = "snip"
    background_params: dict = field(default_factory=dict)
    prominence_noise: float = 10.0
    min_fwhm_ratio: float = 0.5
    max_fwhm_ratio: float = 4.0
    shift_fwhm: float = 1.0
    max_gap: int = 1
    min_frames: int = 3
    separation_fwhm: float = 3.0
    window_fwhm: float = 3.0
    block_size: int = 16
    tolerance_relative: float = 0.004
    tolerance_fwhm: float = 0.35
    min_relative_intensity: float = 0.002
    clean_fwhm: float = 1.5
    clean_intensity: float = 0.02
    outlier_sigma: float = 4.0
    zero_shift: bool = False
    cell_method: str = "auto"
    lorentz: str = "area_detector"
    refinement: RefinementSettings = field(default_factory=RefinementSettings)
    split_relative: float = 0.03
    shift_sigma: float = 5.0
    shift_min_fwhm: float = 0.25
    absolute_sigma: bool = True


@dataclass
class Lattice:
    """Cell of one phase per frame: ``values[key]`` and ``errors[key]`` for :data:`CELL_KEYS`."""

    phase: str
    system: str
    values: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    method: np.ndarray  # "peaks", "pawley" or "" (absent / failed) per frame
    n_reflections: np.ndarray
    status: np.ndarray
    reason: np.ndarray
    present: np.ndarray
    fraction: np.ndarray
    fraction_err: np.ndarray
    z: np.ndarray | None = None
    detection_limit: np.ndarray | None = None

    def __post_init__(self):
        n = self.present.shape[0]
        if self.z is None:
            self.z = np.full(n, np.nan)
        if self.detection_limit is None:
            self.detection_limit = np.full(n, np.nan)

    def change_percent(self, key: str) -> np.ndarray:
        """Change relative to the first frame where the phase has a value, in percent."""
        v = self.values[key]
        ok = np.flatnonzero(np.isfinite(v))
        if ok.size == 0:
            return np.full_like(v, np.nan)
        return relative_change(v, int(ok[0]))


@dataclass
class PhaseAnalysis:
    """Everything :func:`analyse_stack` found; see the module docstring."""

    x: np.ndarray
    unit: str
    wavelength_a: float | None
    frame_time_s: np.ndarray
    baseline: np.ndarray
    tracks: Tracks
    fits: PeakFits
    assignment: Assignment | None
    phases: list[PhaseModel]
    clean: np.ndarray
    lattices: list[Lattice]
    events: list[Event]
    frame_kind: np.ndarray
    settings: dict
    pawley: object | None = None
    messages: list[str] = field(default_factory=list)
    refinement: SequentialRefinement | None = None

    def track_label(self, t: int) -> str:
        if self.assignment is None or self.assignment.status[t] in ("unindexed", ""):
            return ""
        ph = self.assignment.phase[t]
        name = self.phases[ph].name if ph >= 0 else "?"
        return f"{name} {self.assignment.label[t]}"

    def stretches(self) -> list[tuple[str, int, int]]:
        return stretches(self.frame_kind)


def track_windows(position: np.ndarray, fwhm: np.ndarray, *, separation_fwhm: float = 3.0,
                  window_fwhm: float = 3.0) -> list[tuple[float, float]]:
    """Fit windows for tracks: peaks closer than ``separation_fwhm`` FWHM share a window.

    ``position`` is ``[frame, track]`` (NaN where absent), ``fwhm`` per track. A window
    reaches ``window_fwhm`` FWHM beyond its outermost peaks, but stops half-way to the next
    window's peak, so that neighbouring windows do not overlap.
    """
    lo = np.nanmin(position, axis=0)
    hi = np.nanmax(position, axis=0)
    order = np.argsort(lo)
    clusters: list[list[int]] = []
    for t in order:
        if clusters:
            prev = clusters[-1]
            right = max(prev, key=lambda u: hi[u])
            if lo[t] - hi[right] < separation_fwhm * max(fwhm[t], fwhm[right]):
                prev.append(t)
                continue
        clusters.append([t])
    out = []
    for i, c in enumerate(clusters):
        a = min(lo[u] - window_fwhm * fwhm[u] for u in c)
        b = max(hi[u] + window_fwhm * fwhm[u] for u in c)
        if i > 0:
            left = max(hi[u] for u in clusters[i - 1])
            a = max(a, 0.5 * (left + min(lo[u] for u in c)))
        if i + 1 < len(clusters):
            right = min(lo[u] for u in clusters[i + 1])
            b = min(b, 0.5 * (right + max(hi[u] for u in c)))
        out.append((float(a), float(b)))
    return out


def _candidates(x, ys, s: AnalysisSettings):
    cands = [find_peaks_1d(x, y, background_method=None) for y in ys]
    noise = np.median([c.noise for c in cands])
    out = []
    for c in cands:
        keep = c.prominence >= s.prominence_noise * noise
        w = np.median(c.fwhm[keep]) if keep.any() else np.nan
        if np.isfinite(w):
            keep &= (c.fwhm >= s.min_fwhm_ratio * w) & (c.fwhm <= s.max_fwhm_ratio * w)
        out.append((c.position[keep], c.fwhm[keep], c.height[keep]))
    return out, float(noise)


def _clean_mask(analysis_cells, phases, assignment, present, unit, wavelength_a, fwhm, s, n_frames):
    """``[frame, track]``: an indexed track with no other expected reflection close by."""
    n_tr = assignment.phase.size
    clean = np.zeros((n_frames, n_tr), dtype=bool)
    calc = []
    for p in phases:
        c = p.group_intensity(wavelength_a, s.lorentz) if p.has_structure else np.ones(p.n_groups)
        calc.append(c)
    for f in range(n_frames):
        pos = []
        for i, p in enumerate(phases):
            if present[f, i]:
                pos.append(p.group_positions(unit, wavelength_a, analysis_cells[f][i]))
            else:
                pos.append(None)
        for t in np.flatnonzero(assignment.status == "indexed"):
            i, g = assignment.phase[t], assignment.group[t]
            if pos[i] is None:
                continue
            x0 = pos[i][g]
            ok = True
            for j in range(len(phases)):
                if pos[j] is None:
                    continue
                near = np.abs(pos[j] - x0) <= s.clean_fwhm * fwhm[t]
                if j == i:
                    near[g] = False
                rel = calc[j][near] / calc[i][g] if phases[j].has_structure and phases[i].has_structure else np.ones(near.sum())
                if np.any(rel >= s.clean_intensity):
                    ok = False
                    break
            clean[f, t] = ok
    return clean


def _empty_lattice(phase: PhaseModel, n_frames: int) -> Lattice:
    nan = np.full(n_frames, np.nan)
    return Lattice(
        phase=phase.name, system=phase.system,
        values={k: nan.copy() for k in CELL_KEYS}, errors={k: nan.copy() for k in CELL_KEYS},
        method=np.full(n_frames, "", dtype=object), n_reflections=np.zeros(n_frames, dtype=int),
        status=np.full(n_frames, "absent", dtype=object), reason=np.full(n_frames, "", dtype=object),
        present=np.zeros(n_frames, dtype=bool), fraction=nan.copy(), fraction_err=nan.copy(),
    )


def _refine_robust(phase, groups, position, sigma, good, unit, wavelength_a, zero_shift, outlier_sigma,
                   max_rounds: int = 4) -> CellFit:
    """Batched 1/d^2 refinement of all frames, dropping per frame the worst reflection while its
    residual exceeds ``outlier_sigma`` (sigma scaled by the reduced chi-square); a peak pulled by
    an unexpected neighbour must not drag the cell."""
    hkl = phase.group_hkl()[groups]
    good = good.copy()
    for _ in range(max_rounds + 1):
        pos = np.where(good, position, np.nan)
        psig = np.where(good, sigma, np.nan)
        kw, psig = positions_kw(unit, pos, psig, wavelength_a)
        cf = refine_cells(hkl, sigma=psig, system=phase.system, zero_shift=zero_shift, phase=phase.name, **kw)
        pred = np.full(position.shape, np.nan)
        for f in np.flatnonzero(cf.ok):
            pred[f] = phase.group_positions(unit, wavelength_a, cf.cell(f))[groups]
            if zero_shift:
                pred[f] += cf.zero_shift_deg[f]
        with np.errstate(invalid="ignore"):
            z = np.abs(position - pred) / sigma
        z = np.where(good & np.isfinite(z), z, np.nan)
        # robust scale of the residuals (an outlier inflates the reduced chi-square itself)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # frames without any usable peak
            scale = np.maximum(1.4826 * np.nanmedian(z, axis=1), 1.0)
        z = np.where(np.isfinite(z), z / np.where(np.isfinite(scale), scale, 1.0)[:, None], 0.0)
        worst = np.argmax(z, axis=1)
        drop = (z[np.arange(z.shape[0]), worst] > outlier_sigma) & (good.sum(axis=1) > phase.n_params + 2)
        if not drop.any():
            break
        good[np.flatnonzero(drop), worst[drop]] = False
    return cf


def coexisting_mask(phases: list[PhaseModel], present: np.ndarray) -> np.ndarray:
    """``[frame]`` True where two members of one family are present together."""
    out = np.zeros(present.shape[0], dtype=bool)
    fams: dict[str, list[int]] = {}
    for i, p in enumerate(phases):
        fams.setdefault(p.family, []).append(i)
    for members in fams.values():
        if len(members) > 1:
            out |= present[:, members].sum(axis=1) >= 2
    return out


def _pawley_frames(xs, yb, sig, unit, wavelength_a, phases, lattices, present, coexist, running, fits,
                   assignment, fwhm_t, s, obs, obs_sig, calc, messages):
    """Whole-window fits where two cells of a family coexist or the peaks gave too little.

    Replaces, frame by frame and phase by phase, the peak-based cell with the Pawley one when
    that succeeds, and the intensities behind the phase fractions with the Pawley ones.
    """
    from .pawley import PawleyPhase, pawley_fit

    n_frames, n_ph = present.shape
    weak = np.zeros_like(present)
    for i, p in enumerate(phases):
        weak[:, i] = present[:, i] & (lattices[i].n_reflections < p.n_params + 3)
    todo = coexist | weak.any(axis=1) if s.cell_method == "auto" else present.any(axis=1)
    frames = np.flatnonzero(todo)
    if frames.size == 0:
        return None
    # a phase takes part one frame either side of where its peaks were seen
    near = present.copy()
    near[1:] |= present[:-1]
    near[:-1] |= present[1:]
    start = []
    for i, p in enumerate(phases):
        f0 = frames[0]
        cell = running[f0][i]
        mine = assignment.phase == i
        w = float(np.nanmedian(fwhm_t[mine])) if mine.any() else float(np.nanmedian(fwhm_t))
        start.append(PawleyPhase(p.name, p.system, p.reflections.hkl, cell, fwhm_u=0.0, fwhm_v=0.0, fwhm_w=w * w))
    windows: list[list[float]] = []
    for lo, hi in sorted(fits.windows.tolist()):  # windows that touch become one
        if windows and lo <= windows[-1][1] + 1e-9:
            windows[-1][1] = max(windows[-1][1], hi)
        else:
            windows.append([lo, hi])
    try:
        pw = pawley_fit(xs, yb[frames], [tuple(w) for w in windows], start, wavelength_a=wavelength_a,
                        axis=unit, sigma=None if sig is None else sig[frames], absolute_sigma=s.absolute_sigma,
                        zero_shift=s.zero_shift and unit == "2th_deg", present=near[frames],
                        refine_profile=True)
    except ValueError as exc:
        messages.append(f"whole-window (Pawley) fit not possible: {exc}")
        return None
    for i, p in enumerate(phases):
        cf = pw.cells[p.name]
        lat = lattices[i]
        calc_g = p.group_intensity(wavelength_a, s.lorentz) if p.has_structure else None
        index = {tuple(h): int(g) for h, g in zip(p.reflections.hkl.tolist(), p.group)}
        groups = [index.get(tuple(np.asarray(h)[0].tolist()), -1) for h in pw.group_hkl[p.name]]
        for k, f in enumerate(frames):
            if pw.status[k, i] == "ok":
                for key in CELL_KEYS:
                    lat.values[key][f] = getattr(cf, key)[k]
                    lat.errors[key][f] = getattr(cf, f"sigma_{key}")[k]
                lat.method[f] = "pawley"
                lat.status[f] = "ok"
                lat.reason[f] = ""
                lat.present[f] = True
                inten = pw.intensity[p.name][k]
                ok = np.isfinite(inten)
                pos = pw.group_position[p.name][k]
                obs[f, i] = np.sum(area_on_two_theta(inten[ok], pos[ok], unit, wavelength_a))
                obs_sig[f, i] = float(area_on_two_theta(pw.phase_intensity_sigma[k, i], np.nanmean(pos[ok]), unit, wavelength_a))
                if calc_g is not None:
                    calc[f, i] = sum(calc_g[g] for g, o in zip(groups, ok) if o and g >= 0)
            elif pw.status[k, i] in ("no_intensity", "absent"):
                if not present[f, i]:
                    lat.present[f] = False
            elif present[f, i] and lat.method[f] != "peaks":
                lat.status[f] = pw.status[k, i]
                lat.reason[f] = pw.reason[k, i]
    return pw


def _lattices_from(ref: SequentialRefinement, phases: list[PhaseModel]) -> list[Lattice]:
    """Per-phase :class:`Lattice` records of a sequential refinement."""
    out = []
    for i, p in enumerate(phases):
        present = ref.present[:, i]
        method = "rietveld" if p.has_structure else "pawley"
        out.append(Lattice(
            phase=p.name, system=p.system,
            values={k: ref.cell[k][:, i].copy() for k in CELL_KEYS},
            errors={k: ref.cell_sigma[k][:, i].copy() for k in CELL_KEYS},
            method=np.where(present, method, "").astype(object),
            n_reflections=np.where(present, len(p.reflections), 0),
            status=ref.status[:, i].copy(), reason=ref.reason[:, i].copy(), present=present.copy(),
            fraction=ref.fraction[:, i].copy(), fraction_err=ref.fraction_sigma[:, i].copy(),
            z=ref.z[:, i].copy(), detection_limit=ref.detection_limit[:, i].copy()))
    return out


def _absence_messages(ref: SequentialRefinement) -> list[str]:
    return [f"{name}: {absence_text(ref.detection_limit[:, i])}" for i, name in enumerate(ref.phases)
            if not ref.present[:, i].any()]


def analyse_stack(
    x: np.ndarray,
    stack: np.ndarray,
    sigma: np.ndarray | None,
    *,
    unit: str,
    wavelength_a: float | None,
    phases: list[PhaseModel] | None = None,
    frame_time_s: np.ndarray | None = None,
    settings: AnalysisSettings | None = None,
) -> PhaseAnalysis:
    """Track peaks through a stack and refine the cell of every phase in every frame.

    Parameters
    ----------
    x : radial axis (``unit``), increasing.
    stack : ``[frame, point]`` intensities, frames in time order; NaN points ignored.
    sigma : matching uncertainties, or None (unit weights, relative errors).
    unit : ``2th_deg``, ``q_A^-1`` or ``q_nm^-1``.
    wavelength_a : needed for 2theta axes and for Lorentz factors.
    phases : phases that may be present (none: tracks and events only).
    frame_time_s : time of each frame (for the events table).
    settings : :class:`AnalysisSettings`.
    """
    s = settings or AnalysisSettings()
    phases = list(phases or [])
    set_families(phases)
    x = np.asarray(x, dtype=float)
    stack = np.atleast_2d(np.asarray(stack, dtype=float))
    n_frames = stack.shape[0]
    times = np.asarray(frame_time_s, dtype=float) if frame_time_s is not None else np.arange(n_frames, dtype=float)
    sel = np.ones(x.size, dtype=bool)
    if s.radial_range is not None:
        sel = (x >= s.radial_range[0]) & (x <= s.radial_range[1])
        if sel.sum() < 20:
            raise ValueError(f"radial range {list(s.radial_range)} holds {int(sel.sum())} points of the axis "
                             f"[{x.min():.6g}, {x.max():.6g}] {unit}; need at least 20")
    xs = x[sel]
    ys = stack[:, sel]
    sig = None if sigma is None else np.broadcast_to(np.asarray(sigma, dtype=float), stack.shape)[:, sel]
    filled = np.where(np.isfinite(ys), ys, np.nanmedian(ys))
    bg = background(xs, filled, s.background_method, **s.background_params)
    yb = ys - bg.baseline
    messages: list[str] = []

    cands, noise = _candidates(xs, np.where(np.isfinite(yb), yb, 0.0), s)
    tracks = link_peaks([c[0] for c in cands], fwhm=[c[1] for c in cands], height=[c[2] for c in cands],
                        shift_fwhm=s.shift_fwhm, max_gap=s.max_gap, min_frames=min(s.min_frames, n_frames))
    if tracks.n_tracks == 0:
        raise ValueError(f"no peaks found in the radial range [{xs[0]:.6g}, {xs[-1]:.6g}] {unit} that persist "
                         f"over {s.min_frames} frames (prominence >= {s.prominence_noise:g} x noise {noise:.3g})")
    fwhm_t = np.nanmedian(tracks.fwhm, axis=0)
    fpos = tracks.filled_position()
    alive = tracks.alive()

    sequential = bool(phases) and s.cell_method in ("auto", "sequential")
    if sequential and unit not in ("2th_deg", "q_A^-1", "q_nm^-1"):
        raise ValueError(f"whole-pattern refinement needs a 2th_deg or q axis, not {unit}")
    assignment = None
    running = None
    if phases and not sequential:
        assignment, running = assign_tracks(
            fpos, fwhm_t, phases, unit=unit, wavelength_a=wavelength_a,
            tolerance_relative=s.tolerance_relative, tolerance_fwhm=s.tolerance_fwhm,
            min_relative_intensity=s.min_relative_intensity)
        for i, p in enumerate(phases):
            if assignment.anchored_frame[i] < 0:
                messages.append(f"phase {p.name}: not found (fewer than {assignment.min_peaks[i]} tracked peaks match its "
                                f"reflections within {100 * s.tolerance_relative:g} % in any frame)")

    windows = track_windows(fpos, fwhm_t, separation_fwhm=s.separation_fwhm, window_fwhm=s.window_fwhm)
    first_pos = fpos[tracks.first, np.arange(tracks.n_tracks)]
    initial = np.column_stack([first_pos, fwhm_t, np.full(tracks.n_tracks, np.nan), np.full(tracks.n_tracks, 0.5)])
    fits = fit_peaks(xs, np.where(np.isfinite(yb), yb, np.nan), windows, initial, sigma=sig,
                     block_size=s.block_size, absolute_sigma=s.absolute_sigma, present=alive, guide=fpos)

    lattices = [_empty_lattice(p, n_frames) for p in phases]
    clean = np.zeros_like(alive)
    pawley_result = None
    refinement = None
    if sequential:
        xr = xs / 10.0 if unit == "q_nm^-1" else xs
        refinement = refine_sequence(xr, ys, sig, phases, unit="q_A^-1" if unit == "q_nm^-1" else unit,
                                     wavelength_a=wavelength_a, settings=s.refinement)
        lattices = _lattices_from(refinement, phases)
        assignment = index_tracks(fpos, fwhm_t, phases, refinement.gstar, refinement.present, unit=unit,
                                  wavelength_a=wavelength_a, zero=refinement.zero, tolerance_fwhm=s.tolerance_fwhm)
        messages.extend(_absence_messages(refinement))
    elif phases:
        n_ph = len(phases)
        ok_fit = fits.success & alive
        present = np.zeros((n_frames, n_ph), dtype=bool)
        for i, p in enumerate(phases):
            mine = (assignment.phase == i) & (assignment.status == "indexed")
            present[:, i] = (ok_fit[:, mine]).sum(axis=1) >= min(p.n_params + 1, assignment.min_peaks[i])
        clean = _clean_mask(running, phases, assignment, present, unit, wavelength_a, fwhm_t, s, n_frames)
        peak_cells: list[CellFit] = []
        for i, p in enumerate(phases):
            use = np.flatnonzero((assignment.phase == i) & (assignment.status == "indexed"))
            lat = lattices[i]
            lat.present[:] = present[:, i]
            if use.size == 0:
                peak_cells.append(None)
                continue
            good = ok_fit[:, use] & clean[:, use] & present[:, [i]]
            cf = _refine_robust(p, assignment.group[use], fits.position[:, use], fits.position_sigma[:, use],
                                good, unit, wavelength_a, s.zero_shift and unit == "2th_deg", s.outlier_sigma)
            peak_cells.append(cf)
            ok = cf.ok & present[:, i]
            for k in CELL_KEYS:
                lat.values[k] = np.where(ok, getattr(cf, k), np.nan)
                lat.errors[k] = np.where(ok, getattr(cf, f"sigma_{k}"), np.nan)
            lat.method = np.where(ok, "peaks", "").astype(object)
            lat.n_reflections = np.where(ok, cf.n_used, 0)
            lat.status = np.where(ok, "ok", np.where(present[:, i], cf.status, "absent")).astype(object)
            lat.reason = np.where(ok | ~present[:, i], "", cf.reason).astype(object)

        # fractions from the fitted areas of the indexed peaks (Pawley intensities replace them below)
        obs = np.full((n_frames, n_ph), np.nan)
        obs_sig = np.full((n_frames, n_ph), np.nan)
        calc = np.full((n_frames, n_ph), np.nan)
        for i, p in enumerate(phases):
            use = np.flatnonzero((assignment.phase == i) & (assignment.status == "indexed"))
            if use.size == 0:
                continue
            good = ok_fit[:, use] & clean[:, use]
            area = area_on_two_theta(np.where(good, fits.area[:, use], 0.0), fits.position[:, use], unit, wavelength_a)
            area_s = area_on_two_theta(np.where(good, fits.area_sigma[:, use], 0.0), fits.position[:, use], unit, wavelength_a)
            gi = p.group_intensity(wavelength_a, s.lorentz) if p.has_structure else np.full(p.n_groups, np.nan)
            c = np.where(good, gi[assignment.group[use]][None, :], 0.0)
            obs[:, i] = np.where(present[:, i], np.nansum(area, axis=1), np.nan)
            obs_sig[:, i] = np.sqrt(np.nansum(area_s**2, axis=1))
            calc[:, i] = np.where(present[:, i], c.sum(axis=1), np.nan) if p.has_structure else np.nan
        if s.cell_method in ("auto", "pawley") and unit in ("2th_deg", "q_A^-1"):
            pawley_result = _pawley_frames(xs, yb, sig, unit, wavelength_a, phases, lattices, present, coexisting_mask(phases, present),
                                           running, fits, assignment, fwhm_t, s, obs, obs_sig, calc, messages)
        elif s.cell_method == "pawley":
            messages.append(f"whole-window (Pawley) fits need a 2th_deg or q_A^-1 axis, not {unit}; cells come from peaks")
        zmv = np.array([p.cell_mass_amu * p.cell.volume_a3 for p in phases])
        frac, frac_err = weight_fractions(obs, calc, zmv, obs_sig)
        for i in range(n_ph):
            lattices[i].fraction = frac[:, i]
            lattices[i].fraction_err = frac_err[:, i]

    # events and classification
    siblings = None
    if assignment is not None:
        fam = np.array([phases[i].family if i >= 0 else "" for i in assignment.phase], dtype=object)
        same_refl = np.zeros((tracks.n_tracks, tracks.n_tracks), dtype=bool)
        hkl_of = [tuple(phases[assignment.phase[t]].group_hkl()[assignment.group[t]])
                  if assignment.status[t] == "indexed" else None for t in range(tracks.n_tracks)]
        for t in range(tracks.n_tracks):
            for u in range(tracks.n_tracks):
                same_refl[t, u] = (hkl_of[t] is not None and hkl_of[t] == hkl_of[u] and fam[t] == fam[u]
                                   and assignment.phase[t] != assignment.phase[u])
        siblings = same_refl
    fit_pos = np.where(fits.success, fits.position, np.nan)
    events = find_events(fit_pos, fits.position_sigma, alive, fwhm=np.where(fits.success, fits.fwhm, np.nan),
                         siblings=siblings, split_relative=s.split_relative, shift_sigma=s.shift_sigma,
                         shift_fwhm=s.shift_min_fwhm)
    moving = np.zeros(n_frames, dtype=bool)
    coexist = coexisting_mask(phases, np.array([lat.present for lat in lattices]).T) if phases else None
    for e in events:
        if e.kind == "shift":
            moving[e.frame : e.end_frame + 1] = True
    kind = classify_frames(n_frames, coexisting=coexist, moving=moving)

    return PhaseAnalysis(
        x=xs, unit=unit, wavelength_a=wavelength_a, frame_time_s=times, baseline=bg.baseline,
        tracks=tracks, fits=fits, assignment=assignment, phases=phases, clean=clean,
        lattices=lattices, events=events, frame_kind=kind, pawley=pawley_result, messages=messages,
        refinement=refinement,
        settings={"analysis": {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.__dict__.items()},
                  "background": {"method": bg.method, "params": bg.params, "library": bg.library},
                  "noise": noise, "linking": tracks.settings,
                  "indexing": assignment.settings if assignment is not None else {},
                  "refinement": refinement.settings if refinement is not None else {},
                  "peak_fit": fits.settings},
    )
