"""Cells and weight fractions per phase and frame (:class:`Lattice`), the peak-based route.

:func:`xpipe.xrd.operando.analyse_stack` fills one :class:`Lattice` per phase, either from a
sequential whole-pattern refinement (:mod:`xpipe.xrd.sequential`) or, as here, from the peaks
fitted along the tracks:

1. a phase is present in a frame where enough of its indexed tracks were fitted;
2. a peak is *clean* when no other expected reflection lies within ``clean_fwhm`` FWHM of it;
3. cells per phase and frame by least squares on 1/d^2 from the clean peaks, all frames in one
   batched call (:func:`xpipe.xrd.cell.refine_cells`), the worst reflection dropped while it
   is an outlier;
4. where two members of one family coexist or a present phase has too few clean peaks (or
   everywhere, with ``cell_method="pawley"``), the cells of the phases present are refined
   against the whole pattern windows instead (Pawley-style, :func:`xpipe.xrd.pawley.pawley_fit`);
5. weight fractions (Hill & Howard) from the integrated intensities of each phase.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .cell import CellFit, refine_cells, relative_change
from .pawley import PawleyPhase, pawley_fit
from .phases import PhaseModel, area_on_two_theta, positions_kw, weight_fractions
from .refine_results import CELL_KEYS, SequentialRefinement

__all__ = ["CELL_KEYS", "Lattice", "coexisting_mask"]


@dataclass
class Lattice:
    """Cell and weight fraction of one phase in every frame.

    Arrays are ``[frame]``; NaN where the phase is absent or its cell failed.

    Parameters
    ----------
    phase, system : str
        Phase name and lattice system.
    values, errors : dict of str to ndarray
        Cell values and esds by key of :data:`CELL_KEYS` (lengths in A, angles in degrees,
        volume in A^3).
    method : ndarray of str
        ``peaks``, ``pawley`` or ``rietveld``, or ``""`` (absent or failed).
    n_reflections : ndarray of int
        Reflections behind the cell.
    status, reason : ndarray of str
        ``ok``, ``absent`` or why the cell failed, and the reason in words.
    present : ndarray of bool
        Whether the phase is in the frame.
    fraction, fraction_err : ndarray
        Weight fraction (0 to 1) and its esd.
    z : ndarray, optional
        Gaussian z of the presence test (whole-pattern refinement only; NaN otherwise).
    detection_limit : ndarray, optional
        Smallest weight fraction (0 to 1) the presence test would find (NaN otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.lattices import Lattice
    >>> a = np.array([np.nan, 4.0, 4.02])
    >>> lat = Lattice("LaB6", "cubic", {"a_a": a}, {"a_a": a * 1e-4}, np.array(["", "peaks", "peaks"]),
    ...               np.array([0, 5, 5]), np.array(["absent", "ok", "ok"]), np.full(3, ""),
    ...               np.isfinite(a), np.array([np.nan, 1.0, 1.0]), np.zeros(3))
    >>> np.round(lat.change_percent("a_a"), 3).tolist()
    [nan, 0.0, 0.5]
    """

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


def coexisting_mask(phases: list[PhaseModel], present: np.ndarray) -> np.ndarray:
    """Frames where two members of one family are present together.

    Parameters
    ----------
    phases : list of PhaseModel
        The phases, each with its ``family`` set (:func:`xpipe.xrd.phases.set_families`).
    present : ndarray of bool
        ``[frame, phase]`` presence.

    Returns
    -------
    ndarray of bool
        ``[frame]`` True where at least two phases of one family are present.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> from xpipe.xrd.lattices import coexisting_mask
    >>> phases = [SimpleNamespace(family="NVP"), SimpleNamespace(family="NVP"), SimpleNamespace(family="Al")]
    >>> present = np.array([[1, 0, 1], [1, 1, 1], [0, 1, 1]], dtype=bool)
    >>> coexisting_mask(phases, present).tolist()
    [False, True, False]
    """
    out = np.zeros(present.shape[0], dtype=bool)
    fams: dict[str, list[int]] = {}
    for i, p in enumerate(phases):
        fams.setdefault(p.family, []).append(i)
    for members in fams.values():
        if len(members) > 1:
            out |= present[:, members].sum(axis=1) >= 2
    return out


def _empty_lattice(phase: PhaseModel, n_frames: int) -> Lattice:
    nan = np.full(n_frames, np.nan)
    return Lattice(
        phase=phase.name, system=phase.system,
        values={k: nan.copy() for k in CELL_KEYS}, errors={k: nan.copy() for k in CELL_KEYS},
        method=np.full(n_frames, "", dtype=object), n_reflections=np.zeros(n_frames, dtype=int),
        status=np.full(n_frames, "absent", dtype=object), reason=np.full(n_frames, "", dtype=object),
        present=np.zeros(n_frames, dtype=bool), fraction=nan.copy(), fraction_err=nan.copy(),
    )


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


# ------------------------------------------------------------------ cells from peaks


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


def _present_by_peaks(phases, assignment, ok_fit) -> np.ndarray:
    """``[frame, phase]``: enough of the phase's indexed tracks were fitted in the frame."""
    present = np.zeros((ok_fit.shape[0], len(phases)), dtype=bool)
    for i, p in enumerate(phases):
        mine = (assignment.phase == i) & (assignment.status == "indexed")
        present[:, i] = (ok_fit[:, mine]).sum(axis=1) >= min(p.n_params + 1, assignment.min_peaks[i])
    return present


def _cells_from_peaks(phases, lattices, assignment, fits, ok_fit, clean, present, unit, wavelength_a, s) -> None:
    """Each phase's cell per frame from its clean fitted peaks, written into ``lattices``."""
    for i, p in enumerate(phases):
        use = np.flatnonzero((assignment.phase == i) & (assignment.status == "indexed"))
        lat = lattices[i]
        lat.present[:] = present[:, i]
        if use.size == 0:
            continue
        good = ok_fit[:, use] & clean[:, use] & present[:, [i]]
        cf = _refine_robust(p, assignment.group[use], fits.position[:, use], fits.position_sigma[:, use],
                            good, unit, wavelength_a, s.zero_shift and unit == "2th_deg", s.outlier_sigma)
        ok = cf.ok & present[:, i]
        for k in CELL_KEYS:
            lat.values[k] = np.where(ok, getattr(cf, k), np.nan)
            lat.errors[k] = np.where(ok, getattr(cf, f"sigma_{k}"), np.nan)
        lat.method = np.where(ok, "peaks", "").astype(object)
        lat.n_reflections = np.where(ok, cf.n_used, 0)
        lat.status = np.where(ok, "ok", np.where(present[:, i], cf.status, "absent")).astype(object)
        lat.reason = np.where(ok | ~present[:, i], "", cf.reason).astype(object)


def _peak_intensities(phases, assignment, fits, ok_fit, clean, present, unit, wavelength_a, s):
    """Observed integrated intensities (2theta scale) of each phase's clean peaks, their esds and
    the calculated ones of the same reflections: ``[frame, phase]`` each."""
    n_frames, n_ph = ok_fit.shape[0], len(phases)
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
    return obs, obs_sig, calc


def _peak_lattices(xs, yb, sig, unit, wavelength_a, phases, lattices, assignment, running, fits, alive, fwhm_t, s,
                   messages):
    """Cells and weight fractions from the fitted peaks, Pawley fits where they do not suffice.

    Fills ``lattices`` and appends to ``messages``; returns the clean-peak mask
    ``[frame, track]`` and the Pawley result (None where there was none).
    """
    n_frames = alive.shape[0]
    ok_fit = fits.success & alive
    present = _present_by_peaks(phases, assignment, ok_fit)
    clean = _clean_mask(running, phases, assignment, present, unit, wavelength_a, fwhm_t, s, n_frames)
    _cells_from_peaks(phases, lattices, assignment, fits, ok_fit, clean, present, unit, wavelength_a, s)
    # fractions from the fitted areas of the indexed peaks (Pawley intensities replace them below)
    obs, obs_sig, calc = _peak_intensities(phases, assignment, fits, ok_fit, clean, present, unit, wavelength_a, s)
    pawley_result = None
    if s.cell_method in ("auto", "pawley") and unit in ("2th_deg", "q_A^-1"):
        pawley_result = _pawley_frames(xs, yb, sig, unit, wavelength_a, phases, lattices, present,
                                       coexisting_mask(phases, present), running, fits, assignment, fwhm_t, s, obs,
                                       obs_sig, calc, messages)
    elif s.cell_method == "pawley":
        messages.append(f"whole-window (Pawley) fits need a 2th_deg or q_A^-1 axis, not {unit}; cells come from peaks")
    zmv = np.array([p.cell_mass_amu * p.cell.volume_a3 for p in phases])
    frac, frac_err = weight_fractions(obs, calc, zmv, obs_sig)
    for i in range(len(phases)):
        lattices[i].fraction = frac[:, i]
        lattices[i].fraction_err = frac_err[:, i]
    return clean, pawley_result


# ------------------------------------------------------------------ Pawley where peaks fail


def _pawley_start(phases, running, frames, assignment, fwhm_t) -> list[PawleyPhase]:
    """Starting phases of the Pawley fit: the running cells of its first frame, the median
    width of each phase's tracks."""
    start = []
    for i, p in enumerate(phases):
        f0 = frames[0]
        cell = running[f0][i]
        mine = assignment.phase == i
        w = float(np.nanmedian(fwhm_t[mine])) if mine.any() else float(np.nanmedian(fwhm_t))
        start.append(PawleyPhase(p.name, p.system, p.reflections.hkl, cell, fwhm_u=0.0, fwhm_v=0.0, fwhm_w=w * w))
    return start


def _pawley_frames(xs, yb, sig, unit, wavelength_a, phases, lattices, present, coexist, running, fits,
                   assignment, fwhm_t, s, obs, obs_sig, calc, messages):
    """Whole-window fits where two cells of a family coexist or the peaks gave too little.

    Replaces, frame by frame and phase by phase, the peak-based cell with the Pawley one when
    that succeeds, and the intensities behind the phase fractions with the Pawley ones.
    """
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
    start = _pawley_start(phases, running, frames, assignment, fwhm_t)
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
        _take_pawley(pw, i, p, frames, lattices[i], present, unit, wavelength_a, s, obs, obs_sig, calc)
    return pw


def _take_pawley(pw, i, p, frames, lat, present, unit, wavelength_a, s, obs, obs_sig, calc) -> None:
    """Phase ``i``'s Pawley cells and intensities replace the peak-based ones where it succeeded."""
    cf = pw.cells[p.name]
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
