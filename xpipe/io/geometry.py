"""Files describing the detector: a PONI calibration header, and mask, dark and flat images."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from ..xrd.geometry import ORIENTATIONS, orientation_of
from .pyfai_detectors import DETECTORS


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
    values : dict
        Every ``key: value`` line as text, keys in lower case (the last value of a key wins).

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
    values: dict = field(default_factory=dict)

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
    return PoniHeader(version, values.get("detector") or None, config, values)


@dataclass(frozen=True)
class PoniText:
    """What a recipe check needs from a PONI file, read from its text alone (no pyFAI).

    Parameters
    ----------
    shape : tuple of int
        The detector's shape (rows, columns).
    pixel1_m, pixel2_m : float
        Pixel sizes in metres.
    distance_m : float
        Sample-detector distance in metres (> 0).
    wavelength_m : float or None
        The file's wavelength in metres, None when it states none (or 0).

    Examples
    --------
    >>> PoniText((1043, 981), 172e-6, 172e-6, 0.3, None).wavelength_m is None
    True
    """

    shape: tuple[int, int]
    pixel1_m: float
    pixel2_m: float
    distance_m: float
    wavelength_m: float | None


def poni_from_text(header: PoniHeader) -> PoniText | None:
    """The geometry of a plain PONI file without pyFAI, or None where only pyFAI can tell.

    Loading a PONI with pyFAI imports pyFAI (a second or more), so a recipe check reads the
    text: the detector name is looked up in the table of pyFAI's models
    (:mod:`xpipe.io.pyfai_detectors`). Anything out of the ordinary returns None, and the
    caller then loads the file with pyFAI as before: a PONI version below 2, a detector not
    in the table (or a file path), a Detector_config with more than a valid orientation and
    the model's own pixel sizes and shape, a number that does not parse or is not finite, a
    distance that is not positive, or a negative wavelength.

    Parameters
    ----------
    header : PoniHeader
        The file as read by :func:`read_poni_header`.

    Returns
    -------
    PoniText or None

    Examples
    --------
    >>> values = {"distance": "0.3", "poni1": "0.09", "poni2": "0.08", "wavelength": "7.3e-11"}
    >>> g = poni_from_text(PoniHeader(2.1, "Pilatus1M", {"orientation": 3}, values))
    >>> g.shape, g.pixel1_m, g.distance_m, g.wavelength_m
    ((1043, 981), 0.000172, 0.3, 7.3e-11)
    >>> poni_from_text(PoniHeader(2.1, "Pilatus1M", {}, {**values, "distance": "0"})) is None
    True
    >>> poni_from_text(PoniHeader(2.1, "NoSuchDetector", {}, values)) is None
    True
    """
    name = header.detector
    config = header.detector_config
    if header.version < 2 or not name or set(config) - {"orientation", "pixel1", "pixel2", "max_shape"}:
        return None
    if config.get("orientation", ORIENTATIONS[0]) not in ORIENTATIONS:
        return None
    model = DETECTORS.get(name.lower()) or DETECTORS.get(name.lower().replace(" ", "_"))
    if model is None or os.path.exists(name):
        return None
    stated = {"max_shape": list(model[:2]), "pixel1": model[2], "pixel2": model[3]}
    if any(config[key] != value for key, value in stated.items() if key in config):
        return None  # a model with other pixels or another shape: pyFAI builds it
    numbers = {}
    for key in ("distance", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"):
        text = header.values.get(key)
        if text is None or (key == "wavelength" and text.lower() in ("", "none", "null")):
            continue
        try:
            numbers[key] = float(text)
        except ValueError:
            return None
        if not math.isfinite(numbers[key]):
            return None
    if numbers["distance"] <= 0 or numbers.get("wavelength", 0.0) < 0:
        return None
    rows, cols, pixel1_m, pixel2_m = model
    return PoniText((rows, cols), pixel1_m, pixel2_m, numbers["distance"], numbers.get("wavelength") or None)


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
