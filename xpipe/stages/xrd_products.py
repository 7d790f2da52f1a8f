"""What is made beside ``results.h5`` from the pattern stack (integrated from frames or read
from 1D pattern files): the frames table, the quick-look contour map and the per-frame ``.xye``
exports."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..io.files import relative_path
from ..outfiles import atomic_open, atomic_path, safe_target
from ..results import open_results
from .output import pyplot, save_figure, styled


def stack_outputs(results_path: Path, outdir: Path, cfg, base_dir: Path) -> list[Path]:
    """What is made beside results.h5 from the stack: frames table, quick-look contour, .xye files.

    Parameters
    ----------
    results_path : Path
        The results file, with ``/entry/xrd/integrated`` and ``/entry/xrd/failed``.
    outdir : Path
        The run's output folder: ``xrd_frames.csv``, ``figures/xrd_contour.png`` (with
        ``figures.contour``) and ``xye/<frame>.xye`` (with ``export.xye``) go there.
    cfg : xpipe.recipe.sections.xrd.XrdConfig
        The recipe's ``xrd`` section.
    base_dir : Path
        The recipe's folder (the table names files relative to it).

    Returns
    -------
    list of Path
        The files written.

    Examples
    --------
    >>> import pathlib, tempfile, h5py
    >>> from xpipe.store import write_record
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with h5py.File(folder / "results.h5", "w") as h5:  # two patterns, one failed, by hand
    ...     write_record(h5.require_group("entry/xrd"), {"integrated": {
    ...         "radial": [10.0, 10.5, 11.0], "intensity": [[1.0, 5.0, 1.0], [1.0, 4.0, 2.0]],
    ...         "sigma": [[1.0, 2.2, 1.0], [1.0, 2.0, 1.4]], "frame_time_s": [0.0, 60.0],
    ...         "frame_index": [0, 2], "source_file": ["a.xye", "c.xye"]},
    ...         "failed": {"frame_index": [1], "source_file": ["b.xye"], "reason": ["truncated"]},
    ...         "patterns": {"wavelength_a": 0.8}})
    >>> import xpipe
    >>> recipe = pathlib.Path(xpipe.__file__).parents[1] / "recipes" / "nvp_operando.yaml"
    >>> cfg = xpipe.load_recipe(recipe).recipe.xrd  # contour map and .xye export on
    >>> files = stack_outputs(folder / "results.h5", folder, cfg, folder)
    >>> [f.relative_to(folder).as_posix() for f in files]
    ['xrd_frames.csv', 'figures/xrd_contour.png', 'xye/a.xye', 'xye/c.xye']
    """
    files = [frames_table(results_path, outdir / "xrd_frames.csv", base_dir)]
    if cfg.figures.contour:
        fig = plot_contour(results_path, safe_target(outdir, "figures/xrd_contour.png"), cfg.figures)
        if fig is not None:
            files.append(fig)
    if cfg.export.xye:
        files.extend(_export_xye(results_path, outdir / "xye", outdir))
    return files


def frames_table(results_path: Path, out: Path, base_dir: Path) -> Path:
    """CSV of every frame: index, file, time, status and failure reason.

    Parameters
    ----------
    results_path : Path
        The results file, with ``/entry/xrd/integrated`` and ``/entry/xrd/failed``.
    out : Path
        The CSV to write.
    base_dir : Path
        Files inside this folder are named relative to it.

    Returns
    -------
    Path
        ``out``: one row per frame in frame order; times in s after the first frame's start.

    Examples
    --------
    >>> import pathlib, tempfile, h5py
    >>> from xpipe.store import write_record
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with h5py.File(folder / "results.h5", "w") as h5:  # two patterns, one failed, by hand
    ...     write_record(h5.require_group("entry/xrd"), {"integrated": {
    ...         "radial": [10.0, 10.5, 11.0], "intensity": [[1.0, 5.0, 1.0], [1.0, 4.0, 2.0]],
    ...         "sigma": [[1.0, 2.2, 1.0], [1.0, 2.0, 1.4]], "frame_time_s": [0.0, 60.0],
    ...         "frame_index": [0, 2], "source_file": ["a.xye", "c.xye"]},
    ...         "failed": {"frame_index": [1], "source_file": ["b.xye"], "reason": ["truncated"]},
    ...         "patterns": {"wavelength_a": 0.8}})
    >>> print(frames_table(folder / "results.h5", folder / "xrd_frames.csv", folder).read_text())
    frame_index,source_file,frame_time_s,status,reason
    0,a.xye,0.000,ok,
    1,b.xye,,failed,truncated
    2,c.xye,60.000,ok,
    <BLANKLINE>
    """
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
    with atomic_open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame_index", "source_file", "frame_time_s", "status", "reason"])
        w.writerows(rows)
    return out


def time_axis(frame_time_s, unit: str, frame_index=None) -> tuple[np.ndarray, str]:
    """Frame times in ``unit`` (s, min, h) and the axis label; frame numbers when the times
    are unknown or all equal.

    Parameters
    ----------
    frame_time_s : array_like
        Frame times in s.
    unit : str
        ``'s'``, ``'min'`` or ``'h'``.
    frame_index : array_like, optional
        The frame numbers to fall back on (default 0, 1, 2...).

    Returns
    -------
    (numpy.ndarray, str)
        The values and the axis label.

    Examples
    --------
    >>> t, label = time_axis([0.0, 1800.0, 3600.0], "h")
    >>> t.tolist(), label
    ([0.0, 0.5, 1.0], 'time (h)')
    >>> t, label = time_axis([float("nan"), 60.0], "min", frame_index=[4, 5])
    >>> t.tolist(), label
    ([4.0, 5.0], 'frame')
    """
    t = np.asarray(frame_time_s, dtype=float) / {"s": 1.0, "min": 60.0, "h": 3600.0}[unit]
    if np.all(np.isfinite(t)) and t.size > 1 and np.ptp(t) > 0:
        return t, f"time ({unit})"
    frames = np.arange(t.size) if frame_index is None else np.asarray(frame_index)
    return frames.astype(float), "frame"


@styled
def plot_contour(results_path: Path, out: Path, fig_cfg) -> Path | None:
    """figures/xrd_contour.png: radial axis against time, robust colour limits.

    Colour limits are the 2nd and 99.7th percentiles of the positive intensities; with a
    wavelength and 2theta above 0.5 deg, d (angstrom) is marked on a top axis.

    Parameters
    ----------
    results_path : Path
        The results file, with ``/entry/xrd/integrated``.
    out : Path
        The PNG to write (its folder is made).
    fig_cfg : xpipe.recipe.sections.xrd.XrdFiguresConfig
        ``time_unit`` and ``contour_scale`` of the recipe's ``xrd.figures``.

    Returns
    -------
    Path or None
        ``out``; None when the stack holds no frame.

    Examples
    --------
    >>> import pathlib, tempfile, h5py
    >>> from xpipe.store import write_record
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with h5py.File(folder / "results.h5", "w") as h5:  # two patterns, one failed, by hand
    ...     write_record(h5.require_group("entry/xrd"), {"integrated": {
    ...         "radial": [10.0, 10.5, 11.0], "intensity": [[1.0, 5.0, 1.0], [1.0, 4.0, 2.0]],
    ...         "sigma": [[1.0, 2.2, 1.0], [1.0, 2.0, 1.4]], "frame_time_s": [0.0, 60.0],
    ...         "frame_index": [0, 2], "source_file": ["a.xye", "c.xye"]},
    ...         "failed": {"frame_index": [1], "source_file": ["b.xye"], "reason": ["truncated"]},
    ...         "patterns": {"wavelength_a": 0.8}})
    >>> from xpipe.recipe.sections.xrd import XrdFiguresConfig
    >>> cfg = XrdFiguresConfig(time_unit="min", contour_scale="linear")
    >>> plot_contour(folder / "results.h5", folder / "figures" / "xrd_contour.png", cfg).name
    'xrd_contour.png'
    """
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
    label = {"two_theta_deg": "2θ (deg)", "q_nm_inv": "Q (nm⁻¹)",
             "q_a_inv": "Q (Å⁻¹)"}.get(s.radial_name, s.radial_name)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    if s.n_frames > 1:
        mesh = ax.pcolormesh(s.radial, y, np.clip(z, norm.vmin, None), shading="nearest",
                             cmap="viridis", norm=norm, rasterized=True)
    else:
        mesh = ax.imshow(z, aspect="auto", cmap="viridis", norm=norm)
    ax.set_xlabel(label)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{s.n_frames} {what}" + (f", start {s.start_time}" if s.start_time else ""),
                 fontsize=9)
    cb = fig.colorbar(mesh, ax=ax, pad=0.02)
    cb.set_label(f"intensity ({fig_cfg.contour_scale} scale)")
    # d on top only where it reads well: near 2θ = 0 it runs off to infinity
    if (s.d_spacing_a is not None and s.radial_name == "two_theta_deg" and s.radial.size
            and s.radial.min() > 0.5):
        sec = ax.secondary_xaxis("top", functions=(_tth_to_d(s.wavelength_a),
                                                   _d_to_tth(s.wavelength_a)))
        sec.set_xlabel("d (Å)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out)
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


def _export_xye(results_path: Path, folder: Path, outdir: Path) -> list[Path]:
    """One ``<frame>.xye`` per integrated frame in ``folder`` (inside ``outdir``): radial,
    intensity, sigma, with a '#' header."""
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
        how = (f"grid: {settings.get('grid_used')}; error_model: {settings.get('error_model')}"
               if read_1d else
               f"method: {settings.get('method_used')}; "
               f"polarization_factor: {settings.get('polarization_factor')}")
        header = (
            f"xpipe {'pattern read from' if read_1d else 'integrated pattern of'} {src}\n"
            f"columns: {s.radial_name} ({s.radial_units}), intensity, sigma\n"
            f"wavelength_a: {s.wavelength_a}\n"
            f"frame_time_s: {s.frame_time_s[j]:.3f} after {s.start_time}\n"
            f"{how}"
        )
        with atomic_path(path, outdir=outdir) as tmp:
            np.savetxt(tmp, np.column_stack([s.radial, s.intensity[j], s.sigma[j]]),
                       fmt="%.6f %.6e %.6e", header=header)
        out.append(path)
    return out
