"""Azimuthal integration of 2D detector frames with pyFAI, engine built once.

The science core of the XRD integrate stage: arrays in, arrays out, no file names. A
:class:`FrameIntegrator` owns one pyFAI ``AzimuthalIntegrator`` with a *static* mask (detector
mask | user mask) fixed at construction. Per-frame invalid pixels (negative values such as
Pilatus gaps at -1 and dead pixels at -2, NaN, or a ``dummy`` value) are turned into NaN, which
pyFAI skips without touching the engine: passing a per-frame ``mask=`` instead would rebuild the
CSR look-up table every frame (and move the default radial range), the classic slow-down.
:attr:`FrameIntegrator.engine_builds` counts the engines pyFAI actually built.

Which pixels count is decided here alone, by ``use_detector_mask``, the user mask,
``mask_negative`` and ``dummy``: pyFAI (>= 2023) gives Pilatus and Eiger detectors a dummy
value of their own (-2 +- 1.5, so every pixel from -3.5 to -0.5 is dropped) that it applies
whenever no ``dummy`` is passed, which would drop the -1 of module gaps and the -2 of dead
pixels whatever the settings say. The integrator therefore always passes pyFAI a dummy that
no pixel can hold (-inf: non-finite pixels are NaN by then), so that the settings do exactly
what they say.

OpenCL devices are found and chosen in :mod:`xpipe.xrd.opencl`; the integrator from the
PONI numbers, detector orientation and d-spacings are in :mod:`xpipe.xrd.geometry`.

Examples
--------
>>> import numpy as np
>>> from xpipe.xrd.geometry import azimuthal_integrator
>>> ai = azimuthal_integrator("Pilatus100k", 0.2, 0.017, 0.042, wavelength_a=1.0)
>>> fi = FrameIntegrator(ai, IntegrationSettings(npt=500))
>>> pattern = fi.integrate(np.ones((195, 487), np.float32))
>>> pattern.intensity.shape, fi.engine_builds
((500,), 1)
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from . import opencl
from .blockcsr import BlockIntegrator
from .opencl import OpenCLUnavailable, opencl_unavailable_message

Unit = Literal["2th_deg", "q_nm^-1", "q_A^-1"]
ErrorModel = Literal["poisson", "azimuthal", "none"]

#: Axis names and units written to results, per pyFAI unit.
RADIAL_AXES: dict[str, tuple[str, str]] = {
    "2th_deg": ("two_theta_deg", "deg"),
    "q_nm^-1": ("q_nm_inv", "1/nm"),
    "q_A^-1": ("q_a_inv", "1/angstrom"),
}


log = logging.getLogger("xpipe")


#: Passed to pyFAI as ``dummy`` so that it applies no dummy value of its own (see the module
#: notes): no pixel equals -inf once :meth:`FrameIntegrator.prepare` has made non-finite ones NaN.
NO_DUMMY = float("-inf")

#: Frames handed to the integrator at once by a worker when no folded engine sets its own
#: block (:func:`xpipe.xrd.blockcsr.block_frames`; pyFAI's per-frame path takes any number).
BLOCK_FRAMES = 8

class FrameError(ValueError):
    """A frame that cannot be integrated (wrong shape, all pixels masked, ...).

    Examples
    --------
    >>> isinstance(FrameError("every pixel of the frame is masked or invalid"), ValueError)
    True
    """


@dataclass(frozen=True)
class IntegrationSettings:
    """Everything that decides the numbers of a 1D integration (all recorded in results).

    Parameters
    ----------
    npt : int
        Number of radial bins.
    unit : str
        pyFAI radial unit, ``2th_deg``, ``q_nm^-1`` or ``q_A^-1``.
    radial_range : (float, float) or None
        (low, high) in ``unit``, or None for the full range of unmasked pixels.
    azimuth_range_deg : (float, float) or None
        (low, high) chi range in degrees, or None for all.
    method : (str, str, str)
        pyFAI method triple (pixel splitting, algorithm, implementation).
    polarization_factor : float or None
        -1..1 (0.99 for a horizontally polarised synchrotron beam), None: off.
    correct_solid_angle : bool
        Divide by the pixel solid angle.
    error_model : str
        ``poisson`` (variance = counts), ``azimuthal`` (spread within each ring), ``none``.
    mask_negative : bool
        Treat pixels < 0 as invalid (Pilatus/Eiger gaps and dead pixels).
    dummy, delta_dummy : float or None
        Pixels with ``|I - dummy| <= delta_dummy`` (counts) are invalid.
    npt_azimuthal : int
        Azimuthal bins of the optional 2D caking (0: no caking).
    opencl_device : str
        With an ``opencl`` method, the device: 'gpu', 'cpu', 'acc', 'any' or 'platform,device'.
    opencl_fallback : bool
        With an ``opencl`` method and no such device, use the same splitting and algorithm in
        cython (with a warning) instead of raising :class:`OpenCLUnavailable`.

    Examples
    --------
    >>> s = IntegrationSettings(npt=500, unit="q_A^-1")
    >>> s.as_record()["method"], s.wants_opencl
    ('bbox/csr/cython', False)
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
    opencl_device: str = "gpu"
    opencl_fallback: bool = False

    @property
    def wants_opencl(self) -> bool:
        """Whether the method's implementation is ``opencl``."""
        return self.method[2] == "opencl"

    def as_record(self) -> dict:
        """Plain-type dict of the settings, for provenance."""
        rec = asdict(self)
        rec["method"] = "/".join(self.method)
        return rec


