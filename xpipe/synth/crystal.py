"""Crystal structures of the generators: bundled CIFs, cells, Bragg geometry.

The CIFs shipped in ``xpipe/synth/structures`` are read with gemmi
(:func:`xpipe.xrd.reflections.load_structure`); a structure's cell and site occupancies are
changed on copies, never in place. Lengths are in angstrom, angles in degrees.
:mod:`xpipe.synth.powder` builds reflections and patterns from them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import gemmi
import numpy as np

from ..xrd import reflections as _xrd_reflections
from ..xrd.reflections import Cell

__all__ = [
    "BUNDLED_STRUCTURES",
    "Lattice",
    "bragg_two_theta_deg",
    "copy_structure",
    "d_from_two_theta_deg",
    "d_spacing_hexagonal_a",
    "lattice_of",
    "load_structure",
    "structure_path",
    "with_lattice",
    "with_occupancy",
]

#: Structures shipped with the package (``xpipe/synth/structures``), by short name.
BUNDLED_STRUCTURES = {
    "Na3V2(PO4)3": "Na3V2PO43_R-3c.cif",
    "NaV2(PO4)3": "NaV2PO43_R-3c.cif",
    "V2O3": "V2O3_R-3c.cif",
    # lithium-ion cathodes, anodes, current collectors and impurities (scenario generator)
    "LiFePO4": "LiFePO4_Pnma.cif",
    "FePO4": "FePO4_Pnma.cif",
    "LiMn2O4": "LiMn2O4_Fd-3m.cif",
    "lambda-MnO2": "MnO2_lambda_Fd-3m.cif",
    "Co3O4": "Co3O4_Fd-3m.cif",
    "LiCoO2": "LiCoO2_R-3m.cif",
    "LiNiO2": "LiNiO2_R-3m.cif",
    "Li0.5NiO2": "Li0.5NiO2_C2m.cif",
    "Li0.3NiO2": "Li0.3NiO2_R-3m.cif",
    "Li2MnO3": "Li2MnO3_C2m.cif",
    "anatase-TiO2": "TiO2_anatase_I41amd.cif",
    "rutile-TiO2": "TiO2_rutile_P42mnm.cif",
    "Al": "Al_Fm-3m.cif",
    "Cu": "Cu_Fm-3m.cif",
    "NiO": "NiO_Fm-3m.cif",
    "LiF": "LiF_Fm-3m.cif",
    "Li2O": "Li2O_Fm-3m.cif",
}


# --------------------------------------------------------------------------- lattice


class Lattice(Cell):
    """Unit cell of the simulation (a :class:`xpipe.xrd.reflections.Cell`) that can be scaled.

    Parameters
    ----------
    a_a, b_a, c_a : float
        Cell lengths, angstrom.
    alpha_deg, beta_deg, gamma_deg : float
        Cell angles, degrees (default 90).

    Examples
    --------
    >>> cell = Lattice(8.7288, 8.7288, 21.8042, 90.0, 90.0, 120.0).scaled(0.99, 1.01)
    >>> round(cell.a_a, 4), round(cell.c_a, 4), round(cell.volume_a3, 1)
    (8.6415, 22.0222, 1424.2)
    """

    def scaled(self, fa: float = 1.0, fc: float = 1.0) -> Lattice:
        """Return the cell with a and b multiplied by ``fa`` and c by ``fc``."""
        return Lattice(
            self.a_a * fa, self.b_a * fa, self.c_a * fc, self.alpha_deg, self.beta_deg,
            self.gamma_deg,
        )


def lattice_of(structure: gemmi.SmallStructure) -> Lattice:
    """Cell of a gemmi small structure as a :class:`Lattice`.

    Parameters
    ----------
    structure : gemmi.SmallStructure
        Structure with its cell.

    Returns
    -------
    Lattice
        Lengths in angstrom, angles in degrees.

    Examples
    --------
    >>> lat = lattice_of(load_structure("Al"))
    >>> lat.a_a, lat.gamma_deg
    (4.0495, 90.0)
    """
    c = structure.cell
    return Lattice(c.a, c.b, c.c, c.alpha, c.beta, c.gamma)


def d_spacing_hexagonal_a(h, k, l, a_a: float, c_a: float):
    """d-spacing of hexagonal axes: ``1/d^2 = 4/3 (h^2 + hk + k^2)/a^2 + l^2/c^2``.

    Parameters
    ----------
    h, k, l : array_like
        Miller indices.
    a_a, c_a : float
        Cell lengths, angstrom.

    Returns
    -------
    numpy.ndarray
        d-spacings, angstrom.

    Examples
    --------
    >>> round(float(d_spacing_hexagonal_a(1, 0, 4, 8.7288, 21.8042)), 4)
    4.4214
    """
    h, k, l = (np.asarray(v, dtype=float) for v in (h, k, l))
    inv_d2 = 4.0 / 3.0 * (h * h + h * k + k * k) / a_a**2 + l * l / c_a**2
    return 1.0 / np.sqrt(inv_d2)


def bragg_two_theta_deg(d_a, wavelength_a: float):
    """Bragg angle 2theta in degrees from ``lambda = 2 d sin(theta)``; NaN beyond reach.

    Parameters
    ----------
    d_a : array_like
        d-spacings, angstrom.
    wavelength_a : float
        Wavelength, angstrom.

    Returns
    -------
    numpy.ndarray
        2theta, degrees (NaN where ``d < wavelength / 2``).

    Examples
    --------
    >>> np.round(bragg_two_theta_deg([2.0, 0.3], 0.7), 3).tolist()
    [20.157, nan]
    """
    d_a = np.asarray(d_a, dtype=float)
    s = wavelength_a / (2.0 * d_a)
    with np.errstate(invalid="ignore"):
        return np.where(s <= 1.0, 2.0 * np.degrees(np.arcsin(np.minimum(s, 1.0))), np.nan)


def d_from_two_theta_deg(two_theta_deg, wavelength_a: float):
    """d-spacing in angstrom at a 2theta angle in degrees.

    Parameters
    ----------
    two_theta_deg : array_like
        2theta, degrees.
    wavelength_a : float
        Wavelength, angstrom.

    Returns
    -------
    numpy.ndarray
        d-spacings, angstrom.

    Examples
    --------
    >>> round(float(d_from_two_theta_deg(20.157, 0.7)), 4)
    2.0
    """
    theta = np.radians(np.asarray(two_theta_deg, dtype=float) / 2.0)
    return wavelength_a / (2.0 * np.sin(theta))


# ------------------------------------------------------------------------ structures


def structure_path(name: str) -> Path:
    """Path of a bundled CIF, by short name (key of :data:`BUNDLED_STRUCTURES`) or file name.

    Parameters
    ----------
    name : str
        Short name (``"Al"``) or file name (``"Al_Fm-3m.cif"``).

    Returns
    -------
    pathlib.Path
        The CIF inside the installed package.

    Raises
    ------
    FileNotFoundError
        When no such structure is bundled.

    Examples
    --------
    >>> structure_path("LiCoO2").name
    'LiCoO2_R-3m.cif'
    """
    fname = BUNDLED_STRUCTURES.get(name, name)
    path = Path(str(resources.files("xpipe.synth").joinpath("structures", fname)))
    if not path.is_file():
        raise FileNotFoundError(f"no bundled structure {name!r} ({path})")
    return path


def load_structure(path_or_name: str | Path) -> gemmi.SmallStructure:
    """Read a small-molecule/inorganic CIF with gemmi.

    The first data block is used; the space group must be resolvable
    (:func:`xpipe.xrd.reflections.load_structure`).

    Parameters
    ----------
    path_or_name : str or path
        A file path or the short name of a bundled structure.

    Returns
    -------
    gemmi.SmallStructure
        Cell, space group and sites (asymmetric unit) of the CIF.

    Examples
    --------
    >>> st = load_structure("NiO")
    >>> st.spacegroup.hm, [site.label for site in st.sites]
    ('F m -3 m', ['Ni1', 'O1'])
    """
    path = Path(path_or_name)
    if not path.is_file():
        path = structure_path(str(path_or_name))
    return _xrd_reflections.load_structure(path)


def copy_structure(
    structure: gemmi.SmallStructure, lattice: Lattice | None = None
) -> gemmi.SmallStructure:
    """Independent copy of a structure, optionally with another cell.

    Fractional coordinates, occupancies and displacement parameters are kept
    (:func:`xpipe.xrd.reflections.copy_structure`).

    Parameters
    ----------
    structure : gemmi.SmallStructure
        The structure (left unchanged).
    lattice : Lattice, optional
        New cell (default: the structure's own).

    Returns
    -------
    gemmi.SmallStructure

    Examples
    --------
    >>> st = load_structure("Al")
    >>> copy_structure(st, Lattice(4.1, 4.1, 4.1)).cell.a, st.cell.a
    (4.1, 4.0495)
    """
    return _xrd_reflections.copy_structure(structure, lattice)


def with_lattice(structure: gemmi.SmallStructure, lattice: Lattice) -> gemmi.SmallStructure:
    """Copy of ``structure`` with the cell replaced by ``lattice`` (a, b, c, alpha, beta, gamma).

    Parameters
    ----------
    structure : gemmi.SmallStructure
        The structure (left unchanged).
    lattice : Lattice
        New cell.

    Returns
    -------
    gemmi.SmallStructure

    Examples
    --------
    >>> round(with_lattice(load_structure("Al"), Lattice(4.0, 4.0, 4.0)).cell.volume, 3)
    64.0
    """
    return copy_structure(structure, lattice)


def with_occupancy(
    structure: gemmi.SmallStructure, occupancies: dict[str, float]
) -> gemmi.SmallStructure:
    """Copy of ``structure`` with the occupancy of the sites named in ``occupancies`` replaced.

    Parameters
    ----------
    structure : gemmi.SmallStructure
        The structure (left unchanged).
    occupancies : dict of str to float
        Site label -> occupancy.

    Returns
    -------
    gemmi.SmallStructure

    Raises
    ------
    KeyError
        When a label names no site.

    Examples
    --------
    >>> st = with_occupancy(load_structure("NiO"), {"Ni1": 0.9})
    >>> [(site.label, site.occ) for site in st.sites]
    [('Ni1', 0.9), ('O1', 1.0)]
    """
    new = copy_structure(structure)
    unknown = set(occupancies) - {s.label for s in new.sites}
    if unknown:
        raise KeyError(f"no site labelled {sorted(unknown)}")
    for site in new.sites:
        if site.label in occupancies:
            site.occ = float(occupancies[site.label])
    new.setup_cell_images()
    return new
