"""Writing ``/entry/xrd`` from the integrate stage's checkpoints, and what is made from it (for
stacks read from 1D pattern files too): the frames table, the contour map and the per-frame
``.xye`` exports."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import numpy as np

from ..io.files import relative_path, sha256_file
from ..io.frames import FrameTime
from ..io.geometry import geometry_record
from ..recipe.sections.xrd_frames import build_ai
from ..results import open_results
from ..store import nx_group, set_attrs, write_record, write_strings
from ..xrd.geometry import d_spacing_a
from ..xrd.integrate import RADIAL_AXES
from .output import pyplot
from .xrd_clock import frame_times


def _collect(stage, checkpoints):
    """Which chunk row holds each frame (later results override earlier failures)."""
    index_of = stage.index_of
    ok: dict[int, tuple[int, int, dict]] = {}
    failed: dict[int, str] = {}
    builds: dict[int, int] = {}
    method_used = None
    for c, (info, _) in enumerate(checkpoints.iter_chunks()):
        extra = info["extra"]
        for pid, n in extra["engine_builds"].items():  # per process; forked copies repeat the parent's
            builds[int(pid)] = max(builds.get(int(pid), 0), n)
        method_used = extra.get("method_used") or method_used
        for row, (key, meta) in enumerate(zip(info["ok_keys"], info["meta"])):
            if key in index_of:
                ok[index_of[key]] = (c, row, meta)
                failed.pop(index_of[key], None)
        for key, reason in info["failures"]:
            if key in index_of and index_of[key] not in ok:
                failed[index_of[key]] = reason
    return ok, failed, sum(builds.values()), method_used


def _relative_times(times: list[FrameTime | None]) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(mid-exposure seconds after the first start, exposure seconds, ISO first start)."""
    starts = [t.start if t else None for t in times]
    known = [s for s in starts if s is not None]
    if not known:
        return np.full(len(times), np.nan), np.full(len(times), np.nan), None
    if any(s.tzinfo for s in known) and any(s.tzinfo is None for s in known):
        starts = [s.astimezone().replace(tzinfo=None) if s and s.tzinfo else s for s in starts]
        known = [s for s in starts if s is not None]
    t0: datetime = min(known)
    exposure = np.array([t.exposure_s if t and t.exposure_s is not None else np.nan for t in times])
    rel = np.array([(s - t0).total_seconds() if s else np.nan for s in starts])
    mid = rel + np.where(np.isfinite(exposure), exposure / 2.0, 0.0)
    return mid, exposure, t0.isoformat()


