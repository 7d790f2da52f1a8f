"""Publication figures of an operando experiment, drawn from results.h5 on the timeline's axis.

- ``contour_map``: the pattern stack in one or more radial windows side by side, sharing the
  time (or x) axis, with tracked peaks and hkl labels, and the voltage curve in a side panel on
  the same axis.
- ``lattice_evolution``: cell parameters and phase fractions per phase with error bars, the volume
  change annotated.
- ``valence_timeline``: voltage, XANES and XPS valence and lattice volume on one shared axis;
  operando series as lines, ex situ samples as points with both error bars.

Each is written as PNG at the configured dpi and in the vector formats asked for (the maps are
rasterised inside the vector files). Colours are the Okabe-Ito colour-blind-safe set; colormaps
are perceptually uniform.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..recipe.sections.figures import PaperFiguresConfig
from ..summary import volume_changes
from .output import pyplot

log = logging.getLogger("xpipe")

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
# phases: the same colours, ordered so that the first ones stand out on dark colormap regions too
PHASE_COLOURS = ["#56B4E9", "#E69F00", "#CC79A7", "#009E73", "#D55E00", "#0072B2", "#F0E442", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
WIDTH_IN = {"single": 3.5, "double": 7.2}
TIME_FACTOR = {"s": 1.0, "min": 60.0, "h": 3600.0}


@dataclass
class FigureResult:
    """What was drawn, read back from the figure before it was closed (for checks and tests).

    ``ylims``/``xlims``/``xlabels``/``ylabels`` are per panel (data axes, colour bars excluded),
    ``size_in`` is the figure size in inches (the PNG is ``size_in * dpi`` pixels), and
    ``text_boxes`` holds every drawn text as (text, font size in pt, (x0, y0, x1, y1) window
    extent in PNG pixels, origin bottom left), tick labels only where a tick is in view, and
    ``panel_boxes`` the window extent of each panel's plotting area, in the same pixels.
    """

    paths: list[Path]
    n_panels: int
    ylims: list[tuple[float, float]]
    xlims: list[tuple[float, float]]
    xlabels: list[str]
    ylabels: list[str]
    texts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    size_in: tuple[float, float] = (0.0, 0.0)
    dpi: int = 0
    text_boxes: list[tuple[str, float, tuple[float, float, float, float]]] = field(default_factory=list)
    panel_boxes: list[tuple[float, float, float, float]] = field(default_factory=list)

    @property
    def min_font_pt(self) -> float:
        """The smallest font size of any drawn text, in points."""
        return min((size for _, size, _ in self.text_boxes), default=float("nan"))


# ----------------------------------------------------------------------------- reading


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _series(h5) -> dict[str, dict]:
    out: dict[str, dict] = {}
    if "entry/timeline/series" not in h5:
        return out
    for name, g in h5["entry/timeline/series"].items():
        d = {k: g[k][()] for k in g if g[k].dtype.kind in "fiu"}
        d.update({k: _text(v) for k, v in g.attrs.items()})
        if "notes" in g:
            d["notes"] = [_text(n) for n in g["notes"][()]]
        out[name] = d
    return out


def _echem_curve(h5) -> dict | None:
    if "entry/timeline/echem" not in h5:
        return None
    g = h5["entry/timeline/echem"]
    return {k: g[k][()] for k in g}


def _wavelength(h5) -> float | None:
    """The X-ray wavelength in angstrom (integration geometry, else the reduced patterns), or None."""
    for path in ("entry/xrd/integration/geometry/wavelength_a", "entry/xrd/patterns/wavelength_a"):
        if path in h5:
            wl = float(h5[path][()])
            if np.isfinite(wl) and wl > 0:
                return wl
    return None


def _phase_colours(h5) -> dict[str, str]:
    """One colour per phase, the same in every figure: the order of /entry/xrd/lattice, then
    phases that only tracked peaks name."""
    names: list[str] = list(h5["entry/xrd/lattice"]) if "entry/xrd/lattice" in h5 else []
    if "entry/xrd/peaks/track_phase" in h5:
        for p in h5["entry/xrd/peaks/track_phase"][()]:
            p = _text(p)
            if p and p not in names:
                names.append(p)
    return {n: PHASE_COLOURS[i % len(PHASE_COLOURS)] for i, n in enumerate(names)}


def _marker(phase: str, colours: dict[str, str]) -> str:
    """The marker of a phase, paired with its colour (same order as :func:`_phase_colours`)."""
    names = list(colours)
    return MARKERS[names.index(phase) % len(MARKERS)] if phase in names else "o"


class _Axis:
    """The shared axis: values from a series (time on the cycler clock, or x) and its label."""

    def __init__(self, h5, cfg: PaperFiguresConfig) -> None:
        tl = h5["entry/timeline"].attrs if "entry/timeline" in h5 else {}
        self.kind = cfg.axis
        self.unit = cfg.time_unit
        formula = _text(tl.get("formula", ""))
        self.x_label = _text(tl.get("x_label", f"x in {formula}" if formula else "x"))

    def values(self, s: dict, err: bool = False) -> np.ndarray:
        """Time (in ``time_unit``) or x of a series' points, or their placement uncertainty."""
        if self.kind == "x":
            return np.asarray(s["x_err" if err else "x"], float)
        return np.asarray(s["time_err_s" if err else "time_s"], float) / TIME_FACTOR[self.unit]

    def curve(self, echem: dict) -> np.ndarray:
        """Time (in ``time_unit``) or x of every row of the cycler curve."""
        return echem["x"] if self.kind == "x" else echem["time_s"] / TIME_FACTOR[self.unit]

    @property
    def label(self) -> str:
        return self.x_label if self.kind == "x" else f"time ({self.unit})"


