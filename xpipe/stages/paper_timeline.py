"""The valence-timeline figure of the publication figures (:mod:`xpipe.stages.paper_figures`).

Voltage, XANES and XPS valence and lattice volume on one shared axis; operando series as lines,
ex situ samples as points with both error bars.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..recipe.sections.figures import PaperFiguresConfig
from .output import pyplot
from .paper_style import (
    MARKERS,
    OKABE_ITO,
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
)

log = logging.getLogger("xpipe")


def plot_valence_timeline(results_path: Path, out_stem: Path, cfg: PaperFiguresConfig) -> FigureResult | None:
    """Voltage, XANES and XPS valence and lattice volume of ``/entry/timeline`` on one shared axis.

    Panels in ``cfg.timeline.panels`` order, top to bottom; a panel without data is left out
    (logged, and listed in ``FigureResult.notes``). Operando series are lines (uncertainty as
    bands or bars); ex situ samples are points with y error bars and x error bars from their
    placement uncertainty (time or x). Legend entries name technique and kind.

    Parameters
    ----------
    results_path : Path
        The results.h5 to draw from.
    out_stem : Path
        Path of the figure without suffix; one file per format in ``cfg.formats``.
    cfg : PaperFiguresConfig
        The recipe's ``figures`` section (``cfg.timeline`` for this figure, and
        ``cfg.lattice.min_fraction`` for the phases of the volume panel).

    Returns
    -------
    FigureResult or None
        What was drawn and the files written; None without a timeline or any panel with data.

    Examples
    --------
    The timeline of the bundled cycler record alone (no spectra, no lattice):

    >>> import pathlib, tempfile, h5py, xpipe
    >>> from xpipe.recipe.sections.figures import PaperFiguresConfig
    >>> from xpipe.stages.registry import build_stages
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_full.yaml")
    >>> stages = {s.name: s for s in build_stages(loaded.recipe, loaded.base_dir)}
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with h5py.File(folder / "results.h5", "w") as h5:
    ...     entry = h5.create_group("entry")
    ...     _ = stages["echem"].write(entry, None), stages["timeline"].write(entry, None)
    >>> cfg = PaperFiguresConfig(formats=["png"], dpi=100)
    >>> res = plot_valence_timeline(folder / "results.h5", folder / "valence_timeline", cfg)
    >>> [p.name for p in res.paths], res.ylabels, res.xlabels
    (['valence_timeline.png'], ['voltage (V)'], ['time (h)'])
    >>> res.notes[0]
    "panel 'xanes' left out: no data"
    """
    plt = pyplot()
    tc = cfg.timeline
    with _open(results_path) as h5:
        if "entry/timeline" not in h5:
            return None
        series = _series(h5)
        echem = _echem_curve(h5)
        ax_def = _Axis(h5, cfg)
        colours = _phase_colours(h5)
    pick = _panel_series(series, cfg)
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
            _draw_panel(ax, panel, pick.get(panel, []), echem, ax_def, colours, cfg)
        axes[-1].set_xlabel(ax_def.label)
        return _finish(fig, list(axes), out_stem, cfg, notes=notes)


def _panel_series(series: dict[str, dict], cfg: PaperFiguresConfig) -> dict[str, list[dict]]:
    """The timeline series of each panel (the voltage panel draws the cycler curve instead); the
    volume panel leaves out phases whose fraction never reaches ``cfg.lattice.min_fraction``."""
    tc = cfg.timeline
    fractions = {s.get("phase", ""): s for s in series.values() if s.get("technique") == "xrd" and s.get("quantity") == "fraction"}
    return {
        "voltage": [],
        "xanes": [s for s in series.values() if s.get("technique") == "xanes" and s.get("quantity") == "valence"],
        "xps": [s for s in series.values() if s.get("technique") == "xps"
                and s.get("quantity") == ("valence" if tc.xps_quantity == "mean_valence" else "fraction")],
        "volume": [s for s in series.values() if s.get("technique") == "xrd" and s.get("quantity") == "volume"
                   and _reaches(fractions.get(s.get("phase", "")), cfg.lattice.min_fraction)],
        "fraction": [s for s in series.values() if s.get("technique") == "xrd" and s.get("quantity") == "fraction"],
    }


def _draw_panel(ax, panel: str, picked: list[dict], echem: dict | None, ax_def: _Axis, colours: dict[str, str],
                cfg: PaperFiguresConfig) -> None:
    """Panel ``panel`` of the timeline: its series (or the cycler voltage), y label and limits,
    and its legend above it."""
    tc = cfg.timeline
    ylabels = {"voltage": "voltage (V)", "xanes": "valence (XANES)", "xps": "valence (XPS)" if tc.xps_quantity == "mean_valence"
               else "fraction (XPS)", "volume": "V (Å³)", "fraction": "weight fraction"}
    if panel == "voltage":
        ax.plot(ax_def.curve(echem), echem["voltage_v"], color="black", lw=0.9, label="cell voltage (operando)")
    first = 1 if panel == "xps" else 0  # XPS points apart from the XANES ones in colour and marker
    for i, s in enumerate(picked, start=first):
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


def _reaches(fraction_series: dict | None, min_fraction: float) -> bool:
    if fraction_series is None:
        return True
    v = np.asarray(fraction_series["value"], float)
    return not np.isfinite(v).any() or np.nanmax(v) >= min_fraction


def series_label(s: dict) -> str:
    """Legend text of a timeline series: its ``label`` with the kind, e.g. 'XANES V K (ex situ)'.

    Parameters
    ----------
    s : dict
        A series of ``/entry/timeline/series`` (its attributes: ``label``, ``kind``,
        ``technique``, ``element``, ``phase``, ``species``, ``quantity``).

    Returns
    -------
    str
        The label (or technique, element/phase/species and quantity), with the kind in
        parentheses unless the label already carries it.

    Examples
    --------
    >>> series_label({"label": "XANES V K", "kind": "ex_situ"})
    'XANES V K (ex situ)'
    >>> series_label({"technique": "xrd", "phase": "NVP", "quantity": "volume", "kind": "operando"})
    'XRD NVP volume (operando)'
    """
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