def write_xrd(entry, stage, checkpoints) -> dict:
    """Write ``/entry/xrd/{integrated,failed,integration[,cake]}`` from the integrate stage's checkpoints.

    The stack holds the integrated frames in frame order, with the radial axis, frame times and
    valid pixels; frames that failed go to ``failed``, the settings and geometry to
    ``integration``, and the 2D cakes, where asked for, to ``cake``.

    Parameters
    ----------
    entry : h5py.Group
        ``/entry`` of the results file being written.
    stage : IntegrateStage
        The stage: its settings (``cfg``), frame references (``refs``) and ``index_of``.
    checkpoints : Checkpoints
        The stage's finished chunks (``iter_chunks()`` gives ``(info, arrays)`` per chunk).

    Returns
    -------
    dict
        The stage summary: ``done`` (frames integrated), ``failed`` ((source, reason) pairs),
        ``inputs`` ((path, sha256) pairs) and ``engine_builds``.
    """
    cfg = stage.cfg.integrate
    refs = stage.refs
    ok, failed, engine_builds, method_used = _collect(stage, checkpoints)
    order = sorted(ok)

    xrd = nx_group(entry, "xrd", "NXsubentry", default="integrated")
    entry.attrs["default"] = "xrd"
    data = nx_group(xrd, "integrated", "NXdata", signal="intensity")
    ai = build_ai(cfg)
    settings = cfg.settings()
    radial, cake_rows, cake_azim = _write_integrated(data, stage, checkpoints, ok, order, settings.error_model)
    wavelength_a = ai.wavelength * 1e10 if ai.wavelength else None
    write_radial(data, radial, settings.unit, wavelength_a, bool(radial.size and wavelength_a))

    header_times = {idx: _meta_time(meta) for idx, (_, _, meta) in ok.items()}
    times = frame_times(stage.cfg.frames, refs, header_times)
    write_frame_times(data, refs, order, times)
    data.create_dataset("valid_pixels", data=np.asarray([ok[i][2]["valid_pixels"] for i in order], dtype=np.int64))
    set_stack_axes(data)

    write_failed(xrd, refs, failed)
    if cake_rows:
        _write_cake(xrd, cake_rows, cake_azim, radial, settings.unit)
    _write_integration(xrd, stage, ai, settings, method_used, engine_builds, len(order), len(failed))

    inputs = {}
    for i, (_, _, meta) in ok.items():
        inputs[refs[i].path] = meta.get("sha256")
    for key in ("poni", "mask", "dark", "flat"):
        p = getattr(cfg, key)
        if p:
            inputs[p] = sha256_file(p)
    return {
        "done": len(order),
        "failed": [(refs[i].key, failed[i]) for i in sorted(failed)],
        "inputs": sorted(inputs.items()),
        "engine_builds": engine_builds,
    }


def _write_integrated(data, stage, checkpoints, ok: dict, order: list[int],
                      error_model: str) -> tuple[np.ndarray, list[tuple[int, np.ndarray]], np.ndarray | None]:
    """``intensity`` and ``sigma`` of the stack in ``data``, one row per frame of ``order``, from
    the chunk that holds each frame; returns the radial axis and the cakes found on the way
    (frame index, cake) with their azimuthal axis."""
    n = len(order)
    row_of = {idx: r for r, idx in enumerate(order)}
    radial = None
    intensity = sigma = None
    cake_rows: list[tuple[int, np.ndarray]] = []
    cake_azim = None
    for c, (info, arrays) in enumerate(checkpoints.iter_chunks()):
        if "index" not in arrays.files:
            continue
        if radial is None:
            radial = arrays["radial"]
            intensity = data.create_dataset("intensity", (n, radial.size), np.float32, chunks=(min(max(n, 1), 64), radial.size))
            sigma = data.create_dataset("sigma", (n, radial.size), np.float32, chunks=(min(max(n, 1), 64), radial.size))
        block_i, block_s = arrays["intensity"], arrays["sigma"]
        for row, key in enumerate(info["ok_keys"]):
            idx = stage.index_of.get(key)
            if idx is not None and ok.get(idx, (None,))[0] == c:
                intensity[row_of[idx]] = block_i[row]
                sigma[row_of[idx]] = block_s[row]
        if "cake_intensity" in arrays.files:
            cake_azim = arrays["cake_azimuthal_deg"]
            for j, key in enumerate(info["extra"]["cake_keys"]):
                if stage.index_of.get(key) in ok:
                    cake_rows.append((stage.index_of[key], arrays["cake_intensity"][j]))
    if radial is None:  # every frame failed: keep the layout, with empty arrays
        radial = np.zeros(0)
        intensity = data.create_dataset("intensity", (0, 0), np.float32)
        sigma = data.create_dataset("sigma", (0, 0), np.float32)
    set_attrs(intensity, units="counts (pyFAI normalised)", long_name="intensity")
    set_attrs(sigma, units="counts (pyFAI normalised)", long_name=f"standard uncertainty ({error_model})")
    data["intensity_errors"] = sigma  # NeXus convention: <signal>_errors (a link, no copy)
    return radial, cake_rows, cake_azim


