"""From a stack of operando patterns to tracked peaks, events, cells and phase fractions.

This core chains the others, arrays in and a :class:`PhaseAnalysis` out (no files):

1. background per frame (:func:`xpipe.xrd.peaks.background`, pybaselines), subtracted;
2. peak candidates per frame (:func:`xpipe.xrd.peaks.find_peaks_1d`);
3. tracks linked across frames (:func:`xpipe.xrd.tracking.link_peaks`);
4. every track fitted in every frame of its life, all frames batched and warm-started
   (:func:`xpipe.xrd.peaks.fit_peaks`), in windows that group only peaks closer than
   ``separation_fwhm`` FWHM (:func:`track_windows`);
5. cells, presence and weight fractions per phase and frame, by one of two routes:

   * ``cell_method="auto"`` or ``"sequential"``: every frame refined as a whole pattern, all
     phases at once, presence by statistical test (:func:`xpipe.xrd.sequential.refine_sequence`);
     the tracks are labelled with (phase, hkl) from the refined cells
     (:func:`xpipe.xrd.trackview.index_tracks`);
   * ``"peaks"`` or ``"pawley"``: tracks indexed to (phase, hkl)
     (:func:`xpipe.xrd.phases.assign_tracks`), cells by least squares on 1/d^2 from the clean
     fitted peaks, Pawley fits of the pattern windows where peaks do not suffice, fractions
     from the integrated intensities (:mod:`xpipe.xrd.lattices`);
6. events (appear, vanish, split, merge, shift) and the classification of every frame
   as two-phase, solid-solution or stable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .lattices import (
    CELL_KEYS,
    Lattice,
    _empty_lattice,
    _lattices_from,
    _peak_lattices,
    coexisting_mask,
)
from .peaks import PeakFits, background, find_peaks_1d, fit_peaks
from .phases import Assignment, PhaseModel, assign_tracks, set_families
from .sequential import RefinementSettings, SequentialRefinement, absence_text, refine_sequence
from .tracking import Event, Tracks, classify_frames, find_events, link_peaks, stretches
from .trackview import index_tracks

log = logging.getLogger("xpipe")

__all__ = ["CELL_KEYS", "AnalysisSettings", "Lattice", "PhaseAnalysis", "analyse_stack", "coexisting_mask",
           "track_windows"]


@dataclass(frozen=True)
class AnalysisSettings:
    """Settings of :func:`analyse_stack`; widths and positions in the unit of the radial axis.

    Parameters
    ----------
    radial_range : tuple of float, optional
        ``(lo, hi)`` of the radial axis analysed (at least 20 points); None: all of it.
    background_method : str
        pybaselines method of the background (:func:`xpipe.xrd.peaks.background`).
    background_params : dict
        Its parameters.
    prominence_noise : float
        Peak candidates need a prominence of this many times the noise.
    min_fwhm_ratio, max_fwhm_ratio : float
        Candidates narrower or broader than these multiples of the frame's median FWHM are
        dropped.
    shift_fwhm : float
        Largest move of a track between frames, in FWHM.
    max_gap : int
        Frames a track may miss and still continue.
    min_frames : int
        Shortest track kept, in frames.
    separation_fwhm, window_fwhm : float
        Peaks closer than ``separation_fwhm`` FWHM share a fit window, which reaches
        ``window_fwhm`` FWHM beyond them (:func:`track_windows`).
    block_size : int
        Frames per batch of the peak fits.
    tolerance_relative : float
        Relative distance within which a reflection of a phase not yet anchored matches a track.
    tolerance_fwhm : float
        Distance in FWHM within which a reflection matches a track once its phase is anchored
        (or its cell refined).
    min_relative_intensity : float
        Reflections calculated weaker than this fraction of a phase's strongest are not expected
        as peaks.
    clean_fwhm, clean_intensity : float
        A peak is clean when no other expected reflection stronger than ``clean_intensity`` of
        it lies within ``clean_fwhm`` FWHM.
    outlier_sigma : float
        A reflection whose residual exceeds this many (robust) sigma is dropped from its cell.
    zero_shift : bool
        Refine a zero shift of the 2theta axis (degrees) with the cells from peaks.
    cell_method : str
        ``auto`` or ``sequential`` (whole-pattern refinement), ``peaks`` (cells from peaks, Pawley
        fits never) or ``pawley`` (Pawley fits in every frame with a phase).
    lorentz : str
        Lorentz geometry: ``area_detector`` or ``line_detector``.
    refinement : RefinementSettings
        Settings of the whole-pattern refinement.
    split_relative : float
        A track that starts (ends) within this relative distance of a continuing one is a split
        (merge).
    shift_sigma, shift_min_fwhm : float
        A shift must move by more than ``shift_sigma`` esds and ``shift_min_fwhm`` FWHM.
    absolute_sigma : bool
        Take ``sigma`` as absolute (esds not scaled by the reduced chi^2).

    Examples
    --------
    >>> from xpipe.xrd.operando import AnalysisSettings
    >>> s = AnalysisSettings(radial_range=(10.0, 30.0), cell_method="peaks")
    >>> s.cell_method, s.refinement.significance_z
    ('peaks', 5.0)
    """

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
class PhaseAnalysis:
    """Everything :func:`analyse_stack` found.

    Parameters
    ----------
    x : ndarray
        The radial axis analysed (within ``radial_range``).
    unit : str
        Its unit: ``2th_deg``, ``q_A^-1`` or ``q_nm^-1``.
    wavelength_a : float or None
        Wavelength (A).
    frame_time_s : ndarray
        ``[frame]`` time of each frame (s).
    baseline : ndarray
        ``[frame, point]`` background subtracted before the peak search.
    tracks : Tracks
        Peaks linked across frames.
    fits : PeakFits
        Every track fitted in every frame of its life.
    assignment : Assignment or None
        (phase, hkl) of each track; None without phases.
    phases : list of PhaseModel
        The candidate phases.
    clean : ndarray of bool
        ``[frame, track]`` indexed peaks with no other expected reflection close by (peak
        route only; False otherwise).
    lattices : list of Lattice
        Cell, presence and weight fraction of each phase per frame.
    events : list of Event
        Appear, vanish, split, merge and shift events of the tracks.
    frame_kind : ndarray of str
        ``[frame]`` ``two-phase``, ``solid-solution`` or ``stable``.
    settings : dict
        The effective settings of every step.
    pawley : PawleyResult or None
        Whole-window fits of the peak route, where there were any.
    messages : list of str
        What the user should know (phases not found, fits not possible).
    refinement : SequentialRefinement or None
        The whole-pattern refinement, on that route.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.operando import analyse_stack
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.reflections import Cell
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, evaluate
    >>> ph = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.1569), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(ph, unit="2th_deg", wavelength_a=0.7749)
    >>> x = np.arange(10.0, 30.0, 0.01)
    >>> start = PhaseState.start(ph, w=0.0025)
    >>> stack = np.array([100.0 * evaluate(pp, start.scaled(1 + 5e-4 * f), x).columns.sum(axis=1) + 20.0
    ...                   for f in range(4)])
    >>> an = analyse_stack(x, stack, None, unit="2th_deg", wavelength_a=0.7749, phases=[ph])
    >>> an.tracks.n_tracks, an.track_label(0), [(str(k), a, b) for k, a, b in an.stretches()]
    (7, 'LaB6 (1 0 0)', [('solid-solution', 0, 3)])
    """

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
        """``phase (h k l)`` of track ``t``, or ``""`` where it was not indexed."""
        if self.assignment is None or self.assignment.status[t] in ("unindexed", ""):
            return ""
        ph = self.assignment.phase[t]
        name = self.phases[ph].name if ph >= 0 else "?"
        return f"{name} {self.assignment.label[t]}"

    def stretches(self) -> list[tuple[str, int, int]]:
        """Runs of frames of one kind: ``(kind, first frame, last frame)``."""
        return stretches(self.frame_kind)


def track_windows(position: np.ndarray, fwhm: np.ndarray, *, separation_fwhm: float = 3.0,
                  window_fwhm: float = 3.0) -> list[tuple[float, float]]:
    """Fit windows for tracks: peaks closer than ``separation_fwhm`` FWHM share a window.

    A window reaches ``window_fwhm`` FWHM beyond its outermost peaks, but stops half-way to
    the next window's peak, so that neighbouring windows do not overlap.

    Parameters
    ----------
    position : ndarray
        ``[frame, track]`` positions (radial unit), NaN where a track is absent.
    fwhm : ndarray
        ``[track]`` FWHM of each track (radial unit).
    separation_fwhm : float
        Tracks whose ranges come closer than this many FWHM share a window.
    window_fwhm : float
        Margin beyond the outermost peaks of a window, in FWHM.

    Returns
    -------
    list of tuple of float
        ``(lo, hi)`` of each window (radial unit), in increasing order.

    Examples
    --------
    Two peaks 0.2 apart (2 FWHM) share a window; one 0.4 further on has its own, and the
    two windows meet half-way:

    >>> import numpy as np
    >>> from xpipe.xrd.operando import track_windows
    >>> position = np.array([[10.0, 10.3, 10.8], [10.1, 10.4, 10.8]])
    >>> [tuple(round(v, 3) for v in w) for w in track_windows(position, np.full(3, 0.1))]
    [(9.7, 10.6), (10.6, 11.1)]
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


