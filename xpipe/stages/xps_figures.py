"""Figures of an XPS series: every fit (data, components, background, envelope, residual) and
the surface valence against voltage."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .output import pyplot, save_figure, styled


@styled
def plot_series_fits(res, path: Path) -> Path:
    """Every fit of a series: data, components, background, envelope and residual.

    One column per sample (three at most per row): the fit on top, binding energy decreasing
    to the right as XPS is drawn, the residual in units of sigma below.

    Parameters
    ----------
    res : xpipe.stages.xps.SeriesResult
        The fitted series (samples whose fit failed are left out).
    path : Path
        The PNG to write (its folder is made).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> from xpipe.stages.xps import fit_series_config
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> recipe = pathlib.Path(tempfile.mkdtemp()) / "one_electrode.yaml"
    >>> _ = recipe.write_text(  # one electrode of the bundled series, a fixed charge shift
    ...     f"name: one electrode\\noutput: out\\nxps:\\n- name: V2p_O1s\\n"
    ...     f"  files: {root}/example_data/nvp_xps/nvp_xps_0.vms\\n  block: V 2p\\n"
    ...     f"  region_ev: [510, 538]\\n  library: {root}/recipes/xps/v2p_o1s.yaml\\n"
    ...     "  charge: {shift_ev: -0.68}\\n")
    >>> loaded = xpipe.load_recipe(recipe)
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> res = fit_series_config(stage.series[0], loaded.base_dir)
    >>> plot_series_fits(res, recipe.parent / "xps_V2p_O1s.png").name
    'xps_V2p_O1s.png'
    """
    plt = pyplot()
    ok = [(s, f) for s, f in zip(res.samples, res.fits) if f is not None]
    n = len(ok)
    ncol = min(n, 3)
    nrow = int(np.ceil(n / ncol))
    fig = plt.figure(figsize=(4.6 * ncol, 4.4 * nrow))
    outer = fig.add_gridspec(nrow, ncol, hspace=0.35, wspace=0.28)
    names = [c.name for c in ok[0][1].components]
    species = []
    for c in ok[0][1].components:
        key = c.doublet or c.name
        if key not in species:
            species.append(key)
    colours = {k: plt.get_cmap("tab10")(i % 10) for i, k in enumerate(species)}
    for k, (s, f) in enumerate(ok):
        _fit_panel(fig, outer[k // ncol, k % ncol], s, f, colours)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[k], alpha=0.5) for k in species]
    fig.legend(handles, species, loc="lower center", ncol=min(len(species), 6), fontsize=7, frameon=False)
    fig.suptitle(f"{res.cfg.name}: {len(names)} lines, {res.cfg.background} background", fontsize=9)
    fig.subplots_adjust(bottom=0.12 if nrow == 1 else 0.08)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)
    plt.close(fig)
    return path


def _fit_panel(fig, cell, s, f, colours: dict) -> None:
    """One sample's fit in ``cell`` of the figure's grid: the fit on top, the residual below."""
    inner = cell.subgridspec(2, 1, height_ratios=[4, 1], hspace=0.05)
    ax = fig.add_subplot(inner[0])
    axr = fig.add_subplot(inner[1], sharex=ax)
    ax.plot(f.x, f.y, ".", ms=2, color="0.25", label="data")
    ax.plot(f.x, f.background, "-", color="0.55", lw=1, label=f"{f.background_kind} background")
    for c in f.components:
        curve = f.curves.get(c.name)
        if curve is None:
            continue
        col = colours[c.doublet or c.name]
        ax.fill_between(f.x, f.background, f.background + curve, color=col, alpha=0.35, lw=0)
    ax.plot(f.x, f.model, "-", color="crimson", lw=1.1, label="envelope")
    ax.set_xlim(f.x.max(), f.x.min())
    title = s.label + (f", {s.voltage_v:.3f} V" if s.voltage_v is not None else "")
    if f.mean_valence is not None:
        title += f"; valence {f.mean_valence:.2f} ± {f.mean_valence_err:.2f}"
    ax.set_title(title, fontsize=8)
    ax.set_ylabel("counts")
    ax.tick_params(labelbottom=False, labelsize=7)
    flagged = sorted({d.kind for d in f.diagnostics})
    note = f"chi2_red {f.reduced_chi_square:.2f}"
    if flagged:
        note += f"\nflags: {', '.join(flagged)}"
    ax.text(0.02, 0.97, note, transform=ax.transAxes, fontsize=6, va="top",
            color="darkred" if flagged else "0.3")
    r = (f.y - f.model) / f.sigma
    axr.plot(f.x, r, "-", color="0.3", lw=0.6)
    axr.axhline(0, color="crimson", lw=0.6)
    axr.set_ylabel("res./σ", fontsize=7)
    axr.set_xlabel(energy_label(s))
    axr.tick_params(labelsize=7)


def energy_label(sample) -> str:
    """The binding-energy axis label of a sample: charge corrected only when a correction was applied.

    Parameters
    ----------
    sample : xpipe.stages.xps.Sample
        The sample drawn.

    Returns
    -------
    str
        The axis label.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> energy_label(SimpleNamespace(charge_corrected=False))
    'binding energy (eV, not charge corrected)'
    """
    return "binding energy (eV, charge corrected)" if sample.charge_corrected else "binding energy (eV, not charge corrected)"


@styled
def plot_xps_valence(res, path: Path) -> Path | None:
    """Mean surface valence (and the share of each valence state) against voltage or sample.

    Parameters
    ----------
    res : xpipe.stages.xps.SeriesResult
        The fitted series; the x axis is the cell voltage (V) when every sample states one.
    path : Path
        The PNG to write (its folder is made).

    Returns
    -------
    Path or None
        ``path``; None when no fit has a mean valence (no valence-labelled component).

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> from xpipe.stages.xps import fit_series_config
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> recipe = pathlib.Path(tempfile.mkdtemp()) / "one_electrode.yaml"
    >>> _ = recipe.write_text(  # one electrode of the bundled series, a fixed charge shift
    ...     f"name: one electrode\\noutput: out\\nxps:\\n- name: V2p_O1s\\n"
    ...     f"  files: {root}/example_data/nvp_xps/nvp_xps_0.vms\\n  block: V 2p\\n"
    ...     f"  region_ev: [510, 538]\\n  library: {root}/recipes/xps/v2p_o1s.yaml\\n"
    ...     "  charge: {shift_ev: -0.68}\\n")
    >>> loaded = xpipe.load_recipe(recipe)
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> res = fit_series_config(stage.series[0], loaded.base_dir)
    >>> plot_xps_valence(res, recipe.parent / "xps_V2p_O1s_valence.png").name
    'xps_V2p_O1s_valence.png'
    """
    ok = [(s, f) for s, f in zip(res.samples, res.fits) if f is not None and f.mean_valence is not None]
    if not ok:
        return None
    plt = pyplot()
    volts = [s.voltage_v for s, _ in ok]
    if all(v is not None for v in volts):
        x, xlabel = np.array(volts, float), "cell voltage (V)"
    else:
        x, xlabel = np.arange(len(ok), dtype=float), "sample"
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.0, 3.8))
    a1.errorbar(x, [f.mean_valence for _, f in ok], yerr=[f.mean_valence_err for _, f in ok], fmt="o-", capsize=3)
    a1.set_xlabel(xlabel)
    a1.set_ylabel("mean surface valence (XPS)")
    fr = [valence_fractions(f) for _, f in ok]
    for name in fr[0]:
        a2.errorbar(x, [v[name][0] for v in fr], yerr=[v[name][1] for v in fr], fmt="o-", ms=3, capsize=2, label=name)
    a2.set_xlabel(xlabel)
    a2.set_ylabel("share of the valence-labelled area")
    a2.set_ylim(-0.05, 1.05)
    a2.legend(fontsize=7)
    fig.suptitle(res.cfg.name, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)
    plt.close(fig)
    return path


def valence_fractions(fit) -> dict[str, tuple[float, float]]:
    """Share of each valence-labelled species among them (area / sensitivity), with errors.

    The errors come from the fit's species fractions (the common denominator cancels; errors
    propagated by the delta method with the fraction errors, which already hold the
    covariance).

    Parameters
    ----------
    fit : xpipe.xps.fit.XpsFit
        One sample's fit.

    Returns
    -------
    dict of str to (float, float)
        Share (0-1) and its standard uncertainty per valence-labelled species; empty when
        there is none.

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> from xpipe.stages.xps import fit_series_config
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> recipe = pathlib.Path(tempfile.mkdtemp()) / "one_electrode.yaml"
    >>> _ = recipe.write_text(  # one electrode of the bundled series, a fixed charge shift
    ...     f"name: one electrode\\noutput: out\\nxps:\\n- name: V2p_O1s\\n"
    ...     f"  files: {root}/example_data/nvp_xps/nvp_xps_0.vms\\n  block: V 2p\\n"
    ...     f"  region_ev: [510, 538]\\n  library: {root}/recipes/xps/v2p_o1s.yaml\\n"
    ...     "  charge: {shift_ev: -0.68}\\n")
    >>> loaded = xpipe.load_recipe(recipe)
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> res = fit_series_config(stage.series[0], loaded.base_dir)
    >>> shares = valence_fractions(res.fits[0])
    >>> {name: round(share, 2) for name, (share, err) in shares.items()}
    {'V5+ 2p': 0.0, 'V4+ 2p': 0.1, 'V3+ 2p': 0.89}
    """
    sp = [s for s in fit.species if s.label_valence is not None]
    total = sum(s.fraction for s in sp)
    if not sp or total <= 0:
        return {}
    out = {}
    for s in sp:
        f = s.fraction / total
        # d(f_i)/d(frac_j): (delta_ij - f_i) / total; fractions' errors treated as independent here
        var = sum(((1.0 if t is s else 0.0) - f) ** 2 * (t.fraction_err or 0.0) ** 2 for t in sp) / total**2
        out[s.name] = (f, math.sqrt(var))
    return out
