"""Benchmark: XANES (and EXAFS) of a series of V K-edge spectra, xpipe against a plain Larch loop.

    python benchmarks/bench_xas.py [--spectra 200] [--workers N] [--exafs] [--repeat 1]
                                   [--no-outputs] [--keep DIR]

Data (generated, not timed): ``xpipe.synth.xas.make_xanes_series(n_states=--spectra)`` writes
that many XDI step scans (energy, i0, itrans, irefer; 5365-5900 eV, 390 points) of a
Na3V2(PO4)3 cell charged from open circuit to NaV2(PO4)3, each with its own monochromator
offset, a V foil channel and Poisson noise from a fixed seed, plus five standards. V2O3, VO2
and V2O5 make the valence calibration, so every way processes --spectra + 3 files.

Both ways use the settings of ``recipes/nvp_xanes.yaml``: foil calibration (maximum of the
derivative of ln(itrans/irefer), smoothed 0.3 eV, in 5465.0 +-15 eV), E0 = maximum of the
derivative of mu (smoothed 0.5 eV) in 5473-5510 eV, Larch ``pre_edge`` with that E0 and
pre1 -100, pre2 -30, norm1 60, norm2 300, nnorm 2, nvict 0, the edge where the normalised mu
last crosses 0.5 below the white line in 5473-5510 eV, the pre-edge peaks in 5463-5473 eV
fitted (below) and the valence from a PCHIP curve through the standards' edges. With ``--exafs`` both also run
``autobk`` (rbkg 1, kweight 2) and ``xftf`` (k 3-9, dk 1, hanning) on every spectrum.

The pre-edge is one model both ways (Wilke et al. 2001; Larch's ``pre_edge_baseline``): a
line plus an arctangent step for the main edge's tail, and 0 to 2 pseudo-Voigt peaks
(Lorentzian fraction 0.5, FWHM 0.5-3 eV), the number of least BIC (chi-square over the noise of
the normalised mu), fitted from 4 eV below the window up to below the rising edge (where the
normalised mu falls below 0.15, or the dip after a strong peak). xpipe fits it with
``xpipe.xas.preedge`` (analytic Jacobian, screened multi-start); the loop starts from
``larch.xafs.pre_edge_baseline`` (form ``linear+atan_step``, fitted outside the peaks) and fits
baseline and peaks together with lmfit (``least_squares``, numerical Jacobian), one start for
the first peak and one every 2 eV for the second.

  (a) xpipe: a recipe in the work folder, run with
      ``xpipe.runner.run(load_recipe(recipe), outdir, workers=N, quiet=True)`` as ``xpipe run``
      does: reading, processing (deglitching included), checkpoints, results.h5 and the outputs
      written after it (CSV table, figures, Athena project) are all in the time. ``--workers``
      (default: the CPU count) and, for reference, 1 worker. ``--no-outputs`` skips the
      outputs written after results.h5.
  (b) Larch loop: one process, for each file ``larch.io.read_xdi``, mu = ln(i0/itrans), the
      same calibration, ``larch.xafs.pre_edge``, half-height edge written in numpy/scipy, the
      pre-edge fit with ``pre_edge_baseline`` and lmfit, then the valence of every spectrum
      and one CSV file.

Each way runs in its own Python process, which imports numpy, scipy, Larch and xpipe before its
clock starts, so no way pays for imports. The ways run round-robin ``--repeat`` times and the
fastest run of each counts.

Agreement: edge energies, calibration shifts, E0 and valences from xpipe's results.h5 against
the loop's, and with ``--exafs`` chi(k) and |chi(R)| from xpipe's checkpoints, within 1e-6 (eV,
valence, or absolute for the rest). The pre-edge centroids and areas are two implementations
of one fit, so they are held to a physical tolerance: centroids within 0.1 eV (a tenth of the
monochromator's resolution) and areas within 5 %; their median and largest differences are
printed. The script exits 1 if any of these fails or if xpipe failed on a spectrum.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import cpu_model

FOIL_EDGE_EV = 5465.0  # V K edge, tabulated (xraydb)
ALIGN_WINDOW_EV = (-15.0, 15.0)  # foil calibration window around FOIL_EDGE_EV
MAIN_EDGE_EV = (5473.0, 5510.0)  # 5465 + 8 .. 5465 + 45
PRE_EDGE_EV = (5463.0, 5473.0)  # 5465 - 2 .. 5465 + 8
NORM = {"pre1": -100.0, "pre2": -30.0, "norm1": 60.0, "norm2": 300.0, "nnorm": 2, "nvict": 0}
FRACTION = 0.5
BASELINE_LEAD_EV = 4.0  # the pre-edge fit starts this far below the window
TOP_GAP_EV = 1.0  # no peak centre within this of the fit's top
START_STEP_EV = 2.0  # spacing of the starting centres of each added peak
TOP_LEVEL = 0.15  # the fit ends where the rising edge falls below this normalised mu
EXAFS = {"rbkg": 1.0, "kweight": 2, "kmin": 3.0, "kmax": 9.0, "dk": 1.0, "window": "hanning"}
STANDARDS = (("V2O3", "V2O3_std.xdi", 3), ("VO2", "VO2_std.xdi", 4), ("V2O5", "V2O5_std.xdi", 5))
SERIES = "V_K"
TOL = 1e-6
PRE_CENTROID_TOL_EV = 0.1  # the two pre-edge fits: centroid (eV) ...
PRE_AREA_TOL = 0.05  # ... and relative area

RECIPE = """\
# xpipe side of benchmarks/bench_xas.py: the settings of recipes/nvp_xanes.yaml,
# valence by the calibration on the three oxides
name: bench_xas
output: out
xas:
  - name: {series}
    element: V
    edge: K
    files: data/nvp_xanes_*.xdi
    standards:
{standards}
    calibration:
      reference: required
      window_ev: [-15, 15]
    deglitch: true
    normalisation: {{pre1_ev: -100, pre2_ev: -30, norm1_ev: 60, norm2_ev: 300, nnorm: 2, nvict: 0}}
    edge_position:
      method: half_height
      fraction: 0.5
      pre_edge_window_ev: [-2, 8]
      main_edge_window_ev: [8, 45]
    valence:
      method: calibration
      model: pchip
      pca: false
{exafs}"""

EXAFS_SECTION = """\
    exafs:
      rbkg_a: 1.0
      kweight: 2
      kmin: 3
      kmax: 9
      dk: 1
      window: hanning
