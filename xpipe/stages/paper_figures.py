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
from typing import Literal

import numpy as np

from ..recipe.schema import Context, setting
from .output import pyplot

log = logging.getLogger("xpipe")

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
UNIFORM_COLORMAPS = ("viridis", "cividis", "magma", "inferno", "plasma", "gray", "Greys", "gray_r", "Greys_r",
                     "viridis_r", "cividis_r", "magma_r", "inferno_r", "plasma_r")
WIDTH_IN = {"single": 3.5, "double": 7.2}
TIME_FACTOR = {"s": 1.0, "min": 60.0, "h": 3600.0}


@dataclass(kw_only=True)
class ContourMapConfig:
    """figures/contour_map: the stack in radial windows, tracked peaks, voltage beside it."""

    enabled: bool = setting(True, doc="Draw the contour map.")
    windows: list[list[float]] | None = setting(
        None, doc="Radial windows [low, high] side by side, in 'unit' (default: the whole range).")
    unit: Literal["2th_deg", "q_A^-1", "d_A"] = setting(
        "2th_deg", doc="Radial axis: 2theta (deg), Q (1/A) or d (A); converting from 2theta needs the wavelength.")
    scale: Literal["linear", "log", "sqrt"] = setting("sqrt", doc="Intensity scale.")
    colormap: str = setting("viridis", doc="A perceptually uniform colormap: viridis, cividis, magma, inferno, plasma or gray (and their _r).")
    percentiles: list[float] = setting(
        default_factory=lambda: [1.0, 99.5], doc="Colour limits as percentiles of the shown intensities.",
        length=2, increasing=True, minimum=0, maximum=100)
    tracks: bool = setting(True, doc="Overlay the fitted positions of the tracked peaks (with xrd.peaks).")
    hkl_labels: bool = setting(True, doc="Label indexed tracks with their phase reflection (hkl) above the map.")
    voltage_panel: bool = setting(True, doc="The voltage curve in a side panel on the same axis (with echem).")

    def check(self, ctx: Context):
        if self.colormap not in UNIFORM_COLORMAPS:
            yield "colormap", (f"{self.colormap!r} is not perceptually uniform (rainbow maps such as jet invent "
                               f"features); use one of {', '.join(UNIFORM_COLORMAPS[:6])}")
        for i, w in enumerate(self.windows or []):
            if len(w) != 2 or not w[0] < w[1]:
                yield f"windows[{i}]", f"expected [low, high] with low < high, found {w}"


@dataclass(kw_only=True)
class LatticeFigureConfig:
    """figures/lattice_evolution: cell parameters and phase fractions per phase."""

    enabled: bool = setting(True, doc="Draw the lattice figure.")
    parameters: list[Literal["a", "b", "c", "alpha", "beta", "gamma", "volume", "phase_fraction"]] = setting(
        default_factory=lambda: ["a", "c", "volume", "phase_fraction"], doc="Panels, top to bottom.")
    phases: list[str] | None = setting(None, doc="Phases to show (default: every phase whose weight fraction reaches min_fraction).")
    min_fraction: float = setting(
        0.1, doc="Default phase choice: a minor phase whose weight fraction never reaches this is left out of the "
        "cell panels (its cell would squash the scale of the others); the fraction panel shows every phase.",
        minimum=0, maximum=1)
    annotate_volume_change: bool = setting(True, doc="Annotate the volume change per phase and across a two-phase reaction.")


@dataclass(kw_only=True)
class TimelineFigureConfig:
    """figures/valence_timeline: every technique on one shared axis."""

    enabled: bool = setting(True, doc="Draw the valence-state timeline.")
    panels: list[Literal["voltage", "xanes", "xps", "volume", "fraction"]] = setting(
        default_factory=lambda: ["voltage", "xanes", "xps", "volume"], doc="Panels, top to bottom; a panel without data is left out.")
    xps_quantity: Literal["mean_valence", "fractions"] = setting("mean_valence", doc="XPS panel: mean valence, or the share of each valence state.")
    uncertainty: Literal["bars", "bands"] = setting("bands", doc="Operando series: error bars or shaded bands (ex situ points always get bars).")


