"""Area detector of the simulated operando XRD: geometry, projection, background, counts, CBF.

A 1D powder pattern ``I(2theta)`` (per unit solid angle) is projected on a Pilatus 300K with
pyFAI geometry (solid angle, polarisation and a sub-pixel average of the pixel footprint),
a smooth background is added, and the expected image becomes Poisson counts with -1 in the
module gaps as a Pilatus writes them; :func:`write_cbf` writes a Pilatus mini-CBF.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import fabio.cbfimage
import numpy as np
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from pyFAI.io.ponifile import PoniFile

from ..xrd.geometry import azimuthal_integrator

__all__ = [
    "MASKED_VALUE",
    "Background",
    "DetectorGeometry",
    "pixel_two_theta_deg",
    "project_to_detector",
    "render_counts",
    "write_cbf",
]

#: Value of the pixels in the module gaps, as a Pilatus writes them.
MASKED_VALUE = -1


@dataclass(frozen=True)
class DetectorGeometry:
    """Pilatus 300K in transmission, beam centre below the detector (arcs).

    pyFAI conventions: ``poni1`` along the slow (vertical, 619 px) axis, ``poni2``
    along the fast (horizontal, 487 px) axis, rotations in radians. With these
    values 2theta on the active pixels spans about 3.9 to 29.9 deg.

    Parameters
    ----------
    detector : str
        pyFAI detector name.
    distance_m, poni1_m, poni2_m : float
        Sample-detector distance and point of normal incidence, metres.
    rot1_rad, rot2_rad, rot3_rad : float
        Detector rotations, radians.
    wavelength_a : float
        X-ray wavelength, angstrom.

    Examples
    --------
    >>> g = DetectorGeometry()
    >>> round(g.energy_kev, 3), g.integrator().detector.shape
    (16.0, (619, 487))
    """

    detector: str = "Pilatus300k"
    distance_m: float = 0.230
    poni1_m: float = -0.011
    poni2_m: float = 0.044
    rot1_rad: float = 0.025
    rot2_rad: float = -0.020
    rot3_rad: float = 0.0
    wavelength_a: float = 0.7749

    @property
    def energy_kev(self) -> float:
        return 12.398419843320026 / self.wavelength_a

    def integrator(self) -> AzimuthalIntegrator:
        return azimuthal_integrator(
            self.detector, self.distance_m, self.poni1_m, self.poni2_m,
            self.rot1_rad, self.rot2_rad, self.rot3_rad, self.wavelength_a,
        )

    def poni_text(self) -> str:
        """PONI file text from pyFAI's writer, with its wall-clock comment line replaced."""
        buf = io.StringIO()
        PoniFile(self.integrator()).write(buf)
        lines = [
            "# Geometry of a simulated data set (xpipe.synth.operando); no calibration"
            if line.startswith("# Calibration done") else line
            for line in buf.getvalue().splitlines()
        ]
        return "\n".join(lines) + "\n"


def pixel_two_theta_deg(ai: AzimuthalIntegrator, oversampling: int = 3) -> np.ndarray:
    """2theta (deg) at ``oversampling**2`` sub-pixel points of every pixel.

    Parameters
    ----------
    ai : pyFAI.integrator.azimuthal.AzimuthalIntegrator
        Geometry and detector.
    oversampling : int
        Sub-pixel points per pixel side; 1 gives the pixel centres, as in
        :meth:`AzimuthalIntegrator.center_array`.

    Returns
    -------
    numpy.ndarray
        2theta in degrees, shape ``(oversampling**2, ny, nx)``.

    Examples
    --------
    >>> tth = pixel_two_theta_deg(DetectorGeometry().integrator(), 1)
    >>> tth.shape, round(float(tth.min()), 2), round(float(tth.max()), 2)
    ((1, 619, 487), 3.9, 29.87)
    """
    ny, nx = ai.detector.shape
    ii, jj = np.meshgrid(np.arange(ny, dtype=float), np.arange(nx, dtype=float), indexing="ij")
    offsets = (np.arange(oversampling) + 0.5) / oversampling - 0.5
    out = np.empty((oversampling * oversampling, ny, nx))
    for n, (di, dj) in enumerate(product(offsets, offsets)):
        out[n] = np.degrees(ai.tth(ii + di, jj + dj))
    return out


