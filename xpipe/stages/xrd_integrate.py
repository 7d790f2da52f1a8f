"""The ``xrd`` recipe section and the stage that integrates 2D frames into a pattern stack.

Recipe keys map one-to-one onto the dataclasses below; ``docs/recipes.md`` is generated from
them. The stage hands frames to :class:`IntegrateWorker` (one per process, integrator built once)
and turns the finished chunks into ``/entry/xrd`` of the results file. A worker set up again in
the same process with the same settings and the same geometry, mask, dark and flat files reuses
the integrator built the first time (engines included), e.g. in live mode or on a Dask worker
that receives the worker again.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..io.frames import (
    FrameReader,
    FrameReadError,
    FrameRef,
    FrameTime,
    expand_inputs,
    hdf5_times,
    match_scan_log,
    mtime,
    read_header_time,
    read_scan_log,
    series_offsets,
)
from ..recipe.schema import Context, InputFile, setting
from ..xrd import integrate as _xi
from ..xrd.integrate import (
    FrameError,
    FrameIntegrator,
    IntegrationSettings,
    azimuthal_integrator,
    opencl_unavailable_message,
    orientation_of,
    parse_opencl_device,
    with_orientation,
)
from .base import Stage, StageSummary
from .xrd_phases import LatticeConfig, PeaksConfig, PhaseConfig

# ----------------------------------------------------------------------------- recipe sections


@dataclass(kw_only=True)
class ScanLogConfig:
    """A CSV with one row per frame or scan: an identifier and start (and end) times."""

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


@dataclass(kw_only=True)
class FramesConfig:
    """Which 2D frames to integrate, and where their times come from."""

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
            s = self.scan_log
            try:
                rows = read_scan_log(s.file, s.file_column, s.start_column, s.end_column)
            except (ValueError, OSError) as exc:
                yield "scan_log", str(exc)
                return
            times = match_scan_log(self._refs, rows)
            missing = [r.key for r, t in zip(self._refs, times) if t is None]
            if missing:
                yield "scan_log", (
                    f"{len(missing)} frame(s) have no row in '{s.file}', e.g. "
                    f"{os.path.basename(missing[0])}"
                )
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
    """Detector geometry in pyFAI's PONI convention, when no .poni file is given."""

    detector: str = setting(doc="pyFAI detector name, e.g. 'Pilatus1M', 'Eiger2_4M', 'Perkin'.")
    distance_m: float = setting(doc="Sample to PONI distance.", unit="m", minimum=0, exclusive_minimum=True)
    poni1_m: float = setting(doc="PONI coordinate along the slow (row) axis.", unit="m")
    poni2_m: float = setting(doc="PONI coordinate along the fast (column) axis.", unit="m")
    rot1_rad: float = setting(0.0, doc="Rotation 1 (pyFAI convention).", unit="rad")
    rot2_rad: float = setting(0.0, doc="Rotation 2 (pyFAI convention).", unit="rad")
    rot3_rad: float = setting(0.0, doc="Rotation 3 (pyFAI convention).", unit="rad")
    wavelength_a: float = setting(doc="X-ray wavelength.", unit="angstrom", minimum=0, exclusive_minimum=True)

    def check(self, ctx: Context):
        import pyFAI.detectors

        try:
            pyFAI.detector_factory(self.detector)
        except Exception:
            names = sorted(pyFAI.detectors.ALL_DETECTORS)
            close = difflib.get_close_matches(self.detector.lower(), names, n=3)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            yield "detector", f"pyFAI knows no detector '{self.detector}'{hint}"


_SPLITS = ("no", "bbox", "pseudo", "full")
_ALGOS = ("histogram", "csr", "csc", "lut")
_IMPLS = ("python", "cython", "opencl")


