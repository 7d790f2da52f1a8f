"""Allowed powder reflections of a space group: d-spacings, multiplicities, structure factors.

Plain functions on a space group and a unit cell (and, for structure factors, a gemmi
small-molecule structure read from a CIF). Lengths are in angstrom (``d_a``, ``a_a``),
angles in degrees (``alpha_deg``), volumes in A^3.

* Systematic absences (lattice centring, glide planes, screw axes) come from
  :meth:`gemmi.GroupOps.is_systematically_absent`.
* Symmetry-equivalent reflections are merged into one family: the family of ``hkl`` is
  the set of ``R hkl`` over the rotation parts of the space-group operations plus their
  Friedel mates (the Laue group; no anomalous scattering), and its size is the powder
  multiplicity.
* Structure factors: :class:`gemmi.StructureFactorCalculatorX` with gemmi's neutral-atom
  X-ray form factors (International Tables 4-Gaussian fits), site occupancies and
  isotropic displacement parameters ``U_iso``; no anomalous dispersion.

Example
-------
>>> from xpipe.xrd.reflections import Cell, reflections_from_cell
>>> refl = reflections_from_cell("P m -3 m", Cell.cubic(4.15689), d_min_a=2.0)
>>> refl.hkl.tolist(), refl.multiplicity.tolist()
([[1, 0, 0], [1, 1, 0], [1, 1, 1], [2, 0, 0]], [6, 12, 8, 6])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gemmi
import numpy as np

__all__ = [
    "CRYSTAL_SYSTEMS",
    "Cell",
    "Reflections",
    "copy_structure",
    "crystal_system",
    "load_structure",
    "reflections_from_cell",
    "reflections_from_cif",
    "structure_reflections",
]

#: Lattice systems known to the cell refinement (:mod:`xpipe.xrd.cell`), in order of symmetry.
CRYSTAL_SYSTEMS = (
    "cubic",
    "hexagonal",
    "rhombohedral",
    "tetragonal",
    "orthorhombic",
    "monoclinic",
    "triclinic",
)


# ------------------------------------------------------------------------------ cell


@dataclass(frozen=True)
class Cell:
    """Unit cell: lengths in angstrom, angles in degrees.

    Use the constructors per crystal system, e.g. ``Cell.hexagonal(8.7288, 21.8042)``
    (hexagonal axes, also for trigonal and R-centred groups in the hexagonal setting) or
    ``Cell.monoclinic(a, b, c, beta)`` (unique axis b).

    Parameters
    ----------
    a_a, b_a, c_a : float
        Cell lengths in angstrom.
    alpha_deg, beta_deg, gamma_deg : float
        Cell angles in degrees (default 90).

    Examples
    --------
    >>> cell = Cell.hexagonal(8.7288, 21.8042)
    >>> cell.gamma_deg, round(cell.volume_a3, 1), cell.d_a([[1, 0, 4], [1, 1, 0]]).round(4).tolist()
    (120.0, 1438.7, [4.4214, 4.3644])
    """

    a_a: float
    b_a: float
    c_a: float
    alpha_deg: float = 90.0
    beta_deg: float = 90.0
    gamma_deg: float = 90.0

    @classmethod
    def cubic(cls, a_a: float) -> Cell:
        return cls(a_a, a_a, a_a)

    @classmethod
    def tetragonal(cls, a_a: float, c_a: float) -> Cell:
        return cls(a_a, a_a, c_a)

    @classmethod
    def hexagonal(cls, a_a: float, c_a: float) -> Cell:
        """Hexagonal axes: a = b, gamma = 120 deg."""
        return cls(a_a, a_a, c_a, 90.0, 90.0, 120.0)

    @classmethod
    def rhombohedral(cls, a_a: float, alpha_deg: float) -> Cell:
        """Rhombohedral axes: a = b = c, alpha = beta = gamma."""
        return cls(a_a, a_a, a_a, alpha_deg, alpha_deg, alpha_deg)

    @classmethod
    def orthorhombic(cls, a_a: float, b_a: float, c_a: float) -> Cell:
        return cls(a_a, b_a, c_a)

    @classmethod
    def monoclinic(cls, a_a: float, b_a: float, c_a: float, beta_deg: float) -> Cell:
        """Monoclinic, unique axis b: alpha = gamma = 90 deg."""
        return cls(a_a, b_a, c_a, 90.0, beta_deg, 90.0)

    @classmethod
    def triclinic(
        cls, a_a: float, b_a: float, c_a: float, alpha_deg: float, beta_deg: float,
        gamma_deg: float,
    ) -> Cell:
        return cls(a_a, b_a, c_a, alpha_deg, beta_deg, gamma_deg)

    @classmethod
    def from_unit_cell(cls, cell: gemmi.UnitCell) -> Cell:
        return cls(cell.a, cell.b, cell.c, cell.alpha, cell.beta, cell.gamma)

    def unit_cell(self) -> gemmi.UnitCell:
        """The cell as a :class:`gemmi.UnitCell`."""
        return gemmi.UnitCell(
            self.a_a, self.b_a, self.c_a, self.alpha_deg, self.beta_deg, self.gamma_deg
        )

    @property
    def volume_a3(self) -> float:
        """Cell volume in A^3."""
        ca, cb, cg = (math.cos(math.radians(x)) for x in (self.alpha_deg, self.beta_deg,
                                                         self.gamma_deg))
        return self.a_a * self.b_a * self.c_a * math.sqrt(
            1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg
        )

    def d_a(self, hkl) -> np.ndarray:
        """d-spacings in angstrom of an (n, 3) array of Miller indices (exact metric)."""
        return np.asarray([self.unit_cell().calculate_d(list(map(int, h)))
                           for h in np.atleast_2d(hkl)], dtype=float)


def _space_group(space_group: str | gemmi.SpaceGroup) -> gemmi.SpaceGroup:
    if isinstance(space_group, gemmi.SpaceGroup):
        return space_group
    try:
        return gemmi.SpaceGroup(str(space_group))
    except ValueError as exc:
        raise ValueError(
            f"space group {space_group!r} not recognised (use a Hermann-Mauguin symbol such "
            "as 'P m -3 m', 'R -3 c:H' or a number)"
        ) from exc


def crystal_system(space_group: str | gemmi.SpaceGroup) -> str:
    """Lattice system of a space group, as used by the cell refinement.

    Parameters
    ----------
    space_group : str or gemmi.SpaceGroup
        Hermann-Mauguin symbol (gemmi spelling) or number.

    Returns
    -------
    str
        One of :data:`CRYSTAL_SYSTEMS`. Trigonal groups in hexagonal axes (including
        R-centred groups in the hexagonal setting, e.g. ``'R -3 c:H'``) give ``"hexagonal"``;
        R groups in the rhombohedral setting (``'R -3 c:R'``) give ``"rhombohedral"``.
        Monoclinic groups must be in a unique-axis-b setting (e.g. ``'P 1 21/c 1'``).

    Examples
    --------
    >>> [crystal_system(g) for g in ("R -3 c:H", "R -3 c:R", "F m -3 m", "P 1 21/c 1")]
    ['hexagonal', 'rhombohedral', 'cubic', 'monoclinic']
    """
    sg = _space_group(space_group)
    system = sg.crystal_system_str()
    if system == "trigonal":
        return "rhombohedral" if sg.ext == "R" else "hexagonal"
    if system == "monoclinic" and not sg.qualifier.startswith("b"):
        raise ValueError(
            f"space group {sg.xhm()!r} is monoclinic with unique axis "
            f"{sg.qualifier[:1] or '?'}; only unique axis b is supported"
        )
    return system


# ------------------------------------------------------------------------ structures


def load_structure(path: str | Path) -> gemmi.SmallStructure:
    """Read a small-molecule/inorganic CIF with gemmi.

    Parameters
    ----------
    path : str or Path
        CIF file; the first data block is used and its space group must be resolvable.

    Returns
    -------
    gemmi.SmallStructure
        The structure (cell in angstrom and degrees, sites, space group).

    Examples
    --------
    >>> from importlib.resources import files
    >>> cif = str(files("xpipe.synth") / "structures" / "Cu_Fm-3m.cif")
    >>> structure = load_structure(cif)
    >>> structure.spacegroup.xhm(), structure.cell.a, len(structure.sites)
    ('F m -3 m', 3.6149, 1)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no CIF file {path}")
    doc = gemmi.cif.read(str(path))
    structure = gemmi.make_small_structure_from_block(doc[0])
    if structure.spacegroup is None:
        raise ValueError(f"{path}: space group not recognised")
    structure.setup_cell_images()
    return structure