# ------------------------------------------------------------------------------ steps


def _prepare(x, stack, sigma, unit: str, s: AnalysisSettings):
    """The points within ``radial_range`` and the background under them:
    ``(x, stack, sigma, background estimate, stack less background)``."""
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
    return xs, ys, sig, bg, ys - bg.baseline


def _candidates(x, ys, s: AnalysisSettings):
    """Prominent peaks of normal width per frame: ``([(position, fwhm, height)], noise)``."""
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


def _link_tracks(xs, yb, unit: str, s: AnalysisSettings, n_frames: int) -> tuple[Tracks, float]:
    """Peak candidates of every background-subtracted frame linked into tracks; the noise."""
    cands, noise = _candidates(xs, np.where(np.isfinite(yb), yb, 0.0), s)
    tracks = link_peaks([c[0] for c in cands], fwhm=[c[1] for c in cands], height=[c[2] for c in cands],
                        shift_fwhm=s.shift_fwhm, max_gap=s.max_gap, min_frames=min(s.min_frames, n_frames))
    if tracks.n_tracks == 0:
        raise ValueError(f"no peaks found in the radial range [{xs[0]:.6g}, {xs[-1]:.6g}] {unit} that persist "
                         f"over {s.min_frames} frames (prominence >= {s.prominence_noise:g} x noise {noise:.3g})")
    return tracks, noise


