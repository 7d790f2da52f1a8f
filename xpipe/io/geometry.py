"""Files describing the detector: a PONI calibration header, and mask, dark and flat images."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..xrd.geometry import orientation_of


@dataclass(frozen=True)
class PoniHeader:
    """What a .poni file states, as written (pyFAI fills in defaults when it loads one)."""

    version: float
    detector: str | None
    detector_config: dict

    @property
    def states_orientation(self) -> bool:
        """Whether the file says which image orientation it was calibrated on."""
        return self.version >= 2.1 and self.detector_config.get("orientation") is not None


def read_poni_header(path: str) -> PoniHeader:
    """The version, detector name and Detector_config of a .poni file; the last value of a key
    wins, as pyFAI reads files holding several calibrations. Raises ValueError for a
    Detector_config that is not JSON."""
    values: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            values[key.strip().lower()] = value.strip()
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
    """Read a mask/dark/flat image: NPY or any format fabio reads."""
    if str(path).lower().endswith(".npy"):
        return np.load(path, allow_pickle=False)
    import fabio

    return np.asarray(fabio.open(path).data)


def geometry_record(ai) -> dict:
    """The resolved geometry, for provenance and the results file."""
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