def write_radial(data, radial: np.ndarray, unit: str, wavelength_a: float | None, with_d: bool) -> None:
    """The radial axis of a stack: ``radial`` with its unit-named alias, and ``d_spacing_a``.

    Parameters
    ----------
    data : h5py.Group
        ``/entry/xrd/integrated``.
    radial : numpy.ndarray
        The radial axis in ``unit``.
    unit : str
        The pyFAI unit of ``radial`` (a key of :data:`xpipe.xrd.integrate.RADIAL_AXES`).
    wavelength_a : float or None
        The X-ray wavelength in angstrom, for the d-spacings from 2theta.
    with_d : bool
        Whether to derive ``d_spacing_a`` from the radial axis.

    Returns
    -------
    None
    """
    axis_name, axis_units = RADIAL_AXES[unit]
    rad = data.create_dataset("radial", data=radial)
    set_attrs(rad, units=axis_units, long_name=axis_name, pyfai_unit=unit)
    data[axis_name] = rad  # unit-named alias of the same data
    if with_d:
        dsp = data.create_dataset("d_spacing_a", data=d_spacing_a(radial, unit, wavelength_a))
        set_attrs(dsp, units="angstrom", long_name="d-spacing (derived from the radial axis)")


def write_frame_times(data, refs, order: list[int], times: list[FrameTime | None]) -> None:
    """The frame axis of a stack: mid-exposure times after the first start, exposures, where each
    time came from, frame indices and source files.

    Parameters
    ----------
    data : h5py.Group
        ``/entry/xrd/integrated``.
    refs : list of FrameRef
        Every frame (or pattern) the recipe asked for.
    order : list of int
        Indices into ``refs`` of the rows of the stack, in row order.
    times : list of FrameTime or None
        The time of every entry of ``refs`` (None where unknown).

    Returns
    -------
    None
    """
    mid, exposure, t0 = _relative_times([times[i] for i in order])
    ft = data.create_dataset("frame_time_s", data=mid)
    set_attrs(ft, units="s", long_name="mid-exposure time after start_time", start_time=t0)
    data.create_dataset("exposure_s", data=exposure).attrs["units"] = "s"
    write_strings(data, "time_source", [times[i].source if times[i] else "none" for i in order])
    data.create_dataset("frame_index", data=np.asarray(order, dtype=np.int64))
    write_strings(data, "source_file", [refs[i].key for i in order])


def set_stack_axes(data) -> None:
    """The NXdata axes of a stack: frame time along rows, the radial axis along columns.

    Parameters
    ----------
    data : h5py.Group
        ``/entry/xrd/integrated``.

    Returns
    -------
    None
    """
    data.attrs["axes"] = ["frame_time_s", "radial"]
    data.attrs["frame_time_s_indices"] = 0
    data.attrs["radial_indices"] = 1


def _write_cake(xrd, cake_rows: list[tuple[int, np.ndarray]], cake_azim, radial: np.ndarray, unit: str) -> None:
    """``/entry/xrd/cake``: the 2D cakes in frame order, on the azimuthal and radial axes."""
    axis_name, axis_units = RADIAL_AXES[unit]
    cake_rows.sort(key=lambda t: t[0])
    cake = nx_group(xrd, "cake", "NXdata", signal="intensity")
    cake.create_dataset("intensity", data=np.stack([c for _, c in cake_rows]), compression="gzip", compression_opts=4)
    cake.create_dataset("frame_index", data=np.asarray([i for i, _ in cake_rows], dtype=np.int64))
    cake.create_dataset("azimuthal_deg", data=cake_azim).attrs["units"] = "deg"
    r = cake.create_dataset("radial", data=radial)
    set_attrs(r, units=axis_units, long_name=axis_name)
    cake.attrs["axes"] = ["frame_index", "azimuthal_deg", "radial"]


