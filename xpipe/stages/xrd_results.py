"""Writing ``/entry/xrd`` from the integrate stage's checkpoints, and the parts of it the 1D
patterns stage writes too (radial axis, frame times, stack axes, failed frames). What is made
beside ``results.h5`` from the stack is in :mod:`xpipe.stages.xrd_products`, its names also
importable from here."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np

from ..io.files import sha256_file
from ..io.frames import FrameTime
from ..nexus import write_instrument
from ..store import nx_group, set_attrs, write_record, write_strings
from ..xrd.geometry import d_spacing_a
from ..xrd.integrate import RADIAL_AXES
from .xrd_clock import frame_times
from .xrd_products import frames_table, plot_contour, stack_outputs, time_axis

__all__ = ["frames_table", "plot_contour", "set_stack_axes", "stack_outputs", "time_axis",
           "write_failed", "write_frame_times", "write_radial", "write_xrd"]


def _collect(stage, checkpoints):
    """Which chunk row holds each frame (later results override earlier failures)."""
    index_of = stage.index_of
    ok: dict[int, tuple[int, int, dict]] = {}
    failed: dict[int, str] = {}
    builds: dict[int, int] = {}
    method_used = engine_file = None
    for c, (info, _) in enumerate(checkpoints.iter_chunks()):
        extra = info["extra"]
        for pid, n in extra["engine_builds"].items():  # per process; forked copies repeat the parent's
            builds[int(pid)] = max(builds.get(int(pid), 0), n)
        method_used = extra.get("method_used") or method_used
        engine_file = extra.get("engine_file") or engine_file
        for row, (key, meta) in enumerate(zip(info["ok_keys"], info["meta"])):
            if key in index_of:
                ok[index_of[key]] = (c, row, meta)
                failed.pop(index_of[key], None)
        for key, reason in info["failures"]:
            if key in index_of and index_of[key] not in ok:
                failed[index_of[key]] = reason
    return ok, failed, sum(builds.values()), method_used, engine_file


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
        The stage: its settings (``cfg``), frame references (``refs``), ``index_of`` and
        ``geometry()``.
    checkpoints : Checkpoints
        The stage's finished chunks (``iter_chunks()`` gives ``(info, arrays)`` per chunk).

    Returns
    -------
    dict
        The stage summary: ``done`` (frames integrated), ``failed`` ((source, reason) pairs),
        ``inputs`` ((path, sha256) pairs) and ``engine_builds``.

    Examples
    --------
    >>> import pathlib, tempfile, h5py, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> from xpipe.store import CheckpointStore
    >>> data = pathlib.Path(xpipe.__file__).parents[1] / "example_data" / "nvp_operando"
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "recipe.yaml").write_text(  # three frames of the bundled set
    ...     f"name: three frames\\noutput: out\\nxrd:\\n"
    ...     f"  frames: {{files: '{data}/nvp_000[1-3].cbf'}}\\n"
    ...     f"  integrate: {{poni: {data}/geometry.poni, npt: 500}}\\n")
    >>> loaded = xpipe.load_recipe(folder / "recipe.yaml")
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> worker = stage.worker()
    >>> worker.setup()
    >>> ck = CheckpointStore(folder / "checkpoints")
    >>> ck.reset({})
    >>> ck.save(0, stage.keys(), worker.process([0, 1, 2]))
    >>> with h5py.File(folder / "results.h5", "w") as h5:
    ...     summary = write_xrd(h5.create_group("entry"), stage, ck)
    ...     g = h5["entry/xrd/integrated"]
    ...     g["intensity"].shape, g["frame_time_s"][()].tolist(), g["radial"].attrs["units"]
    ((3, 500), [30.0, 630.0, 1230.0], 'deg')
    >>> summary["done"], summary["failed"]
    (3, [])
    """
    cfg = stage.cfg.integrate
    refs = stage.refs
    ok, failed, engine_builds, method_used, engine_file = _collect(stage, checkpoints)
    order = sorted(ok)

    xrd = nx_group(entry, "xrd", "NXsubentry", default="integrated")
    entry.attrs["default"] = "xrd"
    data = nx_group(xrd, "integrated", "NXdata", signal="intensity")
    geometry = stage.geometry()
    settings = cfg.settings()
    radial, cake_rows, cake_azim = _write_integrated(data, stage, checkpoints, ok, order, settings.error_model)
    wavelength_a = geometry.get("wavelength_a")
    write_radial(data, radial, settings.unit, wavelength_a, bool(radial.size and wavelength_a))

    header_times = {idx: _meta_time(meta) for idx, (_, _, meta) in ok.items()}
    times = frame_times(stage.cfg.frames, refs, header_times)
    write_frame_times(data, refs, order, times)
    data.create_dataset("valid_pixels", data=np.asarray([ok[i][2]["valid_pixels"] for i in order], dtype=np.int64))
    set_stack_axes(data)

    write_failed(xrd, refs, failed)
    if cake_rows:
        _write_cake(xrd, cake_rows, cake_azim, radial, settings.unit)
    _write_integration(xrd, stage, geometry, settings, (method_used, engine_builds, engine_file), (len(order), len(failed)))

    return {
        "done": len(order),
        "failed": [(refs[i].key, failed[i]) for i in sorted(failed)],
        "inputs": _inputs(cfg, refs, ok),
        "engine_builds": engine_builds,
    }