def lost_symmetry(structure: gemmi.SmallStructure) -> str | None:
    """Why a structure's symmetry looks lost on export, or None.

    A CIF written in P 1 (or P -1) whose cell has two-fold lattice symmetry (right angles, or
    a = b with 120 degrees, within 0.1 degree) is almost always a higher-symmetry structure
    expanded to P 1: its reflections would come without their multiplicities and its
    equivalent reflections would be listed one by one.

    Parameters
    ----------
    structure : gemmi.SmallStructure
        The structure as read (see :func:`load_structure`).

    Returns
    -------
    str or None
        Why the symmetry looks lost (for the user), None when it does not.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p1.cif")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("data_p1\\n_cell_length_a 4\\n_cell_length_b 4\\n_cell_length_c 4\\n"
    ...                  "_cell_angle_alpha 90\\n_cell_angle_beta 90\\n_cell_angle_gamma 90\\n"
    ...                  "_symmetry_space_group_name_H-M 'P 1'\\nloop_\\n_atom_site_label\\n"
    ...                  "_atom_site_type_symbol\\n_atom_site_fract_x\\n_atom_site_fract_y\\n"
    ...                  "_atom_site_fract_z\\nCu1 Cu 0 0 0\\n")
    >>> lost_symmetry(load_structure(path))[:52]
    "space group 'P 1' but a cell with 9 two-fold lattice"
    """
    sg = structure.spacegroup
    if sg is None or sg.number > 2:
        return None
    ops = gemmi.find_lattice_2fold_ops(structure.cell, 0.1)
    if not ops:
        return None
    return (f"space group {sg.xhm()!r} but a cell with {len(ops)} two-fold lattice axes "
            f"({structure.cell.a:.4g}, {structure.cell.b:.4g}, {structure.cell.c:.4g} A, "
            f"{structure.cell.alpha:.4g}, {structure.cell.beta:.4g}, "
            f"{structure.cell.gamma:.4g} deg): "
            "the symmetry was probably lost when the CIF was exported (an 'expand to P1' option); "
            "give the CIF with its space group and asymmetric unit")