@dataclass(kw_only=True)
class PaperFiguresConfig:
    """Publication figures (contour map, lattice evolution, valence timeline)."""

    axis: Literal["time", "x"] = setting("time", doc="Shared axis: time on the cycler clock, or x (ion content, needs echem.electrode).")
    time_unit: Literal["s", "min", "h"] = setting("h", doc="Time unit.")
    formats: list[Literal["png", "svg", "pdf"]] = setting(default_factory=lambda: ["png", "svg"], doc="Files written per figure.")
    dpi: int = setting(300, doc="Resolution of the PNG files.", minimum=72, maximum=1200)
    width: Literal["single", "double"] = setting("double", doc="Journal column width: single 3.5 in, double 7.2 in.")
    font_size_pt: float = setting(8.0, doc="Base font size at the printed size.", unit="pt", minimum=6, maximum=14)
    contour: ContourMapConfig = setting(default_factory=ContourMapConfig, doc="Contour map (see figures.contour).")
    lattice: LatticeFigureConfig = setting(default_factory=LatticeFigureConfig, doc="Lattice figure (see figures.lattice).")
    timeline: TimelineFigureConfig = setting(default_factory=TimelineFigureConfig, doc="Valence timeline (see figures.timeline).")


@dataclass
class FigureResult:
    """What was drawn, read back from the figure before it was closed (for checks and tests)."""

    paths: list[Path]
    n_panels: int
    ylims: list[tuple[float, float]]
    xlims: list[tuple[float, float]]
    xlabels: list[str]
    ylabels: list[str]
    texts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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
    for path in ("entry/xrd/integration/geometry/wavelength_a", "entry/xrd/patterns/wavelength_a"):
        if path in h5:
            wl = float(h5[path][()])
            if np.isfinite(wl) and wl > 0:
                return wl
    return None


class _Axis:
    """The shared axis: values from a series (time on the cycler clock, or x) and its label."""

    def __init__(self, h5, cfg: PaperFiguresConfig) -> None:
        tl = h5["entry/timeline"].attrs if "entry/timeline" in h5 else {}
        self.kind = cfg.axis
        self.unit = cfg.time_unit
        self.x_label = _text(tl.get("x_label", "x"))
        self.notes: list[str] = []

    def values(self, s: dict, err: bool = False) -> np.ndarray:
        if self.kind == "x":
            return np.asarray(s["x_err" if err else "x"], float)
        return np.asarray(s["time_err_s" if err else "time_s"], float) / TIME_FACTOR[self.unit]

    def curve(self, echem: dict) -> np.ndarray:
        return echem["x"] if self.kind == "x" else echem["time_s"] / TIME_FACTOR[self.unit]

    @property
    def label(self) -> str:
        return self.x_label if self.kind == "x" else f"time ({self.unit})"


# ----------------------------------------------------------------------------- drawing helpers


def _rc(cfg: PaperFiguresConfig) -> dict:
    f = cfg.font_size_pt
    return {"font.size": f, "axes.labelsize": f, "axes.titlesize": f, "xtick.labelsize": f - 1,
            "ytick.labelsize": f - 1, "legend.fontsize": f - 1, "axes.linewidth": 0.6, "lines.linewidth": 1.0,
            "lines.markersize": 3.5, "xtick.direction": "in", "ytick.direction": "in", "svg.fonttype": "none",
            "pdf.fonttype": 42}


def _finish(fig, panels, out_stem: Path, cfg: PaperFiguresConfig, texts=None, notes=None) -> FigureResult:
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in cfg.formats:
        p = out_stem.with_suffix(f".{fmt}")
        fig.savefig(p, dpi=cfg.dpi if fmt == "png" else None)
        paths.append(p)
    res = FigureResult(paths, len(panels), [tuple(map(float, a.get_ylim())) for a in panels],
                       [tuple(map(float, a.get_xlim())) for a in panels], [a.get_xlabel() for a in panels],
                       [a.get_ylabel() for a in panels], list(texts or []), list(notes or []))
    pyplot().close(fig)
    return res


