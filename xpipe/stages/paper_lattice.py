"""The lattice-evolution figure of the publication figures (:mod:`xpipe.stages.paper_figures`).

Cell parameters and phase fractions per phase with error bars on the shared axis, the volume
change annotated above the volume panel.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from ..nexus import labelled
from ..recipe.sections.figures import PaperFiguresConfig
from ..summary import volume_changes
from .output import pyplot
from .paper_style import (
    OKABE_ITO,
    WIDTH_IN,
    FigureResult,
    _Axis,
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

    Parameters
    ----------
    changes : dict
        What :func:`xpipe.summary.volume_changes` returns (``phases`` and ``transitions``).
    names : list of str
        The phases to annotate; a reaction is annotated when both of its phases are named.
    frame_axis : numpy.ndarray, optional
        The frames on the shared axis, to place the first coexistence (else its frame number).
    axis_label : str, optional
        The label of ``frame_axis``: 'time (<unit>)' gives the time in that unit, else x.

    Returns
    -------
    list of str
        The annotation lines; reaction details are indented by four spaces.

    Examples
    --------
    >>> changes = {"phases": {"NVP": {"frames_present": 30, "change_net_percent": -0.8,
    ...                               "change_min_percent": -0.85, "change_max_percent": 0.0}},
    ...            "transitions": [{"from": "NVP", "to": "NaVP", "frame": 2,
    ...                             "change_from_first_percent": -8.1, "change_percent": -7.4}]}
    >>> for line in volume_change_texts(changes, ["NVP", "NaVP"], np.array([0.0, 0.5, 1.0]),
    ...                                 "time (h)"):
    ...     print(line)
    NVP: ΔV = -0.80 % (last vs first; extreme -0.85 %)
    NVP → NaVP: ΔV = -8.10 %
        at first coexistence (1 h): ΔV = -7.40 %
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
    returned in ``FigureResult.texts``).

    Parameters
    ----------
    results_path : Path
        The results.h5 to draw from.
    out_stem : Path
        Path of the figure without suffix; one file per format in ``cfg.formats``.
    cfg : PaperFiguresConfig
        The recipe's ``figures`` section (``cfg.lattice`` for this figure).

    Returns
    -------
    FigureResult or None
        What was drawn and the files written; None without lattice results or phases to show.

    Examples
    --------
    >>> import pathlib, tempfile, h5py
    >>> from xpipe.recipe.sections.figures import PaperFiguresConfig
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with h5py.File(folder / "results.h5", "w") as h5:  # one phase over six frames, by hand
    ...     g = h5.create_group("entry/xrd/lattice/NVP")
    ...     g["frame_time_s"], g["present"] = 600.0 * np.arange(6), np.ones(6, bool)
    ...     g["a"], g["c"], g["phase_fraction"] = 8.73 - 0.004 * np.arange(6), [21.8] * 6, [1.0] * 6
    ...     g["volume"], g["volume_err"] = 1438.7 - 2.0 * np.arange(6), [0.3] * 6
    >>> cfg = PaperFiguresConfig(formats=["png"], dpi=100)
    >>> res = plot_lattice_evolution(folder / "results.h5", folder / "lattice_evolution", cfg)
    >>> [p.name for p in res.paths], res.ylabels
    (['lattice_evolution.png'], ['a (Å)', 'c (Å)', 'V (Å³)', 'weight fraction'])
    >>> res.texts  # the volume change, also in the volume panel's title
    ['NVP: ΔV = -0.69 % (last vs first; extreme -0.69 %)']
    """
    plt = pyplot()
    lc = cfg.lattice
    with _open(results_path) as h5:
        if "entry/xrd/lattice" not in h5:
            return None
        lat = labelled(h5["entry/xrd/lattice"])  # phase label -> group
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
            _draw_parameter(ax, key, data, all_names, fraction_names if key == "phase_fraction" else names, xv, colours)
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
        _phase_legend(fig, axes, cfg)
        return _finish(fig, list(axes), out_stem, cfg, texts=texts)


def _draw_parameter(ax, key: str, data: dict[str, dict], all_names: list[str], shown: list[str],
                    xv: np.ndarray, colours: dict[str, str]) -> None:
    """Parameter ``key`` of every phase in ``shown`` (in the order of ``all_names``) as markers
    and lines with error bars, only where the phase is present."""
    for i, name in enumerate(all_names):
        d = data[name]
        if key not in d or name not in shown:
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


def _phase_legend(fig, axes, cfg: PaperFiguresConfig) -> None:
    """One legend above the panels, each phase once."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside upper center", frameon=False,
                   ncols=_legend_columns(labels, WIDTH_IN[cfg.width], _small(cfg)))


def _major(data: dict[str, dict], min_fraction: float) -> list[str]:
    """Phases whose weight fraction reaches ``min_fraction`` somewhere (all when none has fractions)."""
    out = []
    for name, d in data.items():
        f = d.get("phase_fraction")
        if f is None or not np.isfinite(f).any() or np.nanmax(f) >= min_fraction:
            out.append(name)
    return out