def _assign(fpos, fwhm_t, phases, unit: str, wavelength_a, s: AnalysisSettings, messages: list[str]):
    """Tracks indexed to (phase, hkl) with a running cell per phase: ``(assignment, cells)``."""
    assignment, running = assign_tracks(
        fpos, fwhm_t, phases, unit=unit, wavelength_a=wavelength_a,
        tolerance_relative=s.tolerance_relative, tolerance_fwhm=s.tolerance_fwhm,
        min_relative_intensity=s.min_relative_intensity)
    for i, p in enumerate(phases):
        if assignment.anchored_frame[i] < 0:
            messages.append(f"phase {p.name}: not found (fewer than {assignment.min_peaks[i]} tracked peaks match its "
                            f"reflections within {100 * s.tolerance_relative:g} % in any frame)")
    return assignment, running


def _fit_tracks(xs, yb, sig, tracks: Tracks, fpos, fwhm_t, alive, s: AnalysisSettings) -> PeakFits:
    """Every track fitted in every frame of its life, started at its first position."""
    windows = track_windows(fpos, fwhm_t, separation_fwhm=s.separation_fwhm, window_fwhm=s.window_fwhm)
    first_pos = fpos[tracks.first, np.arange(tracks.n_tracks)]
    initial = np.column_stack([first_pos, fwhm_t, np.full(tracks.n_tracks, np.nan), np.full(tracks.n_tracks, 0.5)])
    return fit_peaks(xs, np.where(np.isfinite(yb), yb, np.nan), windows, initial, sigma=sig,
                     block_size=s.block_size, absolute_sigma=s.absolute_sigma, present=alive, guide=fpos)