def _radial(h5, unit: str) -> tuple[np.ndarray, str, callable]:
    """The radial axis in ``unit`` and a converter from the stored unit's values."""
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
    """Contour map in ``cfg.contour.windows`` sharing the y axis, with the voltage panel."""
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
        frames = series.get("xrd_frames")
        if frames is None:
            t = h5["entry/xrd/integrated/frame_time_s"][()]
            frames = {"time_s": t, "time_err_s": np.zeros_like(t), "x": np.full(t.shape, np.nan), "voltage_v": np.full(t.shape, np.nan)}
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
    show_v = c.voltage_panel and echem is not None
    if show_v:
        ratios.append(0.45)
    with plt.rc_context(_rc(cfg)):
        fig = plt.figure(figsize=(WIDTH_IN[cfg.width], 0.62 * WIDTH_IN[cfg.width] if cfg.width == "double" else 3.2),
                         layout="constrained")
        gs = fig.add_gridspec(1, len(ratios), width_ratios=ratios, wspace=0.02)
        panels = []
        phases = sorted({p for p in (peaks or {}).get("phase", []) if p})
        for i, (w, m) in enumerate(zip(windows, sel)):
            ax = fig.add_subplot(gs[0, i], sharey=panels[0] if panels else None)
            order = np.argsort(radial[m])
            mesh = ax.pcolormesh(radial[m][order], y, np.clip(z[:, m][:, order], norm.vmin, None), shading="nearest",
                                 cmap=c.colormap, norm=norm, rasterized=True)
            ax.set_xlim(min(w), max(w))
            ax.set_xlabel(xlabel)
            if i == 0:
                ax.set_ylabel(ylabel)
            else:
                ax.tick_params(labelleft=False)
            if peaks is not None:
                _draw_tracks(ax, peaks, y, w, phases, c.hkl_labels)
            panels.append(ax)
        if phases and peaks is not None:
            from matplotlib.lines import Line2D

            handles = [Line2D([], [], ls="none", marker="o", ms=3, color=OKABE_ITO[i % 8], label=p) for i, p in enumerate(phases)]
            fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), frameon=False,
                       title="tracked reflections", title_fontsize=cfg.font_size_pt - 1)
        from matplotlib.ticker import FuncFormatter, MaxNLocator

        cb = fig.colorbar(mesh, ax=panels, location="top", shrink=0.6, aspect=40, pad=0.03)
        cb.set_label(f"intensity ({c.scale} scale)")
        cb.ax.xaxis.set_major_locator(MaxNLocator(5))
        cb.ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
        cb.ax.tick_params(labelsize=cfg.font_size_pt - 2)
        if show_v:
            axv = fig.add_subplot(gs[0, len(windows)], sharey=panels[0])
            yv = ax_def.curve(echem) if ylabel != "frame" else None
            if yv is not None:
                lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
                keep = (yv >= lo - 0.02 * (hi - lo)) & (yv <= hi + 0.02 * (hi - lo))
                axv.plot(echem["voltage_v"][keep], yv[keep], color="black", lw=0.9)
            axv.set_xlabel("voltage (V)")
            axv.tick_params(labelleft=False)
            panels.append(axv)
        pad = 0.5 * (np.nanmax(np.diff(y)) if y.size > 1 else 1.0)
        panels[0].set_ylim(float(np.nanmin(y)) - pad, float(np.nanmax(y)) + pad)
        if notes:
            fig.suptitle("; ".join(notes), fontsize=cfg.font_size_pt - 1)
        return _finish(fig, panels, out_stem, cfg, notes=notes)


def _draw_tracks(ax, peaks, y, window, phases, labels: bool) -> None:
    pos, ok = peaks["position"], peaks["success"]
    lo, hi = min(window), max(window)
    placed: list[float] = []
    min_gap = 0.045 * (hi - lo)
    order = np.argsort(np.nanmedian(np.where(ok, pos, np.nan), axis=0))
    for t in order:
        good = ok[:, t] & np.isfinite(pos[:, t]) & (pos[:, t] >= lo) & (pos[:, t] <= hi)
        if not good.any():
            continue
        phase = peaks["phase"][t] if t < len(peaks["phase"]) else ""
        colour = OKABE_ITO[phases.index(phase) % 8] if phase in phases else "white"
        ax.plot(pos[good, t], y[good], ".", ms=1.6, color=colour, alpha=0.9, rasterized=True)
        label = peaks["label"][t] if t < len(peaks["label"]) else ""
        if labels and label:
            x0 = float(np.median(pos[good, t]))
            if all(abs(x0 - p) >= min_gap for p in placed):
                hkl = label[len(phase):].strip() if phase and label.startswith(phase) else label
                ax.annotate(hkl, (x0, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 2), textcoords="offset points",
                            rotation=90, ha="center", va="bottom", fontsize=5.5, color=colour if colour != "white" else "black")
                placed.append(x0)


# ----------------------------------------------------------------------------- lattice evolution

_PARAM_LABEL = {"a": "a (Å)", "b": "b (Å)", "c": "c (Å)", "alpha": "α (°)", "beta": "β (°)", "gamma": "γ (°)",
                "volume": "V (Å³)", "phase_fraction": "weight fraction"}


