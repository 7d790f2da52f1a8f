"""Figures of the peak-tracking stage: tracked contour map and lattice parameters against time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..results import open_results
from ..xrd.operando import PhaseAnalysis
from .output import pyplot, save_figure, styled
from .xrd_products import time_axis

_AXIS_LABEL = {"2th_deg": "2θ (deg)", "q_nm^-1": "Q (nm⁻¹)", "q_A^-1": "Q (Å⁻¹)"}


@styled
def plot_tracked_contour(results_path: Path, an: PhaseAnalysis, out: Path, fig_cfg) -> Path:
    """Contour of the analysed range with fitted positions of every track and hkl labels.

    Parameters
    ----------
    results_path : Path
        The results file, with the stack in ``/entry/xrd/integrated``.
    an : xpipe.xrd.operando.PhaseAnalysis
        The analysis of that stack (tracks, fits, phases, events).
    out : Path
        The PNG to write (its folder is made).
    fig_cfg : xpipe.recipe.sections.xrd.XrdFiguresConfig
        ``time_unit`` and ``contour_scale`` of the recipe's ``xrd.figures``.

    Returns
    -------
    Path
        ``out``.

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> from xpipe.recipe.sections.xrd import XrdFiguresConfig
    >>> from xpipe.xrd.operando import analyse_stack
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, evaluate
    >>> data = pathlib.Path(xpipe.__file__).parents[1] / "example_data" / "nvp_operando"
    >>> ph = make_phase("V2O3", cif=data / "structures" / "V2O3_R-3c.cif", d_min_a=1.2)
    >>> pp = PatternPhase.from_model(ph, unit="2th_deg", wavelength_a=0.7749)
    >>> x, start = np.arange(10.0, 30.0, 0.01), PhaseState.start(ph, w=0.0025)
    >>> stack = np.array([100 * evaluate(pp, start.scaled(1 + 5e-4 * f), x).columns.sum(axis=1)
    ...                   + 20 for f in range(4)])  # four frames, 10 min apart, the cell grows
    >>> an = analyse_stack(x, stack, None, unit="2th_deg", wavelength_a=0.7749, phases=[ph],
    ...                    frame_time_s=600.0 * np.arange(4))
    >>> import h5py
    >>> from xpipe.store import write_record
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with h5py.File(folder / "results.h5", "w") as h5:  # the stack, by hand
    ...     write_record(h5.require_group("entry/xrd"), {"integrated": {
    ...         "radial": x, "intensity": stack, "sigma": np.sqrt(stack),
    ...         "frame_time_s": an.frame_time_s, "frame_index": np.arange(4),
    ...         "source_file": [f"f_{i}.cbf" for i in range(4)]}})
    >>> cfg = XrdFiguresConfig(time_unit="min")
    >>> plot_tracked_contour(folder / "results.h5", an, folder / "tracked.png", cfg).name
    'tracked.png'
    """
    plt = pyplot()
    from matplotlib.colors import LogNorm, Normalize, PowerNorm

    with open_results(results_path) as res:
        s = res.patterns()
    sel = (s.radial >= an.x[0]) & (s.radial <= an.x[-1])
    x = s.radial[sel]
    z = s.intensity[:, sel]
    y, ylabel = time_axis(an.frame_time_s, fig_cfg.time_unit)
    positive = z[np.isfinite(z) & (z > 0)]
    lo, hi = (np.percentile(positive, [2, 99.7]) if positive.size else (0.1, 1.0))
    norm = {"log": LogNorm(vmin=max(lo, 1e-6), vmax=hi), "sqrt": PowerNorm(0.5, vmin=max(lo, 0), vmax=hi),
            "linear": Normalize(vmin=lo, vmax=hi)}[fig_cfg.contour_scale]
    fig, ax = plt.subplots(figsize=(11, 6.5))
    if z.shape[0] > 1:
        mesh = ax.pcolormesh(x, y, np.clip(z, norm.vmin, None), shading="nearest", cmap="viridis", norm=norm, rasterized=True)
    else:
        mesh = ax.imshow(z, aspect="auto", cmap="viridis", norm=norm, extent=(x[0], x[-1], -0.5, 0.5))
    cb = fig.colorbar(mesh, ax=ax, pad=0.01)
    cb.set_label(f"intensity ({fig_cfg.contour_scale} scale)")
    _draw_tracks(plt, ax, an, x, y)
    ax.set_xlabel(_AXIS_LABEL.get(an.unit, an.unit))
    ax.set_ylabel(ylabel)
    for kind, a, b in an.stretches():
        if kind == "two-phase":
            ax.axhspan(y[a], y[b], xmin=0.995, xmax=1.0, color="orange")
    drawn = int(an.fits.success.any(axis=0).sum())  # tracks with at least one fitted position
    two_phase = "; orange bar: two-phase frames" if "two-phase" in an.frame_kind else ""
    ax.set_title(f"{drawn} tracked peaks, {z.shape[0]} frames" + two_phase, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out)
    plt.close(fig)
    return out


def _draw_tracks(plt, ax, an: PhaseAnalysis, x: np.ndarray, y: np.ndarray) -> None:
    """The fitted positions of every track, coloured by phase, hkl labels where they fit, and
    the legend of the phases."""
    names = [p.name for p in an.phases]
    colours = plt.get_cmap("tab10")
    fits = an.fits
    phase_of = an.assignment.phase if an.assignment is not None else np.full(an.tracks.n_tracks, -1)
    status = an.assignment.status if an.assignment is not None else np.full(an.tracks.n_tracks, "unindexed")
    label_y: list[tuple[float, float]] = []
    labelled: set[tuple[int, str]] = set()
    for t in range(an.tracks.n_tracks):
        ok = fits.success[:, t]
        if not ok.any():
            continue
        ph = phase_of[t]
        colour = colours(ph % 10) if ph >= 0 else "white"
        ax.plot(fits.position[ok, t], y[ok], ".", ms=2.2, color=colour, alpha=0.9)
        if status[t] == "indexed" and ph >= 0:
            # label at the middle of the track's life, so labels of long tracks do not pile up
            # on the first frame
            live = np.flatnonzero(ok)
            k = int(live[live.size // 2])
            px, py = float(fits.position[k, t]), float(y[k])
            # hkl labels only where they do not collide with one already drawn
            span_x = (x[-1] - x[0]) * 0.018
            span_y = (y[-1] - y[0] if y.size > 1 else 1.0) * 0.04
            hkl = an.assignment.label[t].split("/")[0].strip("()").replace(" ", "")
            # one label per reflection (a reflection whose track broke in two keeps one), and
            # none that would collide with a label already drawn
            if (ph, hkl) not in labelled and all(abs(px - a) > span_x or abs(py - b) > span_y for a, b in label_y):
                labelled.add((ph, hkl))
                ax.text(px, py, hkl, rotation=90, fontsize=6, color=colour, ha="center", va="bottom",
                        bbox={"boxstyle": "round,pad=0.1", "fc": "black", "ec": "none", "alpha": 0.45})
                label_y.append((px, py))
    handles = [plt.Line2D([], [], ls="", marker="o", color=colours(i % 10), label=n) for i, n in enumerate(names)]
    if (phase_of < 0).any() and (fits.success[:, phase_of < 0]).any():
        handles.append(plt.Line2D([], [], ls="", marker="o", color="white", markeredgecolor="grey", label="not indexed"))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.09), ncol=min(len(handles), 4),
                  fontsize=8, frameon=False)


@styled
def plot_lattice(an: PhaseAnalysis, out: Path, fig_cfg) -> Path:
    """a, (b,) c, V of every phase (one column each) and phase fractions against time.

    b is drawn for orthorhombic and lower symmetry, c for all but cubic cells; the volume
    panel's title gives the volume change against the phase's first frame in %.

    Parameters
    ----------
    an : xpipe.xrd.operando.PhaseAnalysis
        The analysis, with the cells of its phases (angstrom, angstrom^3).
    out : Path
        The PNG to write (its folder is made).
    fig_cfg : xpipe.recipe.sections.xrd.XrdFiguresConfig
        ``time_unit`` of the recipe's ``xrd.figures``.

    Returns
    -------
    Path
        ``out``.

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> from xpipe.recipe.sections.xrd import XrdFiguresConfig
    >>> from xpipe.xrd.operando import analyse_stack
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, evaluate
    >>> data = pathlib.Path(xpipe.__file__).parents[1] / "example_data" / "nvp_operando"
    >>> ph = make_phase("V2O3", cif=data / "structures" / "V2O3_R-3c.cif", d_min_a=1.2)
    >>> pp = PatternPhase.from_model(ph, unit="2th_deg", wavelength_a=0.7749)
    >>> x, start = np.arange(10.0, 30.0, 0.01), PhaseState.start(ph, w=0.0025)
    >>> stack = np.array([100 * evaluate(pp, start.scaled(1 + 5e-4 * f), x).columns.sum(axis=1)
    ...                   + 20 for f in range(4)])  # four frames, 10 min apart, the cell grows
    >>> an = analyse_stack(x, stack, None, unit="2th_deg", wavelength_a=0.7749, phases=[ph],
    ...                    frame_time_s=600.0 * np.arange(4))
    >>> an.lattices[0].system
    'hexagonal'
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "lattice.png"
    >>> plot_lattice(an, out, XrdFiguresConfig(time_unit="min")).name
    'lattice.png'
    """
    plt = pyplot()

    y, xlabel = time_axis(an.frame_time_s, fig_cfg.time_unit)
    lattices = [lat for lat in an.lattices if np.isfinite(lat.values["a_a"]).any()] or an.lattices
    rows = [("a_a", "a (Å)")]
    if any(lat.system in ("orthorhombic", "monoclinic", "triclinic") for lat in lattices):
        rows.append(("b_a", "b (Å)"))
    if any(lat.system != "cubic" for lat in lattices):
        rows.append(("c_a", "c (Å)"))
    rows.append(("volume_a3", "V (Å³)"))
    n_col = len(lattices)
    fig = plt.figure(figsize=(max(6.0, 3.3 * n_col), 1.9 * (len(rows) + 1) + 0.9))
    grid = fig.add_gridspec(len(rows) + 1, n_col)
    colours = plt.get_cmap("tab10")
    index = {lat.phase: i for i, lat in enumerate(an.lattices)}
    shared = None
    for c, lat in enumerate(lattices):
        colour = colours(index[lat.phase] % 10)
        shared = _lattice_column(fig, grid, c, lat, rows, y, colour, an, shared)
    bottom = fig.add_subplot(grid[len(rows), :], sharex=shared)
    _fraction_panel(bottom, an, y, xlabel, colours, index)
    fig.suptitle("Lattice parameters and phase fractions (shaded: two-phase frames)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out)
    plt.close(fig)
    return out


def _lattice_column(fig, grid, c: int, lat, rows, y: np.ndarray, colour, an: PhaseAnalysis, shared):
    """Column ``c`` of the lattice figure: one phase's cell parameters, one per row; returns the
    axes the others share their x axis with."""
    for r, (key, label) in enumerate(rows):
        ax = fig.add_subplot(grid[r, c], sharex=shared)
        shared = shared or ax
        v, e = lat.values[key], lat.errors[key]
        ax.errorbar(y, v, yerr=np.where(np.isfinite(e), e, 0.0), fmt="o-", ms=2.5, lw=1,
                    capsize=1.5, color=colour)
        ax.grid(alpha=0.3)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.tick_params(labelbottom=False, labelsize=7)
        if c == 0:
            ax.set_ylabel(label)
        if r == 0:
            ax.set_title(lat.phase, fontsize=9, color=colour)
        if key == "volume_a3":
            dv = lat.change_percent("volume_a3")
            if np.isfinite(dv).sum() > 1:
                span = f"{np.nanmin(dv):+.2f} to {np.nanmax(dv):+.2f} %"
                ax.set_title(f"ΔV vs its first frame: {span}", fontsize=7, color=colour)
        for kind, a, b in an.stretches():
            if kind == "two-phase":
                ax.axvspan(y[a], y[b], color="orange", alpha=0.08, lw=0)
    return shared


def _fraction_panel(ax, an: PhaseAnalysis, y: np.ndarray, xlabel: str, colours,
                    index: dict) -> None:
    """The phase fractions of every phase against time, two-phase frames shaded."""
    for lat in an.lattices:
        if np.isfinite(lat.fraction).any():
            e = lat.fraction_err
            ax.errorbar(y, lat.fraction, yerr=np.where(np.isfinite(e), e, 0.0), fmt="o-", ms=2.5, lw=1, capsize=1.5,
                        color=colours(index[lat.phase] % 10), label=lat.phase)
    for kind, a, b in an.stretches():
        if kind == "two-phase":
            ax.axvspan(y[a], y[b], color="orange", alpha=0.08, lw=0)
    basis = "weight fraction" if all(p.has_structure for p in an.phases) else "intensity share"
    ax.set_ylabel(f"phase fraction\n({basis})", fontsize=9)
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=min(4, len(an.lattices)), loc="upper center", bbox_to_anchor=(0.5, -0.35), frameon=False)
    ax.set_xlabel(xlabel)
