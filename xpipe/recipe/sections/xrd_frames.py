"""Recipe section ``xrd``: the frames, their clock, the detector geometry and the integration."""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ...io.frames import (
    FrameReadError,
    FrameRef,
    expand_inputs,
    hdf5_times,
    match_scan_log,
    read_header_time,
    read_scan_log,
)
from ...io.geometry import load_image, poni_from_text, read_poni_header
from ...io.pyfai_detectors import DETECTORS
from ...xrd import opencl as _ocl
from ...xrd.geometry import ORIENTATIONS, azimuthal_integrator, with_orientation
from ...xrd.integrate import IntegrationSettings
from ...xrd.opencl import opencl_unavailable_message, parse_opencl_device
from ..schema import Context, InputFile, setting

log = logging.getLogger("xpipe")

_SPLITS = ("no", "bbox", "pseudo", "full")
_ALGOS = ("histogram", "csr", "csc", "lut")
_IMPLS = ("python", "cython", "opencl")
_PIXEL_EXAMPLE = '{"pixel1": 0.000172, "pixel2": 0.000172, "max_shape": [1679, 1475], "orientation": 3}'



@dataclass(kw_only=True)
class ScanLogConfig:
    """A CSV with one row per frame or scan: an identifier and start (and end) times.

    Recipe sections ``xrd.frames.scan_log`` and ``xrd.patterns.scan_log``; its keys are the keyword
    arguments, each documented by its ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> cfg = ScanLogConfig(file="scans.csv")
    >>> cfg.file_column, cfg.start_column, cfg.end_column
    ('file', 'start_time', 'end_time')
    """

    file: InputFile = setting(doc="Scan-log CSV file, relative to the recipe.")
    file_column: str = setting(
        "file",
        doc="Column naming the frame: file name, stem, or a scan id the file name starts with.",
    )
    start_column: str = setting(
        "start_time",
        doc="Column with the exposure start time: ISO 8601 (2024-03-14T09:00:00.123; local time "
        "unless it ends in Z or a UTC offset) or epoch seconds as SPEC and Bluesky write them "
        "(1710406800.123; UTC), told apart by the values themselves. A plain number is epoch "
        "seconds from 1e8 (1973) to 1e11; smaller numbers (seconds after some start) and larger "
        "ones (epoch milliseconds) are refused, naming the line.",
    )
    end_column: str | None = setting(
        "end_time",
        doc="Column with the exposure end time (same forms as start_column); frame time is then mid-exposure.",
    )

    def times_of(self, refs: list[FrameRef], what: str = "frame"):
        """Check the log against ``refs`` (yields ``(key, message)`` problems); returns each
        ref's :class:`~xpipe.io.frames.FrameTime` from the log (None where it has no row), or
        None when the log cannot be read."""
        try:
            rows = read_scan_log(self.file, self.file_column, self.start_column, self.end_column)
        except (ValueError, OSError) as exc:
            yield "scan_log", str(exc)
            return None
        times = match_scan_log(refs, rows)
        missing = [r.key for r, t in zip(refs, times) if t is None]
        if missing:
            yield "scan_log", (f"{len(missing)} {what}(s) have no row in '{self.file}', e.g. "
                               f"{os.path.basename(missing[0])}")
        return times