"""


# --------------------------------------------------------------------------------- data


def spectrum_files(data: Path) -> list[Path]:
    return sorted(data.glob("nvp_xanes_*.xdi"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))


def make_data(data: Path, n: int) -> tuple[float, bool]:
    """Write the series into ``data`` unless it is there already; (seconds, reused)."""
    from xpipe.synth.xas import DEFAULT_SEED, GENERATOR_VERSION, make_xanes_series

    truth = data / "truth.json"
    if truth.is_file():
        t = json.loads(truth.read_text())
        g = t.get("generator", {})
        if (g.get("n_states") == n and g.get("seed") == DEFAULT_SEED and g.get("version") == GENERATOR_VERSION
                and len(spectrum_files(data)) == n):
            return 0.0, True
    if data.exists():
        shutil.rmtree(data)
    t0 = time.perf_counter()
    make_xanes_series(data, n_states=n)
    return time.perf_counter() - t0, False


def write_recipe(work: Path, exafs: bool) -> Path:
    stds = "\n".join(f"      - {{name: {name}, file: data/standards/{f}, valence: {v}}}" for name, f, v in STANDARDS)
    path = work / ("recipe_exafs.yaml" if exafs else "recipe.yaml")
    path.write_text(RECIPE.format(series=SERIES, standards=stds, exafs=EXAFS_SECTION if exafs else ""))
    return path


# --------------------------------------------------------------------------------- (b) Larch loop


def derivative_maximum(energy, y, lo, hi, smooth_ev, step=0.05):
    """Energy of the maximum of dy/dE in [lo, hi]: y on a uniform 0.05 eV grid, Gaussian
    smoothing of ``smooth_ev``, parabola through the highest point and its neighbours."""
    from scipy.ndimage import gaussian_filter1d

    grid = np.arange(max(lo, energy[0]), min(hi, energy[-1]) + 0.5 * step, step)
    h = grid[1] - grid[0]
    d = np.gradient(gaussian_filter1d(np.interp(grid, energy, y), smooth_ev / h, mode="nearest"), h)
    i = int(np.argmax(d))
    y0, y1, y2 = d[i - 1], d[i], d[i + 1]
    return float(grid[i] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2) * h)


def half_height(energy, norm, lo, hi, fraction=FRACTION):
    """Last upward crossing of ``fraction`` below the maximum (white line) in [lo, hi], linear
    between points; a pre-edge peak that reaches the fraction is skipped."""
    idx = np.flatnonzero((energy >= lo) & (energy <= hi))
    top = idx[np.argmax(norm[idx])]
    j = idx[0] + np.flatnonzero(norm[idx[0]:top] < fraction)[-1]
    t = (fraction - norm[j]) / (norm[j + 1] - norm[j])
    return float(energy[j] + t * (energy[j + 1] - energy[j]))


def noise_of(energy, norm, lo, hi):
    """Robust noise of ``norm`` over [lo, hi]: the median absolute deviation of second
    differences (variance 6 sigma^2 for white noise)."""
    v = norm[(energy >= lo) & (energy <= hi)]
    d2 = v[2:] - 2 * v[1:-1] + v[:-2]
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / np.sqrt(6.0))


def fit_top(energy, norm, lo, hi, level=TOP_LEVEL):
    """Top of the pre-edge fit range: walking down from the last point below half height
    under the white line (highest point in 70 eV above ``lo``), the first point below ``level``
    or at a local minimum, and at most ``hi``. The same rule as xpipe's."""
    idx = np.flatnonzero((energy >= lo) & (energy <= lo + 70.0))
    j = int(idx[int(np.argmax(norm[idx]))])
    while j > 0 and norm[j] >= 0.5:
        j -= 1
    while j > 1 and norm[j] >= level and not (norm[j - 1] > norm[j] and norm[j - 2] > norm[j]):
        j -= 1
    return float(min(energy[j], hi))