# ----------------------------------------------------------------------------- drawing helpers


def _small(cfg: PaperFiguresConfig) -> float:
    """Font size of ticks, legends and labels on the map: one point below the base size, never
    below 7 pt unless the base size itself is smaller."""
    return max(cfg.font_size_pt - 1, min(cfg.font_size_pt, 7.0))


def _rc(cfg: PaperFiguresConfig) -> dict:
    f = cfg.font_size_pt
    s = _small(cfg)
    return {"font.size": f, "axes.labelsize": f, "axes.titlesize": f, "xtick.labelsize": s,
            "ytick.labelsize": s, "legend.fontsize": s, "legend.title_fontsize": s, "figure.titlesize": f,
            "axes.linewidth": 0.6, "lines.linewidth": 1.0, "lines.markersize": 3.5, "xtick.direction": "in",
            "ytick.direction": "in", "xtick.major.width": 0.6, "ytick.major.width": 0.6,
            "svg.fonttype": "none", "pdf.fonttype": 42, "axes.unicode_minus": True}


def _figure(cfg: PaperFiguresConfig, height_in: float, **kw):
    """A figure at the journal width of ``cfg.width`` (inches) with constrained layout, at the PNG dpi."""
    plt = pyplot()
    return plt.figure(figsize=(WIDTH_IN[cfg.width], height_in), dpi=cfg.dpi, layout="constrained", **kw)


def _tick_texts(fig) -> tuple[set[int], list]:
    """(ids of every tick label, the tick labels actually drawn: tick in view and label on)."""
    every: set[int] = set()
    shown = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            eps = 1e-9 * max(abs(lo), abs(hi), 1.0)
            for locs, ticks in ((axis.get_majorticklocs(), axis.get_major_ticks),
                                (axis.get_minorticklocs(), axis.get_minor_ticks)):
                for tick in ticks(len(locs)):
                    every.update((id(tick.label1), id(tick.label2)))
                for loc, tick in zip(locs, ticks(len(locs))):
                    if lo - eps <= loc <= hi + eps:
                        shown.extend(t for t in (tick.label1, tick.label2) if t.get_visible())
    return every, shown