@dataclass(kw_only=True)
class FramesConfig:
    """Which 2D frames to integrate, and where their times come from.

    Recipe section ``xrd.frames``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("f_10.cbf", "f_2.cbf"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> cfg = build(FramesConfig, {"files": "f_*.cbf"}, "xrd.frames", 1, Context(base_dir=folder))
    >>> [os.path.basename(r.path) for r in cfg.refs], cfg.time_source
    (['f_2.cbf', 'f_10.cbf'], 'auto')
    """

    files: str | list[str] = setting(
        doc="Frames: a glob ('frames/*.cbf'), a list of paths or globs, or an HDF5 dataset "
        "'scan.h5::/entry/data/data' (an Eiger master's '/entry/data' group works too). "
        "Globs are sorted naturally (frame_2 before frame_10)."
    )
    time_source: Literal["auto", "header", "hdf5", "mtime", "scan_log"] = setting(
        "auto",
        doc="Frame time from the file header (CBF/EDF/TIFF date), HDF5 timestamps, file "
        "modification time, or the scan log. 'auto': scan log if given, else header/HDF5, "
        "else modification time. Validation refuses 'header' or 'hdf5' when the first or last "
        "file states no time that way (many TIFF files hold no date); a frame left without a "
        "time in a run is logged as a warning and its frame_time_s is NaN.",
    )
    scan_log: ScanLogConfig | None = setting(None, doc="Scan-log CSV giving frame times.")
    hdf5_time_dataset: str | None = setting(
        None,
        doc="HDF5 dataset of per-frame times (epoch seconds, or seconds after /entry/start_time).",
    )

    def check(self, ctx: Context):
        try:
            self._refs = expand_inputs(self.files, ctx.base_dir)
        except (FileNotFoundError, ValueError) as exc:
            yield "files", str(exc)
            return
        if self.time_source == "scan_log" and self.scan_log is None:
            yield "scan_log", "time_source is 'scan_log' but no scan_log is given"
            return
        if self.time_source in ("header", "hdf5"):
            problem = self._untimed(self._refs)
            if problem is not None:
                yield problem
                return
        if self.scan_log is not None and self.time_source in ("auto", "scan_log"):
            times = yield from self.scan_log.times_of(self._refs, "frame")
            if times is None:
                return
            self._log_times = times

    @property
    def refs(self) -> list[FrameRef]:
        return self._refs

    def _untimed(self, refs: list[FrameRef]) -> tuple[str, str] | None:
        """(key, message) when time_source 'header' or 'hdf5' cannot time the frames, judged
        on the first and last file (reading every header would cost as much as the run)."""
        src = self.time_source
        todo = "set time_source to 'mtime' (file modification times) or 'scan_log' (with a scan_log giving each frame's time), or 'auto'"
        seen: list[FrameRef] = []
        for ref in refs[:1] + refs[-1:]:
            if any(r.path == ref.path for r in seen):
                continue
            seen.append(ref)
            name = os.path.basename(ref.path)
            if src == "header":
                if ref.dataset is not None:
                    return "time_source", (
                        f"time_source is 'header', which reads the date in the header of single-frame "
                        f"image files, but '{name}' is an HDF5 stack: use 'hdf5' (with hdf5_time_dataset "
                        f"if needed), or {todo.removeprefix('set time_source to ')}"
                    )
                try:
                    start, _ = read_header_time(ref.path)
                except FrameReadError:
                    continue  # an unreadable frame is that frame's failure in the run
                if start is None:
                    return "time_source", (
                        f"time_source is 'header' but the header of '{name}' holds no date (many TIFF "
                        f"files hold none), so its frame time would be NaN; {todo}"
                    )
            else:
                if ref.dataset is None:
                    return "time_source", (
                        f"time_source is 'hdf5' but '{name}' is not an HDF5 file; {todo}"
                    )
                try:
                    times = hdf5_times(ref.path, ref.dataset, 1, self.hdf5_time_dataset)
                except ValueError as exc:
                    return "hdf5_time_dataset", str(exc)
                except OSError:
                    continue  # not readable yet (being written): judged in the run
                if not times:
                    return "time_source", (
                        f"time_source is 'hdf5' but '{name}' records no frame times (no start time with "
                        f"a frame_time, and no hdf5_time_dataset given); name the dataset of per-frame "
                        f"times in hdf5_time_dataset, or {todo}"
                    )
        return None