def pre_edge_fit(g, lo, hi, max_peaks=2):
    """Area, centroid and number of the pre-edge peaks, fitted with Larch and lmfit.

    ``larch.xafs.pre_edge_baseline`` fits a line and an arctangent step (the main edge's tail)
    outside the peaks: from ``BASELINE_LEAD_EV`` below ``lo`` to ``lo`` and over the last
    ``TOP_GAP_EV`` below the rising edge (:func:`fit_top`). That baseline starts an lmfit model
    of the baseline plus 0 to ``max_peaks`` pseudo-Voigt peaks (Lorentzian fraction 0.5, FWHM
    0.5-3 eV), all fitted together over the whole range (``least_squares``, numerical
    Jacobian). Each added peak starts on the best fit before: the first where that fit misses
    most, the second at every ``START_STEP_EV`` across the peak range, the best start counting;
    the number of peaks of least BIC (chi-square over the noise of the normalised mu, as xpipe)
    is reported.
    """
    from larch.xafs import pre_edge_baseline
    from lmfit.models import LinearModel, PseudoVoigtModel, StepModel

    top = fit_top(g.energy, g.norm, lo, hi)
    emin = lo - BASELINE_LEAD_EV
    pre_edge_baseline(g, form="linear+atan_step", emin=emin, elo=lo, ehi=top - TOP_GAP_EV, emax=top)
    b = g.prepeaks.fit_details.params
    m = (g.energy >= emin) & (g.energy <= top)
    x, y = g.energy[m] - lo, g.norm[m]  # energies from lo: a well-conditioned line
    noise = max(noise_of(g.energy, g.norm, g.e0 + 20, g.e0 + NORM["norm2"]), 1e-6)
    below = np.flatnonzero(g.energy < g.edge)
    e_half = float(g.energy[below[-1]]) - lo if below.size else top - lo
    model = LinearModel() + StepModel(form="arctan")
    params = model.make_params(slope=b["slope"].value, intercept=b["intercept"].value + b["slope"].value * lo)
    params["amplitude"].set(value=float(np.clip(b["amplitude"].value, 0.01, 1.99)), min=0.0, max=2.0)
    params["sigma"].set(value=float(np.clip(b["sigma"].value, 0.31, 14.9)), min=0.3, max=15.0)
    params["center"].set(value=float(np.clip(b["center"].value - lo, top - lo + 0.01, max(e_half, top - lo + 0.1) - 0.01)),
                         min=top - lo, max=max(e_half, top - lo + 0.1))
    fit = model.fit(y, params, x=x, method="least_squares")
    fits = [(float(np.sum(fit.residual ** 2)) / noise ** 2 + fit.nvarys * np.log(x.size), 0, fit)]
    c_lo, c_hi = min(0.0, top - lo - 1.0), top - lo - TOP_GAP_EV
    for n in range(1, max_peaks + 1):
        prev = fits[-1][2]
        miss = y - prev.best_fit
        peak = PseudoVoigtModel(prefix=f"p{n}_")
        model = model + peak
        tries = []
        grid = np.arange(c_lo, c_hi + 1e-9, START_STEP_EV)
        inside = (x >= c_lo) & (x <= c_hi)
        for c in (grid if n > 1 else [float(x[inside][np.argmax(miss[inside])])]):
            params = prev.params.copy()
            params.update(peak.make_params())
            params[f"p{n}_amplitude"].set(value=max(float(np.interp(c, x, miss)), 1e-4) * 1.6, min=0.0, max=10.0)
            params[f"p{n}_center"].set(value=c, min=c_lo, max=c_hi)
            params[f"p{n}_sigma"].set(value=0.75, min=0.25, max=1.5)
            params[f"p{n}_fraction"].set(value=0.5, vary=False)
            tries.append(model.fit(y, params, x=x, method="least_squares"))
        fit = min(tries, key=lambda r: r.chisqr)
        fits.append((fit.chisqr / noise ** 2 + fit.nvarys * np.log(x.size), n, fit))
    _, n, fit = min(fits, key=lambda t: t[0])
    if n == 0:
        return 0.0, float("nan"), 0
    a = np.array([fit.params[f"p{i}_amplitude"].value for i in range(1, n + 1)])
    c = np.array([fit.params[f"p{i}_center"].value for i in range(1, n + 1)]) + lo
    return float(a.sum()), float((a * c).sum() / a.sum()), n