def plot_lattice_evolution(results_path: Path, out_stem: Path, cfg: PaperFiguresConfig) -> FigureResult | None:
    """Cell parameters and phase fractions against the shared axis, per phase, with error bars."""
    import h5py

    from ..summary import volume_changes

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
        frames = _series(h5).get("xrd_frames")
        if frames is None:
            t = lat[names[0]]["frame_time_s"][()] if names else np.zeros(0)
            frames = {"time_s": t, "time_err_s": np.zeros_like(t), "x": np.full(t.shape, np.nan)}
    if not names:
        return None
    xv = ax_def.values(frames)
    with plt.rc_context(_rc(cfg)):
        n = len(lc.parameters)
        fig, axes = plt.subplots(n, 1, sharex=True, figsize=(WIDTH_IN[cfg.width] * (0.62 if cfg.width == "double" else 1.0),
                                                             1.25 * n + 0.6), layout="constrained")
        axes = np.atleast_1d(axes)
        texts: list[str] = []
        for ax, key in zip(axes, lc.parameters):
            for i, name in enumerate(all_names):
                d = data[name]
                if key not in d or (key != "phase_fraction" and name not in names):
                    continue
                p = d.get("present", np.ones(d[key].shape, bool)).astype(bool) & np.isfinite(d[key])
                if not p.any():
                    continue
                err = d.get(f"{key}_err")
                ax.errorbar(xv[p], d[key][p], yerr=None if err is None else np.where(np.isfinite(err[p]), err[p], 0),
                            fmt=MARKERS[i % 8] + "-", ms=2.5, lw=0.7, elinewidth=0.6, capsize=1.2, color=OKABE_ITO[i % 8],
                            label=name)
            ax.set_ylabel(_PARAM_LABEL[key])
            if key == "phase_fraction":
                ax.set_ylim(-0.05, 1.05)
            if key == "volume" and changes is not None:
                lines = []
                for name in names:
                    ph = changes["phases"].get(name, {})
                    if ph.get("frames_present"):
                        ext = max((ph["change_min_percent"], ph["change_max_percent"]), key=abs)
                        lines.append(f"{name}: ΔV up to {ext:+.2f} %")
                for tr in changes["transitions"]:
                    lines.append(f"{tr['from']} → {tr['to']}: ΔV = {tr['change_from_first_percent']:+.2f} %")
                if lines:
                    ax.set_title("\n".join(lines), loc="left", fontsize=cfg.font_size_pt - 1)
                    texts.extend(lines)
        axes[-1].set_xlabel(ax_def.label)
        handles, labels = [], []
        for ax in axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        if handles:
            fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 3), frameon=False)
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
    """Voltage, XANES and XPS valence and lattice volume on one shared axis."""
    import h5py

    plt = pyplot()
    tc = cfg.timeline
    with h5py.File(results_path, "r") as h5:
        if "entry/timeline" not in h5:
            return None
        series = _series(h5)
        echem = _echem_curve(h5)
        ax_def = _Axis(h5, cfg)
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
        fig, axes = plt.subplots(n, 1, sharex=True, figsize=(WIDTH_IN[cfg.width] * (0.7 if cfg.width == "double" else 1.0),
                                                             1.3 * n + 0.5), layout="constrained")
        axes = np.atleast_1d(axes)
        for ax, panel in zip(axes, panels_wanted):
            if panel == "voltage":
                ax.plot(ax_def.curve(echem), echem["voltage_v"], color="black", lw=0.9, label="cell voltage")
            for i, s in enumerate(pick.get(panel, [])):
                _draw_series(ax, s, ax_def, OKABE_ITO[i % 8], MARKERS[i % 8], tc.uncertainty)
            ax.set_ylabel(ylabels[panel])
            if panel != "voltage" or len(ax.get_lines()) > 1:
                ax.legend(loc="best", frameon=False)
        axes[-1].set_xlabel(ax_def.label)
        return _finish(fig, list(axes), out_stem, cfg, notes=notes)


def _reaches(fraction_series: dict | None, min_fraction: float) -> bool:
    if fraction_series is None:
        return True
    v = np.asarray(fraction_series["value"], float)
    return not np.isfinite(v).any() or np.nanmax(v) >= min_fraction


def _draw_series(ax, s: dict, ax_def: _Axis, colour: str, marker: str, uncertainty: str) -> None:
    x = ax_def.values(s)
    xe = ax_def.values(s, err=True)
    v = np.asarray(s["value"], float)
    e = np.asarray(s["value_err"], float)
    ok = np.isfinite(x) & np.isfinite(v)
    if not ok.any():
        return
    e = np.where(np.isfinite(e), e, 0.0)
    label = s.get("label", "")
    if s.get("kind") == "ex_situ":
        ax.errorbar(x[ok], v[ok], yerr=e[ok], xerr=np.where(np.isfinite(xe[ok]), xe[ok], 0.0), fmt=marker, ms=3.5, color=colour,
                    mfc="white", mew=0.9, elinewidth=0.7, capsize=1.5, ls="none", label=label)
    elif uncertainty == "bands":
        ax.plot(x[ok], v[ok], "-", color=colour, lw=1.0, label=label)
        ax.fill_between(x[ok], (v - e)[ok], (v + e)[ok], color=colour, alpha=0.25, lw=0)
    else:
        ax.errorbar(x[ok], v[ok], yerr=e[ok], fmt="-", color=colour, lw=1.0, elinewidth=0.6, capsize=1.0, label=label)