@dataclass(kw_only=True)
class GeometryConfig:
    """Detector geometry in pyFAI's PONI convention, when no .poni file is given.

    Recipe section ``xrd.integrate.geometry``; its keys are the keyword arguments, each documented
    by its ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> g = GeometryConfig(detector="Pilatus1M", distance_m=0.2, poni1_m=0.08, poni2_m=0.09,
    ...                    wavelength_a=0.7749)
    >>> g.distance_m, g.rot1_rad, g.wavelength_a
    (0.2, 0.0, 0.7749)
    """

    detector: str = setting(doc="pyFAI detector name, e.g. 'Pilatus1M', 'Eiger2_4M', 'Perkin'.")
    distance_m: float = setting(doc="Sample to PONI distance.", unit="m", minimum=0, exclusive_minimum=True)
    poni1_m: float = setting(doc="PONI coordinate along the slow (row) axis.", unit="m")
    poni2_m: float = setting(doc="PONI coordinate along the fast (column) axis.", unit="m")
    rot1_rad: float = setting(0.0, doc="Rotation 1 (pyFAI convention).", unit="rad")
    rot2_rad: float = setting(0.0, doc="Rotation 2 (pyFAI convention).", unit="rad")
    rot3_rad: float = setting(0.0, doc="Rotation 3 (pyFAI convention).", unit="rad")
    wavelength_a: float = setting(doc="X-ray wavelength.", unit="angstrom", minimum=0, exclusive_minimum=True)

    def model(self) -> tuple[int, int, float, float] | None:
        """(rows, columns, pixel1_m, pixel2_m) of the named pyFAI detector from the table kept
        without pyFAI (:mod:`xpipe.io.pyfai_detectors`); None where only pyFAI can tell."""
        name = self.detector.lower()
        if os.path.exists(self.detector):
            return None
        return DETECTORS.get(name) or DETECTORS.get(name.replace(" ", "_"))

    def check(self, ctx: Context):
        if self.model() is not None:
            return
        import pyFAI.detectors

        try:
            pyFAI.detector_factory(self.detector)
        except Exception:
            names = sorted(pyFAI.detectors.ALL_DETECTORS)
            close = difflib.get_close_matches(self.detector.lower(), names, n=3)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            yield "detector", f"pyFAI knows no detector '{self.detector}'{hint}"