def valence_curve(edges, valences, x):
    """Valence of edge energies ``x`` from a PCHIP curve through the standards, continued
    straight with its end slopes outside them."""
    from scipy.interpolate import PchipInterpolator

    order = np.argsort(valences)
    xs, vs = np.asarray(edges, float)[order], np.asarray(valences, float)[order]
    curve = PchipInterpolator(xs, vs, extrapolate=False)
    lo_slope = (vs[1] - vs[0]) / (xs[1] - xs[0])
    hi_slope = (vs[-1] - vs[-2]) / (xs[-1] - xs[-2])
    x = np.asarray(x, float)
    outside = np.where(x < xs[0], vs[0] + lo_slope * (x - xs[0]), vs[-1] + hi_slope * (x - xs[-1]))
    return np.where((x >= xs[0]) & (x <= xs[-1]), curve(np.clip(x, xs[0], xs[-1])), outside)


def larch_loop(folder: Path, out_csv: Path, exafs: bool) -> dict:
    """The plain script: every file read and processed in turn, one CSV at the end."""
    from larch.io import read_xdi
    from larch.xafs import autobk, pre_edge, xftf

    def process(path):
        g = read_xdi(str(path))
        g.label = path.stem
        g.mu = np.log(g.i0 / g.itrans)
        g.mu_ref = np.log(g.itrans / g.irefer)
        foil = derivative_maximum(g.energy, g.mu_ref, FOIL_EDGE_EV + ALIGN_WINDOW_EV[0],
                                  FOIL_EDGE_EV + ALIGN_WINDOW_EV[1], 0.3)
        g.shift = FOIL_EDGE_EV - foil
        g.energy = g.energy + g.shift
        e0 = derivative_maximum(g.energy, g.mu, *MAIN_EDGE_EV, 0.5)
        pre_edge(g, e0=e0, **NORM)
        g.edge = half_height(g.energy, g.norm, *MAIN_EDGE_EV)
        g.pre_area, g.pre_centroid, g.pre_peaks = pre_edge_fit(g, *PRE_EDGE_EV)
        if exafs:
            autobk(g, rbkg=EXAFS["rbkg"], kweight=EXAFS["kweight"])
            xftf(g, kmin=EXAFS["kmin"], kmax=EXAFS["kmax"], dk=EXAFS["dk"], window=EXAFS["window"],
                 kweight=EXAFS["kweight"])
        return g

    stds = []
    for name, f, _ in STANDARDS:
        stds.append(process(folder / "standards" / f))
        stds[-1].label = name
    groups = [process(p) for p in spectrum_files(folder)]
    valence = valence_curve([g.edge for g in stds], [v for _, _, v in STANDARDS], [g.edge for g in groups])
    with open(out_csv, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "shift_ev", "e0_ev", "edge_ev", "pre_edge_area", "pre_edge_centroid_ev", "valence"])
        for g, v in zip(groups, valence):
            w.writerow([g.label, g.shift, g.e0, g.edge, g.pre_area, g.pre_centroid, v])
    return {"stds": stds, "groups": groups, "valence": valence}


