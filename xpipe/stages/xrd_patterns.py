"""The ``xrd.patterns`` recipe section and the stage that reads already-reduced 1D patterns.

The alternative to ``xrd.frames`` + ``xrd.integrate`` for beamlines and lab diffractometers that
deliver 1D patterns (strip detectors such as Mythen, pyFAI exports, ``.xye`` files). The stage
reads one file per item with its worker (checkpointed like the integrate stage, so
``--resume`` works and a bad file fails alone) and writes ``/entry/xrd/integrated`` with the
datasets and attributes the 2D path writes, so peak tracking, cells, the contour map and
``xrd_frames.csv`` work unchanged. How the files were read goes to ``/entry/xrd/patterns``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from ..io.files import relative_path, sha256_file
from ..io.frames import FrameRef
from ..io.patterns import MIN_POINTS, Pattern, PatternReadError, read_pattern
from ..nexus import write_instrument
from ..recipe.sections.xrd import XrdConfig
from ..recipe.sections.xrd_patterns import PatternsConfig
from ..store import nx_group, set_attrs, write_record, write_strings
from .base import Stage, StageSummary
from .xrd_clock import frame_times
from .xrd_products import stack_outputs
from .xrd_results import (
    _collect,
    _meta_time,
    set_stack_axes,
    write_failed,
    write_frame_times,
    write_radial,
)

log = logging.getLogger("xpipe")

#: Largest relative difference between two x axes still taken as one grid.
GRID_RTOL = 1e-6

#: Characters of a file's header kept in the results file.
HEADER_CHARS = 4000

# ----------------------------------------------------------------------------- recipe section


# ----------------------------------------------------------------------------- worker


class _PatternWorker:
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
    """Recipe stage ``xrd.patterns``: 1D pattern files in, ``/entry/xrd`` of the results file out.

    Items are the pattern files; :meth:`write` turns the checkpoints into ``/entry/xrd``
    (:func:`write_patterns`) and :meth:`after` makes the frames table, contour map and
    exports, as for integrated frames.

    Parameters
    ----------
    cfg : xpipe.recipe.sections.xrd.XrdConfig
        The recipe's ``xrd`` section, with ``patterns``.
    base_dir : Path
        The recipe's folder.

    Examples
    --------
    >>> import pathlib, tempfile, h5py, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> from xpipe.store import CheckpointStore
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> x = np.linspace(10.0, 20.0, 201)
    >>> for i in range(2):  # two patterns, a peak moving to higher 2theta
    ...     y = 100 + 1000 * np.exp(-0.5 * ((x - 15 - 0.1 * i) / 0.1) ** 2)
    ...     np.savetxt(folder / f"p_{i}.xy", np.column_stack([x, y]))
    >>> _ = (folder / "recipe.yaml").write_text(
    ...     "name: patterns\\noutput: out\\n"
    ...     "xrd:\\n  patterns: {files: 'p_*.xy', time_source: mtime}\\n")
    >>> loaded = xpipe.load_recipe(folder / "recipe.yaml")
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> [pathlib.Path(k).name for k in stage.keys()], stage.plan_lines()[-1]
    (['p_0.xy', 'p_1.xy'], 'pattern times from: mtime')
    >>> worker = stage.worker()
    >>> worker.setup()
    >>> ck = CheckpointStore(folder / "checkpoints")
    >>> ck.reset({})
    >>> ck.save(0, stage.keys(), worker.process([0, 1]))
    >>> with h5py.File(folder / "results.h5", "w") as h5:
    ...     summary = stage.write(h5.create_group("entry"), ck)
    >>> summary.done, summary.failed, [f.name for f in stage.after(folder / "results.h5", folder)]
    (2, [], ['xrd_frames.csv', 'xrd_contour.png'])
    """

    name = "xrd.patterns"
    label = "patterns"

    @classmethod
    def from_recipe(cls, recipe, base_dir: Path, built: dict[str, Stage]) -> PatternStage | None:
        xrd = recipe.xrd
        return cls(xrd, base_dir) if xrd is not None and xrd.patterns is not None else None

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

    def worker(self) -> _PatternWorker:
        return _PatternWorker(self.pcfg, self.refs)

    def plan_lines(self) -> list[str]:

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
        return stack_outputs(results_path, outdir, self.cfg, self.base_dir)


# ----------------------------------------------------------------------------- results


def _pieces(arrays, name: str) -> list[np.ndarray]:
    """Split a chunk's concatenated array ``name`` back into one array per pattern."""
    ends = np.cumsum(arrays["lengths"])
    return np.split(arrays[name], ends[:-1])