@dataclass(kw_only=True)
class IntegrateConfig:
    """pyFAI azimuthal integration: geometry, corrections, masks and binning."""

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
        parts = self.method.split("/")
        if len(parts) != 3 or parts[0] not in _SPLITS or parts[1] not in _ALGOS or parts[2] not in _IMPLS:
            yield "method", (
                f"expected 'split/algorithm/implementation' with split in {_SPLITS}, algorithm in "
                f"{_ALGOS}, implementation in {_IMPLS}; found '{self.method}'"
            )
            return
        if parts[2] == "opencl":
            try:
                parse_opencl_device(self.opencl_device)
            except ValueError as exc:
                yield "opencl_device", str(exc)
            else:
                if not self.opencl_fallback:
                    for dim in (1, 2) if self.cake else (1,):
                        found, reason = _xi.select_opencl(dim, parts[0], parts[1], self.opencl_device)
                        if found is None:
                            if dim == 2:
                                reason += " (needed for the caked images of 'cake: true')"
                            yield "method", opencl_unavailable_message(
                                self.method, reason, "xrd.integrate.opencl_fallback"
                            )
                            break
        if self.delta_dummy is not None and self.dummy is None:
            yield "delta_dummy", "'delta_dummy' needs 'dummy'"
        header = None
        if self.poni is not None:
            try:
                header = read_poni_header(self.poni)
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                yield "poni", f"cannot read '{self.poni}' as a PONI file: {exc}"
                return
            if header.detector is None and header.version >= 2:
                yield "poni", (
                    f"'{self.poni}' names no detector (no 'Detector:' line), so its pixel sizes are "
                    f"unknown; add the pyFAI detector name (e.g. 'Detector: Pilatus300k') or "
                    f"'Detector: Detector' with 'Detector_config: {_PIXEL_EXAMPLE}', or give "
                    f"xrd.integrate.geometry instead"
                )
                return
        try:
            ai = build_ai(self)
        except Exception as exc:
            yield ("poni" if self.poni else "geometry"), f"cannot build the geometry: {exc}"
            return
        missing = [k for k in ("pixel1", "pixel2") if not _positive(getattr(ai.detector, k, None))]
        if missing:
            if self.poni is not None:
                if header.version >= 2:
                    what = f"{' and '.join(missing)} null or missing in its Detector_config"
                else:
                    what = f"no {' and '.join('PixelSize' + k[-1] for k in missing)} line"
                yield "poni", (
                    f"'{self.poni}' gives no pixel size ({what}; detector "
                    f"'{header.detector or 'none named'}'), so no pixel can be placed; give the pixel "
                    f"sizes in metres, e.g. 'Detector_config: {_PIXEL_EXAMPLE}', or name the pyFAI "
                    f"detector (e.g. 'Detector: Pilatus300k'), or give xrd.integrate.geometry instead"
                )
            else:
                yield "geometry.detector", (
                    f"pyFAI's detector '{self.geometry.detector}' has no pixel size; name a detector "
                    f"model, e.g. 'Pilatus1M', 'Eiger2_4M', or use a .poni file that gives the pixel sizes"
                )
            return
        if self.poni is not None and self.orientation is None and not header.states_orientation:
            why = (f"PONI version {header.version:g}; orientation arrives with version 2.1"
                   if header.version < 2.1 else "no 'orientation' in its Detector_config")
            log.warning(
                "%s: the image orientation of the calibration cannot be checked (%s); pyFAI reads the "
                "frames in orientation 3. Set xrd.integrate.orientation: 2 for a calibration made in "
                "Dioptas (see docs/dioptas.md), or xrd.integrate.orientation: 3 to confirm pyFAI's "
                "default and silence this warning",
                self.poni, why,
            )
        if not ai.wavelength:
            yield "wavelength_a", "the geometry has no wavelength; set 'wavelength_a'"
        shape = tuple(ai.detector.shape) if ai.detector.shape is not None else None
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


@dataclass(kw_only=True)
class ExportConfig:
    """Extra files written beside results.h5."""

    xye: bool = setting(False, doc="Write one .xye file (radial, intensity, sigma) per frame, GSAS-II/TOPAS friendly.")