# --------------------------------------------------------------------------------- children


def child(spec: dict) -> dict:
    """One timed run of one way, in this (fresh) process; what it measured comes back as JSON."""
    import larch.io  # noqa: F401  imported before the clock by every way
    import larch.xafs  # noqa: F401
    import scipy.interpolate  # noqa: F401
    import scipy.ndimage  # noqa: F401

    import xpipe.run_steps as run_steps
    import xpipe.runner as runner
    from xpipe.recipe.model import load_recipe
    from xpipe.stages import xas as xas_stage

    work = Path(spec["work"])
    out = Path(spec["out"])
    if out.exists():
        shutil.rmtree(out)
    phases: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - t
        return wrapper

    if spec["way"] == "xpipe":
        run_steps.run_chunks = timed("process", run_steps.run_chunks)  # as the stages call it
        xas_stage.XasStage.write = timed("results", xas_stage.XasStage.write)
        if spec["no_outputs"]:
            xas_stage.XasStage.after = lambda self, results_path, outdir: []
        else:
            xas_stage.XasStage.after = timed("outputs", xas_stage.XasStage.after)

    ru0 = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    t0 = time.perf_counter()
    if spec["way"] == "xpipe":
        report = runner.run(load_recipe(spec["recipe"]), out, workers=spec["workers"], quiet=True)
        done, failed = report.done, [f"{k}: {r}" for k, r in report.failed]
    else:
        out.mkdir(parents=True)
        res = larch_loop(work / "data", out / "larch_loop.csv", spec["exafs"])
        done, failed = len(res["stds"]) + len(res["groups"]), []
    seconds = time.perf_counter() - t0
    ru1 = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in zip(ru0, ru1))
    if spec["way"] == "larch":  # the numbers, for the agreement check (not timed)
        arrays = {}
        for kind, groups in (("std", res["stds"]), ("spec", res["groups"])):
            arrays[f"{kind}_label"] = np.array([g.label for g in groups])
            for name in ("shift", "e0", "edge", "pre_area", "pre_centroid"):
                arrays[f"{kind}_{name}"] = np.array([getattr(g, name) for g in groups])
        arrays["spec_valence"] = res["valence"]
        if spec["exafs"]:
            for g in res["groups"]:
                label = g.label
                for name in ("k", "chi", "r", "chir_mag"):
                    arrays[f"{label}__{name}"] = np.asarray(getattr(g, name))
        np.savez(out / "larch_loop.npz", **arrays)
    return {"seconds": seconds, "cpu_s": cpu, "phases": phases, "done": done, "failed": failed,
            "maxrss_mb": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                             resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024}


