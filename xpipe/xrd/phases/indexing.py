"""Indexing of peak tracks to (phase, reflection group), frame by frame (see
:mod:`xpipe.xrd.phases`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..cell import refine_cells
from ..reflections import Cell
from .model import UNITS, PhaseModel


@dataclass
class Assignment:
    """Indexing of tracks: per track its phase and reflection group, or why not.

    Attributes
    ----------
    phase : (n_tracks,) phase index, -1 when none.
    group : (n_tracks,) group index within the phase, -1 when none or several.
    status : ``indexed``, ``overlap`` (several reflections of the phase within tolerance),
        ``ambiguous`` (reflections of several phases) or ``unindexed``.
    label : human-readable hkl (or candidates).
    decided_frame : frame at which the decision was taken (-1 never).
    anchored_frame : (n_phases,) frame where each phase was first anchored, -1 never.
    min_peaks : (n_phases,) indexed peaks needed to anchor a phase: its cell parameters + 2,
        or fewer when fewer strong reflections fall in the measured range (never fewer than
        the cell parameters).
    settings : the settings of the indexing (for provenance).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.phases import assign_tracks, make_phase
    >>> from xpipe.xrd.reflections import Cell
    >>> phase = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.157), d_min_a=2.0)
    >>> x = phase.group_positions("2th_deg", 0.7749)[None, :]
    >>> assignment, _ = assign_tracks(x, np.full(x.shape[1], 0.02), [phase], unit="2th_deg",
    ...                               wavelength_a=0.7749)
    >>> assignment.label.tolist(), assignment.group.tolist(), assignment.min_peaks.tolist()
    (['(1 0 0)', '(1 1 0)', '(1 1 1)', '(2 0 0)'], [0, 1, 2, 3], [3])
    """

    phase: np.ndarray
    group: np.ndarray
    status: np.ndarray
    label: np.ndarray
    decided_frame: np.ndarray
    anchored_frame: np.ndarray
    min_peaks: np.ndarray
    settings: dict = field(default_factory=dict)


def positions_kw(unit: str, x, sigma, wavelength_a: float | None) -> tuple[dict, np.ndarray]:
    """Keyword arguments of :func:`xpipe.xrd.cell.refine_cells` for positions on a radial axis.

    Parameters
    ----------
    unit : str
        ``2th_deg``, ``q_A^-1`` or ``q_nm^-1``.
    x, sigma : array-like
        Positions and their uncertainties in ``unit``.
    wavelength_a : float or None
        Wavelength in angstrom (passed on with 2theta positions).

    Returns
    -------
    (dict, np.ndarray)
        The keywords, and ``sigma`` in the unit they take (Q in 1/nm is passed as 1/A).

    Examples
    --------
    >>> kw, sigma = positions_kw("q_nm^-1", [20.0], [0.1], None)
    >>> kw["q_a_inv"].tolist(), sigma.tolist()
    ([2.0], [0.01])
    """
    x = np.asarray(x, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    if unit == "2th_deg":
        return {"two_theta_deg": x, "wavelength_a": wavelength_a}, sigma
    if unit == "q_A^-1":
        return {"q_a_inv": x}, sigma
    if unit == "q_nm^-1":
        return {"q_a_inv": x / 10.0}, sigma / 10.0
    raise ValueError(f"unknown radial unit {unit!r}; expected one of {', '.join(UNITS)}")


def refine_cell_once(phase: PhaseModel, groups, x, sigma, unit, wavelength_a) -> Cell | None:
    """Cell of ``phase`` from one frame's indexed positions; None when it cannot be refined.

    Parameters
    ----------
    phase : PhaseModel
        The phase (its lattice system and groups).
    groups : array-like of int
        Group index of every position.
    x, sigma : array-like
        Positions and uncertainties in ``unit``.
    unit : str
        ``2th_deg``, ``q_A^-1`` or ``q_nm^-1``.
    wavelength_a : float or None
        Wavelength in angstrom (needed for 2theta).

    Returns
    -------
    Cell or None
        Refined cell (angstrom, degrees).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.phases import make_phase
    >>> phase = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.157), d_min_a=2.0)
    >>> x = phase.group_positions("q_A^-1", None, Cell.cubic(4.16))
    >>> round(refine_cell_once(phase, [0, 1, 2, 3], x, np.full(4, 1e-4), "q_A^-1", None).a_a, 4)
    4.16
    """
    hkl = phase.group_hkl()[np.asarray(groups, dtype=int)]
    kw, sig = positions_kw(unit, np.asarray(x, dtype=float)[None, :],
                           np.asarray(sigma, dtype=float)[None, :], wavelength_a)
    fit = refine_cells(hkl, sigma=sig, system=phase.system, phase=phase.name, **kw)
    if not fit.ok[0]:
        return None
    return fit.cell(0)


def assign_tracks(
    position: np.ndarray,
    fwhm: np.ndarray,
    phases: list[PhaseModel],
    *,
    unit: str,
    wavelength_a: float | None,
    tolerance_relative: float = 0.004,
    tolerance_fwhm: float = 0.35,
    min_relative_intensity: float = 0.002,
) -> tuple[Assignment, np.ndarray]:
    """Index tracks to (phase, reflection group), following each phase's cell frame by frame.

    Parameters
    ----------
    position : ``[frame, track]`` track positions (radial unit, NaN where absent).
    fwhm : (n_tracks,) typical FWHM of each track (radial unit).
    phases : the phases that may be present.
    unit, wavelength_a : radial axis of the positions, wavelength in angstrom.
    tolerance_relative : relative distance within which a reflection of a phase whose cell is
        not yet anchored matches a track (the approximate cell may be this far off).
    tolerance_fwhm : distance in FWHM within which a reflection of an anchored phase matches.
    min_relative_intensity : with a structure, groups calculated weaker than this fraction of
        the phase's strongest group are not expected as peaks and not matched.

    Returns
    -------
    (Assignment, cells) with ``cells[frame][phase]`` the running cell estimate (Cell).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.phases import make_phase
    >>> phase = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.157), d_min_a=1.2)
    >>> x = np.stack([phase.group_positions("2th_deg", 0.7749, Cell.cubic(a))
    ...               for a in (4.157, 4.158, 4.159)])
    >>> assignment, cells = assign_tracks(x, np.full(x.shape[1], 0.02), [phase],
    ...                                   unit="2th_deg", wavelength_a=0.7749)
    >>> set(assignment.status.tolist()), [round(c[0].a_a, 4) for c in cells]
    ({'indexed'}, [4.157, 4.158, 4.159])
    """
    position = np.asarray(position, dtype=float)
    indexer = _Indexer(position, np.asarray(fwhm, dtype=float), phases, unit, wavelength_a,
                       tolerance_relative, tolerance_fwhm, min_relative_intensity)
    for f in range(position.shape[0]):
        indexer.frame(f)
    return indexer.result()


def _strong_groups(phases, wavelength_a, min_relative_intensity) -> list[np.ndarray]:
    """Per phase, the groups expected as peaks (all of them without a structure)."""
    strong = []
    for p in phases:
        if p.has_structure:
            inten = p.group_intensity(wavelength_a)
            strong.append(inten >= min_relative_intensity * np.nanmax(inten))
        else:
            strong.append(np.ones(p.n_groups, dtype=bool))
    return strong


def _min_peaks(phases, strong, position, unit, wavelength_a) -> np.ndarray:
    """Indexed peaks needed to anchor each phase (see :attr:`Assignment.min_peaks`)."""
    lo_x, hi_x = np.nanmin(position), np.nanmax(position)
    need = np.empty(len(phases), dtype=int)
    for i, p in enumerate(phases):
        xp = p.group_positions(unit, wavelength_a)
        n_in = int(np.sum(strong[i] & (xp >= lo_x * 0.98) & (xp <= hi_x * 1.02)))
        need[i] = max(p.n_params, min(p.n_params + 2, n_in))
    return need


class _Indexer:
    """State of :func:`assign_tracks`: the running cells and the decisions taken so far."""

    def __init__(self, position, fwhm, phases, unit, wavelength_a, tolerance_relative,
                 tolerance_fwhm, min_relative_intensity):
        n_tr = position.shape[1]
        self.position, self.fwhm, self.phases = position, fwhm, phases
        self.unit, self.wavelength_a = unit, wavelength_a
        self.tolerance_relative, self.tolerance_fwhm = tolerance_relative, tolerance_fwhm
        self.min_relative_intensity = min_relative_intensity
        self.cells = [p.cell for p in phases]
        self.anchored = np.full(len(phases), -1)
        self.strong = _strong_groups(phases, wavelength_a, min_relative_intensity)
        self.need = _min_peaks(phases, self.strong, position, unit, wavelength_a)
        self.ph_of = np.full(n_tr, -1)
        self.gr_of = np.full(n_tr, -1)
        self.status = np.full(n_tr, "", dtype=object)
        self.label = np.full(n_tr, "", dtype=object)
        self.decided = np.full(n_tr, -1)
        self.history: list[list[Cell]] = []

    def positions(self, i: int) -> np.ndarray:
        """Positions of the groups of phase i for its running cell."""
        return self.phases[i].group_positions(self.unit, self.wavelength_a, self.cells[i])

    def tight_tol(self, t: int) -> float:
        return self.tolerance_fwhm * self.fwhm[t]

    def frame(self, f: int) -> None:
        """Anchor phases, decide the tracks seen in frame f, then follow the cells."""
        seen = np.isfinite(self.position[f])
        preds = [self.positions(i) for i in range(len(self.phases))]
        # anchor phases not yet anchored from tracks that match them loosely
        for i in np.argsort([-np.sum(s) for s in self.strong]):
            if self.anchored[i] < 0 and self._anchor(i, f, seen, preds[i]):
                preds[i] = self.positions(i)
        # decide the undecided tracks seen in this frame
        for t in np.flatnonzero(seen & (self.status == "")):
            self._decide(t, f, preds)
        self._follow(f, seen)
        self.history.append(list(self.cells))

    def _anchor(self, i: int, f: int, seen, pred) -> bool:
        """Anchor phase i in frame f when enough tracks match it; True when anchored."""
        p = self.phases[i]
        cand_t, cand_g = [], []
        for t in np.flatnonzero(seen & (self.status == "")):
            x = self.position[f, t]
            near = np.flatnonzero(self.strong[i]
                                  & (np.abs(pred - x) <= self.tolerance_relative * x))
            if near.size == 1:
                cand_t.append(t)
                cand_g.append(near[0])
        if len(cand_t) < self.need[i]:
            return False
        cell = self._anchor_cell(i, f, np.array(cand_t), np.array(cand_g))
        if cell is None:
            return False
        lengths = np.array([cell.a_a / p.cell.a_a, cell.b_a / p.cell.b_a, cell.c_a / p.cell.c_a])
        if np.any(np.abs(lengths - 1.0) > 2.0 * self.tolerance_relative):
            return False  # a cell this far from the approximate one is a chance match
        self.cells[i] = cell
        self.anchored[i] = f
        return True

    def _anchor_cell(self, i: int, f: int, cand_t, cand_g) -> Cell | None:
        """Cell refined from the candidate tracks, dropping those it does not predict within
        ``tolerance_fwhm``; None when too few remain or the refinement fails."""
        p, need, x = self.phases[i], self.need[i], self.position[f]
        keep = np.ones(cand_t.size, dtype=bool)
        cell = None
        for _ in range(5):
            if keep.sum() < need:
                return None
            cell = refine_cell_once(p, cand_g[keep], x[cand_t[keep]], self.fwhm[cand_t[keep]] / 10,
                                    self.unit, self.wavelength_a)
            if cell is None:
                return None
            xp = p.group_positions(self.unit, self.wavelength_a, cell)[cand_g]
            new_keep = np.abs(xp - x[cand_t]) <= np.array([self.tight_tol(t) for t in cand_t])
            if np.array_equal(new_keep, keep):
                break
            keep = new_keep
        return None if keep.sum() < need else cell

    def _decide(self, t: int, f: int, preds) -> None:
        """Index track t from its position in frame f, or leave it for a later frame."""
        x = self.position[f, t]
        tight = []
        loose = False
        for i in range(len(self.phases)):
            if self.anchored[i] >= 0:
                near = np.flatnonzero(np.abs(preds[i] - x) <= self.tight_tol(t))
                tight.extend((i, g) for g in near)
            elif np.any(self.strong[i] & (np.abs(preds[i] - x) <= self.tolerance_relative * x)):
                loose = True
        if tight:
            self._label(t, f, tight)
        elif not loose and (self.anchored >= 0).all():
            self.status[t] = "unindexed"
            self.decided[t] = f

    def _label(self, t: int, f: int, tight) -> None:
        """Status and label of track t from the (phase, group) pairs that match it."""
        phases = self.phases
        phs = sorted({i for i, _ in tight})
        self.decided[t] = f
        if len(phs) > 1:
            self.status[t] = "ambiguous"
            self.label[t] = " or ".join(f"{phases[i].name} {phases[i].group_label(g)}"
                                        for i, g in tight)
        elif len({g for _, g in tight}) > 1:
            self.status[t] = "overlap"
            self.ph_of[t] = phs[0]
            self.label[t] = " + ".join(phases[phs[0]].group_label(g) for _, g in tight)
        else:
            self.status[t] = "indexed"
            self.ph_of[t], self.gr_of[t] = tight[0]
            self.label[t] = phases[self.ph_of[t]].group_label(self.gr_of[t])

    def _follow(self, f: int, seen) -> None:
        """Refine the running cell of every anchored phase from its indexed tracks."""
        for i, p in enumerate(self.phases):
            if self.anchored[i] < 0:
                continue
            use = np.flatnonzero(seen & (self.status == "indexed") & (self.ph_of == i))
            if use.size >= p.n_params + 1:
                cell = refine_cell_once(p, self.gr_of[use], self.position[f, use],
                                        self.fwhm[use] / 10, self.unit, self.wavelength_a)
                if cell is not None and abs(cell.volume_a3 / p.cell.volume_a3 - 1.0) < 0.15:
                    self.cells[i] = cell

    def result(self) -> tuple[Assignment, np.ndarray]:
        """The assignment (tracks never decided are unindexed) and the cells per frame."""
        status = self.status
        status[status == ""] = "unindexed"
        settings = {
            "tolerance_relative": self.tolerance_relative,
            "tolerance_fwhm": self.tolerance_fwhm,
            "min_relative_intensity": self.min_relative_intensity,
            "method": "frame-by-frame matching with a running cell per phase; a phase is "
                      "anchored when >= n_params + 2 tracks match it and a refined cell "
                      "predicts them within tolerance_fwhm",
        }
        return (
            Assignment(self.ph_of, self.gr_of, status.astype(str), self.label.astype(str),
                       self.decided, self.anchored, self.need, settings),
            np.array(self.history, dtype=object),
        )