@dataclass(kw_only=True)
class XrdFiguresConfig:
    """Quick-look figures."""

    contour: bool = setting(True, doc="Draw figures/xrd_contour.png (radial axis against time).")
    contour_scale: Literal["sqrt", "log", "linear"] = setting("sqrt", doc="Colour scale of the contour map.")
    time_unit: Literal["s", "min", "h"] = setting("h", doc="Time unit on the contour map.")
    tracked: bool = setting(True, doc="With xrd.peaks: draw figures/xrd_contour_tracked.png (contour with the fitted peak positions and hkl labels).")
    lattice: bool = setting(True, doc="With xrd.phases: draw figures/lattice.png (cell parameters, volume and phase fractions against time).")


from .xrd_patterns import PatternsConfig  # noqa: E402  (after ScanLogConfig, which xrd_patterns imports)


@dataclass(kw_only=True)
class XrdConfig:
    """Operando XRD: 2D frames to integrate or 1D patterns, exports, figures, peak tracking and cells."""

    frames: FramesConfig | None = setting(None, doc="Input 2D frames (see xrd.frames); with xrd.integrate. Give these or xrd.patterns.")
    integrate: IntegrateConfig | None = setting(None, doc="Integration settings of xrd.frames (see xrd.integrate).")
    patterns: PatternsConfig | None = setting(None, doc="Already-reduced 1D patterns instead of xrd.frames and xrd.integrate (see xrd.patterns).")
    export: ExportConfig = setting(default_factory=ExportConfig, doc="Exports (see xrd.export).")
    figures: XrdFiguresConfig = setting(default_factory=XrdFiguresConfig, doc="Figures (see xrd.figures).")
    peaks: PeaksConfig | None = setting(None, doc="Track peaks through the stack (see xrd.peaks); an empty mapping takes the defaults.")
    phases: list[PhaseConfig] = setting(default_factory=list, doc="Phases to index the tracked peaks and refine cells for (see xrd.phases[]); needs xrd.peaks.")
    lattice: LatticeConfig = setting(default_factory=LatticeConfig, doc="Indexing and cell refinement (see xrd.lattice).")

    def check(self, ctx: Context):
        two_d = [k for k in ("frames", "integrate") if getattr(self, k) is not None]
        if self.patterns is not None and two_d:
            yield "patterns", (
                "give either xrd.frames with xrd.integrate (2D frames to integrate) or xrd.patterns "
                f"(1D patterns already reduced), not both; found xrd.{' and xrd.'.join(two_d)} and xrd.patterns"
            )
        elif self.patterns is None and not two_d:
            yield "frames", (
                "missing required key: give xrd.frames with xrd.integrate (2D frames to integrate), "
                "or xrd.patterns (1D patterns already reduced)"
            )
        elif self.patterns is None and self.integrate is None:
            yield "integrate", (
                "missing required key: xrd.frames (2D frames) needs xrd.integrate (the integration "
                "settings); for 1D patterns use xrd.patterns instead"
            )
        elif self.patterns is None and self.frames is None:
            yield "frames", "missing required key: xrd.integrate needs xrd.frames (the 2D frames to integrate)"
        if self.phases and self.patterns is not None and self.patterns.wavelength_a is None:
            yield "patterns.wavelength_a", (
                "xrd.phases needs the X-ray wavelength (reflection positions in 2theta, Lorentz "
                "factors); set xrd.patterns.wavelength_a in angstrom, or leave out xrd.phases to "
                "track peaks only"
            )
        if self.phases and self.peaks is None:
            yield "phases", "phases are indexed on tracked peaks: add an xrd.peaks section (an empty mapping takes the defaults)"
        names = [p.name for p in self.phases]
        for n in sorted({n for n in names if names.count(n) > 1}):
            yield "phases", f"phase name {n!r} is used twice; names must be unique"


# ----------------------------------------------------------------------------- helpers


log = logging.getLogger("xpipe")


