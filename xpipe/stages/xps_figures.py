"""Figures of an XPS series: every fit (data, components, background, envelope, residual) and
the surface valence against voltage."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .output import pyplot


def plot_series_fits(res, path: Path) -> Path:
    """One column per sample: the fit on top (binding energy decreasing to the right, as XPS is
    drawn), the normalised residual below."""
    plt = pyplot()
    ok = [(s, f) for s, f in zip(res.samples, res.fits) if f is not None]
    n = len(ok)
    ncol = min(n, 3)
    nrow = int(np.ceil(n / ncol))
    fig = plt.figure(figsize=(4.6 * ncol, 4.4 * nrow), dpi=150)
    outer = fig.add_gridspec(nrow, ncol, hspace=0.35, wspace=0.28)
    names = [c.name for c in ok[0][1].components]
    species = []
    for c in ok[0][1].components:
        key = c.doublet or c.name
        if key not in species:
            species.append(key)
    colours = {k: plt.get_cmap("tab10")(i % 10) for i, k in enumerate(species)}
    for k, (s, f) in enumerate(ok):
        inner = outer[k // ncol, k % ncol].subgridspec(2, 1, height_ratios=[4, 1], hspace=0.05)
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
        ax.text(0.02, 0.97, f"chi2_red {f.reduced_chi_square:.2f}" + (f"\nflags: {', '.join(flagged)}" if flagged else ""),
                transform=ax.transAxes, fontsize=6, va="top", color="darkred" if flagged else "0.3")
        r = (f.y - f.model) / f.sigma
        axr.plot(f.x, r, "-", color="0.3", lw=0.6)
        axr.axhline(0, color="crimson", lw=0.6)
        axr.set_ylabel("res./σ", fontsize=7)
        axr.set_xlabel("binding energy (eV, charge corrected)")
        axr.tick_params(labelsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[k], alpha=0.5) for k in species]
    fig.legend(handles, species, loc="lower center", ncol=min(len(species), 6), fontsize=7, frameon=False)
    fig.suptitle(f"{res.cfg.name}: {len(names)} lines, {res.cfg.background} background", fontsize=9)
    fig.subplots_adjust(bottom=0.12 if nrow == 1 else 0.08)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=300)
    plt.close(fig)
    return path


def plot_xps_valence(res, path: Path) -> Path | None:
    """Mean surface valence (and the share of each valence state) against voltage or sample."""
    ok = [(s, f) for s, f in zip(res.samples, res.fits) if f is not None and f.mean_valence is not None]
    if not ok:
        return None
    plt = pyplot()
    volts = [s.voltage_v for s, _ in ok]
    if all(v is not None for v in volts):
        x, xlabel = np.array(volts, float), "cell voltage (V)"
    else:
        x, xlabel = np.arange(len(ok), dtype=float), "sample"
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.0, 3.8), dpi=150)
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
    fig.savefig(path, dpi=300)
    plt.close(fig)
    return path


def valence_fractions(fit) -> dict[str, tuple[float, float]]:
    """Share of each valence-labelled species among them (area / sensitivity), with errors from
    the fit's species fractions (the common denominator cancels; errors propagated by the
    delta method with the fraction errors, which already hold the covariance)."""
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
