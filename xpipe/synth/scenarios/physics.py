"""Powder physics of the scenario generator: reflections at any cell, texture, 1D patterns.

Conventions (the same in the 2D frames and in :func:`render_patterns_1d`):

* integrated intensity of reflection h of phase p::

      I_h = S_p * m_h * |F_h|^2 * L(theta) * P_h,     S_p = w_p / (Z M_p * V_p)

  with the Rietveld scale of Hill & Howard (``w_p`` weight fraction, ``Z M_p`` cell mass
  in g/mol, ``V_p`` the cell volume *of the frame*), the area-detector Lorentz factor
  ``L = 1 / (sin(theta) sin(2 theta))`` (what solid-angle-corrected azimuthal integration
  returns) and the March-Dollase factor ``P_h`` (1 without texture);
* ``|F_h|^2`` and multiplicities come from the CIF (gemmi, neutral-atom form factors,
  site U_iso) at the CIF cell; when the cell of a frame differs from the CIF cell the
  fractional coordinates are kept and ``|F|^2`` is not recomputed (the form factors move
  by far less than 1 % for the strains used);
* peaks are area-normalised pseudo-Voigts in 2theta with the Caglioti width
  ``FWHM^2 = U tan^2(theta) + V tan(theta) + W`` and one ``eta`` per phase; each peak is
  evaluated within +-``PEAK_WINDOW_FWHM`` FWHM of its centre and its Lorentzian part
  renormalised to unit area over that window, so integrated intensities are exact.
* no polarisation in the 1D patterns (an azimuthally integrated, polarisation-corrected
  pattern); the detector projection applies pyFAI's polarisation factor instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import gemmi
import numpy as np

from .. import powder

__all__ = [
    "PEAK_WINDOW_FWHM",
    "PhaseModel",
    "march_dollase",
    "march_dollase_factors",
    "phase_model",
    "reciprocal_metric",
]

#: Half width of the window over which a peak is evaluated, in FWHM.
PEAK_WINDOW_FWHM = 25.0
#: Smallest d-spacing enumerated for any phase (angstrom), below every detector's reach.
D_MIN_A = 0.62


def reciprocal_metric(cell) -> np.ndarray:
    """Reciprocal metric tensor G* (1/A^2) of a cell ``(a, b, c, alpha, beta, gamma)``.

    ``1/d^2 = h G* h^T`` for Miller indices ``h``.

    Parameters
    ----------
    cell : 6 floats
        ``(a, b, c, alpha, beta, gamma)``, angstrom and degrees.

    Returns
    -------
    numpy.ndarray
        (3, 3) reciprocal metric, 1/A^2.

    Examples
    --------
    d(1 1 0) of a cubic cell of 4 A:

    >>> h = np.array([1.0, 1.0, 0.0])
    >>> round(float(1.0 / np.sqrt(h @ reciprocal_metric((4, 4, 4, 90, 90, 90)) @ h)), 4)
    2.8284
    """
    a, b, c, al, be, ga = (float(v) for v in cell)
    ca, cb, cg = (math.cos(math.radians(x)) for x in (al, be, ga))
    g = np.array([
        [a * a, a * b * cg, a * c * cb],
        [a * b * cg, b * b, b * c * ca],
        [a * c * cb, b * c * ca, c * c],
    ])
    return np.linalg.inv(g)


def march_dollase(cos_alpha, r: float) -> np.ndarray:
    """March-Dollase pole density ``(r^2 cos^2 a + sin^2 a / r)^(-3/2)``.

    ``alpha`` is the angle between a scattering vector and the texture direction; ``r`` < 1
    for platelets whose texture direction lies along the beam-averaged sample normal
    (more of them in reflection), ``r`` = 1 for no texture. The function is normalised:
    its mean over the sphere of directions is 1 for any ``r``.

    Parameters
    ----------
    cos_alpha : array_like
        Cosine of the angle between scattering vector and texture direction.
    r : float
        March-Dollase parameter (1: no texture).

    Returns
    -------
    numpy.ndarray
        Pole density, dimensionless.

    Examples
    --------
    >>> np.round(march_dollase([1.0, 0.0], 0.8), 4).tolist()
    [1.9531, 0.7155]
    """
    c2 = np.clip(np.asarray(cos_alpha, dtype=float) ** 2, 0.0, 1.0)
    return (r * r * c2 + (1.0 - c2) / r) ** -1.5


def march_dollase_factors(
    hkl_equivalents: np.ndarray, owner: np.ndarray, n: int, texture_hkl, r: float, cell
) -> np.ndarray:
    """March-Dollase factor of each reflection: mean of :func:`march_dollase` over its equivalents.

    Parameters
    ----------
    hkl_equivalents : (k, 3) int array
        All symmetry-equivalent indices (Friedel mates included) of the ``n`` reflections.
    owner : (k,) int array
        Index of the reflection each row of ``hkl_equivalents`` belongs to.
    n : int
        Number of reflections.
    texture_hkl : 3 ints
        Texture direction as a reciprocal-lattice vector (hkl).
    r : float
        March-Dollase parameter.
    cell : 6 floats
        Cell, for the angles (computed with the reciprocal metric).

    Returns
    -------
    numpy.ndarray
        (n,) factor of every reflection, dimensionless (1 for ``r = 1``).

    Examples
    --------
    (0 0 1) and (1 0 0) of a tetragonal cell textured along (0 0 1), each with its Friedel
    mate:

    >>> hkl = np.array([[0, 0, 1], [0, 0, -1], [1, 0, 0], [-1, 0, 0]])
    >>> f = march_dollase_factors(hkl, np.array([0, 0, 1, 1]), 2, (0, 0, 1), 0.8,
    ...                           (4, 4, 6, 90, 90, 90))
    >>> np.round(f, 4).tolist()
    [1.9531, 0.7155]
    """
    if r == 1.0:
        return np.ones(n)
    gs = reciprocal_metric(cell)
    h = np.asarray(hkl_equivalents, dtype=float)
    t = np.asarray(texture_hkl, dtype=float)
    num = h @ gs @ t
    hh = np.einsum("ij,jk,ik->i", h, gs, h)
    tt = float(t @ gs @ t)
    cos_a = num / np.sqrt(hh * tt)
    p = march_dollase(cos_a, r)
    total = np.bincount(owner, weights=p, minlength=n)
    count = np.bincount(owner, minlength=n)
    return total / count


@dataclass(frozen=True)
class PhaseModel:
    """Reflections of one CIF at its own cell, reusable at any other cell of the same setting.

    Parameters
    ----------
    cif : str
        File name of the bundled CIF.
    hkl : numpy.ndarray
        (n, 3) one representative per set of equivalent reflections.
    multiplicity, f_squared : numpy.ndarray
        (n,) multiplicities and |F|^2 (electrons^2) at the CIF cell.
    cell_mass : float
        Cell mass Z M, g/mol.
    equivalents : numpy.ndarray
        (k, 3) every equivalent of every reflection (Friedel mates included).
    owner : numpy.ndarray
        (k,) the reflection each row of ``equivalents`` belongs to.

    Examples
    --------
    >>> m = phase_model("Al_Fm-3m.cif")
    >>> m.hkl[0].tolist(), round(float(m.d_a((4.0, 4.0, 4.0, 90, 90, 90))[0]), 4)
    ([1, 1, 1], 2.3094)
    """

    cif: str
    hkl: np.ndarray  # (n, 3)
    multiplicity: np.ndarray  # (n,)
    f_squared: np.ndarray  # (n,)
    cell_mass: float  # Z M, g/mol
    equivalents: np.ndarray  # (k, 3) all equivalent indices
    owner: np.ndarray  # (k,)

    def d_a(self, cell) -> np.ndarray:
        gs = reciprocal_metric(cell)
        h = self.hkl.astype(float)
        return 1.0 / np.sqrt(np.einsum("ij,jk,ik->i", h, gs, h))


@lru_cache(maxsize=64)
def phase_model(cif: str) -> PhaseModel:
    """Reflections (d >= D_MIN_A at the CIF cell, less 5 %) of a bundled CIF, cached.

    Parameters
    ----------
    cif : str
        File name of a bundled CIF.

    Returns
    -------
    PhaseModel

    Examples
    --------
    >>> m = phase_model("Al_Fm-3m.cif")
    >>> len(m.hkl), m.multiplicity[:3].tolist(), round(m.cell_mass, 2)
    (18, [8.0, 6.0, 12.0], 107.93)
    """
    structure = powder.load_structure(powder.structure_path(cif))
    refl = powder.reflections(structure, D_MIN_A * 0.95)
    ops = structure.spacegroup.operations()
    eq_rows, owner = [], []
    for i, hkl in enumerate(refl.hkl.tolist()):
        eqs = set()
        for op in ops.sym_ops:
            h = tuple(int(v) for v in op.apply_to_hkl(hkl))
            eqs.add(h)
            eqs.add((-h[0], -h[1], -h[2]))
        for h in sorted(eqs):
            eq_rows.append(h)
            owner.append(i)
    return PhaseModel(
        cif=cif,
        hkl=np.asarray(refl.hkl, dtype=int),
        multiplicity=np.asarray(refl.multiplicity, dtype=float),
        f_squared=np.asarray(refl.f_squared, dtype=float),
        cell_mass=float(powder.cell_mass_amu(structure)),
        equivalents=np.asarray(eq_rows, dtype=int).reshape(-1, 3),
        owner=np.asarray(owner, dtype=int),
    )


@lru_cache(maxsize=64)
def framework_count(cif: str, element: str) -> float:
    """Atoms of ``element`` per cell of a bundled CIF (site occupancies included).

    Parameters
    ----------
    cif : str
        File name of a bundled CIF.
    element : str
        Element symbol.

    Returns
    -------
    float
        Atoms per cell.

    Examples
    --------
    >>> framework_count("LiFePO4_Pnma.cif", "Fe"), framework_count("Al_Fm-3m.cif", "Al")
    (4.0, 4.0)
    """
    structure = powder.load_structure(powder.structure_path(cif))
    el = gemmi.Element(element)
    return float(sum(site.occ for site in structure.get_all_unit_cell_sites()
                     if site.element == el))


def cell_volume_a3(cell) -> float:
    """Volume of a cell ``(a, b, c, alpha, beta, gamma)``.

    Parameters
    ----------
    cell : 6 floats
        Angstrom and degrees.

    Returns
    -------
    float
        Volume, A^3.

    Examples
    --------
    >>> round(cell_volume_a3((3.0, 3.0, 5.0, 90.0, 90.0, 120.0)), 3)
    38.971
    """
    a, b, c, al, be, ga = (float(v) for v in cell)
    ca, cb, cg = (math.cos(math.radians(x)) for x in (al, be, ga))
    return a * b * c * math.sqrt(1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg)


def peak_list(model: PhaseModel, cell, wavelength_a: float, weight_fraction: float,
              texture: tuple | None, tth_lo: float, tth_hi: float):
    """Centres (deg 2theta) and integrated intensities of the reflections in a 2theta range.

    Parameters
    ----------
    model : PhaseModel
        Reflections of the phase.
    cell : 6 floats
        Cell of the frame, angstrom and degrees.
    wavelength_a : float
        Wavelength, angstrom.
    weight_fraction : float
        Weight fraction (scale ``w / (Z M V)``).
    texture : (hkl, r) or None
        March-Dollase texture.
    tth_lo, tth_hi : float
        2theta range, degrees.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Peak centres (deg 2theta) and integrated intensities (arbitrary unit, the same for
        every phase).

    Examples
    --------
    >>> m = phase_model("Al_Fm-3m.cif")
    >>> tth, inten = peak_list(m, (4.0495,) * 3 + (90.0,) * 3, 0.7, 1.0, None, 0.0, 25.0)
    >>> np.round(tth, 3).tolist(), round(float(inten[1] / inten[0]), 3)
    ([17.219, 19.908], 0.499)
    """
    d = model.d_a(cell)
    s = wavelength_a / (2.0 * d)
    keep = s < 1.0
    tth = np.full(d.shape, np.nan)
    tth[keep] = 2.0 * np.degrees(np.arcsin(s[keep]))
    keep &= (tth >= tth_lo) & (tth <= tth_hi)
    scale = weight_fraction / (model.cell_mass * cell_volume_a3(cell))
    inten = scale * model.multiplicity * model.f_squared
    inten = inten * powder.lorentz_factor(np.where(keep, tth, 90.0), "debye_scherrer_2d")
    if texture is not None:
        hkl_t, r = texture
        inten = inten * march_dollase_factors(
            model.equivalents, model.owner, len(d), hkl_t, r, cell)
    return tth[keep], inten[keep]


def add_peaks(out: np.ndarray, grid_lo: float, step: float, centers: np.ndarray,
              areas: np.ndarray, fwhm: np.ndarray, eta: float) -> None:
    """Add area-normalised pseudo-Voigt peaks to ``out`` (a grid ``grid_lo + i * step``).

    Each peak covers +-PEAK_WINDOW_FWHM FWHM; its Lorentzian part is divided by the
    Lorentzian area inside that window so that every peak keeps its full area.

    Parameters
    ----------
    out : numpy.ndarray
        Pattern to add to, in place.
    grid_lo, step : float
        2theta of ``out[0]`` and grid step, degrees.
    centers, areas, fwhm : numpy.ndarray
        Peak centres (deg), areas (intensity x deg) and FWHM (deg).
    eta : float
        Lorentzian share of the pseudo-Voigt.

    Returns
    -------
    None

    Examples
    --------
    >>> out = np.zeros(2001)
    >>> add_peaks(out, 10.0, 0.005, np.array([15.0]), np.array([2.0]), np.array([0.05]), 0.5)
    >>> round(float(out.sum() * 0.005), 4), round(float(out.max()), 2)
    (2.0001, 31.69)
    """
    if len(centers) == 0:
        return
    n = out.size
    half = np.ceil(PEAK_WINDOW_FWHM * fwhm / step).astype(np.int64)
    first = np.floor((centers - grid_lo) / step).astype(np.int64) - half
    length = 2 * half + 2
    lo = np.clip(first, 0, n)
    hi = np.clip(first + length, 0, n)
    length = hi - lo
    ok = length > 0
    lo, length = lo[ok], length[ok]
    centers, areas, fwhm = centers[ok], areas[ok], fwhm[ok]
    total = int(length.sum())
    if total == 0:
        return
    owner = np.repeat(np.arange(len(lo)), length)
    starts = np.cumsum(length) - length
    idx = np.arange(total) - np.repeat(starts, length) + np.repeat(lo, length)
    x = grid_lo + idx * step
    w = fwhm[owner]
    dx = (x - centers[owner]) / w
    ln2 = math.log(2.0)
    gauss = (2.0 / w) * math.sqrt(ln2 / math.pi) * np.exp(-4.0 * ln2 * dx * dx)
    lor_norm = (2.0 / math.pi) * math.atan(2.0 * PEAK_WINDOW_FWHM)
    lorentz = (2.0 / (math.pi * w)) / (1.0 + 4.0 * dx * dx) / lor_norm
    vals = areas[owner] * (eta * lorentz + (1.0 - eta) * gauss)
    out += np.bincount(idx, weights=vals, minlength=n)