def copy_structure(
    structure: gemmi.SmallStructure, cell: Cell | None = None
) -> gemmi.SmallStructure:
    """Independent copy of a structure, optionally with another cell.

    Parameters
    ----------
    structure : gemmi.SmallStructure
        The structure to copy.
    cell : Cell, optional
        Anything with ``unit_cell()`` returning a :class:`gemmi.UnitCell` (a :class:`Cell`);
        fractional coordinates, occupancies and displacement parameters are kept.

    Returns
    -------
    gemmi.SmallStructure
        A copy that shares nothing with ``structure``.

    Examples
    --------
    >>> from importlib.resources import files
    >>> cif = str(files("xpipe.synth") / "structures" / "Cu_Fm-3m.cif")
    >>> copy = copy_structure(load_structure(cif), Cell.cubic(3.7))
    >>> copy.cell.a, copy.spacegroup.xhm()
    (3.7, 'F m -3 m')
    """
    new = gemmi.SmallStructure()
    new.name = structure.name
    new.cell = structure.cell if cell is None else cell.unit_cell()
    new.spacegroup_hm = structure.spacegroup_hm
    new.spacegroup_hall = structure.spacegroup_hall
    new.spacegroup_number = structure.spacegroup_number
    new.symops = list(structure.symops)
    new.determine_and_set_spacegroup("s.h1")
    if new.spacegroup is None or new.spacegroup.number != structure.spacegroup.number:
        raise RuntimeError("space group lost while copying the structure")
    for site in structure.sites:
        new.add_site(site.clone())
    new.setup_cell_images()
    return new


# ----------------------------------------------------------------------- reflections