def text_boxes(fig) -> list[tuple[str, float, tuple[float, float, float, float]]]:
    """Every drawn text of ``fig`` after layout: (text, font size in pt, window extent in pixels)."""
    from matplotlib.text import Text

    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    ticks, shown = _tick_texts(fig)
    texts = [t for t in fig.findobj(Text) if id(t) not in ticks] + shown
    out = []
    for t in texts:
        if not t.get_visible() or not t.get_text().strip() or not _drawn(t):
            continue
        bb = t.get_window_extent(renderer)
        if bb.width > 0 and bb.height > 0:
            out.append((t.get_text(), float(t.get_fontsize()), (float(bb.x0), float(bb.y0), float(bb.x1), float(bb.y1))))
    return out


def _drawn(text) -> bool:
    """Whether ``text`` and the axes holding it are visible."""
    return text.get_visible() and (text.axes is None or text.axes.get_visible())


def _finish(fig, panels, out_stem: Path, cfg: PaperFiguresConfig, texts=None, notes=None) -> FigureResult:
    """Read the drawn figure back into a :class:`FigureResult`, write every format and close it.

    PNG at ``cfg.dpi``; SVG/PDF as vectors with rasterised parts (the maps) at ``cfg.dpi``.
    """
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    boxes = text_boxes(fig)
    res = FigureResult([], len(panels), [tuple(map(float, a.get_ylim())) for a in panels],
                       [tuple(map(float, a.get_xlim())) for a in panels], [a.get_xlabel() for a in panels],
                       [a.get_ylabel() for a in panels], list(texts or []), list(notes or []),
                       size_in=tuple(float(v) for v in fig.get_size_inches()), dpi=cfg.dpi, text_boxes=boxes,
                       panel_boxes=[tuple(float(v) for v in a.get_window_extent().extents) for a in panels])
    for fmt in cfg.formats:
        p = out_stem.with_suffix(f".{fmt}")
        fig.savefig(p, dpi=cfg.dpi)
        res.paths.append(p)
    pyplot().close(fig)
    return res