def _same_grid(x: np.ndarray, ref: np.ndarray) -> bool:
    """Whether ``x`` and ``ref`` are one grid (same length, within 1e-6 relative)."""
    scale = max(float(np.max(np.abs(ref))), 1e-300) if ref.size else 1.0
    return x.size == ref.size and bool(np.all(np.abs(x - ref) <= GRID_RTOL * scale))


def onto_grid(target: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y`` (given at ``x``) at the points ``target``: copied where the points of ``x`` lie on
    the grid (rows dropped from a file stay NaN instead of being bridged), else interpolated
    linearly; NaN outside ``x``.

    Parameters
    ----------
    target : numpy.ndarray
        The grid of the stack (increasing).
    x, y : numpy.ndarray
        One pattern's radial axis (increasing) and values on it.

    Returns
    -------
    numpy.ndarray
        ``y`` on ``target`` (``y`` itself when ``x`` is the same grid, within 1e-6 relative).

    Examples
    --------
    >>> grid = np.array([10.0, 10.5, 11.0, 11.5])
    >>> onto_grid(grid, np.array([10.0, 11.0, 11.5]), np.array([1.0, 3.0, 4.0])).tolist()  # gap
    [1.0, nan, 3.0, 4.0]
    >>> onto_grid(grid, np.array([10.25, 10.75]), np.array([2.0, 4.0])).tolist()  # another grid
    [nan, 3.0, nan, nan]
    """
    if _same_grid(x, target):
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
    """Write ``/entry/xrd/{integrated,failed,patterns}`` from the patterns stage's checkpoints.

    The patterns read become the stack of the 2D path (same datasets and attributes) on one
    radial grid: the first pattern's, or the range every pattern covers (``grid: common``);
    patterns on another grid are interpolated onto it. How each file was read goes to
    ``patterns``, the files that failed to ``failed``.

    Parameters
    ----------
    entry : h5py.Group
        ``/entry`` of the results file being written.
    stage : PatternStage
        The stage: its settings (``pcfg``), file references (``refs``), ``index_of`` and
        ``base_dir``.
    checkpoints : Checkpoints
        The stage's finished chunks (``iter_chunks()`` gives ``(info, arrays)`` per chunk).

    Returns
    -------
    dict
        The stage summary: ``done`` (patterns read), ``failed`` ((source, reason) pairs),
        ``inputs`` ((path, sha256) pairs) and ``engine_builds`` (0).

    Examples
    --------
    >>> import pathlib, tempfile, h5py, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> from xpipe.store import CheckpointStore
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> x = np.linspace(10.0, 20.0, 201)
    >>> for i in range(2):  # two patterns, a peak moving to higher 2theta
    ...     y = 100 + 1000 * np.exp(-0.5 * ((x - 15 - 0.1 * i) / 0.1) ** 2)
    ...     np.savetxt(folder / f"p_{i}.xy", np.column_stack([x, y]))
    >>> _ = (folder / "recipe.yaml").write_text(
    ...     "name: patterns\\noutput: out\\n"
    ...     "xrd:\\n  patterns: {files: 'p_*.xy', time_source: mtime}\\n")
    >>> loaded = xpipe.load_recipe(folder / "recipe.yaml")
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> worker = stage.worker()
    >>> worker.setup()
    >>> ck = CheckpointStore(folder / "checkpoints")
    >>> ck.reset({})
    >>> ck.save(0, stage.keys(), worker.process([0, 1]))
    >>> with h5py.File(folder / "results.h5", "w") as h5:
    ...     summary = write_patterns(h5.create_group("entry"), stage, ck)
    ...     h5["entry/xrd/integrated/intensity"].shape, h5["entry/xrd/patterns/grid_used"][()]
    ((2, 201), b'as_read')
    >>> summary["done"], summary["failed"]
    (2, [])
    """
    cfg = stage.pcfg
    refs = stage.refs
    ok, failed, *_ = _collect(stage, checkpoints)
    order = sorted(ok)
    n = len(order)
    at, moved, (target, handling, grid_used) = _stack_grid(cfg, refs, checkpoints, ok, order)

    xrd = nx_group(entry, "xrd", "NXsubentry", default="integrated")
    entry.attrs["default"] = "xrd"
    data = nx_group(xrd, "integrated", "NXdata", signal="intensity")
    valid = _write_stack(data, checkpoints, at, order, target, cfg.error_model)
    write_radial(data, target, cfg.unit, cfg.wavelength_a,
                 bool(target.size and (cfg.wavelength_a or cfg.unit != "2th_deg")))

    _write_pattern_times(data, cfg, refs, ok, order)
    vp = data.create_dataset("valid_points", data=valid)
    set_attrs(vp, long_name="finite points of each pattern on the radial axis")
    set_stack_axes(data)

    write_failed(xrd, refs, failed)
    proc = _write_reading(xrd, cfg, refs, order, n, len(failed), grid_used, handling, len(moved))
    per_file = _write_files(proc, stage, ok, moved)
    return {
        "done": n,
        "failed": [(refs[i].key, failed[i]) for i in sorted(failed)],
        "inputs": _inputs(cfg, refs, ok, per_file),
        "engine_builds": 0,
    }


def _stack_grid(cfg: PatternsConfig, refs, checkpoints, ok: dict, order: list[int]):
    """Where each pattern read lies in the chunks ({chunk: {row: pattern index}}), the patterns
    not on the first one's grid, and :func:`_target_grid`'s grid of the stack."""
    at: dict[int, dict[int, int]] = {}  # chunk -> {row in chunk: pattern index}
    for idx, (c, row, _) in ok.items():
        at.setdefault(c, {})[row] = idx
    ref = _reference_grid(checkpoints, ok, order)
    span, moved = _grid_spans(checkpoints, at, ref)
    ref_name = os.path.basename(refs[order[0]].path) if order else ""
    return at, moved, _target_grid(cfg, ref, span, moved, ref_name)


def _write_pattern_times(data, cfg: PatternsConfig, refs, ok: dict, order: list[int]) -> None:
    """The frame axis of the stack; a warning names the patterns that have no time."""
    header_times = {idx: _meta_time(meta) for idx, (_, _, meta) in ok.items()}
    times = frame_times(cfg, refs, header_times)
    untimed = [os.path.basename(refs[i].path) for i in order
               if times[i] is None or times[i].start is None]
    if untimed:
        log.warning("xrd patterns: %d pattern(s) have no time (time_source '%s'), e.g. %s; "
                    "their frame_time_s is NaN", len(untimed), cfg.time_source, untimed[0])
    write_frame_times(data, refs, order, times)


def _inputs(cfg: PatternsConfig, refs, ok: dict,
            per_file: list[dict]) -> list[tuple[str, str | None]]:
    """(path, sha256) of the files read and the scan log; a warning counts the rows dropped."""
    inputs = {refs[i].path: meta.get("sha256") for i, (_, _, meta) in ok.items()}
    if cfg.scan_log is not None:
        inputs[cfg.scan_log.file] = sha256_file(cfg.scan_log.file)
    dropped = sum(m.get("dropped_rows", 0) for m in per_file)
    if dropped:
        log.warning("xrd patterns: %d NaN or non-numeric data row(s) dropped "
                    "(see /entry/xrd/patterns/dropped_rows)", dropped)
    return sorted(inputs.items())


def _reference_grid(checkpoints, ok: dict, order: list[int]) -> np.ndarray:
    """The x axis of the first pattern read (empty when none was)."""
    ref = np.zeros(0)
    if order:
        c_ref, row_ref, _ = ok[order[0]]
        for c, (_, arrays) in enumerate(checkpoints.iter_chunks()):
            if c == c_ref:
                ref = _pieces(arrays, "x")[row_ref].copy()
                break
    return ref


def _grid_spans(checkpoints, at: dict[int, dict[int, int]],
                ref: np.ndarray) -> tuple[dict[int, tuple[float, float]], set[int]]:
    """The (first, last) x of every pattern read, and the patterns whose grid is not ``ref``."""
    span: dict[int, tuple[float, float]] = {}
    moved: set[int] = set()
    for c, (_, arrays) in enumerate(checkpoints.iter_chunks()):
        if c not in at:
            continue
        for row, x in enumerate(_pieces(arrays, "x")):
            idx = at[c].get(row)
            if idx is not None:
                span[idx] = (float(x[0]), float(x[-1]))
                if not _same_grid(x, ref):
                    moved.add(idx)
    return span, moved


def _target_grid(cfg: PatternsConfig, ref: np.ndarray, span: dict[int, tuple[float, float]], moved: set[int],
                 ref_name: str) -> tuple[np.ndarray, str, str]:
    """The grid of the stack, how the patterns were brought onto it (a sentence, also logged)
    and its name for the record: ``as_read``, ``first`` or ``common``."""
    target, handling, grid_used = ref, "as read: all patterns share one grid", "as_read"
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
    return target, handling, grid_used


def _write_stack(data, checkpoints, at: dict[int, dict[int, int]], order: list[int], target: np.ndarray,
                 error_model: str) -> np.ndarray:
    """``intensity`` and ``sigma`` of the stack in ``data`` on the grid ``target``, one row per
    pattern of ``order``; returns the finite points of each row."""
    n = len(order)
    row_of = {idx: r for r, idx in enumerate(order)}
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
    set_attrs(intensity, units="counts", long_name="intensity (as in the pattern files)")
    model = {"file": "from the files' sigma column", "poisson": "poisson: sqrt(max(I, 1))", "none": "none"}[error_model]
    set_attrs(sigma, units="counts", long_name=f"standard uncertainty ({model})")
    data["intensity_errors"] = sigma  # NeXus convention: <signal>_errors (a link, no copy)
    return valid


def _write_reading(xrd, cfg: PatternsConfig, refs, order: list[int], n_read: int, n_failed: int, grid_used: str,
                   handling: str, n_moved: int):
    """``/entry/xrd/patterns``: how the files were read and brought onto one grid; returns the group."""
    proc = nx_group(xrd, "patterns", "NXparameters")
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
        "n_interpolated": n_moved,
        "scan_log_file": cfg.scan_log.file if cfg.scan_log else None,
        "n_files_requested": len(refs),
        "n_patterns_read": n_read,
        "n_files_failed": n_failed,
    }
    write_record(proc, {k: v for k, v in rec.items() if v is not None})
    proc.create_dataset("settings_json", data=json.dumps(rec, default=str))
    write_instrument(xrd.parent, "xrd", wavelength_a=cfg.wavelength_a)
    return proc


def _write_files(proc, stage: PatternStage, ok: dict, moved: set[int]) -> list[dict]:
    """One row per file asked for in ``proc``: name, status, checksum, reader, sigma source,
    points, dropped rows, interpolation and header; returns each file's metadata ({} if failed)."""
    refs = stage.refs
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
    return per_file