def _inputs(cfg, refs, ok: dict) -> list[tuple[str, str | None]]:
    """(path, sha256) of the frames integrated and of the geometry, mask, dark and flat files."""
    inputs = {}
    for i, (_, _, meta) in ok.items():
        inputs[refs[i].path] = meta.get("sha256")
    for key in ("poni", "mask", "dark", "flat"):
        p = getattr(cfg, key)
        if p:
            inputs[p] = sha256_file(p)
    return sorted(inputs.items())


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
    set_attrs(intensity, units="counts", long_name="intensity (counts after pyFAI's normalisation)")
    set_attrs(sigma, units="counts", long_name=f"standard uncertainty ({error_model})")
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
        ``radial`` (with its unit and pyFAI unit), its alias (``two_theta_deg``...) and
        ``d_spacing_a`` in angstrom are written into ``data``.

    Examples
    --------
    >>> import pathlib, tempfile, h5py
    >>> with h5py.File(pathlib.Path(tempfile.mkdtemp()) / "r.h5", "w") as h5:
    ...     data = h5.create_group("integrated")
    ...     write_radial(data, np.array([10.0, 20.0]), "2th_deg", 0.7749, True)
    ...     d = data["d_spacing_a"][()].round(3).tolist()
    ...     sorted(data), data["two_theta_deg"].attrs["units"], d
    (['d_spacing_a', 'radial', 'two_theta_deg'], 'deg', [4.445, 2.231])
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
        ``frame_time_s`` (mid-exposure, s after ``start_time``), ``exposure_s``,
        ``time_source``, ``frame_index`` and ``source_file`` are written into ``data``.

    Examples
    --------
    >>> import pathlib, tempfile, h5py
    >>> from datetime import datetime
    >>> from xpipe.io.frames import FrameRef, FrameTime
    >>> refs = [FrameRef("f_0.cbf"), FrameRef("f_1.cbf"), FrameRef("f_2.cbf")]
    >>> times = [FrameTime(datetime(2025, 3, 14, 9, 0), 60.0, "header"), None,
    ...          FrameTime(datetime(2025, 3, 14, 9, 20), 60.0, "header")]
    >>> with h5py.File(pathlib.Path(tempfile.mkdtemp()) / "r.h5", "w") as h5:
    ...     data = h5.create_group("integrated")
    ...     write_frame_times(data, refs, [0, 2], times)  # frame 1 is not in the stack
    ...     ft = data["frame_time_s"]
    ...     ft[()].tolist(), ft.attrs["start_time"], data["frame_index"][()].tolist()
    ([30.0, 1230.0], '2025-03-14T09:00:00', [0, 2])
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
        The ``axes`` and ``*_indices`` attributes of ``data`` are set.

    Examples
    --------
    >>> import pathlib, tempfile, h5py
    >>> with h5py.File(pathlib.Path(tempfile.mkdtemp()) / "r.h5", "w") as h5:
    ...     data = h5.create_group("integrated")
    ...     set_stack_axes(data)
    ...     list(data.attrs["axes"]), int(data.attrs["radial_indices"])
    (['frame_time_s', 'radial'], 1)
    """
    data.attrs["axes"] = ["frame_time_s", "radial"]
    data.attrs["frame_time_s_indices"] = 0
    data.attrs["radial_indices"] = 1


def _write_cake(xrd, cake_rows: list[tuple[int, np.ndarray]], cake_azim, radial: np.ndarray, unit: str) -> None:
    """``/entry/xrd/cake``: the 2D cakes in frame order, on the azimuthal and radial axes."""
    axis_name, axis_units = RADIAL_AXES[unit]
    cake_rows.sort(key=lambda t: t[0])
    cake = nx_group(xrd, "cake", "NXdata", signal="intensity")
    ci = cake.create_dataset("intensity", data=np.stack([c for _, c in cake_rows]), compression="gzip", compression_opts=4)
    set_attrs(ci, units="counts", long_name="intensity (counts after pyFAI's normalisation)")
    cake.create_dataset("frame_index", data=np.asarray([i for i, _ in cake_rows], dtype=np.int64))
    cake.create_dataset("azimuthal_deg", data=cake_azim).attrs["units"] = "deg"
    r = cake.create_dataset("radial", data=radial)
    set_attrs(r, units=axis_units, long_name=axis_name)
    cake.attrs["axes"] = ["frame_index", "azimuthal_deg", "radial"]
    for i, axis in enumerate(cake.attrs["axes"]):
        cake.attrs[f"{axis}_indices"] = i


def _write_integration(xrd, stage, geometry: dict, settings, engine: tuple, counts: tuple[int, int]) -> None:
    """``/entry/xrd/integration``: the integration settings as used, the geometry and the counts;
    ``engine`` is (method used, engines built, cached engine file or None), ``counts`` (frames
    integrated, frames failed)."""
    method_used, engine_builds, engine_file = engine
    n_done, n_failed = counts
    cfg = stage.cfg.integrate
    proc = nx_group(xrd, "integration", "NXparameters")
    proc.create_dataset("program", data="pyFAI")
    rec = settings.as_record()
    rec.update(
        method_requested=cfg.method,
        method_used=method_used or "",
        engine_builds=engine_builds,
        engine_cache_file=engine_file or "",
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
    geometry = {k: v for k, v in geometry.items() if v is not None}
    write_record(nx_group(proc, "geometry", "NXparameters"), geometry)
    write_instrument(xrd.parent, "xrd", wavelength_a=geometry.get("wavelength_a"), geometry=geometry)
    # the settings alone: how many engines were built or which cached one was read says how
    # this run went, not how it was asked to integrate (both are datasets above)
    settings_only = {k: v for k, v in rec.items() if k not in ("engine_builds", "engine_cache_file")}
    proc.create_dataset("settings_json", data=json.dumps(settings_only, default=str))


def write_failed(xrd, refs, failed: dict[int, str]) -> None:
    """``/entry/xrd/failed``: index, source and reason of every frame or pattern that failed.

    Parameters
    ----------
    xrd : h5py.Group
        ``/entry/xrd`` of the results file being written.
    refs : list of FrameRef
        Every frame (or pattern) the recipe asked for.
    failed : dict of int to str
        The reason by index into ``refs`` of every one that failed.

    Returns
    -------
    None

    Examples
    --------
    >>> import pathlib, tempfile, h5py
    >>> from xpipe.io.frames import FrameRef
    >>> refs = [FrameRef("f_0.cbf"), FrameRef("f_1.cbf")]
    >>> with h5py.File(pathlib.Path(tempfile.mkdtemp()) / "r.h5", "w") as h5:
    ...     write_failed(h5.create_group("xrd"), refs, {1: "f_1.cbf: truncated file"})
    ...     g = h5["xrd/failed"]
    ...     g["frame_index"][()].tolist(), g["reason"][0].decode()
    ([1], 'f_1.cbf: truncated file')
    """
    fail = nx_group(xrd, "failed", "NXcollection")
    f_idx = sorted(failed)
    fail.create_dataset("frame_index", data=np.asarray(f_idx, dtype=np.int64))
    write_strings(fail, "source_file", [refs[i].key for i in f_idx])
    write_strings(fail, "reason", [failed[i] for i in f_idx])


def _meta_time(meta: dict) -> FrameTime:
    start = datetime.fromisoformat(meta["header_time"]) if meta.get("header_time") else None
    return FrameTime(start, meta.get("exposure_s"), "header")