@dataclass
class Pattern1D:
    """One integrated pattern.

    Parameters
    ----------
    radial : numpy.ndarray
        Bin centres in the settings' radial unit.
    intensity, sigma : numpy.ndarray
        Intensity per bin (pyFAI's normalisation) and its uncertainty (NaN without an error
        model).
    valid_pixels : int
        Pixels of the frame that counted.

    Examples
    --------
    >>> p = Pattern1D(np.arange(3.0), np.ones(3, np.float32), np.full(3, np.nan, np.float32), 9)
    >>> p.radial.size, p.valid_pixels
    (3, 9)
    """

    radial: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    valid_pixels: int


@dataclass
class Cake2D:
    """A 2D caked frame: ``intensity[azimuthal, radial]`` with its two axes.

    Parameters
    ----------
    radial : numpy.ndarray
        Radial bin centres in the settings' unit.
    azimuthal_deg : numpy.ndarray
        Azimuthal (chi) bin centres in degrees.
    intensity : numpy.ndarray
        Intensity, one row per azimuthal bin.

    Examples
    --------
    >>> c = Cake2D(np.arange(4.0), np.array([-90.0, 90.0]), np.zeros((2, 4), np.float32))
    >>> c.intensity.shape == (c.azimuthal_deg.size, c.radial.size)
    True
    """

    radial: np.ndarray
    azimuthal_deg: np.ndarray
    intensity: np.ndarray


