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

Every figure has its own module (:mod:`~xpipe.stages.paper_contour`,
:mod:`~xpipe.stages.paper_lattice`, :mod:`~xpipe.stages.paper_timeline`) on the style, layout and
reading shared in :mod:`~xpipe.stages.paper_style`; this module gathers their public names, with
the recipe section's settings, so that the figures are imported from one place.
"""

from __future__ import annotations

from ..recipe.sections.figures import (
    ContourMapConfig,
    LatticeFigureConfig,
    PaperFiguresConfig,
    TimelineFigureConfig,
)
from .paper_contour import plot_contour_map
from .paper_lattice import plot_lattice_evolution, volume_change_texts
from .paper_style import (
    MARKERS,
    OKABE_ITO,
    PHASE_COLOURS,
    TIME_FACTOR,
    WIDTH_IN,
    FigureResult,
    text_boxes,
)
from .paper_timeline import plot_valence_timeline, series_label

__all__ = [
    "MARKERS",
    "OKABE_ITO",
    "PHASE_COLOURS",
    "TIME_FACTOR",
    "WIDTH_IN",
    "ContourMapConfig",
    "FigureResult",
    "LatticeFigureConfig",
    "PaperFiguresConfig",
    "TimelineFigureConfig",
    "plot_contour_map",
    "plot_lattice_evolution",
    "plot_valence_timeline",
    "series_label",
    "text_boxes",
    "volume_change_texts",
]
