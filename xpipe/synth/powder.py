"""Powder diffraction from crystal structures: reflections, structure factors, 1D patterns.

Everything here is plain functions on arrays and a few small dataclasses, so that
the same code serves the demo-data generator, the tests and (later) the fitting
code. Angles carry their unit in the name (``two_theta_deg``), lengths are in
angstrom (``d_a``, ``wavelength_a``), displacement parameters in A^2.

Physics conventions
-------------------
* Structure factors: :class:`gemmi.StructureFactorCalculatorX` with gemmi's built-in
  neutral-atom X-ray form factors (International Tables, 4-Gaussian fits), site
  occupancies and the isotropic displacement parameters ``U_iso`` of the CIF.
  No anomalous dispersion.
* Integrated intensity of reflection ``hkl`` of phase ``p``::

      I_hkl = S_p * m_hkl * |F_hkl|^2 * L(theta) * exp(-2 B s^2),   s = 1 / (2 d)

  with the multiplicity ``m_hkl``, an optional overall Debye-Waller ``B`` on top
  of the site ``U_iso`` values, and the phase scale ``S_p`` of the Rietveld
  quantitative phase analysis (Hill & Howard 1987)::

      S_p = w_p / (Z M_p * V_p)  (cell mass Z M in g/mol, cell volume V in A^3)

  i.e. the scale is proportional to the weight fraction ``w_p`` (micro-absorption
  neglected), so that ``w_p = S_p (Z M V)_p / sum_q S_q (Z M V)_q`` recovers the
  weight fractions from refined scales.
* Lorentz factor: Debye-Scherrer powder seen by an area detector, expressed as
  intensity per unit solid angle on the Debye-Scherrer ring,
  ``L = 1 / (sin(theta) sin(2 theta))``: the 1 / (2 sin(theta)) powder factor of the
  whole cone spread over the ring circumference ``2 pi sin(2 theta)``. This is the
  quantity a solid-angle-corrected azimuthal integration (pyFAI) returns. The
  classic 1D-detector factor ``1 / (sin^2(theta) cos(theta))`` is available too.
  Polarisation is *not* applied by default: for an area detector it depends on
  the azimuth and is left to the detector projection (pyFAI); for an azimuthally
  averaged pattern the factor is ``(1 + cos^2(2 theta)) / 2`` whatever the degree
  of linear polarisation.
* Peak shape: area-normalised pseudo-Voigt in 2theta with the Caglioti width
  ``FWHM^2 = U tan^2(theta) + V tan(theta) + W`` (deg^2) and a constant mixing
  parameter ``eta``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import gemmi
import numpy as np

from ..lineshapes import pseudo_voigt
from ..xrd import phases as _xrd_phases
from ..xrd import reflections as _xrd_reflections
from ..xrd.phases import cell_mass_amu
from ..xrd.reflections import Cell, Reflections

__all__ = [
    "BUNDLED_STRUCTURES",
    "Lattice",
    "PeakProfile",
    "Phase",
    "ReflectionList",
    "bragg_two_theta_deg",
    "caglioti_fwhm_deg",
    "cell_mass_amu",
    "copy_structure",
    "d_from_two_theta_deg",
    "d_spacing_hexagonal_a",
    "lattice_of",
    "load_structure",
    "lorentz_factor",
    "phase_scale",
    "polarization_factor_unpolarized",
    "powder_pattern",
    "pseudo_voigt",
    "reflections",
    "structure_path",
    "weight_fractions_from_scales",
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
    """Unit cell of the simulation (a :class:`xpipe.xrd.reflections.Cell`) that can be scaled."""

    def scaled(self, fa: float = 1.0, fc: float = 1.0) -> Lattice:
        """Return the cell with a and b multiplied by ``fa`` and c by ``fc``."""
        return Lattice(
            self.a_a * fa, self.b_a * fa, self.c_a * fc, self.alpha_deg, self.beta_deg,
            self.gamma_deg,
        )


def lattice_of(structure: gemmi.SmallStructure) -> Lattice:
    """Cell of a gemmi small structure as a :class:`Lattice`."""
    c = structure.cell
    return Lattice(c.a, c.b, c.c, c.alpha, c.beta, c.gamma)


def d_spacing_hexagonal_a(h, k, l, a_a: float, c_a: float):
    """d-spacing of hexagonal axes: ``1/d^2 = 4/3 (h^2 + hk + k^2)/a^2 + l^2/c^2``."""
    h, k, l = (np.asarray(v, dtype=float) for v in (h, k, l))
    inv_d2 = 4.0 / 3.0 * (h * h + h * k + k * k) / a_a**2 + l * l / c_a**2
    return 1.0 / np.sqrt(inv_d2)


def bragg_two_theta_deg(d_a, wavelength_a: float):
    """Bragg angle 2theta in degrees from ``lambda = 2 d sin(theta)``; NaN beyond reach."""
    d_a = np.asarray(d_a, dtype=float)
    s = wavelength_a / (2.0 * d_a)
    with np.errstate(invalid="ignore"):
        return np.where(s <= 1.0, 2.0 * np.degrees(np.arcsin(np.minimum(s, 1.0))), np.nan)


def d_from_two_theta_deg(two_theta_deg, wavelength_a: float):
    """d-spacing in angstrom at a 2theta angle in degrees."""
    theta = np.radians(np.asarray(two_theta_deg, dtype=float) / 2.0)
    return wavelength_a / (2.0 * np.sin(theta))


# ------------------------------------------------------------------------ structures


def structure_path(name: str) -> Path:
    """Path of a bundled CIF, by short name (key of :data:`BUNDLED_STRUCTURES`) or file name."""
    fname = BUNDLED_STRUCTURES.get(name, name)
    path = Path(str(resources.files("xpipe.synth").joinpath("structures", fname)))
    if not path.is_file():
        raise FileNotFoundError(f"no bundled structure {name!r} ({path})")
    return path


def load_structure(path_or_name: str | Path) -> gemmi.SmallStructure:
    """Read a small-molecule/inorganic CIF with gemmi.

    ``path_or_name`` is a file path or the short name of a bundled structure.
    The first data block is used; the space group must be resolvable
    (:func:`xpipe.xrd.reflections.load_structure`).
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
    """
    return _xrd_reflections.copy_structure(structure, lattice)


def with_lattice(structure: gemmi.SmallStructure, lattice: Lattice) -> gemmi.SmallStructure:
    """Copy of ``structure`` with the cell replaced by ``lattice`` (a, b, c, alpha, beta, gamma)."""
    return copy_structure(structure, lattice)


def with_occupancy(
    structure: gemmi.SmallStructure, occupancies: dict[str, float]
) -> gemmi.SmallStructure:
    """Copy of ``structure`` with the occupancy of the sites named in ``occupancies`` replaced."""
    new = copy_structure(structure)
    unknown = set(occupancies) - {s.label for s in new.sites}
    if unknown:
        raise KeyError(f"no site labelled {sorted(unknown)}")
    for site in new.sites:
        if site.label in occupancies:
            site.occ = float(occupancies[site.label])
    new.setup_cell_images()
    return new


# ----------------------------------------------------------------------- reflections


@dataclass(frozen=True)
class ReflectionList(Reflections):
    """Symmetry-unique reflections of one structure, sorted by decreasing d.

    :class:`xpipe.xrd.reflections.Reflections` with the powder intensity ``m |F|^2``.

    Attributes
    ----------
    hkl : (n, 3) int array, one representative per set of equivalent reflections
        (the one with the fewest negative indices, e.g. (0 1 2) rather than (1 0 -2)).
    d_a : (n,) d-spacings in angstrom.
    multiplicity : (n,) number of equivalent reflections (Friedel mates included).
    f_squared : (n,) |F|^2 in electrons^2 per unit cell (site U_iso and the optional
        overall B included).
    """

    def intensity(
        self, wavelength_a: float | None = None, lorentz: str | None = None
    ) -> np.ndarray:
        """``m |F|^2``, times the Lorentz factor at ``wavelength_a`` if ``lorentz`` is given."""
        out = self.multiplicity * self.f_squared
        if lorentz is not None:
            if wavelength_a is None:
                raise ValueError("a Lorentz factor needs the wavelength")
            out = out * lorentz_factor(self.two_theta_deg(wavelength_a), lorentz)
        return out


def reflections(
    structure: gemmi.SmallStructure,
    d_min_a: float,
    d_max_a: float = math.inf,
    b_iso_a2: float = 0.0,
) -> ReflectionList:
    """Enumerate the allowed reflections of ``structure`` with ``d_min_a <= d <= d_max_a``.

    One representative per set of symmetry-equivalent reflections (gemmi reciprocal
    ASU); systematic absences of the space group (lattice centring, glides, screws)
    are removed with :meth:`gemmi.GroupOps.is_systematically_absent`. Multiplicities
    count all equivalents including Friedel mates (no anomalous scattering). The work
    is done by :func:`xpipe.xrd.reflections.structure_reflections`.

    Parameters
    ----------
    structure : gemmi.SmallStructure
        Structure with its cell (see :func:`with_lattice`).
    d_min_a, d_max_a : float
        d-range in angstrom.
    b_iso_a2 : float
        Optional overall Debye-Waller factor B (A^2) applied on top of the site U_iso:
        ``|F|^2 * exp(-B / (2 d^2))``.
    """
    refl = _xrd_reflections.structure_reflections(structure, d_min_a, d_max_a, b_iso_a2)
    return ReflectionList(refl.hkl, refl.d_a, refl.multiplicity, refl.f_squared)


# --------------------------------------------------------------------- peak profiles


def caglioti_fwhm_deg(two_theta_deg, u_deg2: float, v_deg2: float, w_deg2: float):
    """Caglioti FWHM in degrees: ``sqrt(U tan^2(theta) + V tan(theta) + W)``."""
    t = np.tan(np.radians(np.asarray(two_theta_deg, dtype=float) / 2.0))
    f2 = u_deg2 * t * t + v_deg2 * t + w_deg2
    if np.any(f2 <= 0):
        raise ValueError("Caglioti parameters give a non-positive FWHM^2")
    return np.sqrt(f2)


@dataclass(frozen=True)
class PeakProfile:
    """Pseudo-Voigt peak shape with Caglioti widths (deg^2) and mixing ``eta`` (0 = Gauss)."""

    u_deg2: float = 0.004
    v_deg2: float = -0.001
    w_deg2: float = 0.0025
    eta: float = 0.5

    def fwhm_deg(self, two_theta_deg):
        return caglioti_fwhm_deg(two_theta_deg, self.u_deg2, self.v_deg2, self.w_deg2)


# ------------------------------------------------------------------- intensity model


def lorentz_factor(two_theta_deg, geometry: str = "debye_scherrer_2d"):
    """Powder Lorentz factor, :func:`xpipe.xrd.phases.lorentz_factor` under the generator's names.

    ``"debye_scherrer_2d"``: ``1 / (sin(theta) sin(2 theta))``, intensity per unit solid
    angle on the ring (area detector, solid-angle-corrected integration).
    ``"debye_scherrer_1d"``: ``1 / (sin^2(theta) cos(theta))``, intensity per unit length
    of a line detector or receiving slit (Bragg-Brentano has the same factor).
    """
    names = {"debye_scherrer_2d": "area_detector", "debye_scherrer_1d": "line_detector"}
    if geometry not in names:
        raise ValueError(f"unknown Lorentz geometry {geometry!r}")
    return _xrd_phases.lorentz_factor(two_theta_deg, names[geometry])


def polarization_factor_unpolarized(two_theta_deg):
    """``(1 + cos^2(2 theta)) / 2``: unpolarised beam, or any beam averaged over azimuth."""
    c = np.cos(np.radians(np.asarray(two_theta_deg, dtype=float)))
    return 0.5 * (1.0 + c * c)


def phase_scale(weight_fraction: float, cell_mass: float, volume_a3: float) -> float:
    """Rietveld scale ``S = w / (Z M V)`` (arbitrary overall unit) for a weight fraction."""
    return float(weight_fraction) / (cell_mass * volume_a3)


def weight_fractions_from_scales(scales, cell_masses, volumes_a3) -> np.ndarray:
    """Inverse of :func:`phase_scale` (Hill & Howard): ``w_p = S_p ZMV_p / sum S ZMV``."""
    zmv = np.asarray(scales, float) * np.asarray(cell_masses, float) * np.asarray(volumes_a3, float)
    return zmv / zmv.sum()


@dataclass
class Phase:
    """One crystalline phase of a powder mixture.

    ``structure`` carries the cell and the atoms (use :func:`with_lattice` to change
    the cell); ``weight_fraction`` is the mass fraction in the irradiated sample.
    """

    name: str
    structure: gemmi.SmallStructure
    weight_fraction: float
    profile: PeakProfile = field(default_factory=PeakProfile)
    b_iso_a2: float = 0.0

    @property
    def lattice(self) -> Lattice:
        return lattice_of(self.structure)

    @property
    def cell_mass(self) -> float:
        return cell_mass_amu(self.structure)

    @property
    def scale(self) -> float:
        return phase_scale(self.weight_fraction, self.cell_mass, self.lattice.volume_a3)

    def reflections(self, d_min_a: float, d_max_a: float = math.inf) -> ReflectionList:
        return reflections(self.structure, d_min_a, d_max_a, b_iso_a2=self.b_iso_a2)


def powder_pattern(
    two_theta_deg,
    phases: Sequence[Phase],
    wavelength_a: float,
    *,
    lorentz: str | None = "debye_scherrer_2d",
    polarization: bool = False,
    tail_fwhm: float = 60.0,
) -> np.ndarray:
    """Powder pattern ``I(2theta)`` of a mixture of phases on the grid ``two_theta_deg``.

    Sum over phases and reflections of ``S_p m |F|^2 L(theta) exp(-2Bs^2) PV(2theta)``
    with area-normalised pseudo-Voigt peaks (so the integral of one peak over 2theta in
    degrees is its integrated intensity). Reflections are taken down to the d-spacing
    ``tail_fwhm`` widths beyond the end of the grid, so that tails entering the range
    are included; each peak is evaluated over the whole grid.

    Parameters
    ----------
    two_theta_deg : array
        Increasing 2theta grid in degrees.
    phases : sequence of Phase
    wavelength_a : float
    lorentz : str or None
        Lorentz geometry for :func:`lorentz_factor`; None for none.
    polarization : bool
        Multiply by the azimuth-averaged polarisation factor (only for 1D patterns;
        keep False when the pattern is projected on a detector that applies it).
    """
    tth = np.asarray(two_theta_deg, dtype=float)
    out = np.zeros_like(tth)
    lo, hi = float(tth[0]), float(tth[-1])
    for phase in phases:
        if phase.weight_fraction <= 0:
            continue
        fwhm_hi = float(phase.profile.fwhm_deg(hi))
        top = min(hi + tail_fwhm * fwhm_hi, 179.0)
        d_min = wavelength_a / (2.0 * math.sin(math.radians(top / 2.0)))
        bottom = max(lo - tail_fwhm * fwhm_hi, 0.2)
        d_max = wavelength_a / (2.0 * math.sin(math.radians(bottom / 2.0)))
        refl = phase.reflections(d_min, d_max)
        if len(refl) == 0:
            continue
        centers = refl.two_theta_deg(wavelength_a)
        weights = phase.scale * refl.intensity()
        if lorentz is not None:
            weights = weights * lorentz_factor(centers, lorentz)
        fwhm = phase.profile.fwhm_deg(centers)
        # chunk over reflections to bound memory
        for i in range(0, len(centers), 64):
            sl = slice(i, i + 64)
            prof = pseudo_voigt(tth[None, :], centers[sl, None], fwhm[sl, None], phase.profile.eta)
            out += weights[sl] @ prof
    if polarization:
        out *= polarization_factor_unpolarized(tth)
    return out
