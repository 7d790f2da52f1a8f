"""The ``xrd.patterns`` recipe section and the stage that reads already-reduced 1D patterns.

The alternative to ``xrd.frames`` + ``xrd.integrate`` for beamlines and lab diffractometers that
deliver 1D patterns (strip detectors such as Mythen, pyFAI exports, ``.xye`` files). The stage
reads one file per item with :class:`PatternWorker` (checkpointed like the integrate stage, so
``--resume`` works and a bad file fails alone) and writes ``/entry/xrd/integrated`` with the
datasets and attributes the 2D path writes, so peak tracking, cells, the contour map and
``xrd_frames.csv`` work unchanged. How the files were read goes to ``/entry/xrd/patterns``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..io.frames import FrameRef, expand_inputs, match_scan_log, read_scan_log
from ..io.patterns import MIN_POINTS, READERS, Pattern, PatternReadError, read_pattern
from ..recipe.schema import Context, setting
from ..store import nx_group, set_attrs, write_record, write_strings
from ..xrd.integrate import RADIAL_AXES, d_spacing_a
from .base import Stage, StageSummary

if TYPE_CHECKING:
    from .xrd_integrate import XrdConfig

log = logging.getLogger("xpipe")

#: Largest relative difference between two x axes still taken as one grid.
GRID_RTOL = 1e-6

#: Characters of a file's header kept in the results file.
HEADER_CHARS = 4000

# ----------------------------------------------------------------------------- recipe section


@dataclass(kw_only=True)
class PatternsConfig:
    """Already-reduced 1D patterns, one file per time step, instead of 2D frames."""

    files: str | list[str] = setting(
        doc="Pattern files: a glob ('xrd_data/*.xye') or a list of paths or globs, sorted "
        "naturally (scan_2 before scan_10). Read are .xye (x, intensity, sigma), .xy/.dat/.txt/"
        ".csv (2 or 3 columns; '#' and text header lines are skipped and kept), Fit2D .chi and "
        "GSAS .fxye."
    )
    unit: Literal["2th_deg", "q_A^-1", "q_nm^-1"] = setting(
        "2th_deg", doc="Unit of the files' x column: 2theta in degrees, or Q in 1/angstrom or 1/nm."
    )
    wavelength_a: float | None = setting(
        None,
        doc="X-ray wavelength. Required for xrd.phases (indexing, cells, phase fractions) and for "
        "the d-spacing axis of 2theta patterns; without it peaks are tracked on the axis as read. "
        "Never guessed.",
        unit="angstrom",
        minimum=0,
        exclusive_minimum=True,
    )
    columns: list[int] | None = setting(
        None,
        doc="0-based column numbers of x, intensity and optionally sigma, for files with more "
        "than 3 columns; default: 2 columns are (x, intensity), 3 are (x, intensity, sigma).",
        minimum=0,
    )
    error_model: Literal["file", "poisson", "none"] = setting(
        "file",
        doc="Uncertainty of each point: 'file' the files' sigma column (NaN where a file has none), "
        "'poisson' sqrt(max(intensity, 1)) (raw counts only), 'none' (sigma stored as NaN).",
    )
    time_source: Literal["auto", "scan_log", "header", "mtime"] = setting(
        "auto",
        doc="Pattern time from the scan log, a header line holding a date (ISO 8601 and the "
        "formats detectors write), or the file modification time. 'auto': scan log if given, "
        "else header, else modification time.",
    )
    scan_log: ScanLogConfig | None = setting(
        None, doc="Scan-log CSV giving pattern times (file name, stem or scan id the name starts with)."
    )
    range: list[float] | None = setting(
        None,
        doc="Keep only points from low to high, in 'unit', as the files are read; default all.",
        length=2,
        increasing=True,
    )
    grid: Literal["common", "first"] = setting(
        "common",
        doc="When the files' x axes differ (by more than 1e-6 relative), every pattern is "
        "interpolated linearly onto the first pattern's points: 'common' keeps the range all "
        "patterns cover, 'first' the first pattern's whole range (NaN where a pattern has no "
        "data). Identical axes are used as read.",
    )

    def check(self, ctx: Context):
        try:
            self._refs = expand_inputs(self.files, ctx.base_dir)
        except (FileNotFoundError, ValueError) as exc:
            yield "files", str(exc)
            return
        stacks = [r for r in self._refs if r.dataset is not None]
        if stacks:
            yield "files", (
                f"'{stacks[0].path}' is an HDF5 frame stack; xrd.patterns reads 1D pattern files "
                "(HDF5 frames go to xrd.frames with xrd.integrate)"
            )
            return
        unknown = [r.path for r in self._refs if os.path.splitext(r.path)[1].lower() not in READERS]
        if unknown:
            yield "files", (
                f"{len(unknown)} file(s) of an unknown pattern format, e.g. '{os.path.basename(unknown[0])}'; "
                f"read are {', '.join(sorted(READERS))}"
            )
            return
        if self.columns is not None:
            if len(self.columns) not in (2, 3) or len(set(self.columns)) != len(self.columns):
                yield "columns", (
                    f"expected 2 or 3 different column numbers (x, intensity[, sigma]), found {self.columns}"
                )
            elif self.error_model == "file" and len(self.columns) == 2:
                yield "columns", "error_model 'file' needs a sigma column: name 3 columns, or use 'poisson' or 'none'"
        if self.time_source == "scan_log" and self.scan_log is None:
            yield "scan_log", "time_source is 'scan_log' but no scan_log is given"
            return
        self._log_times = None
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
                    f"{len(missing)} pattern file(s) have no row in '{s.file}', e.g. "
                    f"{os.path.basename(missing[0])}"
                )
            self._log_times = times

    @property
    def refs(self) -> list[FrameRef]:
        return self._refs


# ----------------------------------------------------------------------------- worker


class PatternWorker:
    """Reads chunks of pattern files; nothing to build, so every process sets itself up at once."""

    def __init__(self, cfg: PatternsConfig, refs: list[FrameRef]) -> None:
        self.cfg = cfg
        self.refs = refs

    def setup(self) -> None:
        self._checksums: dict[str, str] = {}

    def __getstate__(self) -> dict:
        return {"cfg": self.cfg, "refs": self.refs}

    def read(self, index: int) -> tuple[Pattern, np.ndarray, str]:
        """Pattern ``index``, cropped to the recipe's range, with its sigma by the error model
        and a word on where that sigma came from."""
        cfg = self.cfg
        pattern = read_pattern(self.refs[index].path, unit=cfg.unit, columns=cfg.columns)
        if cfg.range is not None:
            pattern = pattern.cropped(*cfg.range)
        if cfg.error_model == "poisson":
            sigma, source = np.sqrt(np.maximum(pattern.intensity, 1.0)), "poisson"
        elif cfg.error_model == "file" and pattern.sigma is not None:
            sigma, source = pattern.sigma, "file"
        else:
            why = "none" if cfg.error_model == "none" else "none (the file has no sigma column)"
            sigma, source = np.full(pattern.n_points, np.nan), why
        return pattern, sigma, source

    def process(self, indices: list[int]) -> dict:
        """Read files ``indices``; returns concatenated arrays for successes and reasons for
        failures (``lengths`` splits the arrays, one piece per pattern)."""
        from .xrd_integrate import sha256_file

        rows, xs, intens, sigmas, meta, failures = [], [], [], [], [], []
        for index in indices:
            ref = self.refs[index]
            try:
                pattern, sigma, source = self.read(index)
                if ref.path not in self._checksums:
                    self._checksums[ref.path] = sha256_file(ref.path)
            except (PatternReadError, OSError) as exc:
                failures.append((index, str(exc)))
                continue
            except Exception as exc:  # any parser failure is this file's failure, not the run's
                failures.append((index, f"cannot read {ref.key}: {type(exc).__name__}: {exc}"))
                continue
            t = pattern.time
            rows.append(index)
            xs.append(pattern.x)
            intens.append(pattern.intensity)
            sigmas.append(sigma)
            meta.append(
                {
                    "index": index,
                    "header_time": t.start.isoformat() if t and t.start else None,
                    "exposure_s": t.exposure_s if t else None,
                    "sha256": self._checksums.get(ref.path),
                    "n_points": pattern.n_points,
                    "dropped_rows": pattern.dropped_rows,
                    "reader": pattern.reader,
                    "sigma_source": source,
                    "header": "\n".join(pattern.header_lines)[:HEADER_CHARS],
                }
            )
        arrays = {}
        if rows:
            arrays = {
                "index": np.asarray(rows, dtype=np.int64),
                "lengths": np.asarray([x.size for x in xs], dtype=np.int64),
                "x": np.concatenate(xs),
                "intensity": np.concatenate(intens),
                "sigma": np.concatenate(sigmas),
            }
        return {"arrays": arrays, "meta": meta, "failures": failures, "engine_builds": {},
                "method_used": None, "pid": os.getpid()}


# ----------------------------------------------------------------------------- stage


class PatternStage(Stage):
    """Recipe stage ``xrd.patterns``: 1D pattern files in, ``/entry/xrd`` of the results file out."""

    name = "xrd.patterns"
    label = "patterns"

    def __init__(self, cfg: XrdConfig, base_dir: Path) -> None:
        self.cfg = cfg
        self.pcfg: PatternsConfig = cfg.patterns
        self.base_dir = Path(base_dir)
        self.refs = self.pcfg.refs
        self._keys = [r.key for r in self.refs]
        self.index_of = {k: i for i, k in enumerate(self._keys)}

    def keys(self) -> list[str]:
        return self._keys

    def fingerprint(self):
        """What the pattern stack depends on: the files, their times and the reading settings."""
        return (self.pcfg,), sorted({r.path for r in self.refs})

    def worker(self) -> PatternWorker:
        return PatternWorker(self.pcfg, self.refs)

    def plan_lines(self) -> list[str]:
        from .xrd_integrate import relative_path

        c = self.pcfg
        wl = f"wavelength {c.wavelength_a} A" if c.wavelength_a else "no wavelength (no d axis, no phases)"
        rng = f", cropped to {list(c.range)}" if c.range else ""
        return [
            f"first {relative_path(self.refs[0].key, self.base_dir)}",
            f"last  {relative_path(self.refs[-1].key, self.base_dir)}",
            f"x in {c.unit}{rng}; {wl}; error model {c.error_model}; differing grids: {c.grid}",
            f"pattern times from: {c.time_source}",
        ]

    def write(self, entry, checkpoints):

        return StageSummary(**write_patterns(entry, self, checkpoints))

    def after(self, results_path: Path, outdir: Path) -> list[Path]:
        from .xrd_results import stack_outputs

        return stack_outputs(results_path, outdir, self.cfg, self.base_dir)


# ----------------------------------------------------------------------------- results


def _pieces(arrays, name: str) -> list[np.ndarray]:
    """Split a chunk's concatenated array ``name`` back into one array per pattern."""
    ends = np.cumsum(arrays["lengths"])
    return np.split(arrays[name], ends[:-1])


