"""The contour map of the publication figures (:mod:`xpipe.stages.paper_figures`).

The pattern stack in one or more radial windows side by side, sharing the time (or x) axis, with
tracked peaks and their hkl labels above the map, and the voltage curve in a side panel on the
same axis. Drawn in four steps: the data read from results.h5, the window panels, the voltage
panel, then the labels pruned so that none overlaps another.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..recipe.sections.figures import PaperFiguresConfig
from .output import pyplot
from .paper_style import (
    WIDTH_IN,
    FigureResult,
    _Axis,
    _echem_curve,
    _figure,
    _finish,
    _legend_columns,
    _marker,
    _open,
    _phase_colours,
    _rc,
    _series,
    _small,
    _text,
)

log = logging.getLogger("xpipe")


# ----------------------------------------------------------------------------- reading


def _wavelength(h5) -> float | None:
    """The X-ray wavelength in angstrom (integration geometry, else the reduced patterns), or None."""
    for path in ("entry/xrd/integration/geometry/wavelength_a", "entry/xrd/patterns/wavelength_a"):
        if path in h5:
            wl = float(h5[path][()])
            if np.isfinite(wl) and wl > 0:
                return wl
    return None


def _radial(h5, unit: str) -> tuple[np.ndarray, str, callable]:
    """The radial axis in ``unit`` and a converter from the stored unit's values.

    2θ in degrees, Q in 1/Å, d in Å (Q = 4π sin θ / λ, d = 2π / Q); between 2θ and Q or d the
    wavelength λ (Å) is needed, and its absence is an error that says so.
    """
    g = h5["entry/xrd/integrated"]
    stored = _text(g["radial"].attrs.get("pyfai_unit", "2th_deg"))
    wl = _wavelength(h5)
    to_q_a = {"q_A^-1": lambda v: v, "q_nm^-1": lambda v: v / 10.0}

    def convert(v):
        v = np.asarray(v, float)
        if stored == "2th_deg":
            if unit == "2th_deg":
                return v
            if wl is None:
                raise ValueError(f"figures.contour.unit {unit!r} needs the X-ray wavelength, which this data set does not record; use '2th_deg'")
            s = np.sin(np.radians(v) / 2)
            return 4 * np.pi * s / wl if unit == "q_A^-1" else wl / (2 * np.where(s > 0, s, np.nan))
        q = to_q_a[stored](v)
        if unit == "q_A^-1":
            return q
        if unit == "d_A":
            return 2 * np.pi / np.where(q > 0, q, np.nan)
        if wl is None:
            raise ValueError("figures.contour.unit '2th_deg' from a Q axis needs the X-ray wavelength")
        return np.degrees(2 * np.arcsin(np.clip(q * wl / (4 * np.pi), -1, 1)))

    label = {"2th_deg": "2θ (°)", "q_A^-1": "Q (Å⁻¹)", "d_A": "d (Å)"}[unit]
    return convert(g["radial"][()]), label, convert


@dataclass
class _MapData:
    """What the contour map draws: the stack on its radial axis, the frames on the shared axis,
    the cycler curve, the phase colours and the tracked peaks, with notes on any fallback."""

    radial: np.ndarray
    xlabel: str
    z: np.ndarray
    axis: _Axis
    echem: dict | None
    colours: dict[str, str]
    y: np.ndarray
    ylabel: str
    peaks: dict | None
    notes: list[str] = field(default_factory=list)


def _read_map(h5, cfg: PaperFiguresConfig) -> _MapData:
    """The contour map's data from an open results.h5 holding ``/entry/xrd/integrated``."""
    c = cfg.contour
    notes: list[str] = []
    radial, xlabel, convert = _radial(h5, c.unit)
    z = h5["entry/xrd/integrated/intensity"][()].astype(float)
    ax_def = _Axis(h5, cfg)
    series = _series(h5)
    echem = _echem_curve(h5)
    colours = _phase_colours(h5)
    y, ylabel = _frame_axis(h5, ax_def, series.get("xrd_frames"), echem, z.shape[0], notes)
    peaks = _tracked_peaks(h5, convert) if c.tracks else None
    return _MapData(radial, xlabel, z, ax_def, echem, colours, y, ylabel, peaks, notes)