def _absence_messages(ref: SequentialRefinement) -> list[str]:
    return [f"{name}: {absence_text(ref.detection_limit[:, i])}" for i, name in enumerate(ref.phases)
            if not ref.present[:, i].any()]


def _refine_patterns(xs, ys, sig, phases, unit: str, wavelength_a, s: AnalysisSettings, fpos, fwhm_t):
    """The whole-pattern route: ``(refinement, lattices, assignment)``, the tracks labelled
    from the refined cells."""
    xr = xs / 10.0 if unit == "q_nm^-1" else xs
    refinement = refine_sequence(xr, ys, sig, phases, unit="q_A^-1" if unit == "q_nm^-1" else unit,
                                 wavelength_a=wavelength_a, settings=s.refinement)
    lattices = _lattices_from(refinement, phases)
    assignment = index_tracks(fpos, fwhm_t, phases, refinement.gstar, refinement.present, unit=unit,
                              wavelength_a=wavelength_a, zero=refinement.zero, tolerance_fwhm=s.tolerance_fwhm)
    return refinement, lattices, assignment


def _siblings(assignment: Assignment, phases, n_tracks: int) -> np.ndarray:
    """``[track, track]``: the same reflection of two phases of one family."""
    fam = np.array([phases[i].family if i >= 0 else "" for i in assignment.phase], dtype=object)
    same_refl = np.zeros((n_tracks, n_tracks), dtype=bool)
    hkl_of = [tuple(phases[assignment.phase[t]].group_hkl()[assignment.group[t]])
              if assignment.status[t] == "indexed" else None for t in range(n_tracks)]
    for t in range(n_tracks):
        for u in range(n_tracks):
            same_refl[t, u] = (hkl_of[t] is not None and hkl_of[t] == hkl_of[u] and fam[t] == fam[u]
                               and assignment.phase[t] != assignment.phase[u])
    return same_refl


def _events(tracks: Tracks, fits: PeakFits, alive, assignment, phases, lattices, s: AnalysisSettings,
            n_frames: int):
    """Events along the tracks and the kind of every frame: ``(events, frame_kind)``."""
    siblings = _siblings(assignment, phases, tracks.n_tracks) if assignment is not None else None
    fit_pos = np.where(fits.success, fits.position, np.nan)
    events = find_events(fit_pos, fits.position_sigma, alive, fwhm=np.where(fits.success, fits.fwhm, np.nan),
                         siblings=siblings, split_relative=s.split_relative, shift_sigma=s.shift_sigma,
                         shift_fwhm=s.shift_min_fwhm)
    moving = np.zeros(n_frames, dtype=bool)
    coexist = coexisting_mask(phases, np.array([lat.present for lat in lattices]).T) if phases else None
    for e in events:
        if e.kind == "shift":
            moving[e.frame : e.end_frame + 1] = True
    return events, classify_frames(n_frames, coexisting=coexist, moving=moving)


def _settings_record(s: AnalysisSettings, bg, noise: float, tracks: Tracks, assignment, refinement,
                     fits: PeakFits) -> dict:
    """The effective settings of every step, for the results."""
    return {"analysis": {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.__dict__.items()},
            "background": {"method": bg.method, "params": bg.params, "library": bg.library},
            "noise": noise, "linking": tracks.settings,
            "indexing": assignment.settings if assignment is not None else {},
            "refinement": refinement.settings if refinement is not None else {},
            "peak_fit": fits.settings}


