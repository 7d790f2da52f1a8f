"""Crystalline phases of an operando experiment: reflections, indexing of tracks, phase fractions.

A :class:`PhaseModel` holds what xpipe knows of one phase before fitting: its space group,
an approximate cell (from a CIF or given), the allowed reflections in the measured range with
multiplicities (and |F|^2 when a structure is given), grouped so that reflections whose
d-spacing coincides for *every* cell of the lattice system (e.g. (h k l) and (k h l) of a
trigonal group) count as one observable. Arrays in, arrays out; no file names beyond the CIF.

Indexing of tracks (:func:`assign_tracks`) goes frame by frame with a running cell per phase:
a phase is *anchored* when enough tracks match its predicted reflections within a relative
tolerance (the approximate cell may be off by a few tenths of a percent) and a cell refined
from them predicts every one of them within a fraction of a FWHM; from then on its cell
follows the frames and matching is tight. A track matching reflections of two phases is
ambiguous, one matching two reflections of one phase is an overlap; neither is used for the
peak-based cell, both are left to the whole-window (Pawley) fit.

Phase fractions (:func:`weight_fractions`) follow the quantitative phase analysis of
Hill & Howard, J. Appl. Cryst. 20 (1987) 467: with the scale ``S_p`` of each phase (observed
integrated intensities over calculated ``m |F|^2 L``), ``w_p = S_p (Z M V)_p / sum_q S_q (Z M V)_q``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cell import design_columns, refine_cells
from .reflections import (
    Cell,
    Reflections,
    _space_group,
    copy_structure,
    crystal_system,
    load_structure,
    reflections_from_cell,
    structure_reflections,
)

__all__ = [
    "Assignment",
    "PhaseModel",
    "assign_tracks",
    "cell_mass_amu",
    "lorentz_factor",
    "make_phase",
    "set_families",
    "radial_from_d",
    "weight_fractions",
]

#: Radial units understood here (those of :data:`xpipe.xrd.integrate.RADIAL_AXES`).
UNITS = ("2th_deg", "q_A^-1", "q_nm^-1")


def radial_from_d(d_a, unit: str, wavelength_a: float | None):
    """Position on a radial axis (``2th_deg``, ``q_A^-1``, ``q_nm^-1``) of d-spacings in angstrom.

    NaN where 2theta is beyond reach (d < lambda / 2).
    """
    d = np.asarray(d_a, dtype=float)
    if unit == "2th_deg":
        if not wavelength_a:
            raise ValueError("a wavelength is needed for a 2theta axis")
        s = wavelength_a / (2.0 * d)
        with np.errstate(invalid="ignore"):
            return np.where(s <= 1.0, 2.0 * np.degrees(np.arcsin(np.minimum(s, 1.0))), np.nan)
    if unit == "q_A^-1":
        return 2.0 * np.pi / d
    if unit == "q_nm^-1":
        return 20.0 * np.pi / d
    raise ValueError(f"unknown radial unit {unit!r}; expected one of {', '.join(UNITS)}")


def cell_mass_amu(structure) -> float:
    """Mass of the atoms in one unit cell (Z M, g/mol), site occupancies included."""
    return float(sum(s.occ * s.element.weight for s in structure.get_all_unit_cell_sites()))


def lorentz_factor(two_theta_deg, geometry: str = "area_detector"):
    """Powder Lorentz factor.

    ``"area_detector"``: ``1 / (sin(theta) sin(2 theta))``, intensity per unit solid angle on
    the Debye-Scherrer ring, what a solid-angle-corrected azimuthal integration returns.
    ``"line_detector"``: ``1 / (sin^2(theta) cos(theta))``, intensity per unit 2theta of a
    line detector or receiving slit (Bragg-Brentano has the same factor).
    """
    theta = np.radians(np.asarray(two_theta_deg, dtype=float) / 2.0)
    if geometry == "area_detector":
        return 1.0 / (np.sin(theta) * np.sin(2.0 * theta))
    if geometry == "line_detector":
        return 1.0 / (np.sin(theta) ** 2 * np.cos(theta))
    raise ValueError(f"unknown Lorentz geometry {geometry!r}; expected area_detector or line_detector")


@dataclass
class PhaseModel:
    """One phase: symmetry, starting cell, reflections in range, grouped.

    Attributes
    ----------
    name, family : the phase and its family (members of one family, e.g. Na3V2(PO4)3 and
        NaV2(PO4)3, can coexist in a two-phase reaction).
    space_group : Hermann-Mauguin symbol (gemmi spelling).
    system : lattice system of the cell refinement (:mod:`xpipe.xrd.cell`).
    cell : starting (approximate) cell.
    reflections : allowed reflections with multiplicity (and |F|^2 when a structure is known).
    group : (n_reflections,) group index of each reflection.
    cell_mass_amu : Z M of the cell (g/mol), NaN without a structure.
    source : where the phase came from (CIF path or "space group + cell").
    """

    name: str
    family: str
    space_group: str
    system: str
    cell: Cell
    reflections: Reflections
    group: np.ndarray
    cell_mass_amu: float = math.nan
    source: str = ""
    settings: dict = field(default_factory=dict)

    @property
    def n_groups(self) -> int:
        return int(self.group.max()) + 1 if self.group.size else 0

    @property
    def n_params(self) -> int:
        return design_columns(self.system).shape[1]

    @property
    def has_structure(self) -> bool:
        return bool(np.isfinite(self.reflections.f_squared).all() and len(self.reflections))

    def group_hkl(self) -> np.ndarray:
        """(n_groups, 3) representative hkl of each group (its first reflection)."""
        first = np.array([np.flatnonzero(self.group == g)[0] for g in range(self.n_groups)], dtype=int)
        return self.reflections.hkl[first]

    def group_label(self, g: int) -> str:
        members = self.reflections.hkl[self.group == g]
        return "/".join("(" + " ".join(str(int(v)) for v in h) + ")" for h in members)

    def group_d_a(self, cell: Cell | None = None) -> np.ndarray:
        """d-spacing of every group for ``cell`` (default: the starting cell)."""
        cell = cell or self.cell
        return np.asarray(cell.d_a(self.group_hkl()), dtype=float)

    def group_positions(self, unit: str, wavelength_a: float | None, cell: Cell | None = None) -> np.ndarray:
        return radial_from_d(self.group_d_a(cell), unit, wavelength_a)

    def group_intensity(self, wavelength_a: float | None, lorentz: str = "area_detector") -> np.ndarray:
        """Calculated integrated intensity ``sum m |F|^2 L(theta)`` per group (2theta scale).

        NaN without a structure. The Lorentz factor needs the wavelength; without one the
        intensities are ``m |F|^2`` only.
        """
        mf2 = self.reflections.multiplicity * self.reflections.f_squared
        if wavelength_a:
            mf2 = mf2 * lorentz_factor(self.reflections.two_theta_deg(wavelength_a), lorentz)
        return np.bincount(self.group, weights=mf2, minlength=self.n_groups)


def _groups(hkl: np.ndarray, system: str) -> np.ndarray:
    h, k, l = (hkl[:, i].astype(float) for i in range(3))
    rows = np.stack([h * h, k * k, l * l, 2 * h * k, 2 * h * l, 2 * k * l], axis=1) @ design_columns(system)
    _, inverse = np.unique(np.round(rows, 9), axis=0, return_inverse=True)
    # number groups in the order of the reflections (decreasing d)
    order: dict[int, int] = {}
    out = np.empty(len(hkl), dtype=int)
    for i, g in enumerate(np.asarray(inverse).ravel()):
        out[i] = order.setdefault(int(g), len(order))
    return out


def make_phase(
    name: str,
    *,
    d_min_a: float,
    d_max_a: float = math.inf,
    cif: str | Path | None = None,
    space_group: str | None = None,
    cell: Cell | None = None,
    family: str | None = None,
) -> PhaseModel:
    """A phase from a CIF (structure: |F|^2 and cell mass known) or a space group and cell.

    ``cell`` with ``cif`` replaces the CIF's cell (fractional coordinates kept). Without a
    ``family``, :func:`set_families` groups the phases of a list.
    """
    if cif is not None:
        structure = load_structure(cif)
        if cell is not None:
            structure = copy_structure(structure, cell)
        sg = structure.spacegroup
        refl = structure_reflections(structure, d_min_a, d_max_a)
        uc = structure.cell
        start = Cell(uc.a, uc.b, uc.c, uc.alpha, uc.beta, uc.gamma)
        mass = cell_mass_amu(structure)
        source = f"cif {cif}"
    else:
        if space_group is None or cell is None:
            raise ValueError(f"phase {name!r}: give a CIF, or a space group and an approximate cell")
        sg = _space_group(space_group)
        refl = reflections_from_cell(sg, cell, d_min_a, d_max_a)
        start = cell
        mass = math.nan
        source = "space group and cell"
    system = crystal_system(sg)
    return PhaseModel(
        name=name,
        family=family or "",
        space_group=sg.xhm(),
        system=system,
        cell=start,
        reflections=refl,
        group=_groups(refl.hkl, system),
        cell_mass_amu=mass,
        source=source,
    )


def set_families(phases: list[PhaseModel], max_length_change: float = 0.10) -> None:
    """Give every phase without a family one: phases of one space group whose cell lengths
    differ by less than ``max_length_change`` (relative) are one family (two compositions of
    one host structure, as in a two-phase insertion reaction); any other phase is its own.
    """
    for i, p in enumerate(phases):
        if p.family:
            continue
        p.family = p.name
        for q in phases[:i]:
            same_group = q.space_group == p.space_group
            lengths = np.array([p.cell.a_a / q.cell.a_a, p.cell.b_a / q.cell.b_a, p.cell.c_a / q.cell.c_a])
            if same_group and np.all(np.abs(lengths - 1.0) < max_length_change):
                p.family = q.family
                break


# ----------------------------------------------------------------------------- indexing


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
    """Keyword arguments of :func:`xpipe.xrd.cell.refine_cells` for positions ``x`` on a radial
    axis, and ``sigma`` in the unit those keywords take (Q in 1/nm is passed as 1/A)."""
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
    """Cell of ``phase`` from one frame's indexed positions; None when it cannot be refined."""
    hkl = phase.group_hkl()[np.asarray(groups, dtype=int)]
    kw, sig = positions_kw(unit, np.asarray(x, dtype=float)[None, :], np.asarray(sigma, dtype=float)[None, :],
                           wavelength_a)
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
    position : ``[frame, track]`` track positions (NaN where absent).
    fwhm : (n_tracks,) typical FWHM of each track (radial unit).
    phases : the phases that may be present.
    unit, wavelength_a : radial axis of the positions.
    tolerance_relative : relative distance within which a reflection of a phase whose cell is
        not yet anchored matches a track (the approximate cell may be this far off).
    tolerance_fwhm : distance in FWHM within which a reflection of an anchored phase matches.
    min_relative_intensity : with a structure, groups calculated weaker than this fraction of
        the phase's strongest group are not expected as peaks and not matched.

    Returns
    -------
    (Assignment, cells) with ``cells[frame][phase]`` the running cell estimate (Cell).
    """
    position = np.asarray(position, dtype=float)
    n_frames, n_tr = position.shape
    fwhm = np.asarray(fwhm, dtype=float)
    n_ph = len(phases)
    cells = [p.cell for p in phases]
    anchored = np.full(n_ph, -1)
    strong = []
    for p in phases:
        if p.has_structure:
            inten = p.group_intensity(wavelength_a)
            strong.append(inten >= min_relative_intensity * np.nanmax(inten))
        else:
            strong.append(np.ones(p.n_groups, dtype=bool))

    lo_x, hi_x = np.nanmin(position), np.nanmax(position)
    need = np.empty(n_ph, dtype=int)
    for i, p in enumerate(phases):
        xp = p.group_positions(unit, wavelength_a)
        n_in = int(np.sum(strong[i] & (xp >= lo_x * 0.98) & (xp <= hi_x * 1.02)))
        need[i] = max(p.n_params, min(p.n_params + 2, n_in))
    ph_of = np.full(n_tr, -1)
    gr_of = np.full(n_tr, -1)
    status = np.full(n_tr, "", dtype=object)
    label = np.full(n_tr, "", dtype=object)
    decided = np.full(n_tr, -1)
    history: list[list[Cell]] = []

    def tight_tol(t):
        return tolerance_fwhm * fwhm[t]

    for f in range(n_frames):
        seen = np.isfinite(position[f])
        preds = [p.group_positions(unit, wavelength_a, cells[i]) for i, p in enumerate(phases)]
        # anchor phases not yet anchored from tracks that match them loosely
        for i in np.argsort([-np.sum(s) for s in strong]):
            if anchored[i] >= 0:
                continue
            p = phases[i]
            cand_t, cand_g = [], []
            for t in np.flatnonzero(seen & (status == "")):
                x = position[f, t]
                near = np.flatnonzero(strong[i] & (np.abs(preds[i] - x) <= tolerance_relative * x))
                if near.size == 1:
                    cand_t.append(t)
                    cand_g.append(near[0])
            if len(cand_t) < need[i]:
                continue
            cand_t, cand_g = np.array(cand_t), np.array(cand_g)
            keep = np.ones(cand_t.size, dtype=bool)
            cell = None
            for _ in range(5):
                if keep.sum() < need[i]:
                    cell = None
                    break
                cell = refine_cell_once(p, cand_g[keep], position[f, cand_t[keep]], fwhm[cand_t[keep]] / 10, unit, wavelength_a)
                if cell is None:
                    break
                xp = p.group_positions(unit, wavelength_a, cell)[cand_g]
                new_keep = np.abs(xp - position[f, cand_t]) <= np.array([tight_tol(t) for t in cand_t])
                if np.array_equal(new_keep, keep):
                    break
                keep = new_keep
            if cell is None or keep.sum() < need[i]:
                continue
            lengths = np.array([cell.a_a / p.cell.a_a, cell.b_a / p.cell.b_a, cell.c_a / p.cell.c_a])
            if np.any(np.abs(lengths - 1.0) > 2.0 * tolerance_relative):
                continue  # a cell this far from the approximate one is a chance match
            cells[i] = cell
            anchored[i] = f
            preds[i] = p.group_positions(unit, wavelength_a, cell)

        # decide the undecided tracks seen in this frame
        for t in np.flatnonzero(seen & (status == "")):
            x = position[f, t]
            tight = []
            loose = False
            for i in range(len(phases)):
                if anchored[i] >= 0:
                    near = np.flatnonzero(np.abs(preds[i] - x) <= tight_tol(t))
                    tight.extend((i, g) for g in near)
                elif np.any(strong[i] & (np.abs(preds[i] - x) <= tolerance_relative * x)):
                    loose = True
            if tight:
                phs = sorted({i for i, _ in tight})
                decided[t] = f
                if len(phs) > 1:
                    status[t] = "ambiguous"
                    label[t] = " or ".join(f"{phases[i].name} {phases[i].group_label(g)}" for i, g in tight)
                elif len({g for _, g in tight}) > 1:
                    status[t] = "overlap"
                    ph_of[t] = phs[0]
                    label[t] = " + ".join(phases[phs[0]].group_label(g) for _, g in tight)
                else:
                    status[t] = "indexed"
                    ph_of[t], gr_of[t] = tight[0]
                    label[t] = phases[ph_of[t]].group_label(gr_of[t])
            elif not loose and (anchored >= 0).all():
                status[t] = "unindexed"
                decided[t] = f

        # follow the cells
        for i, p in enumerate(phases):
            if anchored[i] < 0:
                continue
            use = np.flatnonzero(seen & (status == "indexed") & (ph_of == i))
            if use.size >= p.n_params + 1:
                cell = refine_cell_once(p, gr_of[use], position[f, use], fwhm[use] / 10, unit, wavelength_a)
                if cell is not None and abs(cell.volume_a3 / p.cell.volume_a3 - 1.0) < 0.15:
                    cells[i] = cell
        history.append(list(cells))

    status[status == ""] = "unindexed"
    settings = {
        "tolerance_relative": tolerance_relative,
        "tolerance_fwhm": tolerance_fwhm,
        "min_relative_intensity": min_relative_intensity,
        "method": "frame-by-frame matching with a running cell per phase; a phase is anchored "
                  "when >= n_params + 2 tracks match it and a refined cell predicts them within "
                  "tolerance_fwhm",
    }
    return (
        Assignment(ph_of, gr_of, status.astype(str), label.astype(str), decided, anchored, need, settings),
        np.array(history, dtype=object),
    )


# ------------------------------------------------------------------------- fractions


def area_on_two_theta(area, position, unit: str, wavelength_a: float | None):
    """Integrated intensities measured on a Q axis converted to a 2theta (degree) axis.

    ``dQ/d(2theta) = (4 pi / lambda) cos(theta) / 2`` per radian; areas on 2theta pass through.
    """
    area = np.asarray(area, dtype=float)
    if unit == "2th_deg":
        return area
    q = np.asarray(position, dtype=float) / (10.0 if unit == "q_nm^-1" else 1.0)
    if not wavelength_a:
        return area  # without a wavelength only relative intensities of close peaks make sense
    theta = np.arcsin(np.clip(q * wavelength_a / (4.0 * np.pi), 0.0, 1.0))
    dq_dtth_deg = (4.0 * np.pi / wavelength_a) * np.cos(theta) / 2.0 * np.pi / 180.0
    scale = 10.0 if unit == "q_nm^-1" else 1.0
    return area / (dq_dtth_deg * scale)


def weight_fractions(observed: np.ndarray, calculated: np.ndarray, zmv: np.ndarray,
                     observed_sigma: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hill-Howard weight fractions from per-phase sums of observed and calculated intensity.

    Parameters
    ----------
    observed : ``[frame, phase]`` summed integrated intensities of a phase's observed groups
        (NaN where the phase is absent).
    calculated : ``[frame, phase]`` the calculated ``m |F|^2 L`` summed over the same groups.
        NaN (no structure): the scale is the observed intensity alone, i.e. fractions are
        shares of the diffracted intensity.
    zmv : (n_phases,) ``Z M V`` of each phase (g/mol x A^3); NaN: 1.
    observed_sigma : uncertainties of ``observed``.

    Returns
    -------
    (fraction, fraction_sigma), ``[frame, phase]``, NaN where a phase is absent.
    """
    obs = np.asarray(observed, dtype=float)
    calc = np.asarray(calculated, dtype=float)
    zmv = np.where(np.isfinite(zmv), np.asarray(zmv, dtype=float), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(np.isfinite(calc) & (calc > 0), obs / calc, obs)
    mass = scale * zmv[None, :]
    present = np.isfinite(mass)
    total = np.where(present, mass, 0.0).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(present & (total > 0), mass / total, np.nan)
    if observed_sigma is None:
        return frac, np.full_like(frac, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.asarray(observed_sigma, dtype=float) / obs
        # d w_p = w_p (1 - w_p) dS_p/S_p for the own phase, - w_p w_q dS_q/S_q for the others
        var = (frac * (1 - frac) * rel) ** 2
        other = np.where(present, (frac * rel) ** 2, 0.0).sum(axis=1, keepdims=True) - np.where(present, (frac * rel) ** 2, 0.0)
        var = var + frac**2 * other
    return frac, np.sqrt(var)
