"""Phases: symmetry, starting cell and reflections in range, grouped.

See :mod:`xpipe.xrd.phases`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cell import design_columns
from ..reflections import (
    Cell,
    Reflections,
    _space_group,
    copy_structure,
    crystal_system,
    load_structure,
    reflections_from_cell,
    structure_reflections,
)

#: Radial units understood here (those of :data:`xpipe.xrd.integrate.RADIAL_AXES`).
UNITS = ("2th_deg", "q_A^-1", "q_nm^-1")


def radial_from_d(d_a, unit: str, wavelength_a: float | None):
    """Position on a radial axis (``2th_deg``, ``q_A^-1``, ``q_nm^-1``) of d-spacings in angstrom.

    Parameters
    ----------
    d_a : array-like
        d-spacings in angstrom.
    unit : str
        One of :data:`UNITS`: 2theta in degrees, Q in 1/A or Q in 1/nm.
    wavelength_a : float or None
        Wavelength in angstrom (needed for ``2th_deg``).

    Returns
    -------
    np.ndarray
        Positions in ``unit``; NaN where 2theta is beyond reach (d < lambda / 2).

    Examples
    --------
    >>> np.round(radial_from_d([2.0, 1.0, 0.3], "2th_deg", 0.7749), 3).tolist()
    [22.341, 45.592, nan]
    >>> np.round(radial_from_d([2.0], "q_A^-1", None), 4).tolist()
    [3.1416]
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
    """Mass of the atoms in one unit cell (Z M, g/mol), site occupancies included.

    Parameters
    ----------
    structure : gemmi.SmallStructure
        Structure with its sites (e.g. from :func:`xpipe.xrd.reflections.load_structure`).

    Returns
    -------
    float
        Z M in g/mol (atomic mass units per cell).

    Examples
    --------
    >>> from importlib.resources import files
    >>> from xpipe.xrd.reflections import load_structure
    >>> cif = files("xpipe.synth") / "structures" / "Cu_Fm-3m.cif"
    >>> round(cell_mass_amu(load_structure(str(cif))), 2)  # four Cu atoms
    254.18
    """
    return float(sum(s.occ * s.element.weight for s in structure.get_all_unit_cell_sites()))


def lorentz_factor(two_theta_deg, geometry: str = "area_detector"):
    """Powder Lorentz factor.

    Parameters
    ----------
    two_theta_deg : array-like
        Bragg angles 2theta in degrees.
    geometry : str
        ``"area_detector"``: ``1 / (sin(theta) sin(2 theta))``, intensity per unit solid
        angle on the Debye-Scherrer ring, what a solid-angle-corrected azimuthal integration
        returns. ``"line_detector"``: ``1 / (sin^2(theta) cos(theta))``, intensity per unit
        2theta of a line detector or receiving slit (Bragg-Brentano has the same factor).

    Returns
    -------
    np.ndarray
        Lorentz factor (dimensionless), shape of ``two_theta_deg``.

    Examples
    --------
    >>> np.round(lorentz_factor([20.0, 40.0]), 3).tolist()
    [16.838, 4.549]
    >>> np.round(lorentz_factor([20.0], "line_detector"), 3).tolist()
    [33.675]
    """
    theta = np.radians(np.asarray(two_theta_deg, dtype=float) / 2.0)
    if geometry == "area_detector":
        return 1.0 / (np.sin(theta) * np.sin(2.0 * theta))
    if geometry == "line_detector":
        return 1.0 / (np.sin(theta) ** 2 * np.cos(theta))
    raise ValueError(f"unknown Lorentz geometry {geometry!r}; expected area_detector or "
                     "line_detector")


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
    settings : free-form settings attached by the caller.

    Examples
    --------
    >>> from xpipe.xrd.reflections import Cell
    >>> phase = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.157), d_min_a=1.2)
    >>> phase.system, phase.n_groups, phase.n_params, phase.has_structure
    ('cubic', 11, 1, False)
    >>> phase.group_label(7), np.round(phase.group_positions("q_A^-1", None)[:2], 4).tolist()
    ('(2 2 1)/(3 0 0)', [1.5115, 2.1375])
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
        first = np.array([np.flatnonzero(self.group == g)[0] for g in range(self.n_groups)],
                         dtype=int)
        return self.reflections.hkl[first]

    def group_label(self, g: int) -> str:
        members = self.reflections.hkl[self.group == g]
        return "/".join("(" + " ".join(str(int(v)) for v in h) + ")" for h in members)

    def group_d_a(self, cell: Cell | None = None) -> np.ndarray:
        """d-spacing of every group for ``cell`` (default: the starting cell)."""
        cell = cell or self.cell
        return np.asarray(cell.d_a(self.group_hkl()), dtype=float)

    def group_positions(self, unit: str, wavelength_a: float | None,
                        cell: Cell | None = None) -> np.ndarray:
        return radial_from_d(self.group_d_a(cell), unit, wavelength_a)

    def group_intensity(self, wavelength_a: float | None,
                        lorentz: str = "area_detector") -> np.ndarray:
        """Calculated integrated intensity ``sum m |F|^2 L(theta)`` per group (2theta scale).

        NaN without a structure. The Lorentz factor needs the wavelength; without one the
        intensities are ``m |F|^2`` only.
        """
        mf2 = self.reflections.multiplicity * self.reflections.f_squared
        if wavelength_a:
            mf2 = mf2 * lorentz_factor(self.reflections.two_theta_deg(wavelength_a), lorentz)
        return np.bincount(self.group, weights=mf2, minlength=self.n_groups)