def build_ai(cfg: IntegrateConfig):
    """The pyFAI AzimuthalIntegrator described by the recipe (file or inline geometry)."""
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


_PIXEL_EXAMPLE = '{"pixel1": 0.000172, "pixel2": 0.000172, "max_shape": [1679, 1475], "orientation": 3}'


def _positive(value) -> bool:
    try:
        return value is not None and float(value) > 0
    except (TypeError, ValueError):
        return False


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


def sha256_file(path: str, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


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


# ----------------------------------------------------------------------------- worker


_INTEGRATORS: OrderedDict[str, FrameIntegrator] = OrderedDict()
_INTEGRATORS_MAX = 2  # each holds its engines (about 160 MB for a Pilatus 1M CSR engine)
_INTEGRATORS_LOCK = threading.Lock()


def integrator_key(cfg: IntegrateConfig) -> str:
    """What an integrator depends on: every integration setting and the contents of the
    geometry, mask, dark and flat files (not only their names)."""
    h = hashlib.sha256(json.dumps(dataclasses.asdict(cfg), sort_keys=True, default=str).encode())
    for key in ("poni", "mask", "dark", "flat"):
        path = getattr(cfg, key)
        h.update(f"|{key}:{sha256_file(path) if path else ''}".encode())
    return h.hexdigest()


def cached_integrator(key: str) -> FrameIntegrator | None:
    """The integrator built in this process (or the one it was forked from) for ``key``."""
    with _INTEGRATORS_LOCK:
        fi = _INTEGRATORS.get(key)
        if fi is not None:
            _INTEGRATORS.move_to_end(key)
        return fi


def _keep_integrator(key: str, fi: FrameIntegrator) -> None:
    with _INTEGRATORS_LOCK:
        _INTEGRATORS[key] = fi
        _INTEGRATORS.move_to_end(key)
        while len(_INTEGRATORS) > _INTEGRATORS_MAX:
            _INTEGRATORS.popitem(last=False)


class IntegrateWorker:
    """Reads and integrates chunks of frames; built once per process (picklable before setup).

    ``fork_safe`` is False when the worker integrates on an OpenCL device: a process forked
    after OpenCL was loaded cannot use it (and a forked process cannot build a new pyFAI
    geometry either once the parent has run OpenMP code), so such a worker must be set up in
    each process it runs in, started with 'spawn', or run in this process alone. A forked copy
    of a worker set up here finds no usable OpenCL device: with ``opencl_fallback`` it goes on
    with the cython engine built here beside the OpenCL one, else each frame fails saying why.
    """

    def __init__(self, cfg: IntegrateConfig, refs: list[FrameRef], prefetch: int = 2) -> None:
        self.cfg = cfg
        self.refs = refs
        self.prefetch = prefetch
        self.integrator: FrameIntegrator | None = None

    @property
    def wants_opencl(self) -> bool:
        return self.cfg.method.split("/")[-1] == "opencl"

    @property
    def fork_safe(self) -> bool:
        """Whether this worker may be set up (engine built) in a process that then forks."""
        if not self.wants_opencl:
            return True
        if self.integrator is not None:
            return not self.integrator.uses_opencl
        split, algo = self.cfg.method.split("/")[:2]
        try:
            return _xi.select_opencl(1, split, algo, self.cfg.opencl_device)[0] is None
        except ValueError:
            return True

    def setup(self) -> None:
        cfg = self.cfg
        key = integrator_key(cfg)
        fi = cached_integrator(key)
        if fi is None:
            ai = build_ai(cfg)
            mask = load_image(cfg.mask) if cfg.mask else None
            dark = load_image(cfg.dark) if cfg.dark else None
            flat = load_image(cfg.flat) if cfg.flat else None
            fi = FrameIntegrator(
                ai, cfg.settings(), mask=mask, dark=dark, flat=flat, use_detector_mask=cfg.use_detector_mask
            )
            if fi.uses_opencl:
                fi.build_engines()  # an OpenCL device that cannot take the engine fails (or falls back) here
            _keep_integrator(key, fi)
        elif fi.fallback_message:
            log.warning("%s", fi.fallback_message)
        self.integrator = fi
        self.reader = FrameReader()
        self._checksums: dict[str, str] = {}

    def warm_up(self) -> None:
        """Build the integration engine(s) now, on a blank frame, so that processes forked
        afterwards share them. Not for a worker that is not ``fork_safe`` (OpenCL): its
        engine is built in each process it runs in."""
        if self.fork_safe:
            self.integrator.build_engines()

    def __getstate__(self) -> dict:
        """Only the configuration travels to spawned processes; each sets itself up there."""
        return {"cfg": self.cfg, "refs": self.refs, "prefetch": self.prefetch, "integrator": None}

    def _load(self, index: int):
        ref = self.refs[index]
        try:
            data, ftime = self.reader.read(ref)
            if ref.path not in self._checksums:
                self._checksums[ref.path] = sha256_file(ref.path)
            return data, ftime, None
        except (FrameReadError, OSError) as exc:
            return None, None, str(exc)
        except Exception as exc:  # any decoder failure is this frame's failure, not the run's
            return None, None, f"cannot read {ref.key}: {type(exc).__name__}: {exc}"

    def process(self, indices: list[int]) -> dict:
        """Integrate frames ``indices``; returns arrays for successes and reasons for failures."""
        from ..executor import prefetched

        fi = self.integrator
        rows, intens, sigmas, cakes, meta, failures = [], [], [], [], [], []
        for index, (data, ftime, err) in prefetched(self._load, indices, self.prefetch):
            ref = self.refs[index]
            if err is not None:
                failures.append((index, err))
                continue
            try:
                pattern = fi.integrate(data)
                if fi.settings.npt_azimuthal and index % self.cfg.cake_every == 0:
                    cakes.append((index, fi.cake(data)))
            except FrameError as exc:
                failures.append((index, f"{ref.key}: {exc}"))
                continue
            except Exception as exc:  # pyFAI errors on a damaged frame must not stop the run
                failures.append((index, f"{ref.key}: integration failed: {type(exc).__name__}: {exc}"))
                continue
            rows.append(index)
            intens.append(pattern.intensity)
            sigmas.append(pattern.sigma)
            meta.append(
                {
                    "index": index,
                    "header_time": ftime.start.isoformat() if ftime and ftime.start else None,
                    "exposure_s": ftime.exposure_s if ftime else None,
                    "valid_pixels": pattern.valid_pixels,
                    "sha256": self._checksums.get(ref.path),
                }
            )
            self._radial = pattern.radial
        arrays = {}
        if rows:
            arrays = {
                "index": np.asarray(rows, dtype=np.int64),
                "intensity": np.stack(intens),
                "sigma": np.stack(sigmas),
                "radial": self._radial,
            }
        if cakes:
            arrays["cake_intensity"] = np.stack([c[1].intensity for c in cakes])
            arrays["cake_azimuthal_deg"] = cakes[0][1].azimuthal_deg
        return {
            "arrays": arrays,
            "meta": meta,
            "failures": failures,
            "engine_builds": fi.engine_builds_by_process(),
            "method_used": fi.method_used,
            "cake_keys": [self.refs[c[0]].key for c in cakes],  # rows of cake_intensity
            "pid": os.getpid(),
        }


def frame_times(cfg: FramesConfig, refs: list[FrameRef], header_times: dict[int, FrameTime]) -> list[FrameTime | None]:
    """Resolve every frame's time by the recipe's ``time_source`` ('auto' falls back in order)."""
    n = len(refs)
    src = cfg.time_source
    if src in ("auto", "scan_log") and getattr(cfg, "_log_times", None) is not None:
        return list(cfg._log_times)
    out: list[FrameTime | None] = [None] * n
    if src in ("auto", "hdf5"):
        by_file: dict[str, list[int]] = {}
        for i, r in enumerate(refs):
            if r.dataset is not None:
                by_file.setdefault(r.path, []).append(i)
        for path, idx in by_file.items():
            # frames of an Eiger master's data_000002... parts continue the series of the first
            offsets = series_offsets(path, sorted({refs[i].dataset for i in idx}))
            place = {i: offsets[refs[i].dataset] + (refs[i].index or 0) for i in idx}
            times = hdf5_times(path, refs[idx[0]].dataset, max(place.values()) + 1, cfg.hdf5_time_dataset)
            if times:
                for i in idx:
                    out[i] = times[place[i]]
    if src in ("auto", "header"):
        for i, t in header_times.items():
            if out[i] is None and t is not None and t.start is not None:
                out[i] = t
    if src == "mtime" or src == "auto":
        for i, r in enumerate(refs):
            if out[i] is None and os.path.exists(r.path):
                exposure = header_times[i].exposure_s if header_times.get(i) else None
                out[i] = FrameTime(mtime(r.path), exposure, "mtime")
    if isinstance(cfg, FramesConfig):
        untimed = [refs[i].key for i in header_times if out[i] is None or out[i].start is None]
        if untimed:
            log.warning(
                "xrd frames: %d frame(s) have no time by xrd.frames.time_source '%s', e.g. %s; their "
                "frame_time_s is NaN (time_source 'none' in the results). Set xrd.frames.time_source to "
                "'mtime' or 'scan_log' (with xrd.frames.scan_log), or 'auto'",
                len(untimed), src, os.path.basename(untimed[0]),
            )
    return out


def relative_path(path: str, base: Path) -> str:
    """``path`` relative to ``base`` when it lies inside it, else unchanged."""
    try:
        rel = os.path.relpath(path, base)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


# ----------------------------------------------------------------------------- stage


class IntegrateStage(Stage):
    """Recipe stage ``xrd.integrate``: frames in, ``/entry/xrd`` of the results file out."""

    name = "xrd.integrate"
    label = "frames"

    def __init__(self, cfg: XrdConfig, base_dir: Path) -> None:
        self.cfg = cfg
        self.base_dir = Path(base_dir)
        self.refs = cfg.frames.refs
        self._keys = [r.key for r in self.refs]
        self.index_of = {k: i for i, k in enumerate(self._keys)}

    def keys(self) -> list[str]:
        return self._keys

    def fingerprint(self):
        """What the integrated stack depends on: frames, their times and the integration settings."""
        return (self.cfg.frames, self.cfg.integrate), sorted({r.path for r in self.refs})

    def worker(self) -> IntegrateWorker:
        return IntegrateWorker(self.cfg.integrate, self.refs)

    def plan_lines(self) -> list[str]:
        c = self.cfg.integrate
        first, last = self.refs[0].key, self.refs[-1].key
        geom = f"poni {relative_path(c.poni, self.base_dir)}" if c.poni else f"inline geometry ({c.geometry.detector})"
        return [
            f"first {relative_path(first, self.base_dir)}",
            f"last  {relative_path(last, self.base_dir)}",
            f"{geom}; {c.npt} bins in {c.unit}; method {c.method}; error model {c.error_model}",
            *self._opencl_lines(),
            f"frame times from: {self.cfg.frames.time_source}",
        ]

    def _opencl_lines(self) -> list[str]:
        c = self.cfg.integrate
        split, algo, impl = c.method.split("/")
        if impl != "opencl":
            return []
        found, reason = _xi.select_opencl(1, split, algo, c.opencl_device)
        if found is not None:
            return [f"OpenCL device: {found.target_name}"]
        return [f"no OpenCL device ({reason}): integrating with {split}/{algo}/cython"]

    def write(self, entry, checkpoints):
        from .xrd_results import write_xrd

        return StageSummary(**write_xrd(entry, self, checkpoints))

    def after(self, results_path: Path, outdir: Path) -> list[Path]:
        from .xrd_results import stack_outputs

        return stack_outputs(results_path, outdir, self.cfg, self.base_dir)