def run_child(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['way']} (workers {spec.get('workers')}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------- agreement


def _strings(ds) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]]


def read_xpipe(out: Path, exafs: bool) -> dict:
    """xpipe's numbers from results.h5, and glitches and chi(k) from its checkpoints."""
    import h5py

    from xpipe.store import CheckpointStore

    got: dict = {}
    with h5py.File(out / "results.h5", "r") as h5:
        g = h5[f"entry/xas/{SERIES}"]
        for kind, grp in (("spec", g["spectra"]), ("std", g["standards"])):
            got[f"{kind}_label"] = _strings(grp["label"])
            for name, ds in (("shift", "calibration_shift_ev"), ("e0", "e0_ev"), ("edge", "edge_energy_ev"),
                             ("pre_area", "pre_edge_area"), ("pre_centroid", "pre_edge_centroid_ev")):
                got[f"{kind}_{name}"] = grp[ds][()]
        got["spec_valence"] = g["spectra/valence"][()]
        got["failed"] = _strings(g["failed/key"]) if "failed/key" in g else []
    glitches, chi = 0, {}
    for info, arrays in CheckpointStore(out / ".xpipe" / "xas").iter_chunks():
        for m in info["meta"]:
            glitches += sum(len(x) for x in m["glitches_ev"])
            if exafs:
                i = m["index"]
                chi[m["label"]] = {n: np.asarray(arrays[f"{i}__{n}"]) for n in ("k", "chi", "r_a", "chir_mag")}
    got["glitches"], got["chi"] = glitches, chi
    return got


def compare_pre_edge(area_x, cen_x, area_l, cen_l) -> tuple[bool, str]:
    """The two pre-edge fits (same model and range, two implementations): centroids within
    ``PRE_CENTROID_TOL_EV`` and areas within ``PRE_AREA_TOL`` of xpipe's; a spectrum without
    peaks must have none both ways."""
    none_x, none_l = ~np.isfinite(cen_x), ~np.isfinite(cen_l)
    both = ~none_x & ~none_l
    dc = np.abs(cen_x[both] - cen_l[both])
    da = np.abs(area_l[both] / area_x[both] - 1.0)
    stats = [np.median(v) if v.size else 0.0 for v in (dc, da)] + [np.max(v) if v.size else 0.0 for v in (dc, da)]
    ok = bool(np.array_equal(none_x, none_l) and stats[2] <= PRE_CENTROID_TOL_EV and stats[3] <= PRE_AREA_TOL)
    within = int(np.sum((dc <= PRE_CENTROID_TOL_EV) & (da <= PRE_AREA_TOL)))
    return ok, (f"|centroid difference| median {stats[0]:.1e} eV, max {stats[2]:.1e} eV "
                f"(tolerance {PRE_CENTROID_TOL_EV:g} eV); |area ratio - 1| median {stats[1]:.1e}, max {stats[3]:.1e} "
                f"(tolerance {PRE_AREA_TOL:.0%}); {within} of {both.size} within both"
                + ("" if np.array_equal(none_x, none_l) else "; peaks found by one way only for some spectra"))