def _write_integration(xrd, stage, ai, settings, method_used: str | None, engine_builds: int, n_done: int,
                       n_failed: int) -> None:
    """``/entry/xrd/integration``: the integration settings as used, the geometry and the counts."""
    cfg = stage.cfg.integrate
    proc = nx_group(xrd, "integration", "NXprocess")
    proc.create_dataset("program", data="pyFAI")
    rec = settings.as_record()
    rec.update(
        method_requested=cfg.method,
        method_used=method_used or "",
        engine_builds=engine_builds,
        poni_file=cfg.poni or "",
        mask_file=cfg.mask or "",
        dark_file=cfg.dark or "",
        flat_file=cfg.flat or "",
        use_detector_mask=cfg.use_detector_mask,
        frames_time_source=stage.cfg.frames.time_source,
        n_frames_requested=len(stage.refs),
        n_frames_integrated=n_done,
        n_frames_failed=n_failed,
    )
    write_record(proc, {k: v for k, v in rec.items() if v is not None})
    write_record(proc.require_group("geometry"), {k: v for k, v in geometry_record(ai).items() if v is not None})
    proc.create_dataset("settings_json", data=json.dumps(rec, default=str))


def write_failed(xrd, refs, failed: dict[int, str]) -> None:
    """``/entry/xrd/failed``: index, source and reason of every frame or pattern that failed."""
    fail = nx_group(xrd, "failed", "NXcollection")
    f_idx = sorted(failed)
    fail.create_dataset("frame_index", data=np.asarray(f_idx, dtype=np.int64))
    write_strings(fail, "source_file", [refs[i].key for i in f_idx])
    write_strings(fail, "reason", [failed[i] for i in f_idx])


def stack_outputs(results_path: Path, outdir: Path, cfg, base_dir: Path) -> list[Path]:
    """What is made beside results.h5 from the stack: frames table, quick-look contour, .xye files."""
    files = [frames_table(results_path, outdir / "xrd_frames.csv", base_dir)]
    if cfg.figures.contour:
        fig = plot_contour(results_path, outdir / "figures" / "xrd_contour.png", cfg.figures)
        if fig is not None:
            files.append(fig)
    if cfg.export.xye:
        files.extend(export_xye(results_path, outdir / "xye"))
    return files


def _meta_time(meta: dict) -> FrameTime:
    start = datetime.fromisoformat(meta["header_time"]) if meta.get("header_time") else None
    return FrameTime(start, meta.get("exposure_s"), "header")


# ----------------------------------------------------------------------------- products


def frames_table(results_path: Path, out: Path, base_dir: Path) -> Path:
    """CSV of every frame: index, file, time, status and failure reason."""
    with open_results(results_path) as res:
        stack = res.patterns()
        failed = res.failed()
        g = res.entry["xrd/failed"]
        f_idx = g["frame_index"][()]
    def shown(src: str) -> str:  # file relative to the recipe, dataset part kept
        path, sep, rest = src.partition("::")
        return relative_path(path, base_dir) + sep + rest

    rows = [(int(i), shown(src), f"{t:.3f}", "ok", "")
            for i, src, t in zip(stack.frame_index, stack.source_file, stack.frame_time_s)]
    rows += [(int(i), shown(src), "", "failed", reason) for i, (src, reason) in zip(f_idx, failed)]
    rows.sort()
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame_index", "source_file", "frame_time_s", "status", "reason"])
        w.writerows(rows)
    return out


def time_axis(frame_time_s, unit: str, frame_index=None) -> tuple[np.ndarray, str]:
    """Frame times in ``unit`` (s, min, h) and the axis label; frame numbers when the times
    are unknown or all equal."""
    t = np.asarray(frame_time_s, dtype=float) / {"s": 1.0, "min": 60.0, "h": 3600.0}[unit]
    if np.all(np.isfinite(t)) and t.size > 1 and np.ptp(t) > 0:
        return t, f"time ({unit})"
    frames = np.arange(t.size) if frame_index is None else np.asarray(frame_index)
    return frames.astype(float), "frame"