class FrameIntegrator:
    """Integrate frames of one detector with fixed geometry, mask, dark, flat and settings.

    Parameters
    ----------
    ai : pyFAI.integrator.azimuthal.AzimuthalIntegrator
        Geometry and detector.
    settings : IntegrationSettings
        Integration settings.
    mask : numpy.ndarray or None
        User mask (True/non-zero = excluded), combined with the detector's own mask.
    dark, flat : numpy.ndarray or None
        Dark-current (counts) and flat-field images, shaped as the detector.
    use_detector_mask : bool
        Include the detector definition's mask (module gaps).
    engine : xpipe.xrd.engine_cache.CachedEngine, optional
        A folded engine read back from the cache for exactly this geometry and these settings:
        frames integrate through it, and ``ai`` may then be a function that builds the
        integrator, called only if pyFAI itself is needed (2D integration).

    Examples
    --------
    >>> from xpipe.xrd.geometry import azimuthal_integrator
    >>> ai = azimuthal_integrator("Pilatus100k", 0.2, 0.017, 0.042, wavelength_a=1.0)
    >>> fi = FrameIntegrator(ai, IntegrationSettings(npt=200, polarization_factor=None))
    >>> frame = np.full((195, 487), 10, np.int32)
    >>> frame[0, :5] = -2  # dead pixels: not counted
    >>> p = fi.integrate(frame)
    >>> p = fi.integrate(frame)  # the same engine again
    >>> p.valid_pixels, fi.engine_builds, round(float(np.nanmin(p.intensity)), 2)
    (94960, 1, 10.0)
    >>> try:
    ...     fi.integrate(np.ones((3, 3)))
    ... except FrameError as exc:
    ...     print(exc)
    frame shape (3, 3) does not match the detector shape (195, 487)
    """

    def __init__(
        self,
        ai,
        settings: IntegrationSettings,
        mask: np.ndarray | None = None,
        dark: np.ndarray | None = None,
        flat: np.ndarray | None = None,
        use_detector_mask: bool = True,
        engine=None,
    ) -> None:
        lazy = callable(ai) and not hasattr(ai, "integrate1d")
        if lazy and engine is None:
            ai = ai()
        self._ai, self._make_ai = (None, ai) if lazy else (ai, None)
        self.settings = settings
        if engine is not None:
            self.shape = tuple(engine.block.shape)
        else:
            self.shape = tuple(ai.detector.shape) if ai.detector.shape is not None else None
        for name, arr in (("mask", mask), ("dark", dark), ("flat", flat)):
            if arr is not None and self.shape is not None and arr.shape != self.shape:
                raise FrameError(
                    f"{name} has shape {arr.shape} but the detector is {self.shape} (rows, columns)"
                )
        if engine is not None:  # the detector and user masks, as folded when it was built
            self.static_mask = engine.block.given.reshape(self.shape)
        else:
            self.static_mask = _static_mask(ai, self.shape, mask, use_detector_mask)
        self.dark = None if dark is None else np.ascontiguousarray(dark, dtype=np.float32)
        self.flat = None if flat is None else np.ascontiguousarray(flat, dtype=np.float32)
        self._seen_engines: set[int] = set()
        self._engine_refs: list[object] = []  # keep engines alive so ids stay unique
        self._build_pids: list[int] = []  # process that built each engine
        self.method_used: str | None = None
        #: Why an OpenCL method fell back to cython (None: it did not, or none was asked for).
        self.fallback_reason: str | None = None
        self._pid = os.getpid()
        self._opencl_checked: set[int] = set()  # dimensions whose OpenCL engine was built here
        self._methods: dict[int, object] = {1: self._resolve(1)}
        self._block: BlockIntegrator | None = None
        self._block_radial: np.ndarray | None = None
        self._block_checked = False
        if settings.npt_azimuthal:
            self._methods[2] = self._resolve(2)
        #: The cached engine file the frames go through (None: built here).
        self.engine_file = None
        if engine is not None:
            self._block, self._block_radial, self._block_checked = engine.block, engine.radial, True
            self.method_used, self.engine_file = engine.method_used, engine.path

    @property
    def ai(self):
        """pyFAI's integrator (built on first use when a cached engine made it unnecessary so far)."""
        if self._ai is None:
            self._ai = self._make_ai()
        return self._ai

    @staticmethod
    def folds(settings: IntegrationSettings) -> bool:
        """Whether frames with these settings go through the folded CSR engine (a cython CSR
        method with the Poisson or no error model) rather than ``integrate1d`` frame by frame.

        Examples
        --------
        >>> FrameIntegrator.folds(IntegrationSettings(npt=10)), FrameIntegrator.folds(
        ...     IntegrationSettings(npt=10, method=("bbox", "csr", "opencl")))
        (True, False)
        """
        return (settings.method[1] == "csr" and settings.method[2] == "cython"
                and settings.error_model in ("poisson", "none"))

    @property
    def block_frames(self) -> int:
        """Frames to hand to :meth:`integrate_many` at once: the folded engine's block (once
        built or read), else :data:`BLOCK_FRAMES`."""
        return self._block.block if self._block is not None else BLOCK_FRAMES

    @property
    def block_radial(self) -> np.ndarray | None:
        """Bin centres of the folded engine (None before it is built, or without one)."""
        return self._block_radial

    # ------------------------------------------------------------------ methods
    def _resolve(self, dim: int):
        """The method handed to pyFAI for ``dim``: the settings' triple, or for OpenCL a pyFAI
        ``IntegrationMethod`` bound to one device (or the cython fallback)."""
        s = self.settings
        if not s.wants_opencl:
            return s.method
        found, reason = opencl.select_opencl(dim, s.method[0], s.method[1], s.opencl_device)
        if found is None:
            return self._fall_back(reason)
        return found

    def _fall_back(self, reason: str) -> tuple[str, str, str]:
        s = self.settings
        asked = "/".join(s.method)
        if not s.opencl_fallback:
            raise OpenCLUnavailable(opencl_unavailable_message(asked, reason))
        used = (s.method[0], s.method[1], "cython")
        if self.fallback_reason is None:
            self.fallback_reason = reason
            log.warning("%s", self.fallback_message)
        return used

    @property
    def fallback_message(self) -> str | None:
        """The warning given when an OpenCL method fell back to cython, else None."""
        if self.fallback_reason is None:
            return None
        s = self.settings
        return (
            f"method '{'/'.join(s.method)}' asks for OpenCL, but {self.fallback_reason}; integrating "
            f"with '{s.method[0]}/{s.method[1]}/cython' instead (opencl_fallback is true)"
        )

    @property
    def uses_opencl(self) -> bool:
        """Whether the 1D integration runs on an OpenCL device (after any fallback)."""
        return _is_opencl(self._methods[1])

    def _call(self, dim: int, run):
        """``run(method)`` with this dimension's method. An OpenCL engine that cannot be built
        (or an integrator inherited by a forked process) falls back or raises
        :class:`OpenCLUnavailable`; errors of later frames are the frame's."""
        method = self._methods[dim]
        if not _is_opencl(method):
            return run(method)
        if os.getpid() != self._pid and opencl.forked_after_opencl():
            # inherited through fork: the OpenCL context is the parent's and must not be touched;
            # the cython CSR matrix pyFAI built beside the OpenCL engine is usable (not rebuilt)
            _, reason = opencl.opencl_devices()
            self._methods = {d: self._fall_back(reason) for d in self._methods}
            for holder in self.ai.engines.values():
                self._record_engine(getattr(holder, "engine", None), self._pid)
            return run(self._methods[dim])
        if dim in self._opencl_checked:
            return run(method)
        try:
            res = run(method)
        except FrameError:
            raise
        except Exception as exc:
            where = getattr(method, "target_name", None) or "the OpenCL device"
            self._methods[dim] = self._fall_back(
                f"building pyFAI's OpenCL engine on {where} failed ({type(exc).__name__}: {exc})"
            )
            return run(self._methods[dim])
        self._opencl_checked.add(dim)
        return res

    def build_engines(self) -> None:
        """Build the integration engine(s) now, on a blank frame, instead of on the first frame
        (an OpenCL device that cannot take the engine then fails or falls back here)."""
        if self.shape is None:
            return
        blank = np.zeros(self.shape, np.float32)
        self.integrate(blank)
        self.block_engine()
        if self.settings.npt_azimuthal:
            self.cake(blank)

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

    def _note_engines(self, method) -> None:
        """Record the engine pyFAI used for ``method`` if it is new (a rebuild counts too). Only
        that engine counts: an OpenCL CSR engine is made from a cython CSR matrix that pyFAI
        keeps beside it, which is part of the same build."""
        self._record_engine(getattr(self.ai.engines.get(method), "engine", None), os.getpid())

    def _record_engine(self, inner, pid: int) -> None:
        """Count the pyFAI engine ``inner`` (None: nothing) once, as built by process ``pid``."""
        if inner is not None and id(inner) not in self._seen_engines:
            self._seen_engines.add(id(inner))
            self._engine_refs.append(inner)
            self._build_pids.append(pid)

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
            mask=self.static_mask,
            dark=self.dark,
            flat=self.flat,
            polarization_factor=s.polarization_factor,
            correctSolidAngle=s.correct_solid_angle,
            radial_range=s.radial_range,
            azimuth_range=s.azimuth_range_deg,
            dummy=NO_DUMMY,  # invalid pixels are NaN already: no detector dummy on top
        )

    def integrate(self, frame: np.ndarray) -> Pattern1D:
        """Integrate one frame to a 1D pattern (intensity per bin, pyFAI's normalisation)."""
        if self.block_engine() is not None:
            out = self.integrate_many([frame])[0]
            if isinstance(out, FrameError):
                raise out
            return out
        return self._integrate_pyfai(frame)

    def _integrate_pyfai(self, frame: np.ndarray) -> Pattern1D:
        """One frame through pyFAI's ``integrate1d`` (any method, OpenCL included)."""
        data, valid = self.prepare(frame)
        s = self.settings
        res = self._call(1, lambda method: self.ai.integrate1d(
            data,
            s.npt,
            method=method,
            error_model=None if s.error_model == "none" else s.error_model,
            **self._common(),
        ))
        self._note_engines(res.method)
        self.method_used = str(res.method)
        sigma = res.sigma if res.sigma is not None else np.full_like(res.intensity, np.nan)
        return Pattern1D(
            radial=np.asarray(res.radial, dtype=np.float64),
            intensity=np.asarray(res.intensity, dtype=np.float32),
            sigma=np.asarray(sigma, dtype=np.float32),
            valid_pixels=valid,
        )

    def integrate_many(self, frames: list[np.ndarray]) -> list[Pattern1D | FrameError]:
        """Integrate several frames; one :class:`Pattern1D`, or the :class:`FrameError` that
        refuses it, per frame, in order.

        With a cython CSR method and the Poisson or no error model, the frames go through
        pyFAI's CSR matrix with the corrections folded in, a block of frames at a time
        (:mod:`xpipe.xrd.blockcsr`); the numbers are pyFAI's ``integrate1d`` ones to float32
        rounding. Otherwise each frame goes through ``integrate1d``.

        Examples
        --------
        >>> from xpipe.xrd.geometry import azimuthal_integrator
        >>> ai = azimuthal_integrator("Pilatus100k", 0.2, 0.017, 0.042, wavelength_a=1.0)
        >>> settings = IntegrationSettings(npt=300, polarization_factor=None, correct_solid_angle=False)
        >>> fi = FrameIntegrator(ai, settings)
        >>> out = fi.integrate_many([np.full((195, 487), 7, np.int32), np.full((195, 487), -1)])
        >>> round(float(np.nanmax(out[0].intensity)), 3), str(out[1])
        (7.0, 'every pixel of the frame is masked or invalid')
        """
        engine = self.block_engine()
        if engine is None:
            out: list[Pattern1D | FrameError] = []
            for frame in frames:
                try:
                    out.append(self._integrate_pyfai(frame))
                except FrameError as exc:
                    out.append(exc)
            return out
        out = [None] * len(frames)
        good, arrays = [], []
        for i, frame in enumerate(frames):
            frame = np.asarray(frame)
            if frame.ndim != 2:
                out[i] = FrameError(f"expected a 2D frame, got an array of shape {frame.shape}")
            elif frame.shape != self.shape:
                out[i] = FrameError(f"frame shape {frame.shape} does not match the detector shape {self.shape}")
            else:
                good.append(i)
                arrays.append(frame)
        if arrays:
            res = engine.integrate(arrays)
            for row, i in enumerate(good):
                if res.valid_pixels[row] == 0:
                    out[i] = FrameError("every pixel of the frame is masked or invalid")
                    continue
                out[i] = Pattern1D(radial=self._block_radial, intensity=res.intensity[row],
                                   sigma=res.sigma[row], valid_pixels=int(res.valid_pixels[row]))
        return out

    def block_engine(self) -> BlockIntegrator | None:
        """The folded CSR engine for this integrator's settings, built on first use from
        pyFAI's own cython CSR matrix; None when the method or error model needs pyFAI's
        per-frame path (OpenCL, other algorithms, the azimuthal error model)."""
        if self._block_checked:
            return self._block
        self._block_checked = True
        s = self.settings
        if self.shape is None or _is_opencl(self._methods[1]) or not self.folds(s):
            return None
        blank = np.zeros(self.shape, np.float32)
        res = self._integrate_pyfai_result(blank)
        engine = getattr(self.ai.engines.get(res.method), "engine", None)
        lut = getattr(engine, "lut", None)
        if lut is None or len(lut) != 3:
            return None
        shape = self.shape
        ai = self.ai
        omega = np.ones(int(np.prod(shape)), np.float32)
        flat = self.flat if self.flat is not None else ai.detector.flatfield
        dark = self.dark if self.dark is not None else ai.detector.darkcurrent
        if flat is not None:  # pyFAI's preprocessing: 1 * flat * polarisation * solid angle
            omega *= np.ascontiguousarray(flat, np.float32).ravel()
        if s.polarization_factor is not None:
            omega *= np.ascontiguousarray(ai.polarization(shape, s.polarization_factor), np.float32).ravel()
        if s.correct_solid_angle:
            omega *= np.ascontiguousarray(ai.solidAngleArray(shape, True), np.float32).ravel()
        self._block = BlockIntegrator(
            lut, shape, omega, static_mask=self.static_mask, dark=dark,
            variance=s.error_model == "poisson", empty=float(getattr(engine, "empty", 0.0) or 0.0),
            mask_negative=s.mask_negative, dummy=s.dummy, delta_dummy=s.delta_dummy)
        self._block_radial = np.asarray(res.radial, dtype=np.float64)
        return self._block

    def _integrate_pyfai_result(self, data: np.ndarray):
        """pyFAI's own result for a prepared frame (the engine is built, and counted, here)."""
        s = self.settings
        res = self.ai.integrate1d(data, s.npt, method=self._methods[1],
                                  error_model=None if s.error_model == "none" else s.error_model,
                                  **self._common())
        self._note_engines(res.method)
        self.method_used = str(res.method)
        return res

    def cake(self, frame: np.ndarray) -> Cake2D:
        """Integrate one frame to 2D (azimuth x radial), for texture and spottiness checks."""
        data, _ = self.prepare(frame)
        s = self.settings
        if 2 not in self._methods:
            self._methods[2] = self._resolve(2)
        res = self._call(2, lambda method: self.ai.integrate2d(
            data, s.npt, s.npt_azimuthal, method=method, error_model=None, **self._common()
        ))
        self._note_engines(res.method)
        return Cake2D(
            radial=np.asarray(res.radial, dtype=np.float64),
            azimuthal_deg=np.asarray(res.azimuthal, dtype=np.float64),
            intensity=np.asarray(res.intensity, dtype=np.float32),
        )


def _static_mask(ai, shape, mask, use_detector_mask: bool) -> np.ndarray | None:
    """Pixels never counted: the detector definition's mask (module gaps) and the user mask."""
    static = np.zeros(shape, dtype=bool) if shape else None
    if use_detector_mask and ai.detector.mask is not None:
        static = np.asarray(ai.detector.mask, dtype=bool).copy()
    if mask is not None:
        static = np.asarray(mask, dtype=bool) | (static if static is not None else np.zeros(mask.shape, bool))
    return static


def _is_opencl(method) -> bool:
    impl = getattr(method, "impl_lower", None)
    return (impl if impl is not None else method[2]) == "opencl"


