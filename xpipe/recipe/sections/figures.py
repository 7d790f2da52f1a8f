"""Recipe section ``figures``: the publication figures (contour map, lattice evolution, valence timeline)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..schema import Context, setting

# perceptually uniform colormaps (matplotlib): a contour map's intensities read without artefacts
UNIFORM_COLORMAPS = ("viridis", "cividis", "magma", "inferno", "plasma", "gray", "Greys", "gray_r", "Greys_r",
                     "viridis_r", "cividis_r", "magma_r", "inferno_r", "plasma_r")



@dataclass(kw_only=True)
class ContourMapConfig:
    """figures/contour_map: the stack in radial windows, tracked peaks, voltage beside it.

    Recipe section ``figures.contour``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> ctx = Context(base_dir=Path("."))
    >>> build(ContourMapConfig, {"colormap": "jet"}, "figures.contour", 1, ctx) is None
    True
    >>> ctx.problems[0].message.split(" (")[0]
    "'jet' is not perceptually uniform"
    >>> ContourMapConfig().percentiles
    [1.0, 99.5]
    """

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
    """figures/lattice_evolution: cell parameters and phase fractions per phase.

    Recipe section ``figures.lattice``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> LatticeFigureConfig().parameters
    ['a', 'c', 'volume', 'phase_fraction']
    """

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
    """figures/valence_timeline: every technique on one shared axis.

    Recipe section ``figures.timeline``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> cfg = TimelineFigureConfig()
    >>> cfg.panels, cfg.uncertainty
    (['voltage', 'xanes', 'xps', 'volume'], 'bands')
    """

    enabled: bool = setting(True, doc="Draw the valence-state timeline.")
    panels: list[Literal["voltage", "xanes", "xps", "volume", "fraction"]] = setting(
        default_factory=lambda: ["voltage", "xanes", "xps", "volume"], doc="Panels, top to bottom; a panel without data is left out.")
    xps_quantity: Literal["mean_valence", "fractions"] = setting("mean_valence", doc="XPS panel: mean valence, or the share of each valence state.")
    uncertainty: Literal["bars", "bands"] = setting("bands", doc="Operando series: error bars or shaded bands (ex situ points always get bars).")


@dataclass(kw_only=True)
class PaperFiguresConfig:
    """Publication figures (contour map, lattice evolution, valence timeline).

    Recipe section ``figures``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> cfg = build(PaperFiguresConfig, {"dpi": 600, "contour": {"scale": "log"}}, "figures", 1,
    ...             Context(base_dir=Path(".")))
    >>> cfg.dpi, cfg.contour.scale, cfg.font_size_pt
    (600, 'log', 8.0)
    """

    axis: Literal["time", "x"] = setting("time", doc="Shared axis: time on the cycler clock, or x (ion content, needs echem.electrode).")
    time_unit: Literal["s", "min", "h"] = setting("h", doc="Time unit.")
    formats: list[Literal["png", "svg", "pdf"]] = setting(default_factory=lambda: ["png", "svg"], doc="Files written per figure.")
    dpi: int = setting(300, doc="Resolution of the PNG files.", minimum=72, maximum=1200)
    width: Literal["single", "double"] = setting("double", doc="Journal column width: single 3.5 in, double 7.2 in.")
    font_size_pt: float = setting(8.0, doc="Base font size at the printed size.", unit="pt", minimum=6, maximum=14)
    contour: ContourMapConfig = setting(default_factory=ContourMapConfig, doc="Contour map (see figures.contour).")
    lattice: LatticeFigureConfig = setting(default_factory=LatticeFigureConfig, doc="Lattice figure (see figures.lattice).")
    timeline: TimelineFigureConfig = setting(default_factory=TimelineFigureConfig, doc="Valence timeline (see figures.timeline).")
