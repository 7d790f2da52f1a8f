"""Detector geometry for pyFAI: an integrator from the PONI numbers, its orientation, d-spacings.

pyFAI reads an image with its origin at the bottom left seen from the sample (orientation 3,
its default); PONI files of version 2.1 state the orientation of the image the calibration was
made on. :func:`with_orientation` gives an integrator whose detector reads the image in another
orientation (1 to 4, EXIF numbering) without touching the frames: orientation 2 reads it
flipped up-down, as Dioptas shows and calibrates images.

"""

from __future__ import annotations

import numpy as np

#: Detector orientations pyFAI can integrate (EXIF numbering; 3 is pyFAI's default).
ORIENTATIONS = (1, 2, 3, 4)


def azimuthal_integrator(
    detector: str,
    distance_m: float,
    poni1_m: float,
    poni2_m: float,
    rot1_rad: float = 0.0,
    rot2_rad: float = 0.0,
    rot3_rad: float = 0.0,
    wavelength_a: float | None = None,
):
    """A pyFAI ``AzimuthalIntegrator`` from PONI geometry in SI units and a detector name.

    Parameters
    ----------
    detector : str
        pyFAI detector name (``'Pilatus1M'``, ``'Eiger2_4M'``...).
    distance_m, poni1_m, poni2_m : float
        Sample-to-PONI distance and the PONI along the slow (row) and fast (column) axes, in m.
    rot1_rad, rot2_rad, rot3_rad : float
        Detector rotations in radians (pyFAI convention).
    wavelength_a : float or None
        X-ray wavelength in angstrom.

    Returns
    -------
    pyFAI.integrator.azimuthal.AzimuthalIntegrator
        The integrator (wavelength in m, as pyFAI keeps it).

    Examples
    --------
    >>> ai = azimuthal_integrator("Pilatus100k", 0.2, 0.017, 0.042, wavelength_a=0.7749)
    >>> ai.detector.name, ai.dist, ai.wavelength
    ('Pilatus 100k', 0.2, 7.749e-11)
    """
    import pyFAI  # heavy (about 1 s with its integrators): imported on first use

    try:
        from pyFAI.integrator.azimuthal import AzimuthalIntegrator
    except ImportError:  # pyFAI < 2024.1
        from pyFAI.azimuthalIntegrator import AzimuthalIntegrator
    return AzimuthalIntegrator(
        dist=distance_m, poni1=poni1_m, poni2=poni2_m, rot1=rot1_rad, rot2=rot2_rad, rot3=rot3_rad,
        detector=pyFAI.detector_factory(detector),
        # decimal shift, not * 1e-10: 0.7749 A stays 7.749e-11 m exactly in written .poni files
        wavelength=None if wavelength_a is None else float(f"{wavelength_a!r}e-10"),
    )


def orientation_of(ai) -> int:
    """The detector orientation ``ai`` reads images in.

    Parameters
    ----------
    ai : pyFAI.integrator.azimuthal.AzimuthalIntegrator
        An integrator.

    Returns
    -------
    int
        1..4 (pyFAI's EXIF numbering); 3, pyFAI's default, when none is set.

    Examples
    --------
    >>> orientation_of(azimuthal_integrator("Pilatus100k", 0.2, 0.0, 0.0, wavelength_a=1.0))
    3
    """
    return int(getattr(ai.detector, "orientation", 0) or 3)


def with_orientation(ai, orientation: int):
    """An integrator with the geometry of ``ai`` whose detector reads images in ``orientation``.

    The frames, masks, darks and flats stay as the files hold them: only the position of each
    pixel in space changes, so integrating a frame with orientation 2 gives the pattern of the
    up-down flipped frame with orientation 3.

    Parameters
    ----------
    ai : pyFAI.integrator.azimuthal.AzimuthalIntegrator
        The integrator whose geometry is kept.
    orientation : int
        1..4, pyFAI's EXIF numbering: 3 is pyFAI's default, 2 the image flipped up-down, 4
        flipped left-right, 1 both.

    Returns
    -------
    pyFAI.integrator.azimuthal.AzimuthalIntegrator
        A new integrator, or ``ai`` itself when it reads images so already.

    Examples
    --------
    >>> ai = azimuthal_integrator("Pilatus100k", 0.2, 0.017, 0.042, wavelength_a=1.0)
    >>> flipped = with_orientation(ai, 2)
    >>> orientation_of(flipped), flipped.dist, with_orientation(ai, 3) is ai
    (2, 0.2, True)
    """
    if orientation not in ORIENTATIONS:
        raise ValueError(f"expected a detector orientation in {ORIENTATIONS}, found {orientation!r}")
    if orientation_of(ai) == orientation:
        return ai
    import pyFAI  # heavy (about 1 s with its integrators): imported on first use

    config = ai.get_config()
    config["detector_config"] = dict(config.get("detector_config") or {}, orientation=orientation)
    out = pyFAI.load(config)
    if orientation_of(out) != orientation:  # a detector whose configuration ignores it
        raise ValueError(f"pyFAI's detector {ai.detector.name!r} does not take an orientation")
    return out


def d_spacing_a(radial: np.ndarray, unit: str, wavelength_a: float | None) -> np.ndarray:
    """d-spacing in angstrom for a radial axis in ``unit`` (Bragg: lambda = 2 d sin(theta)).

    Parameters
    ----------
    radial : numpy.ndarray
        Radial axis in ``unit``.
    unit : str
        ``2th_deg`` (degrees), ``q_nm^-1`` or ``q_A^-1``.
    wavelength_a : float or None
        X-ray wavelength in angstrom; needed only for ``2th_deg``.

    Returns
    -------
    numpy.ndarray
        d in angstrom; bins at zero scattering angle get ``inf``.

    Examples
    --------
    >>> np.round(d_spacing_a(np.array([10.0, 20.0]), "2th_deg", 1.0), 4)
    array([5.7369, 2.8794])
    >>> np.round(d_spacing_a(np.array([2 * np.pi]), "q_nm^-1", None), 4)
    array([10.])
    """
    radial = np.asarray(radial, dtype=np.float64)
    with np.errstate(divide="ignore"):
        if unit == "2th_deg":
            if not wavelength_a:
                raise ValueError("a wavelength is needed to convert 2theta to d-spacing")
            return wavelength_a / (2.0 * np.sin(np.deg2rad(radial) / 2.0))
        if unit == "q_nm^-1":
            return 2.0 * np.pi / radial * 10.0
        if unit == "q_A^-1":
            return 2.0 * np.pi / radial
    raise ValueError(f"unknown radial unit {unit!r}")
