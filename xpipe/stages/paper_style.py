"""Style, layout and reading shared by the publication figures (:mod:`xpipe.stages.paper_figures`).

The Okabe-Ito colours, one colour and marker per phase, journal widths and font sizes; the shared
axis (time on the cycler clock, or x); the figure read back into a :class:`FigureResult` and
written in every format asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..nexus import labelled
from ..outfiles import atomic_savefig
from ..recipe.sections.figures import PaperFiguresConfig
from .output import OKABE_ITO, pyplot  # noqa: F401  (re-exported for the paper figures)

# phases: the same colours, ordered so that the first ones stand out on dark colormap regions too
PHASE_COLOURS = ["#56B4E9", "#E69F00", "#CC79A7", "#009E73", "#D55E00", "#0072B2", "#F0E442", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
WIDTH_IN = {"single": 3.5, "double": 7.2}
TIME_FACTOR = {"s": 1.0, "min": 60.0, "h": 3600.0}


@dataclass
class FigureResult:
    """What was drawn, read back from the figure before it was closed (for checks and tests).

    Parameters
    ----------
    paths : list of Path
        The files written, one per format.
    n_panels : int
        Data panels (colour bars excluded).
    ylims, xlims : list of (float, float)
        Each panel's limits.
    xlabels, ylabels : list of str
        Each panel's axis labels.
    texts, notes : list of str
        Annotations drawn (the volume changes), and what was left out or fell back.
    size_in : (float, float)
        Figure size in inches (the PNG is ``size_in * dpi`` pixels).
    dpi : int
        Resolution of the PNG.
    text_boxes : list of (str, float, (float, float, float, float))
        Every drawn text: text, font size in pt and window extent (x0, y0, x1, y1) in PNG
        pixels, origin bottom left; tick labels only where a tick is in view.
    panel_boxes : list of (float, float, float, float)
        The window extent of each panel's plotting area, in the same pixels.

    Examples
    --------
    >>> res = FigureResult([Path("f.png")], 1, [(0.0, 1.0)], [(0.0, 5.0)], ["time (h)"],
    ...                    ["voltage (V)"], text_boxes=[("time (h)", 8.0, (10, 2, 60, 12)),
    ...                                                 ("0", 7.0, (9, 14, 13, 22))])
    >>> res.n_panels, res.min_font_pt
    (1, 7.0)
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


def _phase_colours(h5) -> dict[str, str]:
    """One colour per phase, the same in every figure: the order of /entry/xrd/lattice, then
    phases that only tracked peaks name."""
    names: list[str] = list(labelled(h5["entry/xrd/lattice"])) if "entry/xrd/lattice" in h5 else []
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
    """Every drawn text of ``fig`` after layout, with its font size and place in the PNG.

    Tick labels count only where their tick is in view; texts that are hidden, blank or on a
    hidden axes are left out.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, drawn (without rendering) before the texts are measured.

    Returns
    -------
    list of (str, float, tuple of 4 float)
        (text, font size in pt, window extent (x0, y0, x1, y1) in pixels, origin bottom left).

    Examples
    --------
    >>> plt = pyplot()
    >>> fig, ax = plt.subplots(figsize=(2, 1.5), dpi=100)
    >>> _ = ax.set_xlim(0, 1), ax.set_xticks([0, 1]), ax.set_yticks([])
    >>> _ = ax.set_xlabel("time (h)", fontsize=8)
    >>> [(text, size) for text, size, box in text_boxes(fig)]
    [('time (h)', 8.0), ('0', 10.0), ('1', 10.0)]
    >>> plt.close(fig)
    """
    from matplotlib.text import Text  # deferred until a figure is drawn

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
        atomic_savefig(fig, p, dpi=cfg.dpi)
        res.paths.append(p)
    pyplot().close(fig)
    return res


def _legend_columns(labels: list[str], width_in: float, font_pt: float, most: int = 4) -> int:
    """How many legend columns fit across ``width_in`` inches (entries of the longest label's width)."""
    entry_in = (0.6 * font_pt * max((len(t) for t in labels), default=1) + 3.5 * font_pt) / 72.0
    return int(max(1, min(most, len(labels), (width_in - 0.2) // entry_in)))


def _open(results_path: Path):
    """``results_path`` opened read-only, as an h5py file to use in a ``with`` block."""
    import h5py  # deferred until a figure is drawn, not when the stages are listed

    return h5py.File(results_path, "r")