def analyse_stack(x: np.ndarray, stack: np.ndarray, sigma: np.ndarray | None, *, unit: str, wavelength_a: float | None,
                  phases: list[PhaseModel] | None = None, frame_time_s: np.ndarray | None = None,
                  settings: AnalysisSettings | None = None) -> PhaseAnalysis:
    """Track peaks through a stack and refine the cell of every phase in every frame.

    Parameters
    ----------
    x : ndarray
        Radial axis (``unit``), increasing.
    stack, sigma : ndarray
        ``[frame, point]`` intensities (counts) in time order, NaN points ignored, and their
        uncertainties (``sigma`` None: unit weights, relative errors).
    unit : str
        ``2th_deg`` (degrees), ``q_A^-1`` or ``q_nm^-1``.
    wavelength_a : float or None
        Wavelength (A); needed for 2theta axes and for Lorentz factors.
    phases : list of PhaseModel, optional
        Phases that may be present (none: tracks and events only).
    frame_time_s : ndarray, optional
        Time of each frame (s; default the frame number), for the events table.
    settings : AnalysisSettings, optional
        Settings of every step (:class:`AnalysisSettings`; its defaults when None).

    Returns
    -------
    PhaseAnalysis
        Tracks, peak fits, events, frame kinds and, with phases, the cell, presence and weight
        fraction of every phase in every frame.

    Raises
    ------
    ValueError
        Under 20 points in range, no peak lasting ``min_frames`` frames, or a 2theta/Q axis needed.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.operando import analyse_stack
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.reflections import Cell
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, evaluate
    >>> ph = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.1569), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(ph, unit="2th_deg", wavelength_a=0.7749)
    >>> x, start = np.arange(10.0, 30.0, 0.01), PhaseState.start(ph, w=0.0025)
    >>> stack = [100 * evaluate(pp, start.scaled(1 + 5e-4 * f), x).columns.sum(axis=1) + 20  # a grows
    ...          for f in range(4)]
    >>> an = analyse_stack(x, stack, None, unit="2th_deg", wavelength_a=0.7749, phases=[ph])
    >>> np.round(an.lattices[0].change_percent("a_a"), 3).tolist(), str(an.frame_kind[0])
    ([0.0, 0.05, 0.1, 0.15], 'solid-solution')
    """
    s = settings or AnalysisSettings()
    phases = list(phases or [])
    set_families(phases)
    stack = np.atleast_2d(np.asarray(stack, dtype=float))
    n_frames = stack.shape[0]
    times = np.asarray(frame_time_s, dtype=float) if frame_time_s is not None else np.arange(n_frames, dtype=float)
    xs, ys, sig, bg, yb = _prepare(np.asarray(x, dtype=float), stack, sigma, unit, s)
    tracks, noise = _link_tracks(xs, yb, unit, s, n_frames)
    fwhm_t, fpos, alive = np.nanmedian(tracks.fwhm, axis=0), tracks.filled_position(), tracks.alive()
    sequential = bool(phases) and s.cell_method in ("auto", "sequential")
    if sequential and unit not in ("2th_deg", "q_A^-1", "q_nm^-1"):
        raise ValueError(f"whole-pattern refinement needs a 2th_deg or q axis, not {unit}")
    assignment, running, messages = None, None, []
    if phases and not sequential:
        assignment, running = _assign(fpos, fwhm_t, phases, unit, wavelength_a, s, messages)
    fits = _fit_tracks(xs, yb, sig, tracks, fpos, fwhm_t, alive, s)
    lattices = [_empty_lattice(p, n_frames) for p in phases]
    clean, pawley_result, refinement = np.zeros_like(alive), None, None
    if sequential:
        refinement, lattices, assignment = _refine_patterns(xs, ys, sig, phases, unit, wavelength_a, s, fpos, fwhm_t)
        messages.extend(_absence_messages(refinement))
    elif phases:
        clean, pawley_result = _peak_lattices(xs, yb, sig, unit, wavelength_a, phases, lattices, assignment, running,
                                              fits, alive, fwhm_t, s, messages)
    events, kind = _events(tracks, fits, alive, assignment, phases, lattices, s, n_frames)
    return PhaseAnalysis(
        x=xs, unit=unit, wavelength_a=wavelength_a, frame_time_s=times, baseline=bg.baseline, tracks=tracks,
        fits=fits, assignment=assignment, phases=phases, clean=clean, lattices=lattices, events=events,
        frame_kind=kind, pawley=pawley_result, messages=messages, refinement=refinement,
        settings=_settings_record(s, bg, noise, tracks, assignment, refinement, fits))