def _frame_axis(h5, ax_def: _Axis, frames: dict | None, echem: dict | None, n_frames: int,
                notes: list[str]) -> tuple[np.ndarray, str]:
    """The frames on the shared axis and its label, with a note in ``notes`` for each fallback.

    Without an ``xrd_frames`` series the diffractometer clock is used; ``axis: x`` falls back to
    time where x is not monotonic over the frames (``ax_def`` is switched to time), and unknown
    times fall back to the frame number.
    """
    if frames is None:
        t = h5["entry/xrd/integrated/frame_time_s"][()]
        frames = {"time_s": t, "time_err_s": np.zeros_like(t), "x": np.full(t.shape, np.nan), "voltage_v": np.full(t.shape, np.nan)}
        if echem is not None:
            notes.append("no xrd_frames series: frame times are on the diffractometer clock")
    if ax_def.kind == "x":
        xv = np.asarray(frames["x"], float)
        d = np.diff(xv)
        if not (np.all(np.isfinite(xv)) and (np.all(d > 0) or np.all(d < 0))):
            notes.append("x is not monotonic over the frames (charge and discharge): the map is drawn against time")
            log.warning("contour map: %s", notes[-1])
            ax_def.kind = "time"
    y = ax_def.values(frames)
    ylabel = ax_def.label
    if not np.all(np.isfinite(y)) or y.size < 2:
        y, ylabel = np.arange(n_frames, dtype=float), "frame"
        notes.append("frame times unknown: the map is drawn against frame number")
    return y, ylabel


def _tracked_peaks(h5, convert) -> dict | None:
    """Fitted peak positions (converted to the map's unit), success flags, track labels and
    phases from ``/entry/xrd/peaks``, or None without tracked peaks."""
    if "entry/xrd/peaks/position" not in h5:
        return None
    p = h5["entry/xrd/peaks"]
    return {"position": convert(p["position"][()]), "success": p["success"][()].astype(bool),
            "label": [_text(s) for s in p["track_label"][()]] if "track_label" in p else [],
            "phase": [_text(s) for s in p["track_phase"][()]] if "track_phase" in p else []}


def _window_masks(radial: np.ndarray, windows: list[list[float]], unit: str) -> list[np.ndarray]:
    """The points of ``radial`` inside each window; a window with fewer than two is an error."""
    sel = []
    for w in windows:
        m = (radial >= min(w)) & (radial <= max(w))
        if m.sum() < 2:
            raise ValueError(f"figures.contour.windows {w} holds no data (the radial axis runs {np.nanmin(radial):.4g}-{np.nanmax(radial):.4g} in {unit})")
        sel.append(m)
    return sel


def _norm(scale: str, values: np.ndarray, pct):
    from matplotlib.colors import LogNorm, Normalize, PowerNorm  # deferred until a figure is drawn

    v = values[np.isfinite(values)]
    pos = v[v > 0]
    lo, hi = np.percentile(v if v.size else [0, 1], pct)
    if scale == "log":
        lo = max(lo, np.percentile(pos, pct[0]) if pos.size else 1e-3)
        return LogNorm(vmin=lo, vmax=max(hi, lo * 10))
    if scale == "sqrt":
        return PowerNorm(0.5, vmin=max(lo, 0.0), vmax=hi)
    return Normalize(vmin=lo, vmax=hi)


# ----------------------------------------------------------------------------- the figure


