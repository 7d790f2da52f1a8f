"""XPS fitting of V 2p + O 1s spectra: xpipe ``fit_spectrum`` against a plain lmfit loop.

Usage::

    python benchmarks/bench_xps.py [--spectra 200] [--repeat 1]

The spectra are built with the model of ``xpipe.synth.xps`` (GL(30) product lines, V 2p doublets
of V3+/V4+/V5+, three O 1s lines, Shirley step plus a sloped constant, Poisson noise) for Na
contents from 3.0 to 1.0, without a charge shift, from a fixed seed. Both ways fit the same
model (the component library ``recipes/xps/v2p_o1s.yaml``), on the same region 510-538 eV, from
the same starting values, with the same bounds and links, and with Poisson weights.

(a) xpipe: ``fit_spectrum(x, y, model, links=..., region=..., background="shirley")`` per spectrum.
(b) lmfit loop: ``lmfit.Model`` sum of GL(30) product peaks, the 2p1/2 lines tied to their 2p3/2
    line by ``expr``, the Shirley background computed once per spectrum (``lmfitxps`` when it is
    installed, otherwise the iterative Shirley below) and subtracted, ``model.fit`` with
    ``weights = 1 / sigma``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import lmfit
import numpy as np
import scipy
from scipy.special import erfcx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import xpipe  # noqa: E402
from xpipe.recipe.sections.xps import load_library  # noqa: E402
from xpipe.synth import xps as synth  # noqa: E402
from xpipe.xps.fit import fit_spectrum  # noqa: E402

try:
    from lmfitxps.backgrounds import shirley_calculate as _lmfitxps_shirley
except ImportError:  # lmfitxps is optional: fall back to a plain iterative Shirley
    _lmfitxps_shirley = None

REGION = (510.0, 538.0)
SEED = 20250314
SPLITTING = 7.4  # eV, as in the library (held)
FWHM_RATIO = 1.7  # 2p1/2 / 2p3/2 width, as in the library (held)
AREA_RATIO = 0.5  # 2p1/2 / 2p3/2, degeneracy (held)
# starting areas (counts eV) for both ways: V doublets as totals, O lines
START_AREA = {"V5+ 2p": 4000.0, "V4+ 2p": 4000.0, "V3+ 2p": 4000.0,
              "O lattice": 20000.0, "O hydroxyl/adsorbed": 5000.0, "O C=O/H2O": 3000.0}
V_NAMES = ("V5+ 2p", "V4+ 2p", "V3+ 2p")
O_NAMES = ("O lattice", "O hydroxyl/adsorbed", "O C=O/H2O")


# ----------------------------------------------------------------------------- data


def make_spectra(n: int, seed: int = SEED):
    """``n`` noisy V 2p + O 1s spectra (BE ascending, cut to REGION) and their true V fractions."""
    region = next(r for r in synth.REGIONS if r.name == "V 2p/O 1s")
    be = region.binding_energy()
    order = np.argsort(be)
    keep = (be[order] >= REGION[0]) & (be[order] <= REGION[1])
    rng = np.random.default_rng(seed)
    spectra, truth = [], []
    for x_na in np.linspace(3.0, 1.0, n):
        comps = synth._components(float(x_na), 0.0)["V 2p/O 1s"]
        counts = rng.poisson(synth._expected_counts(region, comps)).astype(float)
        spectra.append((be[order][keep], counts[order][keep]))
        truth.append(synth.surface_fractions(float(x_na)))
    return spectra, truth


# ----------------------------------------------------------------------------- (a) xpipe


def xpipe_model():
    lib = load_library(ROOT / "recipes" / "xps" / "v2p_o1s.yaml")
    model = [replace(c.entry(), area=START_AREA[c.name]) for c in lib.components]
    return model, list(lib.links)


def fit_xpipe(spectra, model, links):
    out = []
    for x, y in spectra:
        f = fit_spectrum(x, y, model, links=links, region=REGION, background="shirley")
        v_total = sum(f.get(n).fraction for n in V_NAMES)
        out.append({
            "fractions": {n: f.get(n).fraction / v_total for n in V_NAMES},
            "fraction_err": {n: f.get(n).fraction_err / v_total for n in V_NAMES},
            "centers": {n: f.components[[c.name for c in f.components].index(_major(n))].center
                        for n in V_NAMES + O_NAMES},
            "center_err": {n: f.components[[c.name for c in f.components].index(_major(n))].center_err
                           for n in V_NAMES + O_NAMES},
            "success": f.success,
        })
    return out


def _major(name: str) -> str:
    return name + "3/2" if name.endswith("2p") else name


# ----------------------------------------------------------------------------- (b) lmfit loop


def gl30(x, center, fwhm, area):
    """Unit-area CasaXPS GL(30) product times ``area``."""
    a, b = 4.0 * math.log(2.0) * 0.7, 4.0 * 0.3
    u2 = ((x - center) / fwhm) ** 2
    norm = math.pi / math.sqrt(b) * erfcx(math.sqrt(a / b)) * fwhm
    return area * np.exp(-a * u2) / (1.0 + b * u2) / norm


def plain_shirley(x, y, avg_points=5, tol=1e-7, max_iter=100):
    """Iterative Shirley, end levels from ``avg_points`` points, x ascending (BE)."""
    lo, hi = y[:avg_points].mean(), y[-avg_points:].mean()
    bg = np.full_like(y, lo)
    for _ in range(max_iter):
        peak = y - bg
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (peak[1:] + peak[:-1]) * np.diff(x))])
        new = lo + (hi - lo) * cum / cum[-1]
        if np.max(np.abs(new - bg)) < tol * abs(hi - lo):
            return new
        bg = new
    return bg


def shirley(x, y):
    if _lmfitxps_shirley is None:
        return plain_shirley(x, y)
    return np.asarray(_lmfitxps_shirley(x, y, maxit=100), dtype=float)


def lmfit_model(model):
    """Composite lmfit model and its parameters from the same library entries."""
    key = {"V5+ 2p": "v5", "V4+ 2p": "v4", "V3+ 2p": "v3",
           "O lattice": "olat", "O hydroxyl/adsorbed": "ooh", "O C=O/H2O": "oco"}
    total = None
    for e in model:
        p = key[e.name]
        parts = [lmfit.Model(gl30, prefix=f"{p}_")]
        if e.name in V_NAMES:
            parts.append(lmfit.Model(gl30, prefix=f"{p}b_"))
        for m in parts:
            total = m if total is None else total + m
    params = total.make_params()
    for e in model:
        p = key[e.name]
        lo, hi = e.center_bounds or (e.center - 1.5, e.center + 1.5)
        params[f"{p}_center"].set(value=e.center, min=lo, max=hi)
        params[f"{p}_fwhm"].set(value=e.fwhm, min=e.fwhm_bounds[0], max=e.fwhm_bounds[1])
        if e.name in V_NAMES:  # area of the 2p3/2 line; the doublet total is 1.5 x this
            params[f"{p}_area"].set(value=START_AREA[e.name] / (1 + AREA_RATIO), min=0.0)
            params[f"{p}b_center"].set(expr=f"{p}_center + {SPLITTING}")
            params[f"{p}b_fwhm"].set(expr=f"{p}_fwhm * {FWHM_RATIO}")
            params[f"{p}b_area"].set(expr=f"{p}_area * {AREA_RATIO}")
        else:
            params[f"{p}_area"].set(value=START_AREA[e.name], min=0.0)
    # the library's links, written by hand
    params["v4_fwhm"].set(expr="v5_fwhm + 0.2")
    params["v3_fwhm"].set(expr="v5_fwhm + 0.3")
    params["v4_center"].set(expr="v5_center - 0.9")
    params["v3_center"].set(expr="v5_center - 1.5")
    return total, params, key


def fit_lmfit(spectra, model):
    lm, params0, key = lmfit_model(model)
    out = []
    for x, y in spectra:
        bg = shirley(x, y)
        sigma = np.sqrt(np.maximum(np.abs(y), 1.0))
        r = lm.fit(y - bg, params0.copy(), x=x, weights=1.0 / sigma)
        totals = {n: r.params[f"{key[n]}_area"].value for n in V_NAMES}
        s = sum(totals.values())
        out.append({
            "fractions": {n: totals[n] / s for n in V_NAMES},
            "centers": {n: r.params[f"{key[n]}_center"].value for n in V_NAMES + O_NAMES},
            "success": bool(r.success),
        })
    return out


# ----------------------------------------------------------------------------- main


def best_time(fn, repeat):
    best, result = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spectra", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)

    if _lmfitxps_shirley is not None:
        from importlib.metadata import version

        shirley_src = f"lmfitxps {version('lmfitxps')} shirley_calculate (maxit=100)"
    else:
        shirley_src = "plain iterative Shirley of this script (lmfitxps not installed)"
    load = os.getloadavg()
    print(f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"lmfit {lmfit.__version__}, xpipe {xpipe.__version__}")
    print(f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"lmfit loop background: {shirley_src}")

    t = time.perf_counter()
    spectra, truth = make_spectra(args.spectra)
    print(f"{len(spectra)} spectra, {spectra[0][0].size} points each, {REGION[0]:g}-{REGION[1]:g} eV "
          f"(generated in {time.perf_counter() - t:.1f} s, not timed)")

    model, links = xpipe_model()
    ta, res_a = best_time(lambda: fit_xpipe(spectra, model, links), args.repeat)
    tb, res_b = best_time(lambda: fit_lmfit(spectra, model), args.repeat)
    n = len(spectra)

    print()
    print("| way | spectra | seconds | spectra/s | vs lmfit loop |")
    print("|---|---:|---:|---:|---:|")
    print(f"| (a) xpipe `fit_spectrum` | {n} | {ta:.2f} | {n / ta:.1f} | {tb / ta:.2f}x |")
    print(f"| (b) lmfit loop | {n} | {tb:.2f} | {n / tb:.1f} | 1.00x |")
    print(f"(best of {args.repeat})")

    ok = [i for i in range(n) if res_a[i]["success"] and res_b[i]["success"]]
    print(f"\nsucceeded: xpipe {sum(r['success'] for r in res_a)}/{n}, lmfit {sum(r['success'] for r in res_b)}/{n}")
    df = np.array([[res_a[i]["fractions"][k] - res_b[i]["fractions"][k] for k in V_NAMES] for i in ok])
    ferr = np.array([[res_a[i]["fraction_err"][k] for k in V_NAMES] for i in ok])
    dc = np.array([[res_a[i]["centers"][k] - res_b[i]["centers"][k] for k in V_NAMES + O_NAMES] for i in ok])
    cerr = np.array([[res_a[i]["center_err"][k] for k in V_NAMES + O_NAMES] for i in ok])
    print(f"V fractions: max |xpipe - lmfit| {np.abs(df).max():.4f}, median {np.median(np.abs(df)):.4f}; "
          f"in units of xpipe's error: max {np.nanmax(np.abs(df) / ferr):.2f}, "
          f"{np.mean(np.abs(df) <= ferr) * 100:.0f} % within 1 sigma")
    print(f"centres: max |xpipe - lmfit| {np.abs(dc).max():.4f} eV, median {np.median(np.abs(dc)):.4f} eV; "
          f"in units of xpipe's error: max {np.nanmax(np.abs(dc) / cerr):.2f}, "
          f"{np.mean(np.abs(dc) <= cerr) * 100:.0f} % within 1 sigma")
    for label, res in (("xpipe", res_a), ("lmfit", res_b)):
        err = np.array([[res[i]["fractions"][k] - truth[i][k.split()[0]] for k in V_NAMES] for i in range(n)])
        print(f"{label}: V fraction - truth: mean |error| {np.abs(err).mean():.3f}, max {np.abs(err).max():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