@dataclass(frozen=True)
class Reflections:
    """Symmetry-unique allowed reflections, sorted by decreasing d.

    Attributes
    ----------
    hkl : (n, 3) int array, one representative per family of equivalent reflections
        (the one with the fewest negative indices, then the largest h, k, l, e.g.
        (0 1 2) rather than (1 0 -2)).
    d_a : (n,) d-spacings in angstrom.
    multiplicity : (n,) number of equivalent reflections (Friedel mates included).
    f_squared : (n,) |F|^2 in electrons^2 per unit cell; NaN when no structure was given.

    Examples
    --------
    >>> refl = reflections_from_cell("F m -3 m", Cell.cubic(3.6149), d_min_a=1.5)
    >>> len(refl), refl.two_theta_deg(0.7749).round(3).tolist(), refl.q_a_inv().round(4).tolist()
    (2, [21.397, 24.756], [3.0105, 3.4763])
    """

    hkl: np.ndarray
    d_a: np.ndarray
    multiplicity: np.ndarray
    f_squared: np.ndarray

    def __len__(self) -> int:
        return len(self.d_a)

    def two_theta_deg(self, wavelength_a: float) -> np.ndarray:
        """Bragg angles 2theta in degrees at ``wavelength_a``; NaN beyond reach."""
        s = wavelength_a / (2.0 * np.asarray(self.d_a, dtype=float))
        with np.errstate(invalid="ignore"):
            return np.where(s <= 1.0, 2.0 * np.degrees(np.arcsin(np.minimum(s, 1.0))), np.nan)

    def q_a_inv(self) -> np.ndarray:
        """Scattering vector magnitudes ``2 pi / d`` in 1/angstrom."""
        return 2.0 * np.pi / np.asarray(self.d_a, dtype=float)


def _equivalent_hkl(ops: gemmi.GroupOps, hkl: Sequence[int]) -> set[tuple[int, int, int]]:
    out = set()
    for op in ops.sym_ops:
        h = tuple(int(v) for v in op.apply_to_hkl(list(hkl)))
        out.add(h)
        out.add((-h[0], -h[1], -h[2]))
    return out


def _conventional_hkl(equivalents: set[tuple[int, int, int]]) -> tuple[int, int, int]:
    """Representative for listing: fewest negative indices, then largest h, k, l."""
    return min(equivalents, key=lambda v: (sum(x < 0 for x in v), -v[0], -v[1], -v[2]))


def _enumerate(
    cell: gemmi.UnitCell,
    sg: gemmi.SpaceGroup,
    d_min_a: float,
    d_max_a: float,
    structure: gemmi.SmallStructure | None = None,
) -> list[tuple]:
    """Rows ``(d, h, k, l, multiplicity, |F|^2)`` sorted by decreasing d, then h, k, l."""
    if not d_min_a > 0:
        raise ValueError(f"d_min_a must be > 0 angstrom, got {d_min_a}")
    ops = sg.operations()
    calc = None
    if structure is not None:
        # gemmi's calculator sums over all symmetry images of every site; atoms on special
        # positions must therefore carry the crystallographic occupancy (chemical
        # occupancy / number of coinciding images), on a private copy.
        sf_structure = copy_structure(structure)
        sf_structure.change_occupancies_to_crystallographic()
        calc = gemmi.StructureFactorCalculatorX(cell)
    hkl_all = gemmi.make_miller_array(cell, sg, float(d_min_a), 0.0, True)
    rows = []
    for h, k, l in hkl_all.tolist():
        if ops.is_systematically_absent([h, k, l]):
            continue
        d = cell.calculate_d([h, k, l])
        if d < d_min_a or d > d_max_a:
            continue
        f2 = math.nan
        if calc is not None:
            f2 = abs(calc.calculate_sf_from_small_structure(sf_structure, [h, k, l])) ** 2
        equivalents = _equivalent_hkl(ops, (h, k, l))
        mult = len(equivalents)
        h, k, l = _conventional_hkl(equivalents)
        rows.append((d, h, k, l, mult, f2))
    # deterministic order: decreasing d, ties broken by the indices
    rows.sort(key=lambda r: (-r[0], r[1], r[2], r[3]))
    return rows


def _rows_to_reflections(rows: list[tuple], b_iso_a2: float = 0.0) -> Reflections:
    if not rows:
        empty = np.zeros((0,))
        return Reflections(np.zeros((0, 3), dtype=int), empty, empty.astype(int), empty)
    arr = np.array(rows, dtype=float)
    d = arr[:, 0]
    f2 = arr[:, 5] * np.exp(-b_iso_a2 / (2.0 * d * d))
    return Reflections(
        hkl=arr[:, 1:4].astype(int),
        d_a=d,
        multiplicity=arr[:, 4].astype(int),
        f_squared=f2,
    )


