"""Files describing the detector: a PONI calibration header, and mask, dark and flat images."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..xrd.geometry import orientation_of


@dataclass(frozen=True)
class PoniHeader:
    """What a .poni file states, as written (pyFAI fills in defaults when it loads one).

    Parameters
    ----------
    version : float
        The file's ``poni_version`` (1 when it states none).
    detector : str or None
        The ``Detector`` line, None when absent.
    detector_config : dict
        The ``Detector_config`` JSON mapping (empty when absent).

    Examples
    --------
    >>> PoniHeader(2.1, "Pilatus1M", {"orientation": 3}).states_orientation
    True
    >>> PoniHeader(2.0, "Pilatus1M", {"orientation": 3}).states_orientation
    False
    """

    version: float
    detector: str | None
    detector_config: dict

    @property
    def states_orientation(self) -> bool:
        """Whether the file says which image orientation it was calibrated on."""
        return self.version >= 2.1 and self.detector_config.get("orientation") is not None


def read_poni_header(path: str) -> PoniHeader:
    """The version, detector name and Detector_config of a .poni file.

    The last value of a key wins, as pyFAI reads files holding several calibrations.

    Parameters
    ----------
    path : str or Path
        The .poni file.

    Returns
    -------
    PoniHeader
        What the file states, before pyFAI fills in defaults.

    Raises
    ------
    ValueError
        For a file that is not a PONI file (binary, or no ``Distance``, ``Poni1`` and
        ``Poni2`` lines), a ``poni_version`` that is not a number, or a Detector_config that
        is not a JSON mapping.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> poni = pathlib.Path(tempfile.mkdtemp()) / "cal.poni"
    >>> _ = poni.write_text('poni_version: 2.1\\nDetector: Pilatus1M\\n'
    ...                     'Detector_config: {"orientation": 2}\\nDistance: 0.2\\n'
    ...                     'Poni1: 0.05\\nPoni2: 0.06\\n')
    >>> h = read_poni_header(poni)
    >>> h.version, h.detector, h.detector_config, h.states_orientation
    (2.1, 'Pilatus1M', {'orientation': 2}, True)
    >>> _ = poni.write_text("wavelength 0.7749\\nsample LaB6\\n")
    >>> try:
    ...     read_poni_header(poni)
    ... except ValueError as exc:
    ...     print(str(exc)[:56])
    not a PONI file: no Distance, Poni1 or Poni2 line (pyFAI
    """
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        text = None if b"\x00" in raw[:4096] else raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None:
        raise ValueError("not a PONI file: it holds binary data; expected pyFAI's text lines "
                         "'Distance: ...', 'Poni1: ...', 'Poni2: ...' (metres)")
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        values[key.strip().lower()] = value.strip()
    missing = [k for k in ("Distance", "Poni1", "Poni2") if k.lower() not in values]
    if missing:
        raise ValueError(f"not a PONI file: no {', '.join(missing[:-1])}"
                         f"{' or ' if len(missing) > 1 else ''}{missing[-1]} line (pyFAI's "
                         "geometry file states 'Distance: ...', 'Poni1: ...' and 'Poni2: ...' in "
                         "metres, one 'key: value' per line)")
    try:
        version = float(values.get("poni_version", "1"))
    except ValueError:
        raise ValueError(f"poni_version {values['poni_version']!r} is not a number") from None
    config: dict = {}
    if values.get("detector_config"):
        try:
            config = json.loads(values["detector_config"])
        except json.JSONDecodeError as exc:
            raise ValueError(f"Detector_config is not JSON ({exc})") from None
        if not isinstance(config, dict):
            raise ValueError(f"Detector_config is not a mapping: {values['detector_config']!r}")
    return PoniHeader(version, values.get("detector") or None, config)


def load_image(path: str) -> np.ndarray:
    """Read a mask/dark/flat image: NPY or any format fabio reads.

    Parameters
    ----------
    path : str or Path
        The image; a ``.npy`` suffix is read with numpy (no pickles), anything else with fabio.

    Returns
    -------
    numpy.ndarray
        The image as stored (rows, columns), in the file's own data type.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> mask = pathlib.Path(tempfile.mkdtemp()) / "mask.npy"
    >>> np.save(mask, np.zeros((4, 6), dtype=np.int8))
    >>> img = load_image(str(mask))
    >>> img.shape, img.dtype.name
    ((4, 6), 'int8')
    """
    if str(path).lower().endswith(".npy"):
        return np.load(path, allow_pickle=False)
    import fabio

    return np.asarray(fabio.open(path).data)


def geometry_record(ai) -> dict:
    """The resolved geometry, for provenance and the results file.

    Parameters
    ----------
    ai : pyFAI.integrator.azimuthal.AzimuthalIntegrator
        The integrator the frames are integrated with.

    Returns
    -------
    dict
        Detector name and shape (rows, columns), pixel sizes, distance and PONI in m,
        rotations in rad, wavelength in angstrom (None when unset) and the image orientation
        (1 to 4).

    Examples
    --------
    >>> from xpipe.xrd.geometry import azimuthal_integrator
    >>> ai = azimuthal_integrator("Pilatus100k", 0.2, 0.017, 0.042, wavelength_a=0.7749)
    >>> g = geometry_record(ai)
    >>> g["detector"], g["detector_shape"], g["distance_m"], g["orientation"]
    ('Pilatus 100k', [195, 487], 0.2, 3)
    >>> round(g["wavelength_a"], 4)
    0.7749
    """
    return {
        "detector": ai.detector.name,
        "detector_shape": list(ai.detector.shape) if ai.detector.shape is not None else None,
        "pixel1_m": float(ai.detector.pixel1),
        "pixel2_m": float(ai.detector.pixel2),
        "distance_m": float(ai.dist),
        "poni1_m": float(ai.poni1),
        "poni2_m": float(ai.poni2),
        "rot1_rad": float(ai.rot1),
        "rot2_rad": float(ai.rot2),
        "rot3_rad": float(ai.rot3),
        "wavelength_a": float(ai.wavelength * 1e10) if ai.wavelength else None,
        "orientation": orientation_of(ai),
    }