def compare(xp: dict, loop_npz: Path, exafs: bool) -> tuple[bool, list[str]]:
    lp = dict(np.load(loop_npz))
    lines, ok = [], True
    for kind, what in (("spec", "spectra"), ("std", "standards")):
        pos = {lab: i for i, lab in enumerate(xp[f"{kind}_label"])}
        labels = [str(s) for s in lp[f"{kind}_label"]]
        missing = [lab for lab in labels if lab not in pos]
        if missing:
            lines.append(f"{what}: xpipe has no result for {len(missing)} of {len(labels)} ({', '.join(missing[:5])})")
            ok = False
            continue
        idx = np.array([pos[lab] for lab in labels])
        names = ["shift", "e0", "edge"] + (["valence"] if kind == "spec" else [])
        parts = []
        for name in names:
            d = float(np.max(np.abs(xp[f"{kind}_{name}"][idx] - lp[f"{kind}_{name}"]))) if idx.size else 0.0
            ok &= bool(d <= TOL)
            parts.append(f"{name} {d:.1e}")
        lines.append(f"{what} ({idx.size}): max |xpipe - loop|: " + ", ".join(parts))
        good, line = compare_pre_edge(xp[f"{kind}_pre_area"][idx], xp[f"{kind}_pre_centroid"][idx],
                                      lp[f"{kind}_pre_area"], lp[f"{kind}_pre_centroid"])
        ok &= good
        lines.append(f"{what}: pre-edge fits, " + line)
    if exafs:
        dk = dchi = dchir = 0.0
        same_len = True
        for lab in (str(s) for s in lp["spec_label"]):
            x = xp["chi"].get(lab)
            if x is None or x["k"].shape != lp[f"{lab}__k"].shape or x["r_a"].shape != lp[f"{lab}__r"].shape:
                same_len = False
                continue
            dk = max(dk, float(np.max(np.abs(x["k"] - lp[f"{lab}__k"]))))
            dchi = max(dchi, float(np.max(np.abs(x["chi"] - lp[f"{lab}__chi"]))))
            dchir = max(dchir, float(np.max(np.abs(x["chir_mag"] - lp[f"{lab}__chir_mag"]))))
        ok &= same_len and max(dk, dchi, dchir) <= TOL
        lines.append(f"EXAFS: max |xpipe - loop|: k {dk:.1e}, chi(k) {dchi:.1e}, |chi(R)| {dchir:.1e}"
                     + ("" if same_len else "; k or R grids differ in length for some spectra"))
    return ok, lines


# --------------------------------------------------------------------------------- main