@dataclass(kw_only=True)
class IntegrateConfig:
    """pyFAI azimuthal integration: geometry, corrections, masks and binning.

    Recipe section ``xrd.integrate``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> cfg = IntegrateConfig(poni="cal.poni", npt=1000)
    >>> s = cfg.settings()
    >>> s.npt, s.unit, s.method, s.polarization_factor
    (1000, '2th_deg', ('bbox', 'csr', 'cython'), 0.99)
    """

    poni: InputFile | None = setting(None, doc="pyFAI geometry file (.poni); the last calibration in the file is used.")
    geometry: GeometryConfig | None = setting(None, doc="Inline geometry instead of a .poni file.")
    wavelength_a: float | None = setting(
        None, doc="Override the wavelength of the .poni file.", unit="angstrom", minimum=0, exclusive_minimum=True
    )
    orientation: int | None = setting(
        None,
        doc="Detector orientation the frames are read in (pyFAI's numbering, as in PONI files of "
        "version 2.1): 3 is pyFAI's default (origin at the bottom left seen from the sample), 2 "
        "reads the frames flipped up-down, 4 flipped left-right, 1 both. null: what the geometry "
        "says (the .poni file's Detector_config, else 3). A calibration made in Dioptas needs 2: "
        "Dioptas shows and calibrates images flipped up-down (see docs/dioptas.md). Frames, mask, "
        "dark and flat stay as their files hold them; only where each pixel is changes.",
        minimum=1,
        maximum=4,
    )
    npt: int = setting(2000, doc="Number of radial bins.", minimum=16, maximum=100000)
    unit: Literal["2th_deg", "q_nm^-1", "q_A^-1"] = setting(
        "2th_deg", doc="Radial unit; d-spacing is stored as a derived axis."
    )
    radial_range: list[float] | None = setting(
        None, doc="Radial range (low, high) in 'unit'; default: all unmasked pixels.", length=2, increasing=True
    )
    azimuth_range_deg: list[float] | None = setting(
        None, doc="Azimuthal (chi) range (low, high); default: all.", unit="deg", length=2, increasing=True
    )
    method: str = setting(
        "bbox/csr/cython",
        doc="pyFAI method: pixel splitting (no, bbox, pseudo, full) / algorithm (histogram, csr, "
        "csc, lut) / implementation (cython, opencl, python). 'opencl' needs pyopencl (pip "
        "install 'xpipe[gpu]') and an OpenCL driver for the device; see opencl_device and "
        "opencl_fallback. The method actually used is recorded as method_used in "
        "/entry/xrd/integration.",
    )
    opencl_device: str = setting(
        "gpu",
        doc="With an 'opencl' method, the OpenCL device: 'gpu', 'cpu', 'acc' (accelerator), 'any' "
        "(GPUs first), or the 'platform,device' numbers pyFAI lists them by (e.g. '0,1'). OpenCL "
        "on a CPU is seldom faster than 'cython'.",
    )
    opencl_fallback: bool = setting(
        False,
        doc="With an 'opencl' method and no such OpenCL device here (pyopencl not installed, no "
        "OpenCL platform, no device of the type asked for): true integrates with the same "
        "splitting and algorithm in 'cython' and logs a warning naming what is missing; false "
        "refuses the recipe.",
    )
    polarization_factor: float | None = setting(
        0.99,
        doc="Polarisation factor (-1..1; 0.99 for a horizontally polarised synchrotron beam, "
        "0 for an unpolarised lab source); null disables the correction.",
        minimum=-1,
        maximum=1,
    )
    correct_solid_angle: bool = setting(True, doc="Divide by the solid angle of each pixel.")
    error_model: Literal["poisson", "azimuthal", "none"] = setting(
        "poisson",
        doc="Uncertainty model: 'poisson' (variance = counts), 'azimuthal' (spread around each "
        "ring), or 'none' (sigma stored as NaN).",
    )
    mask: InputFile | None = setting(
        None, doc="User mask image (EDF, TIFF, NPY or any fabio format); non-zero pixels are excluded."
    )
    use_detector_mask: bool = setting(True, doc="Also exclude the detector's own mask (module gaps).")
    mask_negative: bool = setting(True, doc="Exclude pixels with negative values (Pilatus/Eiger gaps, dead pixels).")
    dummy: float | None = setting(None, doc="Pixel value that marks invalid pixels.")
    delta_dummy: float | None = setting(None, doc="Tolerance around 'dummy'.", minimum=0)
    dark: InputFile | None = setting(None, doc="Dark-current image subtracted from every frame.")
    flat: InputFile | None = setting(None, doc="Flat-field image every frame is divided by.")
    cake: bool = setting(False, doc="Also store 2D caked images (radial x azimuth) for texture checks.")
    cake_every: int = setting(
        10, doc="With 'cake': cake every Nth frame (first frame always).", minimum=1
    )
    npt_azimuthal: int = setting(360, doc="Azimuthal bins of the caked images.", minimum=4, maximum=3600)

    def check(self, ctx: Context):
        if (self.poni is None) == (self.geometry is None):
            yield "poni", "give exactly one of 'poni' (a .poni file) or 'geometry' (inline)"
            return
        if not (yield from self._check_method()):
            return
        if self.delta_dummy is not None and self.dummy is None:
            yield "delta_dummy", "'delta_dummy' needs 'dummy'"
        found = yield from self._check_geometry()
        if found is None:
            return
        shape, has_wavelength = found
        if not has_wavelength:
            yield "wavelength_a", "the geometry has no wavelength; set 'wavelength_a'"
        yield from self._check_images(shape)

    def _check_method(self):
        """Problems of ``method`` (and its OpenCL device); returns False when it is unusable."""
        parts = self.method.split("/")
        if len(parts) != 3 or parts[0] not in _SPLITS or parts[1] not in _ALGOS or parts[2] not in _IMPLS:
            yield "method", (
                f"expected 'split/algorithm/implementation' with split in {_SPLITS}, algorithm in "
                f"{_ALGOS}, implementation in {_IMPLS}; found '{self.method}'"
            )
            return False
        if parts[2] != "opencl":
            return True
        try:
            parse_opencl_device(self.opencl_device)
        except ValueError as exc:
            yield "opencl_device", str(exc)
            return True
        if not self.opencl_fallback:
            for dim in (1, 2) if self.cake else (1,):
                found, reason = _ocl.select_opencl(dim, parts[0], parts[1], self.opencl_device)
                if found is None:
                    if dim == 2:
                        reason += " (needed for the caked images of 'cake: true')"
                    yield "method", opencl_unavailable_message(self.method, reason, "xrd.integrate.opencl_fallback")
                    break
        return True

    def _check_geometry(self):
        """Problems of the PONI file or inline geometry.

        Returns the detector shape (rows, columns; None when unknown) and whether a wavelength
        is given, or None when the geometry is unusable. A plain PONI file of a detector model
        pyFAI knows is checked from its text (:func:`~xpipe.io.geometry.poni_from_text`),
        without importing pyFAI; anything else is built with pyFAI.
        """
        header = None
        if self.poni is not None:
            try:
                header = read_poni_header(self.poni)
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                yield "poni", f"cannot read '{self.poni}' as a PONI file: {exc}"
                return None
            if header.detector is None and header.version >= 2:
                yield "poni", (
                    f"'{self.poni}' names no detector (no 'Detector:' line), so its pixel sizes are "
                    f"unknown; add the pyFAI detector name (e.g. 'Detector: Pilatus300k') or "
                    f"'Detector: Detector' with 'Detector_config: {_PIXEL_EXAMPLE}', or give "
                    f"xrd.integrate.geometry instead"
                )
                return None
            text = poni_from_text(header) if self.orientation in (None, *ORIENTATIONS) else None
            if text is not None:
                self._warn_orientation(header)
                return text.shape, bool(self.wavelength_a is not None or text.wavelength_m)
        elif self.orientation in (None, *ORIENTATIONS) and (model := self.geometry.model()) is not None:
            return model[:2], True
        try:
            ai = build_ai(self)
        except Exception as exc:
            yield ("poni" if self.poni else "geometry"), f"cannot build the geometry: {exc}"
            return None
        missing = [k for k in ("pixel1", "pixel2") if not _positive(getattr(ai.detector, k, None))]
        if missing:
            yield self._no_pixel_size(header, missing)
            return None
        if self.poni is not None:
            self._warn_orientation(header)
        return (tuple(ai.detector.shape) if ai.detector.shape is not None else None), bool(ai.wavelength)

    def _warn_orientation(self, header) -> None:
        """Log that a PONI file's image orientation cannot be checked, unless the recipe sets it."""
        if self.orientation is None and not header.states_orientation:
            why = (f"PONI version {header.version:g}; orientation arrives with version 2.1"
                   if header.version < 2.1 else "no 'orientation' in its Detector_config")
            log.warning(
                "%s: the image orientation of the calibration cannot be checked (%s); pyFAI reads the "
                "frames in orientation 3. Set xrd.integrate.orientation: 2 for a calibration made in "
                "Dioptas (see docs/dioptas.md), or xrd.integrate.orientation: 3 to confirm pyFAI's "
                "default and silence this warning",
                self.poni, why,
            )

    def _no_pixel_size(self, header, missing: list[str]) -> tuple[str, str]:
        if self.poni is None:
            return "geometry.detector", (
                f"pyFAI's detector '{self.geometry.detector}' has no pixel size; name a detector "
                f"model, e.g. 'Pilatus1M', 'Eiger2_4M', or use a .poni file that gives the pixel sizes"
            )
        if header.version >= 2:
            what = f"{' and '.join(missing)} null or missing in its Detector_config"
        else:
            what = f"no {' and '.join('PixelSize' + k[-1] for k in missing)} line"
        return "poni", (
            f"'{self.poni}' gives no pixel size ({what}; detector "
            f"'{header.detector or 'none named'}'), so no pixel can be placed; give the pixel "
            f"sizes in metres, e.g. 'Detector_config: {_PIXEL_EXAMPLE}', or name the pyFAI "
            f"detector (e.g. 'Detector: Pilatus300k'), or give xrd.integrate.geometry instead"
        )

    def _check_images(self, shape: tuple[int, ...] | None):
        """Problems of the mask, dark and flat images (readable, detector shape, finite)."""
        for key in ("mask", "dark", "flat"):
            path = getattr(self, key)
            if path is None:
                continue
            try:
                arr = load_image(path)
            except Exception as exc:
                yield key, f"cannot read '{path}' as an image: {exc}"
                continue
            if shape is not None and arr.shape != shape:
                yield key, f"'{path}' has shape {arr.shape}, but the detector is {shape} (rows, columns)"
            elif key != "mask" and not np.all(np.isfinite(arr)):
                yield key, f"'{path}' contains NaN or infinite pixels"

    def settings(self) -> IntegrationSettings:
        return IntegrationSettings(
            npt=self.npt,
            unit=self.unit,
            radial_range=tuple(self.radial_range) if self.radial_range else None,
            azimuth_range_deg=tuple(self.azimuth_range_deg) if self.azimuth_range_deg else None,
            method=tuple(self.method.split("/")),
            polarization_factor=self.polarization_factor,
            correct_solid_angle=self.correct_solid_angle,
            error_model=self.error_model,
            mask_negative=self.mask_negative,
            dummy=self.dummy,
            delta_dummy=self.delta_dummy,
            npt_azimuthal=self.npt_azimuthal if self.cake else 0,
            opencl_device=self.opencl_device,
            opencl_fallback=self.opencl_fallback,
        )