def plot_contour_map(results_path: Path, out_stem: Path, cfg: PaperFiguresConfig) -> FigureResult | None:
    """Contour map of ``/entry/xrd/integrated`` in ``cfg.contour.windows`` side by side.

    The windows share the y axis (time in ``cfg.time_unit`` on the cycler clock from the
    ``xrd_frames`` series, or x), each is as wide as its span, the mesh is rasterised in vector
    files, one colour bar serves all of them; tracked peak positions are dots coloured per phase
    with their hkl label above the map; the voltage curve sits in a panel on the right with the
    same y limits. With ``axis: x`` and x not monotonic over the frames (charge then discharge)
    the map is drawn against time, with a warning and a note in the title.

    Parameters
    ----------
    results_path : Path
        The results.h5 to draw from.
    out_stem : Path
        Path of the figure without suffix; one file per format in ``cfg.formats``.
    cfg : PaperFiguresConfig
        The recipe's ``figures`` section (``cfg.contour`` for this figure).

    Returns
    -------
    FigureResult or None
        What was drawn and the files written; None without integrated patterns.

    Raises
    ------
    ValueError
        A window holds no data, or the radial unit needs a wavelength the data set lacks.

    Examples
    --------
    >>> import pathlib, tempfile, h5py
    >>> from xpipe.recipe.sections.figures import PaperFiguresConfig
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> tth = np.linspace(10.0, 20.0, 200)
    >>> with h5py.File(folder / "results.h5", "w") as h5:  # six frames 10 min apart, by hand
    ...     g = h5.create_group("entry/xrd/integrated")
    ...     g.create_dataset("radial", data=tth).attrs["pyfai_unit"] = "2th_deg"
    ...     g["intensity"] = [50 + 500 * np.exp(-0.5 * ((tth - 15 - 0.05 * i) / 0.1) ** 2)
    ...                       for i in range(6)]
    ...     g["frame_time_s"] = 600.0 * np.arange(6)
    >>> cfg = PaperFiguresConfig(formats=["png"], dpi=100)
    >>> res = plot_contour_map(folder / "results.h5", folder / "contour_map", cfg)
    >>> [p.name for p in res.paths], res.n_panels, res.xlabels, res.ylabels
    (['contour_map.png'], 1, ['2θ (°)'], ['time (h)'])
    """
    plt = pyplot()
    c = cfg.contour
    with _open(results_path) as h5:
        if "entry/xrd/integrated" not in h5:
            return None
        d = _read_map(h5, cfg)
    windows = [list(w) for w in (c.windows or [[float(np.nanmin(d.radial)), float(np.nanmax(d.radial))]])]
    sel = _window_masks(d.radial, windows, c.unit)
    norm = _norm(c.scale, np.concatenate([d.z[:, m].ravel() for m in sel]), c.percentiles)
    show_v = c.voltage_panel and d.echem is not None and d.ylabel != "frame"
    ratios = _width_ratios(windows, show_v, cfg)
    with plt.rc_context(_rc(cfg)):
        fig = _figure(cfg, 0.62 * WIDTH_IN[cfg.width] if cfg.width == "double" else 3.2)
        gs = fig.add_gridspec(1, len(ratios), width_ratios=ratios, wspace=0.02)
        panels, mesh, labels, tracked_phases = _draw_windows(fig, gs, d, windows, sel, norm, cfg)
        if tracked_phases:
            _tracks_legend(fig, tracked_phases, d.colours, cfg)
        cb = fig.colorbar(mesh, ax=panels, location="top", shrink=0.6, aspect=40, pad=0.03)
        cb.set_label(f"intensity ({c.scale} scale)")
        _colourbar_ticks(cb, c.scale, 5 if cfg.width == "double" else 3)
        if show_v:
            panels.append(_voltage_panel(fig, gs[0, len(windows)], panels[0], d))
        pad = 0.5 * (np.nanmax(np.abs(np.diff(d.y))) if d.y.size > 1 else 1.0)
        panels[0].set_ylim(float(np.nanmin(d.y)) - pad, float(np.nanmax(d.y)) + pad)
        if d.notes:
            fig.suptitle("; ".join(d.notes), fontsize=_small(cfg))
        _prune_labels(fig, labels)
        return _finish(fig, panels, out_stem, cfg, notes=d.notes)