def reflections_from_cell(
    space_group: str | gemmi.SpaceGroup,
    cell: Cell,
    d_min_a: float,
    d_max_a: float = math.inf,
) -> Reflections:
    """Allowed reflections of a space group and cell with ``d_min_a <= d <= d_max_a``.

    Parameters
    ----------
    space_group : str or gemmi.SpaceGroup
        Hermann-Mauguin symbol in gemmi's spelling (``'F m -3 m'``, ``'R -3 c:H'`` for
        the hexagonal setting, ``'R -3 c:R'`` for rhombohedral axes, ``'P 1 21/c 1'``).
    cell : Cell
        Unit cell, compatible with the space group's lattice system.
    d_min_a, d_max_a : float
        d-range in angstrom.

    Returns
    -------
    Reflections
        One representative per family of equivalent reflections with its multiplicity,
        sorted by decreasing d (angstrom); ``f_squared`` is NaN.

    Examples
    --------
    >>> refl = reflections_from_cell("R -3 c:H", Cell.hexagonal(8.7288, 21.8042), d_min_a=4.0)
    >>> refl.hkl.tolist(), refl.multiplicity.tolist(), refl.d_a.round(4).tolist()
    ([[0, 1, 2], [1, 0, 4], [1, 1, 0]], [6, 6, 6], [6.2121, 4.4214, 4.3644])
    """
    sg = _space_group(space_group)
    uc = cell.unit_cell()
    if not uc.is_compatible_with_spacegroup(sg, 1e-4):
        raise ValueError(
            f"cell {cell} does not have the symmetry of space group {sg.xhm()!r} "
            f"({sg.crystal_system_str()})"
        )
    return _rows_to_reflections(_enumerate(uc, sg, d_min_a, d_max_a))


def structure_reflections(
    structure: gemmi.SmallStructure,
    d_min_a: float,
    d_max_a: float = math.inf,
    b_iso_a2: float = 0.0,
) -> Reflections:
    """Allowed reflections of a structure with ``d_min_a <= d <= d_max_a`` and their |F|^2.

    Parameters
    ----------
    structure : gemmi.SmallStructure
        Structure with its cell (see :func:`copy_structure` to change the cell).
    d_min_a, d_max_a : float
        d-range in angstrom.
    b_iso_a2 : float
        Optional overall Debye-Waller factor B (A^2) applied on top of the site U_iso:
        ``|F|^2 * exp(-B / (2 d^2))``.

    Returns
    -------
    Reflections
        With ``f_squared`` in electrons^2 per unit cell.

    Examples
    --------
    >>> from importlib.resources import files
    >>> cif = str(files("xpipe.synth") / "structures" / "Cu_Fm-3m.cif")
    >>> refl = structure_reflections(load_structure(cif), d_min_a=1.5)
    >>> refl.hkl.tolist(), refl.multiplicity.tolist(), refl.f_squared.round(1).tolist()
    ([[1, 1, 1], [2, 0, 0]], [8, 6], [7318.8, 6314.0])
    """
    rows = _enumerate(structure.cell, structure.spacegroup, d_min_a, d_max_a, structure)
    return _rows_to_reflections(rows, b_iso_a2)


def reflections_from_cif(
    path: str | Path,
    d_min_a: float,
    d_max_a: float = math.inf,
    cell: Cell | None = None,
    b_iso_a2: float = 0.0,
) -> Reflections:
    """Allowed reflections of the structure in a CIF, with |F|^2 from gemmi.

    Parameters
    ----------
    path : str or Path
        CIF file (first data block).
    d_min_a, d_max_a : float
        d-range in angstrom.
    cell : Cell, optional
        Replace the cell of the CIF (fractional coordinates kept), e.g. a refined cell.
    b_iso_a2 : float
        Optional overall Debye-Waller factor B in A^2 on top of the site U_iso.

    Returns
    -------
    Reflections
        d-spacings in angstrom, multiplicities, |F|^2 in electrons^2 per unit cell.

    Examples
    --------
    >>> from importlib.resources import files
    >>> cif = str(files("xpipe.synth") / "structures" / "Cu_Fm-3m.cif")
    >>> refl = reflections_from_cif(cif, 1.5, cell=Cell.cubic(3.7))
    >>> refl.d_a.round(4).tolist(), refl.f_squared.round(1).tolist()
    ([2.1362, 1.85], [7475.0, 6480.5])
    """
    structure = load_structure(path)
    if cell is not None:
        structure = copy_structure(structure, cell)
    return structure_reflections(structure, d_min_a, d_max_a, b_iso_a2)