def build_ai(cfg: IntegrateConfig):
    """The pyFAI AzimuthalIntegrator described by the recipe (file or inline geometry).

    Parameters
    ----------
    cfg : IntegrateConfig
        The ``xrd.integrate`` section: its ``.poni`` file or inline ``geometry``, then its
        ``orientation`` and ``wavelength_a`` overrides.

    Returns
    -------
    pyFAI.integrator.azimuthal.AzimuthalIntegrator
        Geometry in pyFAI's units: distances in m, wavelength in m.

    Examples
    --------
    >>> g = GeometryConfig(detector="Pilatus1M", distance_m=0.2, poni1_m=0.08, poni2_m=0.09,
    ...                    wavelength_a=0.7749)
    >>> ai = build_ai(IntegrateConfig(geometry=g, wavelength_a=0.8))
    >>> ai.dist, round(ai.wavelength * 1e10, 4), ai.detector.name
    (0.2, 0.8, 'Pilatus 1M')
    """
    import pyFAI

    if cfg.poni is not None:
        ai = pyFAI.load(str(cfg.poni))
    else:
        g = cfg.geometry
        ai = azimuthal_integrator(
            g.detector, g.distance_m, g.poni1_m, g.poni2_m, g.rot1_rad, g.rot2_rad, g.rot3_rad, g.wavelength_a
        )
    if cfg.orientation is not None:
        ai = with_orientation(ai, cfg.orientation)
    if cfg.wavelength_a is not None:
        ai.wavelength = cfg.wavelength_a * 1e-10
    return ai


def _positive(value) -> bool:
    try:
        return value is not None and float(value) > 0
    except (TypeError, ValueError):
        return False