def _width_ratios(windows: list[list[float]], show_v: bool, cfg: PaperFiguresConfig) -> list[float]:
    """Width ratios of the panels: each window as wide as its span, then the voltage panel."""
    spans = np.array([abs(w[1] - w[0]) for w in windows])
    ratios = list(len(windows) * spans / spans.sum())
    if show_v:
        # 15 % of the plotting width (the width less ~0.7 in of margins), at least 0.8 in for its label
        share = min(max(0.15, 0.8 / (WIDTH_IN[cfg.width] - 0.7)), 0.4)
        ratios.append(len(windows) * share / (1 - share))
    return ratios


def _draw_windows(fig, gs, d: _MapData, windows: list[list[float]], sel: list[np.ndarray], norm,
                  cfg: PaperFiguresConfig) -> tuple[list, object, list[tuple[tuple, object]], list[str]]:
    """One map panel per radial window, sharing the y axis, with the tracked peaks on it.

    Returns the panels, the last mesh (for the colour bar), the hkl labels as ((window,
    priority key), annotation) and the phases whose tracks were drawn.
    """
    c = cfg.contour
    panels = []
    labels: list[tuple[tuple, object]] = []
    tracked_phases: list[str] = []
    for i, (w, m) in enumerate(zip(windows, sel)):
        ax = fig.add_subplot(gs[0, i], sharey=panels[0] if panels else None)
        order = np.argsort(d.radial[m])
        mesh = ax.pcolormesh(d.radial[m][order], d.y, np.clip(d.z[:, m][:, order], norm.vmin, None), shading="nearest",
                             cmap=c.colormap, norm=norm, rasterized=True)
        mesh.set_in_layout(False)  # inside the axes anyway; measuring every cell slows the layout
        ax.set_xlim(min(w), max(w))
        ax.set_xlabel(d.xlabel)
        if i == 0:
            ax.set_ylabel(d.ylabel)
        else:
            ax.tick_params(labelleft=False)
        if d.peaks is not None:
            drawn, lab = _draw_tracks(ax, d.peaks, d.y, w, d.colours, c.hkl_labels, _small(cfg),
                                      2.6 if cfg.width == "double" else 1.9)
            tracked_phases += [p for p in drawn if p not in tracked_phases]
            labels += [((i,) + key, a) for key, a in lab]
        panels.append(ax)
    return panels, mesh, labels, tracked_phases


def _tracks_legend(fig, tracked_phases: list[str], colours: dict[str, str], cfg: PaperFiguresConfig) -> None:
    """The legend of the tracked reflections below the panels, one entry per phase drawn."""
    from matplotlib.lines import Line2D  # deferred until a figure is drawn

    ordered = [p for p in colours if p in tracked_phases] + [p for p in tracked_phases if p not in colours]
    handles = [Line2D([], [], ls="none", marker=_marker(p, colours), ms=4, mfc=colours.get(p, "white"),
                      mec="white" if p else "black", mew=0.4, label=p or "not indexed") for p in ordered]
    fig.legend(handles=handles, loc="outside lower center", frameon=False, title="tracked reflections",
               ncols=_legend_columns([h.get_label() for h in handles], WIDTH_IN[cfg.width], _small(cfg)))


def _voltage_panel(fig, spec, share, d: _MapData):
    """The cycler voltage against the shared axis in grid cell ``spec``, sharing the y axis of
    ``share``, over the span of the frames (2 % margin)."""
    from matplotlib.ticker import MaxNLocator  # deferred until a figure is drawn

    axv = fig.add_subplot(spec, sharey=share)
    yv = d.axis.curve(d.echem)
    lo, hi = float(np.nanmin(d.y)), float(np.nanmax(d.y))
    keep = (yv >= lo - 0.02 * (hi - lo)) & (yv <= hi + 0.02 * (hi - lo))
    axv.plot(d.echem["voltage_v"][keep], yv[keep], color="black", lw=0.9)
    axv.set_xlabel("voltage (V)")
    axv.xaxis.set_major_locator(MaxNLocator(nbins=2, steps=[1, 2, 5, 10], min_n_ticks=2))
    axv.tick_params(labelleft=False)
    return axv


# ----------------------------------------------------------------------------- labels


