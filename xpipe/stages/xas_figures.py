"""Figures of an XAS series: stacked XANES with edges and a pre-edge inset, valence against
state, and chi(k) with |chi(R)| and the shell fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..recipe.sections.xas import state_time, state_voltage
from .output import pyplot, save_figure, styled

#: most spectra drawn in the stacked XANES figure
MAX_STACKED = 30


def _state_axis(o, spectra):
    volts = [state_voltage(st, o.results[st.key]) for st in spectra]
    if all(v is not None for v in volts) and len(set(volts)) == len(volts):
        return np.array(volts, float), "cell voltage (V)"
    times = [state_time(st, o.results[st.key]) for st in spectra]
    if all(t is not None for t in times) and len(set(times)) == len(times):
        t = np.array(times, float)
        return (t - t.min()) / 3600.0, "time since first spectrum (h)"
    return np.arange(len(spectra), dtype=float), "spectrum"


@styled
def plot_xanes(o, path: Path) -> Path:
    """Stacked normalised XANES (standards greyed below), edge markers, pre-edge inset.

    At most :data:`MAX_STACKED` spectra are stacked (evenly spaced, first and last kept).

    Parameters
    ----------
    o : xpipe.stages.xas_results.SeriesOutcome
        The series.
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
    >>> from xpipe.stages.xas_results import SeriesOutcome
    >>> from xpipe.xas.readers import read_scan
    >>> from xpipe.xas.series import process_spectrum
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xanes.yaml")
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> cfg, settings, state = stage.series[0], stage.settings()["V_K"], stage.states[5]
    >>> result = process_spectrum(read_scan(state.files[0]), settings, label=state.label)
    >>> o = SeriesOutcome(cfg, settings, [state], {state.key: result}, messages=[])
    >>> plot_xanes(o, pathlib.Path(tempfile.mkdtemp()) / "xanes_V_K.png").name
    'xanes_V_K.png'
    """
    plt = pyplot()
    s = o.settings
    spectra = [st for st in o.states if st.key in o.results and not st.is_standard]
    n_all = len(spectra)
    if n_all > MAX_STACKED:  # a readable stack: evenly spaced spectra, first and last included
        keep = np.unique(np.linspace(0, n_all - 1, MAX_STACKED).round().astype(int))
        spectra = [spectra[i] for i in keep]
    stds = [st for st in o.states if st.key in o.results and st.is_standard]
    pre_w, main_w = s.windows_abs()
    lo, hi = s.edge_ev - 20, s.edge_ev + 60
    fig, (ax, ins) = plt.subplots(1, 2, figsize=(9.0, 6.5), gridspec_kw={"width_ratios": [2.3, 1]})
    cmap = plt.get_cmap("viridis")
    offset = 0.35
    n = len(spectra)
    for i, st in enumerate(spectra):
        r = o.results[st.key]
        c = cmap(i / max(n - 1, 1))
        y = r.norm + offset * (i + len(stds))
        m = (r.energy_ev >= lo) & (r.energy_ev <= hi)
        ax.plot(r.energy_ev[m], y[m], color=c, lw=1.2)
        ax.plot([r.edge_energy_ev], [s.edge_fraction + offset * (i + len(stds))], "o", ms=3.5, color=c, mec="k", mew=0.5)
        ax.text(hi + 1, y[m][-1], st.label, fontsize=7, va="center", color=c)
    for j, st in enumerate(stds):
        r = o.results[st.key]
        m = (r.energy_ev >= lo) & (r.energy_ev <= hi)
        y = r.norm + offset * j
        ax.plot(r.energy_ev[m], y[m], color="0.45", lw=1.0, ls="--")
        ax.plot([r.edge_energy_ev], [s.edge_fraction + offset * j], "s", ms=3, color="0.3")
        ax.text(hi + 1, y[m][-1], f"{st.label} ({st.valence:g}+)", fontsize=7, va="center", color="0.3")
    ax.axvspan(*pre_w, color="orange", alpha=0.12, lw=0)
    ax.set_xlim(lo, hi + 14)
    ax.set_xlabel("energy (eV, calibrated)")
    ax.set_ylabel("normalised mu(E) + offset")
    method = s.edge_method.replace("_", " ") + (f" ({s.edge_fraction:g} of step)" if s.edge_method == "half_height" else "")
    shown = f"; {len(spectra)} of {n_all} spectra shown" if n_all > len(spectra) else ""
    ax.set_title(f"{o.cfg.name}: {s.element} {s.edge} edge; markers: edge by {method}{shown}\nshaded: pre-edge window", fontsize=8)
    _pre_edge_panel(plt, ins, o, spectra, stds, pre_w)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)
    plt.close(fig)
    return path


def _pre_edge_panel(plt, ins, o, spectra, stds, pre_w) -> None:
    """The pre-edge panel, not offset, so peak heights compare directly."""
    cmap = plt.get_cmap("viridis")
    n = len(spectra)
    for i, st in enumerate(spectra):
        r = o.results[st.key]
        m = (r.energy_ev >= pre_w[0] - 2) & (r.energy_ev <= pre_w[1] + 1)
        ins.plot(r.energy_ev[m], r.norm[m], color=cmap(i / max(n - 1, 1)), lw=1)
    for st in stds:
        r = o.results[st.key]
        m = (r.energy_ev >= pre_w[0] - 2) & (r.energy_ev <= pre_w[1] + 1)
        ins.plot(r.energy_ev[m], r.norm[m], color="0.45", lw=0.8, ls="--")
    ins.set_title("pre-edge peak (dashed: standards)", fontsize=8)
    ins.set_xlabel("energy (eV, calibrated)")
    ins.set_ylabel("normalised mu(E)")
    ins.xaxis.set_major_locator(plt.MaxNLocator(4))


@styled
def plot_valence(o, path: Path) -> Path | None:
    """Valence of every spectrum against voltage, time or index, with its calibration.

    The valence by edge calibration and by LCF with error bars, against the cell voltage
    (V), the time since the first spectrum (h) or the spectrum index; with a calibration, its
    curve through the standards in a second panel.

    Parameters
    ----------
    o : xpipe.stages.xas_results.SeriesOutcome
        The series.
    path : Path
        The PNG to write (its folder is made).

    Returns
    -------
    Path or None
        ``path``; None when the series has no valence to draw.

    Examples
    --------
    >>> import pathlib, tempfile, h5py, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> from xpipe.store import CheckpointStore
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xanes.yaml")
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> ck = CheckpointStore(folder / "xas")
    >>> ck.reset({})
    >>> ck.save(0, stage.keys(), stage.worker().process(list(range(len(stage.keys())))))
    >>> with h5py.File(folder / "results.h5", "w") as h5:  # the series with its standards
    ...     _ = stage.write(h5.create_group("entry"), ck)
    >>> plot_valence(stage.outcomes[0], folder / "valence_V_K.png").name
    'valence_V_K.png'
    """
    v = o.valence
    if v is None or not np.isfinite(v.valence).any():
        return None
    plt = pyplot()
    spectra = [st for st in o.states if st.key in o.results and not st.is_standard]
    x, xlabel = _state_axis(o, spectra)
    cal = v.calibration
    fig, axes = plt.subplots(1, 2 if cal is not None else 1, figsize=(9.5 if cal is not None else 5.5, 4.0),
                             squeeze=False)
    ax = axes[0, 0]
    if v.calibration_valence is not None:
        ax.errorbar(x, v.calibration_valence, yerr=v.calibration_valence_err, fmt="o-", ms=4, capsize=3,
                    label=f"edge calibration ({cal.model})")
    if v.lcf is not None:
        lv = np.array([f.valence if f else np.nan for f in v.lcf])
        le = np.array([f.valence_err if f else np.nan for f in v.lcf])
        ax.errorbar(x, lv, yerr=le, fmt="s--", ms=4, capsize=3, label="LCF of references")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"mean {o.settings.element} valence")
    ax.legend(fontsize=8)
    ax.set_title(f"{o.cfg.name}" + (f"; PCA: {v.pca.n_components} components" if v.pca is not None else ""), fontsize=9)
    if cal is not None:
        ax2 = axes[0, 1]
        span = cal.x.max() - cal.x.min()
        xs = np.linspace(cal.x.min() - 0.1 * span, cal.x.max() + 0.1 * span, 200)
        vv, ve = cal.predict(xs)
        ax2.plot(xs, vv, "-", color="0.3", label=f"{cal.model} through standards")
        ax2.errorbar(cal.x, cal.valence, xerr=cal.x_err, fmt="s", color="k", ms=4)
        for name, xi, vi in zip(cal.names, cal.x, cal.valence):
            ax2.annotate(name, (xi, vi), textcoords="offset points", xytext=(4, -10), fontsize=7)
        xsamp = np.array([o.results[st.key].edge_energy_ev if cal.feature == "edge_energy_ev" else o.results[st.key].pre_edge_area
                          for st in spectra])
        ax2.errorbar(xsamp, v.calibration_valence, yerr=v.calibration_valence_err, fmt="o", ms=3, color="C0",
                     label="spectra")
        ax2.set_xlabel("edge energy (eV)" if cal.feature == "edge_energy_ev" else "pre-edge area (norm. mu x eV)")
        ax2.set_ylabel("valence")
        ax2.legend(fontsize=8)
        ax2.set_title("valence calibration", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)
    plt.close(fig)
    return path


@styled
def plot_exafs(o, path: Path) -> Path | None:
    """k^w chi(k) and |chi(R)| of every spectrum; the shell-fit model where there is one.

    Parameters
    ----------
    o : xpipe.stages.xas_results.SeriesOutcome
        The series (its ``cfg.exafs`` gives the k weight and the k range shaded).
    path : Path
        The PNG to write (its folder is made).

    Returns
    -------
    Path or None
        ``path``; None when no spectrum has chi(k). k in 1/angstrom, R in angstrom.

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> from xpipe.stages.xas_results import SeriesOutcome
    >>> from xpipe.xas.readers import read_scan
    >>> from xpipe.xas.series import process_spectrum
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xanes.yaml")
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> cfg, settings, state = stage.series[0], stage.settings()["V_K"], stage.states[5]
    >>> result = process_spectrum(read_scan(state.files[0]), settings, label=state.label)
    >>> o = SeriesOutcome(cfg, settings, [state], {state.key: result}, messages=[])
    >>> plot_exafs(o, pathlib.Path(tempfile.mkdtemp()) / "exafs_V_K.png").name
    'exafs_V_K.png'
    """
    spectra = [st for st in o.states if st.key in o.results and not st.is_standard and o.results[st.key].k is not None]
    if not spectra:
        return None
    plt = pyplot()
    kw = o.cfg.exafs.kweight
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.2))
    cmap = plt.get_cmap("viridis")
    n = len(spectra)
    fits = {c.label: c for c in (o.shells.curves if o.shells is not None else [])}
    for i, st in enumerate(spectra):
        r = o.results[st.key]
        c = cmap(i / max(n - 1, 1))
        a1.plot(r.k, r.chi * r.k**kw, color=c, lw=1, label=st.label)
        a2.plot(r.r_a, r.chir_mag, color=c, lw=1)
        f = fits.get(st.label)
        if f is not None:
            a1.plot(f.k, f.chi_model * f.k**kw, "--", color="crimson", lw=1)
            a2.plot(f.r_a, f.chir_mag_model, "--", color="crimson", lw=1)
    a1.axvspan(o.cfg.exafs.kmin, o.cfg.exafs.kmax, color="0.9", zorder=0)
    a1.set_xlabel("k (1/Å)")
    a1.set_ylabel(f"k$^{kw}$ chi(k) (Å$^{{-{kw}}}$)")
    a1.set_xlim(0, min(max(float(o.results[spectra[0].key].k.max()), o.cfg.exafs.kmax + 1), 18))
    a2.set_xlim(0, 6)
    a2.set_xlabel("R (Å, not phase-corrected)")
    a2.set_ylabel(f"|chi(R)| (Å$^{{-{kw + 1}}}$)")
    if o.shells is not None:
        a2.axvspan(o.cfg.exafs.fit.rmin_a, o.cfg.exafs.fit.rmax_a, color="0.9", zorder=0)
        a2.set_title(f"dashed: shell fit, R-factor {o.shells.r_factor:.4f}", fontsize=9)
    if n <= 8:
        a1.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)
    plt.close(fig)
    return path