def _legend_columns(labels: list[str], width_in: float, font_pt: float, most: int = 4) -> int:
    """How many legend columns fit across ``width_in`` inches (entries of the longest label's width)."""
    entry_in = (0.6 * font_pt * max((len(t) for t in labels), default=1) + 3.5 * font_pt) / 72.0
    return int(max(1, min(most, len(labels), (width_in - 0.2) // entry_in)))


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


def _norm(scale: str, values: np.ndarray, pct):
    from matplotlib.colors import LogNorm, Normalize, PowerNorm

    v = values[np.isfinite(values)]
    pos = v[v > 0]
    lo, hi = np.percentile(v if v.size else [0, 1], pct)
    if scale == "log":
        lo = max(lo, np.percentile(pos, pct[0]) if pos.size else 1e-3)
        return LogNorm(vmin=lo, vmax=max(hi, lo * 10))
    if scale == "sqrt":
        return PowerNorm(0.5, vmin=max(lo, 0.0), vmax=hi)
    return Normalize(vmin=lo, vmax=hi)


# ----------------------------------------------------------------------------- the contour map


def plot_contour_map(results_path: Path, out_stem: Path, cfg: PaperFiguresConfig) -> FigureResult | None:
    """Contour map of ``/entry/xrd/integrated`` in ``cfg.contour.windows`` side by side.

    The windows share the y axis (time in ``cfg.time_unit`` on the cycler clock from the
    ``xrd_frames`` series, or x), each is as wide as its span, the mesh is rasterised in vector
    files, one colour bar serves all of them; tracked peak positions are dots coloured per phase
    with their hkl label above the map; the voltage curve sits in a panel on the right with the
    same y limits. With ``axis: x`` and x not monotonic over the frames (charge then discharge)
    the map is drawn against time, with a warning and a note in the title. Returns None without
    integrated patterns.
    """
    import h5py

    plt = pyplot()
    c = cfg.contour
    notes: list[str] = []
    with h5py.File(results_path, "r") as h5:
        if "entry/xrd/integrated" not in h5:
            return None
        radial, xlabel, convert = _radial(h5, c.unit)
        z = h5["entry/xrd/integrated/intensity"][()].astype(float)
        ax_def = _Axis(h5, cfg)
        series = _series(h5)
        echem = _echem_curve(h5)
        colours = _phase_colours(h5)
        frames = series.get("xrd_frames")
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
            y, ylabel = np.arange(z.shape[0], dtype=float), "frame"
            notes.append("frame times unknown: the map is drawn against frame number")
        peaks = None
        if c.tracks and "entry/xrd/peaks/position" in h5:
            p = h5["entry/xrd/peaks"]
            peaks = {"position": convert(p["position"][()]), "success": p["success"][()].astype(bool),
                     "label": [_text(s) for s in p["track_label"][()]] if "track_label" in p else [],
                     "phase": [_text(s) for s in p["track_phase"][()]] if "track_phase" in p else []}
    windows = [list(w) for w in (c.windows or [[float(np.nanmin(radial)), float(np.nanmax(radial))]])]
    sel = []
    for w in windows:
        m = (radial >= min(w)) & (radial <= max(w))
        if m.sum() < 2:
            raise ValueError(f"figures.contour.windows {w} holds no data (the radial axis runs {np.nanmin(radial):.4g}-{np.nanmax(radial):.4g} in {c.unit})")
        sel.append(m)
    norm = _norm(c.scale, np.concatenate([z[:, m].ravel() for m in sel]), c.percentiles)
    spans = np.array([abs(w[1] - w[0]) for w in windows])
    ratios = list(len(windows) * spans / spans.sum())
    show_v = c.voltage_panel and echem is not None and ylabel != "frame"
    if show_v:
        # 15 % of the plotting width (the width less ~0.7 in of margins), at least 0.8 in for its label
        share = min(max(0.15, 0.8 / (WIDTH_IN[cfg.width] - 0.7)), 0.4)
        ratios.append(len(windows) * share / (1 - share))
    with plt.rc_context(_rc(cfg)):
        fig = _figure(cfg, 0.62 * WIDTH_IN[cfg.width] if cfg.width == "double" else 3.2)
        gs = fig.add_gridspec(1, len(ratios), width_ratios=ratios, wspace=0.02)
        panels = []
        labels: list[tuple[tuple, object]] = []
        tracked_phases: list[str] = []
        for i, (w, m) in enumerate(zip(windows, sel)):
            ax = fig.add_subplot(gs[0, i], sharey=panels[0] if panels else None)
            order = np.argsort(radial[m])
            mesh = ax.pcolormesh(radial[m][order], y, np.clip(z[:, m][:, order], norm.vmin, None), shading="nearest",
                                 cmap=c.colormap, norm=norm, rasterized=True)
            mesh.set_in_layout(False)  # inside the axes anyway; measuring every cell slows the layout
            ax.set_xlim(min(w), max(w))
            ax.set_xlabel(xlabel)
            if i == 0:
                ax.set_ylabel(ylabel)
            else:
                ax.tick_params(labelleft=False)
            if peaks is not None:
                drawn, lab = _draw_tracks(ax, peaks, y, w, colours, c.hkl_labels, _small(cfg),
                                          2.6 if cfg.width == "double" else 1.9)
                tracked_phases += [p for p in drawn if p not in tracked_phases]
                labels += [((i,) + key, a) for key, a in lab]
            panels.append(ax)
        if tracked_phases:
            from matplotlib.lines import Line2D

            ordered = [p for p in colours if p in tracked_phases] + [p for p in tracked_phases if p not in colours]
            handles = [Line2D([], [], ls="none", marker=_marker(p, colours), ms=4, mfc=colours.get(p, "white"),
                              mec="white" if p else "black", mew=0.4, label=p or "not indexed") for p in ordered]
            fig.legend(handles=handles, loc="outside lower center", frameon=False, title="tracked reflections",
                       ncols=_legend_columns([h.get_label() for h in handles], WIDTH_IN[cfg.width], _small(cfg)))
        from matplotlib.ticker import MaxNLocator

        cb = fig.colorbar(mesh, ax=panels, location="top", shrink=0.6, aspect=40, pad=0.03)
        cb.set_label(f"intensity ({c.scale} scale)")
        _colourbar_ticks(cb, c.scale, 5 if cfg.width == "double" else 3)
        if show_v:
            axv = fig.add_subplot(gs[0, len(windows)], sharey=panels[0])
            yv = ax_def.curve(echem)
            lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
            keep = (yv >= lo - 0.02 * (hi - lo)) & (yv <= hi + 0.02 * (hi - lo))
            axv.plot(echem["voltage_v"][keep], yv[keep], color="black", lw=0.9)
            axv.set_xlabel("voltage (V)")
            axv.xaxis.set_major_locator(MaxNLocator(nbins=2, steps=[1, 2, 5, 10], min_n_ticks=2))
            axv.tick_params(labelleft=False)
            panels.append(axv)
        pad = 0.5 * (np.nanmax(np.abs(np.diff(y))) if y.size > 1 else 1.0)
        panels[0].set_ylim(float(np.nanmin(y)) - pad, float(np.nanmax(y)) + pad)
        if notes:
            fig.suptitle("; ".join(notes), fontsize=_small(cfg))
        _prune_labels(fig, labels)
        return _finish(fig, panels, out_stem, cfg, notes=notes)


def _colourbar_ticks(cb, scale: str, n: int) -> None:
    """At most ``n`` labelled ticks on the colour bar, plain numbers (1-2-5 steps on a log scale)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

    lo, hi = cb.norm.vmin, cb.norm.vmax
    ticks = MaxNLocator(n).tick_values(lo, hi)
    if scale == "log":
        for subs in ((1, 2, 5), (1, 3), (1,)):
            cand = [m * 10.0 ** k for k in range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1) for m in subs]
            cand = [v for v in cand if lo <= v <= hi]
            if 2 <= len(cand) <= n:
                ticks = cand
                break
        cb.ax.xaxis.set_minor_formatter(NullFormatter())
    cb.ax.xaxis.set_major_locator(FixedLocator([v for v in ticks if lo <= v <= hi]))
    cb.ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))


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


# ----------------------------------------------------------------------------- lattice evolution

_PARAM_LABEL = {"a": "a (Å)", "b": "b (Å)", "c": "c (Å)", "alpha": "α (°)", "beta": "β (°)", "gamma": "γ (°)",
                "volume": "V (Å³)", "phase_fraction": "weight fraction"}


def volume_change_texts(changes: dict, names: list[str], frame_axis: np.ndarray | None = None,
                        axis_label: str = "") -> list[str]:
    """The volume-change annotation, one line each, from :func:`xpipe.summary.volume_changes`.

    Per phase in ``names``: ΔV = (V_last − V_first) / V_first in % over the frames where it is
    present, with the extreme change in the same terms. Per two-phase reaction (two phases of one
    family present together): the new phase at the first common frame against the parent's first
    volume, then the change between the two at that frame ("at first coexistence", placed on
    ``frame_axis``, whose label is ``axis_label``).
    """
    lines = []
    for name in names:
        ph = changes["phases"].get(name, {})
        if ph.get("frames_present"):
            ext = max((ph["change_min_percent"], ph["change_max_percent"]), key=abs)
            lines.append(f"{name}: ΔV = {_pct(ph['change_net_percent'])} % (last vs first; extreme {_pct(ext)} %)")
    for tr in changes["transitions"]:
        if tr["from"] not in names or tr["to"] not in names:
            continue
        lines.append(f"{tr['from']} → {tr['to']}: ΔV = {_pct(tr['change_from_first_percent'])} %")
        where = f"frame {tr['frame']}"
        k = tr["frame"]
        if frame_axis is not None and 0 <= k < len(frame_axis) and np.isfinite(frame_axis[k]):
            if axis_label.startswith("time (") and axis_label.endswith(")"):
                where = f"{frame_axis[k]:.3g} {axis_label[6:-1]}"
            else:
                where = f"x = {frame_axis[k]:.3g}"
        lines.append(f"    at first coexistence ({where}): ΔV = {_pct(tr['change_percent'])} %")
    return lines


def _pct(v: float) -> str:
    """A signed percentage to 0.01 ('+0.00' rather than '-0.00')."""
    return f"{round(float(v), 2) + 0.0:+.2f}"


def _wrap(lines: list[str], width_in: float, font_pt: float) -> str:
    """Lines joined for a title no wider than ``width_in`` (long lines wrapped, indented)."""
    import textwrap

    n = max(20, int(width_in * 72 / (0.58 * font_pt)))
    out = []
    for line in lines:
        indent = line[: len(line) - len(line.lstrip())]
        parts = textwrap.wrap(line.strip(), n - len(indent)) or [""]
        out.append(indent + parts[0])
        out.extend(indent + "    " + p for p in parts[1:])
    return "\n".join(out)


def plot_lattice_evolution(results_path: Path, out_stem: Path, cfg: PaperFiguresConfig) -> FigureResult | None:
    """Cell parameters and phase fractions of ``/entry/xrd/lattice`` against the shared axis.

    One panel per ``cfg.lattice.parameters`` entry, stacked with a shared x axis; per phase one
    colour and marker, error bars from ``<parameter>_err``, points only where ``present``; the
    weight-fraction panel runs 0-1; the volume panel's title carries the volume changes (also
    returned in ``FigureResult.texts``). Returns None without lattice results.
    """
    import h5py

    plt = pyplot()
    lc = cfg.lattice
    with h5py.File(results_path, "r") as h5:
        if "entry/xrd/lattice" not in h5:
            return None
        lat = h5["entry/xrd/lattice"]
        all_names = list(lat)
        data = {n: {k: lat[n][k][()] for k in lat[n] if lat[n][k].dtype.kind in "fb"} for n in all_names}
        names = [n for n in all_names if n in lc.phases] if lc.phases is not None else _major(data, lc.min_fraction)
        changes = volume_changes(lat) if lc.annotate_volume_change else None
        ax_def = _Axis(h5, cfg)
        colours = _phase_colours(h5)
        frames = _series(h5).get("xrd_frames")
        if frames is None:
            t = lat[names[0]]["frame_time_s"][()] if names else np.zeros(0)
            frames = {"time_s": t, "time_err_s": np.zeros_like(t), "x": np.full(t.shape, np.nan)}
    if not names:
        return None
    fraction_names = names if lc.phases is not None else all_names
    xv = ax_def.values(frames)
    with plt.rc_context(_rc(cfg)):
        n = len(lc.parameters)
        fig = _figure(cfg, 1.25 * n + 0.9)
        axes = np.atleast_1d(fig.subplots(n, 1, sharex=True))
        texts: list[str] = []
        for ax, key in zip(axes, lc.parameters):
            for i, name in enumerate(all_names):
                d = data[name]
                if key not in d or name not in (fraction_names if key == "phase_fraction" else names):
                    continue
                p = d.get("present", np.ones(d[key].shape, bool)).astype(bool) & np.isfinite(d[key]) & np.isfinite(xv)
                if not p.any():
                    continue
                # frames where the phase is absent stay empty: the line breaks there instead of bridging them
                k = np.isfinite(xv)
                err = d.get(f"{key}_err")
                yerr = None if err is None else np.where(p & np.isfinite(err), err, 0.0)[k]
                ax.errorbar(xv[k], np.where(p, d[key], np.nan)[k], yerr=yerr, fmt=_marker(name, colours) + "-", ms=2.5,
                            lw=0.7, elinewidth=0.6, capsize=1.2, color=colours.get(name, OKABE_ITO[i % 8]), label=name)
            ax.set_ylabel(_PARAM_LABEL[key])
            if key == "phase_fraction":
                ax.set_ylim(-0.05, 1.05)
            else:
                ax.ticklabel_format(axis="y", useOffset=False)
            if key == "volume" and changes is not None:
                lines = volume_change_texts(changes, names, xv, ax_def.label)
                if lines:
                    ax.set_title(_wrap(lines, WIDTH_IN[cfg.width] - 0.6, _small(cfg)), loc="left", fontsize=_small(cfg))
                    texts.extend(line.strip() for line in lines)
        axes[-1].set_xlabel(ax_def.label)
        handles, labels = [], []
        for ax in axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        if handles:
            fig.legend(handles, labels, loc="outside upper center", frameon=False,
                       ncols=_legend_columns(labels, WIDTH_IN[cfg.width], _small(cfg)))
        return _finish(fig, list(axes), out_stem, cfg, texts=texts)


def _major(data: dict[str, dict], min_fraction: float) -> list[str]:
    """Phases whose weight fraction reaches ``min_fraction`` somewhere (all when none has fractions)."""
    out = []
    for name, d in data.items():
        f = d.get("phase_fraction")
        if f is None or not np.isfinite(f).any() or np.nanmax(f) >= min_fraction:
            out.append(name)
    return out


# ----------------------------------------------------------------------------- valence timeline


def plot_valence_timeline(results_path: Path, out_stem: Path, cfg: PaperFiguresConfig) -> FigureResult | None:
    """Voltage, XANES and XPS valence and lattice volume of ``/entry/timeline`` on one shared axis.

    Panels in ``cfg.timeline.panels`` order, top to bottom; a panel without data is left out
    (logged, and listed in ``FigureResult.notes``). Operando series are lines (uncertainty as
    bands or bars); ex situ samples are points with y error bars and x error bars from their
    placement uncertainty (time or x). Legend entries name technique and kind. Returns None
    without a timeline.
    """
    import h5py

    plt = pyplot()
    tc = cfg.timeline
    with h5py.File(results_path, "r") as h5:
        if "entry/timeline" not in h5:
            return None
        series = _series(h5)
        echem = _echem_curve(h5)
        ax_def = _Axis(h5, cfg)
        colours = _phase_colours(h5)
    fractions = {s.get("phase", ""): s for s in series.values() if s.get("technique") == "xrd" and s.get("quantity") == "fraction"}
    pick = {
        "voltage": [],
        "xanes": [s for s in series.values() if s.get("technique") == "xanes" and s.get("quantity") == "valence"],
        "xps": [s for s in series.values() if s.get("technique") == "xps"
                and s.get("quantity") == ("valence" if tc.xps_quantity == "mean_valence" else "fraction")],
        "volume": [s for s in series.values() if s.get("technique") == "xrd" and s.get("quantity") == "volume"
                   and _reaches(fractions.get(s.get("phase", "")), cfg.lattice.min_fraction)],
        "fraction": [s for s in series.values() if s.get("technique") == "xrd" and s.get("quantity") == "fraction"],
    }
    ylabels = {"voltage": "voltage (V)", "xanes": "valence (XANES)", "xps": "valence (XPS)" if tc.xps_quantity == "mean_valence"
               else "fraction (XPS)", "volume": "V (Å³)", "fraction": "weight fraction"}
    panels_wanted = [p for p in tc.panels if (p == "voltage" and echem is not None) or pick.get(p)]
    notes = [f"panel {p!r} left out: no data" for p in tc.panels if p not in panels_wanted]
    for n in notes:
        log.info("valence timeline: %s", n)
    if not panels_wanted:
        return None
    with plt.rc_context(_rc(cfg)):
        n = len(panels_wanted)
        fig = _figure(cfg, 1.45 * n + 0.5)
        axes = np.atleast_1d(fig.subplots(n, 1, sharex=True))
        for ax, panel in zip(axes, panels_wanted):
            if panel == "voltage":
                ax.plot(ax_def.curve(echem), echem["voltage_v"], color="black", lw=0.9, label="cell voltage (operando)")
            first = 1 if panel == "xps" else 0  # XPS points apart from the XANES ones in colour and marker
            for i, s in enumerate(pick.get(panel, []), start=first):
                phase = s.get("phase", "") if s.get("technique") == "xrd" else ""
                colour = colours.get(phase, OKABE_ITO[i % 8])
                marker = _marker(phase, colours) if phase in colours else MARKERS[i % 8]
                _draw_series(ax, s, ax_def, colour, marker, tc.uncertainty)
            ax.set_ylabel(ylabels[panel])
            if panel == "fraction" or (panel == "xps" and tc.xps_quantity == "fractions"):
                ax.set_ylim(-0.05, 1.05)
            elif panel == "volume":
                ax.ticklabel_format(axis="y", useOffset=False)
            handles, labels = ax.get_legend_handles_labels()
            if panel != "voltage" or len(labels) > 1:
                # above the panel, clear of the data
                ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.0), borderaxespad=0.2, frameon=False,
                          ncols=_legend_columns(labels, WIDTH_IN[cfg.width] - 0.7, _small(cfg)), handletextpad=0.4,
                          columnspacing=1.2)
        axes[-1].set_xlabel(ax_def.label)
        return _finish(fig, list(axes), out_stem, cfg, notes=notes)


def _reaches(fraction_series: dict | None, min_fraction: float) -> bool:
    if fraction_series is None:
        return True
    v = np.asarray(fraction_series["value"], float)
    return not np.isfinite(v).any() or np.nanmax(v) >= min_fraction


def series_label(s: dict) -> str:
    """Legend text of a timeline series: its ``label`` with the kind, e.g. 'XANES V K (ex situ)'."""
    kind = s.get("kind", "").replace("_", " ")
    label = s.get("label") or " ".join(
        v for v in (s.get("technique", "").upper(), s.get("element") or s.get("phase") or s.get("species", ""),
                    s.get("quantity", "")) if v)
    return label if not kind or f"({kind})" in label else f"{label} ({kind})"


def _draw_series(ax, s: dict, ax_def: _Axis, colour: str, marker: str, uncertainty: str) -> None:
    x = ax_def.values(s)
    xe = ax_def.values(s, err=True)
    v = np.asarray(s["value"], float)
    e = np.asarray(s["value_err"], float)
    ok = np.isfinite(x) & np.isfinite(v)
    if not ok.any():
        return
    e = np.where(np.isfinite(e), e, 0.0)
    label = series_label(s)
    if s.get("kind") != "operando":
        ax.errorbar(x[ok], v[ok], yerr=e[ok], xerr=np.where(np.isfinite(xe[ok]), xe[ok], 0.0), fmt=marker, ms=3.5, color=colour,
                    mfc="white", mew=0.9, elinewidth=0.7, capsize=1.5, ls="none", label=label)
        return
    # operando: points without a value (phase absent) break the line instead of being bridged
    k = np.isfinite(x)
    if uncertainty == "bands":
        ax.plot(x[k], v[k], "-", marker=marker, ms=2.0, color=colour, lw=1.0, label=label)
        ax.fill_between(x[k], (v - e)[k], (v + e)[k], color=colour, alpha=0.25, lw=0)
    else:
        ax.errorbar(x[k], v[k], yerr=e[k], fmt=marker + "-", ms=2.0, color=colour, lw=1.0, elinewidth=0.6, capsize=1.0,
                    label=label)