def same_grid(x: np.ndarray, ref: np.ndarray) -> bool:
    """Whether ``x`` and ``ref`` are one grid (same length, within 1e-6 relative)."""
    scale = max(float(np.max(np.abs(ref))), 1e-300) if ref.size else 1.0
    return x.size == ref.size and bool(np.all(np.abs(x - ref) <= GRID_RTOL * scale))


def onto_grid(target: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y`` (given at ``x``) at the points ``target``: copied where the points of ``x`` lie on
    the grid (rows dropped from a file stay NaN instead of being bridged), else interpolated
    linearly; NaN outside ``x``."""
    if same_grid(x, target):
        return y
    out = np.full(target.size, np.nan)
    if not target.size:
        return out
    tol = GRID_RTOL * max(float(np.max(np.abs(target))), 1e-300)
    pos = np.clip(np.searchsorted(target, x), 0, target.size - 1)
    prev = np.clip(pos - 1, 0, target.size - 1)
    nearest = np.where(np.abs(target[prev] - x) < np.abs(target[pos] - x), prev, pos)
    within = (x >= target[0] - tol) & (x <= target[-1] + tol)
    if np.all(np.abs(target[nearest] - x)[within] <= tol):
        out[nearest[within]] = y[within]
        return out
    inside = (target >= x[0]) & (target <= x[-1])
    out[inside] = np.interp(target[inside], x, y)
    return out


def write_patterns(entry, stage: PatternStage, checkpoints) -> dict:
    """Write ``/entry/xrd/{integrated,failed,patterns}``; returns the stage summary."""
    from .xrd_integrate import frame_times, relative_path, sha256_file
    from .xrd_results import _collect, _meta_time, _relative_times, write_failed

    cfg = stage.pcfg
    refs = stage.refs
    ok, failed, _, _ = _collect(stage, checkpoints)
    order = sorted(ok)
    row_of = {idx: r for r, idx in enumerate(order)}
    n = len(order)
    at: dict[int, dict[int, int]] = {}  # chunk -> {row in chunk: pattern index}
    for idx, (c, row, _) in ok.items():
        at.setdefault(c, {})[row] = idx

    # the first pattern's grid, then how every other pattern's grid compares with it
    ref = np.zeros(0)
    if order:
        c_ref, row_ref, _ = ok[order[0]]
        for c, (_, arrays) in enumerate(checkpoints.iter_chunks()):
            if c == c_ref:
                ref = _pieces(arrays, "x")[row_ref].copy()
                break
    span: dict[int, tuple[float, float]] = {}
    moved: set[int] = set()
    for c, (_, arrays) in enumerate(checkpoints.iter_chunks()):
        if c not in at:
            continue
        for row, x in enumerate(_pieces(arrays, "x")):
            idx = at[c].get(row)
            if idx is not None:
                span[idx] = (float(x[0]), float(x[-1]))
                if not same_grid(x, ref):
                    moved.add(idx)
    target, handling, grid_used = ref, "as read: all patterns share one grid", "as_read"
    ref_name = os.path.basename(refs[order[0]].path) if order else ""
    if moved:
        target, grid_used = ref, "first"
        handling = (f"{len(moved)} pattern(s) interpolated linearly (intensity and sigma) onto the "
                    f"grid of the first pattern, {ref_name}")
        if cfg.grid == "common":
            lo = max(s[0] for s in span.values())
            hi = min(s[1] for s in span.values())
            tol = GRID_RTOL * float(np.max(np.abs(ref)))
            common = ref[(ref >= lo - tol) & (ref <= hi + tol)]
            if common.size >= MIN_POINTS:
                target, grid_used = common, "common"
                handling += f", kept from {lo:g} to {hi:g} {cfg.unit} (the range every pattern covers)"
            else:
                log.warning("xrd patterns: the patterns share no common range of %d points or more; "
                            "using the first pattern's whole grid", MIN_POINTS)
                handling += " (no common range of 10 points: the first pattern's whole grid, NaN outside each pattern)"
        else:
            handling += ", NaN outside each pattern's own range"
        log.info("xrd patterns: %s", handling)

    xrd = nx_group(entry, "xrd", "NXsubentry", default="integrated")
    entry.attrs["default"] = "xrd"
    data = nx_group(xrd, "integrated", "NXdata", signal="intensity")
    npt = target.size
    chunks = (min(max(n, 1), 64), max(npt, 1))
    intensity = data.create_dataset("intensity", (n, npt), np.float32, chunks=chunks if n and npt else None)
    sigma = data.create_dataset("sigma", (n, npt), np.float32, chunks=chunks if n and npt else None)
    valid = np.zeros(n, dtype=np.int64)
    for c, (_, arrays) in enumerate(checkpoints.iter_chunks()):
        if c not in at:
            continue
        for row, (x, y, s) in enumerate(zip(*(_pieces(arrays, k) for k in ("x", "intensity", "sigma")))):
            idx = at[c].get(row)
            if idx is None:
                continue
            yi = onto_grid(target, x, y)
            intensity[row_of[idx]] = yi
            sigma[row_of[idx]] = onto_grid(target, x, s)
            valid[row_of[idx]] = int(np.isfinite(yi).sum())
    set_attrs(intensity, units="counts (as in the pattern files)", long_name="intensity")
    model = {"file": "from the files' sigma column", "poisson": "poisson: sqrt(max(I, 1))", "none": "none"}[cfg.error_model]
    set_attrs(sigma, units="counts (as in the pattern files)", long_name=f"standard uncertainty ({model})")
    data["intensity_errors"] = sigma  # NeXus convention: <signal>_errors (a link, no copy)

    axis_name, axis_units = RADIAL_AXES[cfg.unit]
    rad = data.create_dataset("radial", data=target)
    set_attrs(rad, units=axis_units, long_name=axis_name, pyfai_unit=cfg.unit)
    data[axis_name] = rad  # unit-named alias of the same data
    if target.size and (cfg.wavelength_a or cfg.unit != "2th_deg"):
        dsp = data.create_dataset("d_spacing_a", data=d_spacing_a(target, cfg.unit, cfg.wavelength_a))
        set_attrs(dsp, units="angstrom", long_name="d-spacing (derived from the radial axis)")

    header_times = {idx: _meta_time(meta) for idx, (_, _, meta) in ok.items()}
    times = frame_times(cfg, refs, header_times)
    mid, exposure, t0 = _relative_times([times[i] for i in order])
    untimed = [os.path.basename(refs[i].path) for i in order if times[i] is None or times[i].start is None]
    if untimed:
        log.warning("xrd patterns: %d pattern(s) have no time (time_source '%s'), e.g. %s; their frame_time_s is NaN",
                    len(untimed), cfg.time_source, untimed[0])
    ft = data.create_dataset("frame_time_s", data=mid)
    set_attrs(ft, units="s", long_name="mid-exposure time after start_time", start_time=t0)
    data.create_dataset("exposure_s", data=exposure).attrs["units"] = "s"
    write_strings(data, "time_source", [times[i].source if times[i] else "none" for i in order])
    data.create_dataset("frame_index", data=np.asarray(order, dtype=np.int64))
    write_strings(data, "source_file", [refs[i].key for i in order])
    vp = data.create_dataset("valid_points", data=valid)
    set_attrs(vp, long_name="finite points of each pattern on the radial axis")
    data.attrs["axes"] = ["frame_time_s", "radial"]
    data.attrs["frame_time_s_indices"] = 0
    data.attrs["radial_indices"] = 1

    write_failed(xrd, refs, failed)

    proc = nx_group(xrd, "patterns", "NXprocess")
    proc.create_dataset("program", data="xpipe.io.patterns")
    rec = {
        "unit": cfg.unit,
        "wavelength_a": cfg.wavelength_a,
        "error_model": cfg.error_model,
        "time_source": cfg.time_source,
        "range": list(cfg.range) if cfg.range else None,
        "columns": list(cfg.columns) if cfg.columns else None,
        "grid": cfg.grid,
        "grid_used": grid_used,
        "grid_handling": handling,
        "grid_reference_file": refs[order[0]].key if order else None,
        "n_interpolated": len(moved),
        "scan_log_file": cfg.scan_log.file if cfg.scan_log else None,
        "n_files_requested": len(refs),
        "n_patterns_read": n,
        "n_files_failed": len(failed),
    }
    write_record(proc, {k: v for k, v in rec.items() if v is not None})
    proc.create_dataset("settings_json", data=json.dumps(rec, default=str))
    meta_of = {idx: m for idx, (_, _, m) in ok.items()}
    per_file = [meta_of.get(i, {}) for i in range(len(refs))]
    write_strings(proc, "files", [relative_path(r.key, stage.base_dir) for r in refs])
    write_strings(proc, "status", ["ok" if i in meta_of else "failed" for i in range(len(refs))])
    write_strings(proc, "sha256", [m.get("sha256") or "" for m in per_file])
    write_strings(proc, "reader", [m.get("reader", "") for m in per_file])
    write_strings(proc, "sigma_source", [m.get("sigma_source", "") for m in per_file])
    proc.create_dataset("n_points", data=np.asarray([m.get("n_points", 0) for m in per_file], dtype=np.int64))
    proc.create_dataset("dropped_rows", data=np.asarray([m.get("dropped_rows", 0) for m in per_file], dtype=np.int64))
    proc.create_dataset("interpolated", data=np.asarray([i in moved for i in range(len(refs))], dtype=bool))
    write_strings(proc, "header", [m.get("header", "") for m in per_file])

    inputs = {refs[i].path: meta.get("sha256") for i, (_, _, meta) in ok.items()}
    if cfg.scan_log is not None:
        inputs[cfg.scan_log.file] = sha256_file(cfg.scan_log.file)
    dropped = sum(m.get("dropped_rows", 0) for m in per_file)
    if dropped:
        log.warning("xrd patterns: %d NaN or non-numeric data row(s) dropped (see /entry/xrd/patterns/dropped_rows)", dropped)
    return {
        "done": n,
        "failed": [(refs[i].key, failed[i]) for i in sorted(failed)],
        "inputs": sorted(inputs.items()),
        "engine_builds": 0,
    }


from .xrd_integrate import ScanLogConfig  # noqa: E402  (after PatternsConfig: the two modules import each other)
