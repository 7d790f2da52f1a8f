"""Azimuthal integration of 2D detector frames with pyFAI, engine built once.

The science core of the XRD integrate stage: arrays in, arrays out, no file names. A
:class:`FrameIntegrator` owns one pyFAI ``AzimuthalIntegrator`` with a *static* mask (detector
mask | user mask) fixed at construction. Per-frame invalid pixels (negative values such as
Pilatus gaps at -1 and dead pixels at -2, NaN, or a ``dummy`` value) are turned into NaN, which
pyFAI skips without touching the engine: passing a per-frame ``mask=`` instead would rebuild the
CSR look-up table every frame (and move the default radial range), the classic slow-down.
:attr:`FrameIntegrator.engine_builds` counts the engines pyFAI actually built.

Example
-------
>>> import numpy as np, pyFAI
>>> from xpipe.xrd.integrate import FrameIntegrator, IntegrationSettings
>>> ai = pyFAI.load({"detector": "Pilatus100k", "dist": 0.2, "wavelength": 1e-10})
>>> fi = FrameIntegrator(ai, IntegrationSettings(npt=500))
>>> pattern = fi.integrate(np.ones((195, 487), np.float32))
>>> pattern.intensity.shape, fi.engine_builds
((500,), 1)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

Unit = Literal["2th_deg", "q_nm^-1", "q_A^-1"]
ErrorModel = Literal["poisson", "azimuthal", "none"]

#: Axis names and units written to results, per pyFAI unit.
RADIAL_AXES: dict[str, tuple[str, str]] = {
    "2th_deg": ("two_theta_deg", "deg"),
    "q_nm^-1": ("q_nm_inv", "1/nm"),
    "q_A^-1": ("q_a_inv", "1/angstrom"),
}


class FrameError(ValueError):
    """A frame that cannot be integrated (wrong shape, all pixels masked, ...)."""


@dataclass(frozen=True)
class IntegrationSettings:
    """Everything that decides the numbers of a 1D integration (all recorded in results).

    Attributes
    ----------
    npt : number of radial bins.
    unit : pyFAI radial unit, ``2th_deg``, ``q_nm^-1`` or ``q_A^-1``.
    radial_range : (low, high) in ``unit``, or None for the full range of unmasked pixels.
    azimuth_range_deg : (low, high) chi range in degrees, or None for all.
    method : pyFAI method triple (pixel splitting, algorithm, implementation).
    polarization_factor : -1..1 (0.99 for a horizontally polarised synchrotron beam), None: off.
    correct_solid_angle : divide by the pixel solid angle.
    error_model : ``poisson`` (variance = counts), ``azimuthal`` (spread within each ring), none.
    mask_negative : treat pixels < 0 as invalid (Pilatus/Eiger gaps and dead pixels).
    dummy, delta_dummy : pixels with ``|I - dummy| <= delta_dummy`` are invalid.
    npt_azimuthal : azimuthal bins of the optional 2D caking (0: no caking).
    """

    npt: int = 2000
    unit: Unit = "2th_deg"
    radial_range: tuple[float, float] | None = None
    azimuth_range_deg: tuple[float, float] | None = None
    method: tuple[str, str, str] = ("bbox", "csr", "cython")
    polarization_factor: float | None = 0.99
    correct_solid_angle: bool = True
    error_model: ErrorModel = "poisson"
    mask_negative: bool = True
    dummy: float | None = None
    delta_dummy: float | None = None
    npt_azimuthal: int = 0

    def as_record(self) -> dict:
        """Plain-type dict of the settings, for provenance."""
        rec = asdict(self)
        rec["method"] = "/".join(self.method)
        return rec


@dataclass
class Pattern1D:
    """One integrated pattern: ``intensity`` and ``sigma`` (NaN when no error model) on ``radial``."""

    radial: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    valid_pixels: int


@dataclass
class Cake2D:
    """A 2D caked frame: ``intensity[azimuthal, radial]`` with its two axes."""

    radial: np.ndarray
    azimuthal_deg: np.ndarray
    intensity: np.ndarray


class FrameIntegrator:
    """Integrate frames of one detector with fixed geometry, mask, dark, flat and settings.

    Parameters
    ----------
    ai : pyFAI ``AzimuthalIntegrator`` carrying geometry and detector.
    settings : integration settings.
    mask : user mask (True/non-zero = excluded), combined with the detector's own mask.
    dark, flat : dark-current and flat-field images, or None.
    use_detector_mask : include the detector definition's mask (module gaps).
    """

    def __init__(
        self,
        ai,
        settings: IntegrationSettings,
        mask: np.ndarray | None = None,
        dark: np.ndarray | None = None,
        flat: np.ndarray | None = None,
        use_detector_mask: bool = True,
    ) -> None:
        self.ai = ai
        self.settings = settings
        self.shape = tuple(ai.detector.shape) if ai.detector.shape is not None else None
        static = np.zeros(self.shape, dtype=bool) if self.shape else None
        if use_detector_mask and ai.detector.mask is not None:
            static = np.asarray(ai.detector.mask, dtype=bool).copy()
        for name, arr in (("mask", mask), ("dark", dark), ("flat", flat)):
            if arr is not None and self.shape is not None and arr.shape != self.shape:
                raise FrameError(
                    f"{name} has shape {arr.shape} but the detector is {self.shape} (rows, columns)"
                )
        if mask is not None:
            static = np.asarray(mask, dtype=bool) | (
                static if static is not None else np.zeros(mask.shape, bool)
            )
        self.static_mask = static
        self.dark = None if dark is None else np.ascontiguousarray(dark, dtype=np.float32)
        self.flat = None if flat is None else np.ascontiguousarray(flat, dtype=np.float32)
        self._seen_engines: set[int] = set()
        self._engine_refs: list[object] = []  # keep engines alive so ids stay unique
        self._build_pids: list[int] = []  # process that built each engine
        self.method_used: str | None = None

    # ------------------------------------------------------------------ engines
    @property
    def engine_builds(self) -> int:
        """How many integration engines pyFAI built so far (1 per method when all is well)."""
        return len(self._seen_engines)

    def engine_builds_by_process(self) -> dict[int, int]:
        """Engines built per process id: a forked copy inherits its parent's engines (and
        entries) without building any, so merging these dicts never counts an engine twice."""
        out: dict[int, int] = {}
        for pid in self._build_pids:
            out[pid] = out.get(pid, 0) + 1
        return out

    def _note_engines(self) -> None:
        for holder in list(self.ai.engines.values()):
            inner = getattr(holder, "engine", None)
            if inner is not None and id(inner) not in self._seen_engines:
                self._seen_engines.add(id(inner))
                self._engine_refs.append(inner)
                self._build_pids.append(os.getpid())

    # ------------------------------------------------------------------ frames
    def prepare(self, frame: np.ndarray) -> tuple[np.ndarray, int]:
        """Check a frame and mark its invalid pixels NaN; returns (float32 frame, valid count)."""
        frame = np.asarray(frame)
        if frame.ndim != 2:
            raise FrameError(f"expected a 2D frame, got an array of shape {frame.shape}")
        if self.shape is not None and frame.shape != self.shape:
            raise FrameError(
                f"frame shape {frame.shape} does not match the detector shape {self.shape}"
            )
        data = frame.astype(np.float32, copy=True)
        s = self.settings
        # integers cannot be NaN: skip that pass for detector counts
        invalid = np.zeros(data.shape, bool) if np.issubdtype(frame.dtype, np.integer) else ~np.isfinite(data)
        if s.mask_negative:
            invalid |= data < 0
        if s.dummy is not None:
            invalid |= np.abs(data - s.dummy) <= (s.delta_dummy or 0.0)
        if self.static_mask is not None:
            invalid |= self.static_mask
        valid = int(data.size - np.count_nonzero(invalid))
        if valid == 0:
            raise FrameError("every pixel of the frame is masked or invalid")
        np.copyto(data, np.float32(np.nan), where=invalid)
        return data, valid

    def _common(self) -> dict:
        s = self.settings
        return dict(
            unit=s.unit,
            method=s.method,
            mask=self.static_mask,
            dark=self.dark,
            flat=self.flat,
            polarization_factor=s.polarization_factor,
            correctSolidAngle=s.correct_solid_angle,
            radial_range=s.radial_range,
            azimuth_range=s.azimuth_range_deg,
        )

    def integrate(self, frame: np.ndarray) -> Pattern1D:
        """Integrate one frame to a 1D pattern (intensity per bin, pyFAI's normalisation)."""
        data, valid = self.prepare(frame)
        s = self.settings
        res = self.ai.integrate1d(
            data,
            s.npt,
            error_model=None if s.error_model == "none" else s.error_model,
            **self._common(),
        )
        self._note_engines()
        self.method_used = str(res.method)
        sigma = res.sigma if res.sigma is not None else np.full_like(res.intensity, np.nan)
        return Pattern1D(
            radial=np.asarray(res.radial, dtype=np.float64),
            intensity=np.asarray(res.intensity, dtype=np.float32),
            sigma=np.asarray(sigma, dtype=np.float32),
            valid_pixels=valid,
        )

    def cake(self, frame: np.ndarray) -> Cake2D:
        """Integrate one frame to 2D (azimuth x radial), for texture and spottiness checks."""
        data, _ = self.prepare(frame)
        s = self.settings
        res = self.ai.integrate2d(
            data, s.npt, s.npt_azimuthal, error_model=None, **self._common()
        )
        self._note_engines()
        return Cake2D(
            radial=np.asarray(res.radial, dtype=np.float64),
            azimuthal_deg=np.asarray(res.azimuthal, dtype=np.float64),
            intensity=np.asarray(res.intensity, dtype=np.float32),
        )


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
    """A pyFAI ``AzimuthalIntegrator`` from PONI geometry in SI units and a detector name."""
    import pyFAI

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


def d_spacing_a(radial: np.ndarray, unit: str, wavelength_a: float | None) -> np.ndarray:
    """d-spacing in angstrom for a radial axis in ``unit`` (Bragg: lambda = 2 d sin(theta)).

    Bins at zero scattering angle get ``inf``. ``wavelength_a`` is needed only for ``2th_deg``.
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