def header() -> None:
    import larch
    import scipy

    import xpipe

    cpu = cpu_model()
    print(f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"larch {larch.__version__}, xpipe {xpipe.__version__}")
    print(f"CPU: {os.cpu_count()} x {cpu}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 if the ways agree, 1 otherwise."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spectra", type=int, default=200,
                    help="spectra in the series (default 200; the loop fits about 1 s each)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help=f"xpipe worker processes (default: the CPU count, {os.cpu_count()})")
    ap.add_argument("--exafs", action="store_true", help="also autobk and the Fourier transform, both ways")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs of each way; the fastest counts (default 1)")
    ap.add_argument("--no-outputs", action="store_true",
                    help="xpipe writes results.h5 but not the CSV table, figures and Athena project")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (the data in it are reused when they match)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    if args.spectra < 2 or args.workers < 1 or args.repeat < 1:
        ap.error("--spectra must be at least 2, --workers and --repeat at least 1")

    header()
    t_start = time.perf_counter()
    work = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="bench_xas_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t_gen, reused = make_data(work / "data", args.spectra)
        n = args.spectra + len(STANDARDS)
        print(f"data: {args.spectra} XDI spectra + {len(STANDARDS)} standards in {work / 'data'}, "
              + ("reused" if reused else f"generated in {t_gen:.1f} s (not timed)"))
        recipe = write_recipe(work, args.exafs)
        worker_counts = [args.workers] + ([1] if args.workers != 1 else [])
        ways = [("larch", 1)] + [("xpipe", w) for w in worker_counts]
        best: dict = {}
        times: dict = {}
        for _ in range(args.repeat):
            for way, w in ways:
                out = work / (f"out_xpipe_w{w}" if way == "xpipe" else "out_larch")
                spec = {"way": way, "workers": w, "work": str(work), "out": str(out), "recipe": str(recipe),
                        "exafs": args.exafs, "no_outputs": args.no_outputs}
                r = run_child(spec)
                times.setdefault((way, w), []).append(r["seconds"])
                if (way, w) not in best or r["seconds"] < best[(way, w)]["seconds"]:
                    best[(way, w)] = r

        ref = best[("larch", 1)]
        rate_ref = n / ref["seconds"]
        what = "XANES + EXAFS (autobk, xftf)" if args.exafs else "XANES"
        outputs = "not written (--no-outputs)" if args.no_outputs else "CSV table, figures, Athena project"
        print(f"{what}; {n} spectra each way ({args.spectra} + {len(STANDARDS)} standards); best of {args.repeat}"
              + ("; spread: slowest / fastest - 1" if args.repeat > 1 else ""))
        print()

        def spread(key):
            t = times[key]
            return f"{max(t) / min(t) - 1:6.0%}" if len(t) > 1 else f"{'-':>6s}"

        print(f"{'way':34s} {'workers':>7s} {'seconds':>8s} {'spectra/s':>10s} {'vs loop':>8s} {'CPU s':>7s} "
              f"{'max RSS MB':>10s} {'spread':>6s}")
        print(f"{'(b) Larch loop':34s} {1:7d} {ref['seconds']:8.2f} {rate_ref:10.1f} {1.0:7.2f}x "
              f"{ref['cpu_s']:7.1f} {ref['maxrss_mb']:10.0f} {spread(('larch', 1))}")
        for w in worker_counts:
            r = best[("xpipe", w)]
            rate = n / r["seconds"]
            print(f"{'(a) xpipe run()':34s} {w:7d} {r['seconds']:8.2f} {rate:10.1f} {rate / rate_ref:7.2f}x "
                  f"{r['cpu_s']:7.1f} {r['maxrss_mb']:10.0f} {spread(('xpipe', w))}")
            ph = r["phases"]
            if "outputs" in ph:
                t = r["seconds"] - ph["outputs"]
                print(f"{'    the same, less the outputs':34s} {w:7d} {t:8.2f} {n / t:10.1f} {n / t / rate_ref:7.2f}x")
            print(f"      process {ph.get('process', 0):.2f} s (read, process, checkpoints), results.h5 "
                  f"{ph.get('results', 0):.2f} s (checkpoints read, valence, HDF5)"
                  + (f", outputs {ph['outputs']:.2f} s ({outputs})" if "outputs" in ph else f"; outputs {outputs}"))
            if r["failed"]:
                print(f"      xpipe failed on {len(r['failed'])} spectra: {r['failed'][:3]}")
        print("  xpipe's time includes recipe loading, reading, deglitching, checkpoints, results.h5 and "
              + ("nothing else" if args.no_outputs else "the outputs after it (CSV, figures, Athena project)")
              + "; imports are outside every clock")

        print()
        ok = not any(best[("xpipe", w)]["failed"] for w in worker_counts)
        for w in worker_counts:
            xp = read_xpipe(work / f"out_xpipe_w{w}", args.exafs)
            good, lines = compare(xp, work / "out_larch" / "larch_loop.npz", args.exafs)
            ok &= good
            print(f"agreement, xpipe with {w} worker(s) against the Larch loop (tolerance {TOL:g}): "
                  f"{'ok' if good else 'FAILED'}")
            for line in lines:
                print(f"  {line}")
            print(f"  glitches replaced by xpipe's deglitch: {xp['glitches']} (the loop does not deglitch)")
        print()
        print(f"agreement: {'ok' if ok else 'FAILED'}; total wall time {time.perf_counter() - t_start:.0f} s; "
              f"load average now {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