def plot_contour(results_path: Path, out: Path, fig_cfg) -> Path | None:
    """figures/xrd_contour.png: radial axis against time, robust colour limits."""
    plt = pyplot()
    from matplotlib.colors import LogNorm, Normalize, PowerNorm

    with open_results(results_path) as res:
        s = res.patterns()
        what = "patterns" if res.has("xrd/patterns") else "frames"
    if s.n_frames == 0:
        return None
    y, ylabel = time_axis(s.frame_time_s, fig_cfg.time_unit, s.frame_index)
    z = np.where(np.isfinite(s.intensity), s.intensity, np.nan)
    positive = z[np.isfinite(z) & (z > 0)]
    lo, hi = (np.percentile(positive, [2, 99.7]) if positive.size else (0.1, 1.0))
    norm = {
        "log": LogNorm(vmin=max(lo, 1e-6), vmax=hi),
        "sqrt": PowerNorm(0.5, vmin=max(lo, 0), vmax=hi),
        "linear": Normalize(vmin=lo, vmax=hi),
    }[fig_cfg.contour_scale]
    label = {"two_theta_deg": "2θ (deg)", "q_nm_inv": "Q (nm⁻¹)", "q_a_inv": "Q (Å⁻¹)"}.get(s.radial_name, s.radial_name)
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=150)
    if s.n_frames > 1:
        mesh = ax.pcolormesh(s.radial, y, np.clip(z, norm.vmin, None), shading="nearest", cmap="viridis", norm=norm, rasterized=True)
    else:
        mesh = ax.imshow(z, aspect="auto", cmap="viridis", norm=norm)
    ax.set_xlabel(label)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{s.n_frames} {what}" + (f", start {s.start_time}" if s.start_time else ""), fontsize=9)
    cb = fig.colorbar(mesh, ax=ax, pad=0.02)
    cb.set_label(f"intensity ({fig_cfg.contour_scale} scale)")
    # d on top only where it reads well: near 2θ = 0 it runs off to infinity
    if s.d_spacing_a is not None and s.radial_name == "two_theta_deg" and s.radial.size and s.radial.min() > 0.5:
        sec = ax.secondary_xaxis("top", functions=(_tth_to_d(s.wavelength_a), _d_to_tth(s.wavelength_a)))
        sec.set_xlabel("d (Å)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _tth_to_d(wl):
    def f(tth):
        with np.errstate(divide="ignore", invalid="ignore"):
            return wl / (2 * np.sin(np.deg2rad(np.clip(np.asarray(tth, float), 1e-3, 180.0)) / 2))
    return f


def _d_to_tth(wl):
    def f(d):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.rad2deg(2 * np.arcsin(np.clip(wl / (2 * np.asarray(d, float)), -1, 1)))
    return f


def export_xye(results_path: Path, folder: Path) -> list[Path]:
    """One ``<frame>.xye`` per integrated frame: radial, intensity, sigma, with a '#' header."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    with open_results(results_path) as res:
        s = res.patterns()
        settings = res.integration_settings()
        read_1d = not res.has("xrd/integration")
    for j in range(s.n_frames):
        src = s.source_file[j]
        stem = Path(src.split("::")[0]).stem + (f"_{s.frame_index[j]:05d}" if "::" in src else "")
        path = folder / f"{stem}.xye"
        how = (f"grid: {settings.get('grid_used')}; error_model: {settings.get('error_model')}" if read_1d else
               f"method: {settings.get('method_used')}; polarization_factor: {settings.get('polarization_factor')}")
        header = (
            f"xpipe {'pattern read from' if read_1d else 'integrated pattern of'} {src}\n"
            f"columns: {s.radial_name} ({s.radial_units}), intensity, sigma\n"
            f"wavelength_a: {s.wavelength_a}\nframe_time_s: {s.frame_time_s[j]:.3f} after {s.start_time}\n"
            f"{how}"
        )
        np.savetxt(path, np.column_stack([s.radial, s.intensity[j], s.sigma[j]]), fmt="%.6f %.6e %.6e", header=header)
        out.append(path)
    return out
