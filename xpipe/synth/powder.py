"""Powder diffraction from crystal structures: reflections, structure factors, 1D patterns.

Everything here is plain functions on arrays and a few small dataclasses, so that
the same code serves the demo-data generator, the tests and (later) the fitting
code. The bundled structures and cells are in :mod:`xpipe.synth.crystal` (their names
are importable from here too). Angles carry their unit in the name (``two_theta_deg``),
lengths are in angstrom (``d_a``, ``wavelength_a``), displacement parameters in A^2.

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

import gemmi
import numpy as np

from ..lineshapes import pseudo_voigt
from ..xrd import phases as _xrd_phases
from ..xrd import reflections as _xrd_reflections
from ..xrd.phases import cell_mass_amu
from ..xrd.reflections import Reflections
from .crystal import (
    BUNDLED_STRUCTURES,
    Lattice,
    bragg_two_theta_deg,
    copy_structure,
    d_from_two_theta_deg,
    d_spacing_hexagonal_a,
    lattice_of,
    load_structure,
    structure_path,
    with_lattice,
    with_occupancy,
)

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

    Examples
    --------
    >>> refl = reflections(load_structure("Al"), 1.5)
    >>> np.round(refl.intensity(), 1).tolist()
    [9619.9, 6373.8]
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

    Returns
    -------
    ReflectionList
        Sorted by decreasing d.

    Examples
    --------
    >>> refl = reflections(load_structure("Al"), 1.5)
    >>> refl.hkl.tolist(), np.round(refl.d_a, 4).tolist(), refl.multiplicity.tolist()
    ([[1, 1, 1], [2, 0, 0]], [2.338, 2.0248], [8, 6])
    """
    refl = _xrd_reflections.structure_reflections(structure, d_min_a, d_max_a, b_iso_a2)
    return ReflectionList(refl.hkl, refl.d_a, refl.multiplicity, refl.f_squared)


# --------------------------------------------------------------------- peak profiles


def caglioti_fwhm_deg(two_theta_deg, u_deg2: float, v_deg2: float, w_deg2: float):
    """Caglioti FWHM in degrees: ``sqrt(U tan^2(theta) + V tan(theta) + W)``.

    Parameters
    ----------
    two_theta_deg : array_like
        2theta, degrees.
    u_deg2, v_deg2, w_deg2 : float
        Caglioti U, V, W, deg^2.

    Returns
    -------
    numpy.ndarray
        FWHM, degrees.

    Raises
    ------
    ValueError
        When ``FWHM^2`` is not positive somewhere.

    Examples
    --------
    >>> np.round(caglioti_fwhm_deg([10.0, 30.0], 0.004, -0.001, 0.0025), 4).tolist()
    [0.0494, 0.0502]
    """
    t = np.tan(np.radians(np.asarray(two_theta_deg, dtype=float) / 2.0))
    f2 = u_deg2 * t * t + v_deg2 * t + w_deg2
    if np.any(f2 <= 0):
        raise ValueError("Caglioti parameters give a non-positive FWHM^2")
    return np.sqrt(f2)