def project_to_detector(
    ai: AzimuthalIntegrator,
    two_theta_deg: np.ndarray,
    intensity: np.ndarray,
    pixel_tth_deg: np.ndarray | None = None,
    polarization_factor: float | None = 0.99,
    correct_solid_angle: bool = True,
) -> np.ndarray:
    """Expected image of an isotropic 1D pattern ``I(2theta)`` (per unit solid angle).

    Same model as :meth:`AzimuthalIntegrator.calcfrom1d` (interpolation at the pixel,
    times relative solid angle and polarisation), but the pattern is averaged over
    the sub-pixel points ``pixel_tth_deg`` (see :func:`pixel_two_theta_deg`) so that
    peaks narrower than a pixel keep their integrated intensity. With a single
    sub-pixel point this reproduces ``calcfrom1d``.

    Parameters
    ----------
    ai : pyFAI.integrator.azimuthal.AzimuthalIntegrator
        Geometry and detector.
    two_theta_deg, intensity : numpy.ndarray
        The pattern: increasing 2theta grid (deg) and intensity per unit solid angle.
    pixel_tth_deg : numpy.ndarray, optional
        Sub-pixel 2theta of :func:`pixel_two_theta_deg` (default: the pixel centres).
    polarization_factor : float or None
        pyFAI polarisation factor; None for no polarisation.
    correct_solid_angle : bool
        Multiply by the relative solid angle of every pixel.

    Returns
    -------
    numpy.ndarray
        Expected intensity of every pixel (detector shape), same unit as ``intensity``.

    Examples
    --------
    A flat pattern of 100 per unit solid angle, without polarisation:

    >>> ai = DetectorGeometry().integrator()
    >>> grid = np.linspace(0.0, 40.0, 401)
    >>> image = project_to_detector(ai, grid, np.full(401, 100.0), polarization_factor=None)
    >>> image.shape, round(float(image.max()), 2), round(float(image.min()), 2)
    ((619, 487), 99.65, 67.71)
    """
    if pixel_tth_deg is None:
        pixel_tth_deg = pixel_two_theta_deg(ai, 1)
    shape = pixel_tth_deg.shape[1:]
    image = np.zeros(shape)
    for sub in pixel_tth_deg:
        image += np.interp(sub, two_theta_deg, intensity)
    image /= len(pixel_tth_deg)
    if correct_solid_angle:
        image *= ai.solidAngleArray(shape)
    if polarization_factor is not None:
        image *= ai.polarization(shape, factor=polarization_factor)
    return image


@dataclass(frozen=True)
class Background:
    """Smooth background per unit solid angle, in counts per pixel at normal incidence.

    Isotropic V K fluorescence (flat), air scatter falling off with angle, and two
    amorphous humps: the polyimide cell window (q ~ 1.2 1/A) and the wet glass-fibre
    separator / electrolyte (q ~ 2.0 1/A). Calling it with 2theta (deg) gives the
    background there.

    Parameters
    ----------
    flat_counts : float
        Flat (fluorescence) level, counts.
    air_counts, air_decay_deg : float
        Air scatter at 4 deg 2theta (counts) and its exponential decay length (deg).
    window_counts, window_center_deg, window_fwhm_deg : float
        Height (counts), position and FWHM (deg 2theta) of the window hump.
    electrolyte_counts, electrolyte_center_deg, electrolyte_fwhm_deg : float
        Height (counts), position and FWHM (deg 2theta) of the electrolyte hump.

    Examples
    --------
    >>> np.round(Background()(np.array([4.0, 8.5, 14.5])), 2).tolist()
    [77.31, 75.49, 46.74]
    """

    flat_counts: float = 22.0
    air_counts: float = 55.0
    air_decay_deg: float = 5.0
    window_counts: float = 30.0
    window_center_deg: float = 8.5
    window_fwhm_deg: float = 3.5
    electrolyte_counts: float = 18.0
    electrolyte_center_deg: float = 14.5
    electrolyte_fwhm_deg: float = 6.0

    def __call__(self, two_theta_deg: np.ndarray) -> np.ndarray:
        t = np.asarray(two_theta_deg, dtype=float)
        k = 4.0 * math.log(2.0)
        return (
            self.flat_counts
            + self.air_counts * np.exp(-(t - 4.0) / self.air_decay_deg)
            + self.window_counts
            * np.exp(-k * ((t - self.window_center_deg) / self.window_fwhm_deg) ** 2)
            + self.electrolyte_counts
            * np.exp(-k * ((t - self.electrolyte_center_deg) / self.electrolyte_fwhm_deg) ** 2)
        )


def render_counts(expected: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson counts from an expected image, masked pixels set to -1, as int32.

    Parameters
    ----------
    expected : numpy.ndarray
        Expected counts of every pixel (negative values count as 0).
    mask : numpy.ndarray of bool
        Pixels to set to :data:`MASKED_VALUE`.
    rng : numpy.random.Generator
        Source of the noise.

    Returns
    -------
    numpy.ndarray of int32
        Counts, same shape as ``expected``.

    Examples
    --------
    >>> mask = np.array([[False, True], [False, False]])
    >>> counts = render_counts(np.full((2, 2), 1e4), mask, np.random.default_rng(0))
    >>> counts.dtype.name, int(counts[0, 1]), bool(abs(int(counts[1, 1]) - 10000) < 500)
    ('int32', -1, True)
    """
    counts = rng.poisson(np.clip(expected, 0.0, None)).astype(np.int32)
    counts[mask] = MASKED_VALUE
    return counts


def write_cbf(path: Path, counts: np.ndarray, header_contents: str) -> None:
    """Write a Pilatus-style mini-CBF (byte-offset compressed int32) with fabio.

    Parameters
    ----------
    path : path
        File to write.
    counts : numpy.ndarray
        Image, written as int32.
    header_contents : str
        Pilatus header lines (``# ...`` joined by CRLF).

    Returns
    -------
    None

    Examples
    --------
    >>> import tempfile
    >>> import fabio
    >>> path = Path(tempfile.mkdtemp()) / "frame.cbf"
    >>> write_cbf(path, np.arange(12).reshape(3, 4), "# Exposure_time 1.000000 s")
    >>> image = fabio.open(str(path))
    >>> image.data.shape, int(image.data.sum())
    ((3, 4), 66)
    """
    header = {
        "_array_data.header_convention": "PILATUS_1.2",
        "_array_data.header_contents": header_contents,
    }
    data = np.ascontiguousarray(counts, dtype=np.int32)
    image = fabio.cbfimage.CbfImage(data=data, header=header)
    image.write(str(path))