def _colourbar_ticks(cb, scale: str, n: int) -> None:
    """At most ``n`` labelled ticks on the colour bar, plain numbers (1-2-5 steps on a log scale)."""
    import matplotlib.ticker as mticker  # deferred until a figure is drawn

    lo, hi = cb.norm.vmin, cb.norm.vmax
    ticks = mticker.MaxNLocator(n).tick_values(lo, hi)
    if scale == "log":
        for subs in ((1, 2, 5), (1, 3), (1,)):
            cand = [m * 10.0 ** k for k in range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1) for m in subs]
            cand = [v for v in cand if lo <= v <= hi]
            if 2 <= len(cand) <= n:
                ticks = cand
                break
        cb.ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    cb.ax.xaxis.set_major_locator(mticker.FixedLocator([v for v in ticks if lo <= v <= hi]))
    cb.ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:.3g}"))


def _hkl_text(label: str, phase: str) -> str:
    """The reflection part of a track label ('Na3V2(PO4)3 (1 1 6)' -> '(1 1 6)')."""
    hkl = label[len(phase):].strip() if phase and label.startswith(phase) else label
    return hkl.replace(" + ", "+")


def _draw_tracks(ax, peaks: dict, y: np.ndarray, window, colours: dict[str, str], labels: bool,
                 fontsize: float, marker_pt: float) -> tuple[list[str], list[tuple[tuple, object]]]:
    """Fitted positions inside ``window`` as dots (phase colour; white for unassigned tracks) and,
    for indexed tracks, the hkl label above the map at the track's median position.

    Returns the phases drawn and the labels as ((priority key), annotation): tracks seen in more
    frames first, one label per phase reflection and window.
    """
    pos, ok = peaks["position"], peaks["success"]
    lo, hi = min(window), max(window)
    drawn: list[str] = []
    out: list[tuple[tuple, object]] = []
    seen: set[tuple[str, str]] = set()
    n_frames = (ok & np.isfinite(pos) & (pos >= lo) & (pos <= hi)).sum(axis=0)
    for t in np.argsort(-n_frames, kind="stable"):
        good = ok[:, t] & np.isfinite(pos[:, t]) & (pos[:, t] >= lo) & (pos[:, t] <= hi)
        if not good.any():
            continue
        phase = peaks["phase"][t] if t < len(peaks["phase"]) else ""
        colour = colours.get(phase, "white") if phase else "white"
        (dots,) = ax.plot(pos[good, t], y[good], _marker(phase, colours), ms=marker_pt, mfc=colour,
                          mec="white" if phase else "black", mew=0.3, rasterized=True)
        dots.set_in_layout(False)
        if phase not in drawn:
            drawn.append(phase)
        label = peaks["label"][t] if t < len(peaks["label"]) else ""
        if labels and label and phase:
            hkl = _hkl_text(label, phase)
            if (phase, hkl) in seen:
                continue
            seen.add((phase, hkl))
            x0 = float(np.median(pos[good, t]))
            ann = ax.annotate(hkl, (x0, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 2), textcoords="offset points",
                              rotation=90, ha="center", va="bottom", fontsize=fontsize, color=colour, annotation_clip=True)
            out.append(((-int(good.sum()), t), ann))
    return drawn, out


def _prune_labels(fig, labels: list[tuple[tuple, object]], pad_pt: float = 0.8, rounds: int = 4) -> None:
    """Remove hkl labels that would overlap a label of higher priority, by their window extents
    after layout (repeated: removing labels can shift the layout)."""
    for _ in range(rounds):
        if not labels:
            return
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()
        pad = pad_pt * fig.dpi / 72.0
        kept, keep_boxes, removed = [], [], False
        for key, ann in sorted(labels, key=lambda kv: kv[0][1:]):
            bb = ann.get_window_extent(renderer).padded(pad)
            if any(bb.overlaps(k) for k in keep_boxes):
                ann.remove()
                removed = True
            else:
                kept.append((key, ann))
                keep_boxes.append(bb)
        labels = kept
        if not removed:
            return