@dataclass(frozen=True)
class PeakProfile:
    """Pseudo-Voigt peak shape with Caglioti widths (deg^2) and mixing ``eta`` (0 = Gauss).

    Parameters
    ----------
    u_deg2, v_deg2, w_deg2 : float
        Caglioti U, V, W, deg^2.
    eta : float
        Lorentzian share of the pseudo-Voigt.

    Examples
    --------
    >>> round(float(PeakProfile().fwhm_deg(30.0)), 4)
    0.0502
    """

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

    Parameters
    ----------
    two_theta_deg : array_like
        2theta, degrees.
    geometry : str
        ``"debye_scherrer_2d"`` or ``"debye_scherrer_1d"``.

    Returns
    -------
    numpy.ndarray
        The factor, dimensionless.

    Raises
    ------
    ValueError
        For another geometry.

    Examples
    --------
    >>> np.round(lorentz_factor([10.0, 30.0]), 3).tolist()
    [66.074, 7.727]
    """
    names = {"debye_scherrer_2d": "area_detector", "debye_scherrer_1d": "line_detector"}
    if geometry not in names:
        raise ValueError(f"unknown Lorentz geometry {geometry!r}")
    return _xrd_phases.lorentz_factor(two_theta_deg, names[geometry])


def polarization_factor_unpolarized(two_theta_deg):
    """``(1 + cos^2(2 theta)) / 2``: unpolarised beam, or any beam averaged over azimuth.

    Parameters
    ----------
    two_theta_deg : array_like
        2theta, degrees.

    Returns
    -------
    numpy.ndarray
        The factor, between 0.5 and 1.

    Examples
    --------
    >>> np.round(polarization_factor_unpolarized([0.0, 45.0, 90.0]), 3).tolist()
    [1.0, 0.75, 0.5]
    """
    c = np.cos(np.radians(np.asarray(two_theta_deg, dtype=float)))
    return 0.5 * (1.0 + c * c)


def phase_scale(weight_fraction: float, cell_mass: float, volume_a3: float) -> float:
    """Rietveld scale ``S = w / (Z M V)`` (arbitrary overall unit) for a weight fraction.

    Parameters
    ----------
    weight_fraction : float
        Weight fraction of the phase.
    cell_mass : float
        Cell mass Z M, g/mol.
    volume_a3 : float
        Cell volume, A^3.

    Returns
    -------
    float
        The scale.

    Examples
    --------
    >>> round(phase_scale(0.5, 100.0, 50.0), 6)
    0.0001
    """
    return float(weight_fraction) / (cell_mass * volume_a3)


def weight_fractions_from_scales(scales, cell_masses, volumes_a3) -> np.ndarray:
    """Inverse of :func:`phase_scale` (Hill & Howard): ``w_p = S_p ZMV_p / sum S ZMV``.

    Parameters
    ----------
    scales, cell_masses, volumes_a3 : array_like
        Scales, cell masses Z M (g/mol) and cell volumes (A^3) of the phases.

    Returns
    -------
    numpy.ndarray
        Weight fractions (sum 1).

    Examples
    --------
    >>> s = [phase_scale(0.7, 100.0, 50.0), phase_scale(0.3, 400.0, 120.0)]
    >>> np.round(weight_fractions_from_scales(s, [100.0, 400.0], [50.0, 120.0]), 6).tolist()
    [0.7, 0.3]
    """
    zmv = np.asarray(scales, float) * np.asarray(cell_masses, float) * np.asarray(volumes_a3, float)
    return zmv / zmv.sum()


@dataclass
class Phase:
    """One crystalline phase of a powder mixture.

    ``structure`` carries the cell and the atoms (use :func:`with_lattice` to change
    the cell); ``weight_fraction`` is the mass fraction in the irradiated sample.

    Parameters
    ----------
    name : str
        Name of the phase.
    structure : gemmi.SmallStructure
        Cell and atoms.
    weight_fraction : float
        Mass fraction in the irradiated sample.
    profile : PeakProfile
        Peak shape.
    b_iso_a2 : float
        Overall Debye-Waller B on top of the site U_iso, A^2.

    Examples
    --------
    >>> al = Phase("Al", load_structure("Al"), 0.5)
    >>> round(al.cell_mass, 2), round(al.lattice.volume_a3, 2), len(al.reflections(1.0))
    (107.93, 66.41, 6)
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
    tail_fwhm : float
        Reflections are taken this many FWHM beyond the ends of the grid.

    Returns
    -------
    numpy.ndarray
        Intensity at every grid point (integrated intensity per degree 2theta).

    Examples
    --------
    The strongest peak of Al at 0.7 A is its (1 1 1) reflection:

    >>> grid = np.arange(10.0, 30.0, 0.01)
    >>> y = powder_pattern(grid, [Phase("Al", load_structure("Al"), 1.0)], 0.7)
    >>> round(float(grid[np.argmax(y)]), 2)
    17.22
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