def _groups(hkl: np.ndarray, system: str) -> np.ndarray:
    """Group of every reflection: equal rows of the ``1/d^2`` design matrix, numbered in the
    order of the reflections."""
    h, k, l = (hkl[:, i].astype(float) for i in range(3))
    rows = (np.stack([h * h, k * k, l * l, 2 * h * k, 2 * h * l, 2 * k * l], axis=1)
            @ design_columns(system))
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

    Parameters
    ----------
    name : str
        Phase name used in results and reasons.
    d_min_a, d_max_a : float
        Range of d-spacings (angstrom) whose reflections are listed.
    cif : str or Path, optional
        CIF of the structure; with ``cell`` the CIF's cell is replaced (fractional
        coordinates kept).
    space_group : str, optional
        Hermann-Mauguin symbol (gemmi spelling), needed without a CIF.
    cell : Cell, optional
        Approximate cell (angstrom, degrees), needed without a CIF.
    family : str, optional
        Family of the phase; without one, :func:`set_families` groups the phases of a list.

    Returns
    -------
    PhaseModel
        Reflections grouped by what the lattice system can separate; ``cell_mass_amu``
        (g/mol) and |F|^2 only with a CIF.

    Examples
    --------
    >>> from importlib.resources import files
    >>> cu = make_phase("Cu", cif=str(files("xpipe.synth") / "structures" / "Cu_Fm-3m.cif"),
    ...                 d_min_a=1.0)
    >>> cu.space_group, cu.group_hkl()[:3].tolist(), round(cu.cell_mass_amu, 2)
    ('F m -3 m', [[1, 1, 1], [2, 0, 0], [2, 2, 0]], 254.18)
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
            raise ValueError(f"phase {name!r}: give a CIF, or a space group and an approximate "
                             "cell")
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
    """Give every phase without a family one, in place.

    Phases of one space group whose cell lengths differ by less than ``max_length_change``
    (relative) are one family (two compositions of one host structure, as in a two-phase
    insertion reaction); any other phase is its own.

    Parameters
    ----------
    phases : list of PhaseModel
        The phases; those with a family keep it.
    max_length_change : float
        Largest relative difference of a, b and c within a family.

    Returns
    -------
    None
        ``family`` of the phases is set.

    Examples
    --------
    >>> from xpipe.xrd.reflections import Cell
    >>> nvp = [make_phase(n, space_group="R -3 c:H", cell=Cell.hexagonal(a, c), d_min_a=3.0)
    ...        for n, a, c in (("NVP", 8.73, 21.80), ("NV2P", 8.44, 21.50))]
    >>> lab6 = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.157), d_min_a=3.0)
    >>> set_families(nvp + [lab6])
    >>> [p.family for p in nvp + [lab6]]
    ['NVP', 'NVP', 'LaB6']
    """
    for i, p in enumerate(phases):
        if p.family:
            continue
        p.family = p.name
        for q in phases[:i]:
            same_group = q.space_group == p.space_group
            lengths = np.array([p.cell.a_a / q.cell.a_a, p.cell.b_a / q.cell.b_a,
                                p.cell.c_a / q.cell.c_a])
            if same_group and np.all(np.abs(lengths - 1.0) < max_length_change):
                p.family = q.family
                break
