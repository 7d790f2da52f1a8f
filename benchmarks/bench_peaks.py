"""Benchmark: pseudo-Voigt peak fitting and cell refinement over a stack of patterns, xpipe against
a per-peak lmfit loop and a per-frame least-squares loop.

    python benchmarks/bench_peaks.py [--frames 2000] [--peaks 12] [--repeat 1] [--lmfit-frames N]
                                     [--lmfit-model function|builtin] [--threads 1]

Data (generated, not timed): a deterministic stack of ``--frames`` 1D patterns on a 2theta axis
(5 deg up, step 0.01 deg, 0.7093 A) holding ``--peaks`` reflections of a layered hexagonal cell
(R-3m, a = 2.816 A, c = 14.05 A) that goes through a solid-solution cycle: c grows by 0.3 % and
a shrinks by 0.2 % and back, so the peaks drift by 0.003-0.08 deg, some in opposite directions;
about half of the peaks also change area (by up to 40 %). Peaks are area-normalised
pseudo-Voigts (FWHM 0.05-0.11 deg, Lorentzian fraction 0.2-0.6) on a smooth background, with
Poisson noise; sigma = sqrt(counts). Peaks closer than 8 FWHM share a fit window.

Peak fitting, the same model, windows, weights, bounds and first-frame start both ways:

  (a) xpipe: one call of ``xpipe.xrd.peaks.fit_peaks`` on the whole stack (batched
      Levenberg-Marquardt, warm-started block to block).
  (b) lmfit: for each frame, for each window, ``model.fit(y, params, x=x, weights=1/sigma)`` of an
      ``lmfit.Model`` of the peaks of the window plus the linear background
      ``b0 + b1 (x - window_centre)``, ``params`` taken from the previous frame's fit (warm start
      as in xrdfit; values on a bound moved 0.1 % of the range inside, see ``off_bounds``),
      ``scale_covar=False`` (sigma is absolute, as in xpipe). ``--lmfit-model
      function`` wraps xpipe's ``pseudo_voigt`` in ``lmfit.Model``; ``builtin`` uses lmfit's
      ``PseudoVoigtModel`` (sigma = FWHM / 2, fraction = eta), which is several times slower.
      ``--lmfit-frames`` (default 500) fits only the first N frames; its rate is then
      extrapolated to the whole stack (the cost per frame is steady, see the README).

Throughput is peak fits per second (frames x peaks / seconds); each way is timed ``--repeat``
times and the fastest run is reported. The positions must agree within 0.1 sigma (xpipe's
``position_sigma``) on every peak that both ways fitted successfully in the frames both fitted,
and both must have succeeded on at least 99 % of those peak fits.

Cell refinement: ``xpipe.xrd.cell.refine_cells`` (hexagonal, 2theta and wavelength) on the fitted
positions and sigmas of all frames, against a per-frame ``numpy.linalg.lstsq`` loop computing the
same weighted fit, cell, covariance and uncertainties. The cells must agree to 1e-8 (relative).

The script exits 1 if an agreement check fails. Not part of the test suite; run on demand.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import lmfit
import numpy as np
import scipy
from lmfit.models import PseudoVoigtModel
from machine import cpu_model
from threadpoolctl import threadpool_info, threadpool_limits

import xpipe
from xpipe.xrd.cell import refine_cells
from xpipe.xrd.peaks import fit_peaks, peak_windows, pseudo_voigt

SEED = 20240611
WAVELENGTH_A = 0.7093  # Mo K-alpha1
CELL_A, CELL_C = 2.816, 14.05  # layered R-3m oxide in hexagonal axes
DA_REL, DC_REL = -0.002, 0.003  # relative change of a and c at the end of charge
TTH_MIN, STEP = 5.0, 0.01  # axis start and step, deg 2theta
MIN_SEPARATION = 0.15  # deg; of two closer reflections only the first is used
WINDOW_HALF_WIDTH = 4.0  # windows: +-4 FWHM around each peak, overlapping ones merged
POS_TOL_SIGMA = 0.1  # xpipe vs lmfit positions, in units of xpipe's position_sigma
MIN_BOTH_OK = 0.99  # share of the peak fits both ways must have fitted for the check to count
CELL_TOL_REL = 1e-8  # refine_cells vs the lstsq loop
CELL_REPEAT = 5  # the cell fits take milliseconds: best of 5

# lmfit parameter of each quantity of a peak, and the factor from xpipe's value to lmfit's
LMFIT_SHAPES = {
    "function": {"position": ("x0", 1.0), "fwhm": ("fwhm", 1.0), "area": ("area", 1.0), "eta": ("eta", 1.0)},
    "builtin": {"position": ("center", 1.0), "fwhm": ("sigma", 0.5), "area": ("amplitude", 1.0), "eta": ("fraction", 1.0)},
}


# --------------------------------------------------------------------------------- data


def reflections(n_peaks: int) -> np.ndarray:
    """(n_peaks, 3) hkl of the R-3m cell (-h + k + l = 3n), by increasing 2theta above TTH_MIN + 1.

    Of two reflections closer than MIN_SEPARATION, only the first is kept (they would not be
    resolved), and of equal d-spacings only one.
    """
    rows = []
    for h in range(6):
        for k in range(6):
            for l in range(40):
                if (h, k, l) != (0, 0, 0) and (-h + k + l) % 3 == 0:
                    rows.append((h, k, l))
    hkl = np.array(rows)
    tth = two_theta(hkl, CELL_A, CELL_C)
    order = np.argsort(tth)
    hkl, tth = hkl[order], tth[order]
    keep, last = [], -np.inf
    for i in np.flatnonzero(np.isfinite(tth) & (tth > TTH_MIN + 1.0)):
        if tth[i] - last >= MIN_SEPARATION:
            keep.append(i)
            last = tth[i]
        if len(keep) == n_peaks:
            break
    if len(keep) < n_peaks:
        raise SystemExit(f"only {len(keep)} reflections available, asked for {n_peaks}")
    return hkl[keep]


def two_theta(hkl: np.ndarray, a: np.ndarray | float, c: np.ndarray | float) -> np.ndarray:
    """2theta (deg) of ``hkl`` (n, 3) for hexagonal cells ``a``, ``c`` (scalars or (frames, 1))."""
    h, k, l = hkl[:, 0], hkl[:, 1], hkl[:, 2]
    inv_d2 = 4.0 / 3.0 * (h * h + h * k + k * k) / np.square(a) + l * l / np.square(c)
    s = WAVELENGTH_A / 2.0 * np.sqrt(inv_d2)
    with np.errstate(invalid="ignore"):
        return np.degrees(2.0 * np.arcsin(np.where(s < 1.0, s, np.nan)))


def make_data(n_frames: int, n_peaks: int, seed: int = SEED) -> dict:
    """Synthetic Poisson stack with drifting peaks and the truth behind it.

    Returns a dict: ``x`` (n_points,), ``counts`` and ``sigma`` (n_frames, n_points), ``hkl``,
    true ``position`` and ``area`` (n_frames, n_peaks), true ``a``, ``c`` (n_frames,),
    ``windows`` and ``initial`` (the first-frame start of both ways).
    """
    rng = np.random.default_rng(seed)
    hkl = reflections(n_peaks)
    state = np.sin(np.pi * np.arange(n_frames) / max(n_frames - 1, 1)) ** 2  # charge, discharge
    a = CELL_A * (1.0 + DA_REL * state)
    c = CELL_C * (1.0 + DC_REL * state)
    pos = two_theta(hkl, a[:, None], c[:, None])
    x = np.arange(TTH_MIN, np.ceil(pos.max()) + 1.0 + STEP / 2, STEP)
    fwhm0 = 0.05 + 0.002 * (pos[0] - TTH_MIN)
    fwhm = fwhm0 * (1.0 + 0.1 * state[:, None])  # some strain broadening
    eta = rng.uniform(0.2, 0.6, n_peaks)
    height = np.exp(rng.uniform(np.log(300.0), np.log(5000.0), n_peaks))
    gain = np.where(rng.random(n_peaks) < 0.5, rng.uniform(-0.4, 0.4, n_peaks), 0.0)
    area0 = height * fwhm0 / (eta * 2.0 / np.pi + (1.0 - eta) * np.sqrt(4.0 * np.log(2.0) / np.pi))
    area = area0 * (1.0 + gain * state[:, None])
    mean = (120.0 + 600.0 * np.exp(-(x - TTH_MIN) / 4.0) + 20.0 * np.sin(x / 3.0)) * (1.0 + 0.05 * state[:, None])
    for k in range(n_peaks):
        mean += pseudo_voigt(x[None, :], pos[:, k : k + 1], fwhm[:, k : k + 1], area[:, k : k + 1], eta[k])
    counts = rng.poisson(mean).astype(float)
    sigma = np.sqrt(np.maximum(counts, 1.0))
    windows = peak_windows(pos[0], fwhm0, half_width=WINDOW_HALF_WIDTH)
    initial = np.column_stack([pos[0] + 0.01, 1.25 * fwhm0, 0.8 * area0, np.full(n_peaks, 0.5)])
    return dict(x=x, counts=counts, sigma=sigma, hkl=hkl, position=pos, area=area, a=a, c=c,
                windows=windows, initial=initial)


# --------------------------------------------------------------------------------- lmfit


def linear_background(x, b0, b1, xc):
    """``b0 + b1 (x - xc)``: the window background of xpipe (``xc`` fixed at the window centre)."""
    return b0 + b1 * (x - xc)


def build_lmfit_window(kind: str, lo: float, hi: float, peaks: list[int], initial: np.ndarray,
                       fwhm_min: float):
    """lmfit model and start parameters of one window, with xpipe's bounds.

    Bounds as in ``fit_peaks``: position inside the window, FWHM between half the point spacing
    and the window width, area >= 0, eta in [0, 1]; the background is free.
    """
    names = LMFIT_SHAPES[kind]
    model = lmfit.Model(linear_background)
    for k in peaks:
        shape = lmfit.Model(pseudo_voigt, prefix=f"p{k}_") if kind == "function" else PseudoVoigtModel(prefix=f"p{k}_")
        model = shape + model
    params = model.make_params()
    bounds = {"position": (lo, hi), "fwhm": (fwhm_min, hi - lo), "area": (0.0, np.inf), "eta": (0.0, 1.0)}
    for k in peaks:
        for q, value in zip(("position", "fwhm", "area", "eta"), initial[k]):
            name, f = names[q]
            params[f"p{k}_{name}"].set(value=f * value, min=f * bounds[q][0], max=f * bounds[q][1])
    params["b0"].set(value=0.0)
    params["b1"].set(value=0.0)
    params["xc"].set(value=0.5 * (lo + hi), vary=False)
    return model, params


def edge_background(xw: np.ndarray, yw: np.ndarray) -> tuple[float, float]:
    """Start (b0, b1): the line through the means of the first and last 3 points, as in xpipe."""
    e = min(3, max(1, xw.size // 4))
    x0, x1 = xw[:e].mean(), xw[-e:].mean()
    y0, y1 = yw[:e].mean(), yw[-e:].mean()
    b1 = (y1 - y0) / (x1 - x0)
    return y0 + b1 * (0.5 * (xw[0] + xw[-1]) - x0), b1


def off_bounds(params: lmfit.Parameters, margin: float = 1e-3) -> lmfit.Parameters:
    """Move varying parameters that sit on a bound ``margin`` x their range inside (in place).

    lmfit maps bounded parameters through the MINUIT transformation, whose derivative is zero
    at a bound: a fit started with e.g. ``eta = 0`` (where the previous frame ended) can stop
    where it started and still report success. One-sided bounds use a range of 1.
    """
    for par in params.values():
        if par.vary:
            both = np.isfinite(par.min) and np.isfinite(par.max)
            d = margin * ((par.max - par.min) if both else 1.0)
            value = max(par.value, par.min + d) if np.isfinite(par.min) else par.value
            par.value = min(value, par.max - d) if np.isfinite(par.max) else value
    return params


def fit_lmfit(data: dict, n_frames: int, kind: str) -> dict:
    """The per-peak lmfit loop over the first ``n_frames`` frames, warm-started frame to frame.

    Each window starts from the previous frame's successful fit, with parameters on a bound
    moved just inside (:func:`off_bounds`); the first frame starts from ``data["initial"]`` and
    the background line through the window edges, as in xpipe.

    Returns ``position``, ``position_sigma`` (n_frames, n_peaks; NaN where the fit failed or gave
    no uncertainties), ``success`` and the mean number of function evaluations per window fit.
    """
    x, counts, sigma, initial = data["x"], data["counts"], data["sigma"], data["initial"]
    n_peaks = initial.shape[0]
    pname, pscale = LMFIT_SHAPES[kind]["position"]
    step = float(np.median(np.diff(x)))
    windows = []
    for lo, hi in data["windows"]:
        peaks = [k for k in range(n_peaks) if lo <= initial[k, 0] <= hi]
        sel = np.flatnonzero((x >= lo) & (x <= hi))
        model, params = build_lmfit_window(kind, lo, hi, peaks, initial, 0.5 * step)
        b0, b1 = edge_background(x[sel], counts[0, sel])
        params["b0"].set(value=b0)
        params["b1"].set(value=b1)
        windows.append((peaks, sel, model, params))
    pos = np.full((n_frames, n_peaks), np.nan)
    err = np.full((n_frames, n_peaks), np.nan)
    ok = np.zeros((n_frames, n_peaks), dtype=bool)
    nfev = 0
    for f in range(n_frames):
        for j, (peaks, sel, model, params) in enumerate(windows):
            res = model.fit(counts[f, sel], params, x=x[sel], weights=1.0 / sigma[f, sel], scale_covar=False)
            nfev += res.nfev
            good = bool(res.success and res.errorbars)
            for k in peaks:
                p = res.params[f"p{k}_{pname}"]
                ok[f, k] = good and p.stderr is not None
                if ok[f, k]:
                    pos[f, k] = p.value / pscale
                    err[f, k] = p.stderr / pscale
            if good:
                windows[j] = (peaks, sel, model, off_bounds(res.params))
    return dict(position=pos, position_sigma=err, success=ok, nfev=nfev / (n_frames * len(windows)))


# --------------------------------------------------------------------------------- cells


def cells_lstsq_loop(hkl: np.ndarray, tth: np.ndarray, sig: np.ndarray) -> np.ndarray:
    """Per-frame weighted ``numpy.linalg.lstsq`` of a hexagonal cell from 2theta positions.

    Same fit as ``refine_cells(..., system="hexagonal")``: ``1/d^2 = A (h^2 + hk + k^2) + C l^2``
    with weights from the position sigmas, covariance ``(X^T W X)^-1`` times ``max(1, reduced
    chi-square)``, ``a = sqrt(4 / 3A)``, ``c = 1 / sqrt(C)``, ``V = sqrt(3)/2 a^2 c`` and their
    propagated uncertainties. Returns (n_frames, 6): a, c, V, sigma_a, sigma_c, sigma_V.
    """
    h, k, l = hkl[:, 0], hkl[:, 1], hkl[:, 2]
    design = np.column_stack([h * h + h * k + k * k, l * l]).astype(float)
    lam2 = WAVELENGTH_A**2
    out = np.full((tth.shape[0], 6), np.nan)
    for f in range(tth.shape[0]):
        use = np.isfinite(tth[f]) & np.isfinite(sig[f]) & (sig[f] > 0)
        if use.sum() < 2:
            continue
        t = np.radians(tth[f, use])
        y = 4.0 * np.sin(t / 2.0) ** 2 / lam2
        sy = 4.0 * np.abs(np.sin(t)) / lam2 * (np.pi / 360.0) * sig[f, use]
        xw = design[use] / sy[:, None]
        yw = y / sy
        (ca, cc), *_ = np.linalg.lstsq(xw, yw, rcond=None)
        dof = use.sum() - 2
        red = np.sum((yw - xw @ np.array([ca, cc])) ** 2) / dof if dof > 0 else np.nan
        cov = np.linalg.inv(xw.T @ xw) * (red if red > 1.0 else 1.0)
        a = np.sqrt(4.0 / (3.0 * ca))
        c = 1.0 / np.sqrt(cc)
        v = np.sqrt(3.0) / 2.0 * a * a * c
        sv = v * np.sqrt(cov[0, 0] / ca**2 + 0.25 * cov[1, 1] / cc**2 + cov[0, 1] / (ca * cc))
        out[f] = a, c, v, a / (2.0 * ca) * np.sqrt(cov[0, 0]), c / (2.0 * cc) * np.sqrt(cov[1, 1]), sv
    return out


# --------------------------------------------------------------------------------- running


def best_of(repeat: int, fn, *args, **kwargs):
    """(fastest wall seconds of ``repeat`` calls, result of the last call)."""
    best, result = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, result


def header(threads: int) -> None:
    """Versions, CPU and the thread pools in use."""
    cpu = cpu_model()
    print(f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"lmfit {lmfit.__version__}, xpipe {xpipe.__version__}")
    print(f"CPU: {os.cpu_count()} x {cpu}")
    pools = ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info()) or "none"
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    print(f"threads: limited to {threads} by threadpoolctl (pools: {pools}); env {env or 'unset'}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 if the ways agree, 1 otherwise."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=2000, help="frames in the stack (default 2000)")
    ap.add_argument("--peaks", type=int, default=12, help="peaks per frame, >= 10 (default 12)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs of each way; the fastest counts (default 1)")
    ap.add_argument("--lmfit-frames", type=int, default=500,
                    help="fit only the first N frames with lmfit and extrapolate its rate (default 500)")
    ap.add_argument("--lmfit-model", choices=sorted(LMFIT_SHAPES), default="function",
                    help="lmfit peak model: xpipe's pseudo_voigt in lmfit.Model (default) or lmfit's PseudoVoigtModel")
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1)")
    args = ap.parse_args(argv)
    if args.peaks < 10:
        ap.error("--peaks must be at least 10")
    n_lm = min(args.lmfit_frames, args.frames)
    if n_lm < 1 or args.repeat < 1:
        ap.error("--lmfit-frames and --repeat must be at least 1")

    threadpool_limits(args.threads)
    header(args.threads)
    t0 = time.perf_counter()
    data = make_data(args.frames, args.peaks)
    x, n_peaks = data["x"], args.peaks
    per_window = [int(np.sum((lo <= data["initial"][:, 0]) & (data["initial"][:, 0] <= hi))) for lo, hi in data["windows"]]
    widest = max(np.sum((x >= lo) & (x <= hi)) for lo, hi in data["windows"])
    print(f"data: {args.frames} frames x {x.size} points ({x[0]:.2f}-{x[-1]:.2f} deg), generated in "
          f"{time.perf_counter() - t0:.1f} s (not timed)")
    print(f"      {n_peaks} peaks in {len(per_window)} windows of {'+'.join(map(str, per_window))} peaks, "
          f"at most {widest} points")
    drift = np.ptp(data["position"], axis=0)
    print(f"      drift per peak {drift.min():.3f}-{drift.max():.3f} deg, "
          f"area change up to {np.max(np.ptp(data['area'], axis=0) / data['area'][0]):.0%}")

    # (a) xpipe
    t_xp, fits = best_of(args.repeat, fit_peaks, x, data["counts"], data["windows"], data["initial"],
                         sigma=data["sigma"])
    # (b) lmfit
    t_lm, lm = best_of(args.repeat, fit_lmfit, data, n_lm, args.lmfit_model)

    rate_xp = args.frames * n_peaks / t_xp
    rate_lm = n_lm * n_peaks / t_lm
    print()
    print(f"{'peak fitting':30s} {'frames':>7s} {'peak fits':>10s} {'seconds':>8s} {'fits/s':>8s} {'vs lmfit':>9s}")
    print(f"{'(a) xpipe fit_peaks':30s} {args.frames:7d} {args.frames * n_peaks:10d} {t_xp:8.2f} {rate_xp:8.0f} {rate_xp / rate_lm:8.1f}x")
    print(f"{f'(b) lmfit loop ({args.lmfit_model})':30s} {n_lm:7d} {n_lm * n_peaks:10d} {t_lm:8.2f} {rate_lm:8.0f} {1.0:8.1f}x")
    if n_lm < args.frames:
        print(f"    lmfit fitted the first {n_lm} of {args.frames} frames; at its measured rate all "
              f"{args.frames} would take about {args.frames * n_peaks / rate_lm:.0f} s (extrapolated)")
    print(f"    xpipe {np.mean(fits.n_iter):.1f} iterations per window fit; lmfit {lm['nfev']:.1f} "
          f"model evaluations per window fit; best of {args.repeat}")

    # agreement of positions
    ok_xp = fits.success[:n_lm]
    both = ok_xp & lm["success"]
    sig = fits.position_sigma[:n_lm][both]
    dev = np.abs(fits.position[:n_lm][both] - lm["position"][both]) / sig
    sig_ratio = lm["position_sigma"][both] / sig
    pull = (fits.position - data["position"]) / fits.position_sigma
    pull = pull[fits.success]
    print()
    print(f"positions, frames 0-{n_lm - 1}: xpipe succeeded on {ok_xp.sum()}/{ok_xp.size} peak fits "
          f"(all {args.frames} frames: {fits.success.sum()}/{fits.success.size}), lmfit on "
          f"{lm['success'].sum()}/{ok_xp.size}, both on {both.sum()}")
    pos_ok = both.mean() >= MIN_BOTH_OK and dev.max() <= POS_TOL_SIGMA
    if both.sum():
        print(f"  |xpipe - lmfit| / sigma: max {dev.max():.2e}, median {np.median(dev):.2e}, "
              f"within {POS_TOL_SIGMA} sigma: {np.mean(dev <= POS_TOL_SIGMA):.2%}  "
              f"[{'ok' if pos_ok else 'FAILED'}]")
        print(f"  lmfit stderr / xpipe position_sigma: {sig_ratio.min():.4f}-{sig_ratio.max():.4f}")
    print(f"  xpipe (position - truth) / sigma over all frames: mean {pull.mean():+.3f}, std {pull.std():.3f}")
    failed = fits.reason[~fits.success]
    if failed.size:
        kinds, counts = np.unique([r.split(" in window")[0] for r in failed], return_counts=True)
        print("  xpipe failures: " + "; ".join(f"{n} x {r}" for r, n in zip(kinds, counts)))

    # cell refinement
    tth, tsig = fits.position, fits.position_sigma
    t_cell, cell = best_of(CELL_REPEAT, refine_cells, data["hkl"], two_theta_deg=tth, sigma=tsig,
                           system="hexagonal", wavelength_a=WAVELENGTH_A)
    t_loop, loop = best_of(CELL_REPEAT, cells_lstsq_loop, data["hkl"], tth, tsig)
    ours = np.column_stack([cell.a_a, cell.c_a, cell.volume_a3, cell.sigma_a_a, cell.sigma_c_a, cell.sigma_volume_a3])
    same_ok = np.array_equal(np.isnan(ours), np.isnan(loop))
    rel = np.nanmax(np.abs(ours - loop) / np.abs(loop)) if same_ok else np.inf
    cell_ok = same_ok and rel <= CELL_TOL_REL
    print()
    print(f"cell refinement (hexagonal, {args.frames} frames x {n_peaks} reflections, best of {CELL_REPEAT})")
    print(f"{'':30s} {'frames':>7s} {'seconds':>8s} {'frames/s':>9s} {'vs loop':>8s}")
    print(f"{'(a) xpipe refine_cells':30s} {args.frames:7d} {t_cell:8.4f} {args.frames / t_cell:9.0f} {t_loop / t_cell:7.1f}x")
    print(f"{'(b) numpy.linalg.lstsq loop':30s} {args.frames:7d} {t_loop:8.4f} {args.frames / t_loop:9.0f} {1.0:7.1f}x")
    print(f"  frames refined: {cell.ok.sum()}/{args.frames}; max relative difference of a, c, V and their "
          f"sigmas: {rel:.1e}  [{'ok' if cell_ok else 'FAILED'}]")
    pa = (cell.a_a - data["a"]) / cell.sigma_a_a
    pc = (cell.c_a - data["c"]) / cell.sigma_c_a
    print(f"  (refined - truth) / sigma: a mean {np.nanmean(pa):+.2f} std {np.nanstd(pa):.2f}, "
          f"c mean {np.nanmean(pc):+.2f} std {np.nanstd(pc):.2f}")
    print()
    print(f"agreement: {'ok' if pos_ok and cell_ok else 'FAILED'}; total wall time {time.perf_counter() - t0:.0f} s")
    return 0 if pos_ok and cell_ok else 1


if __name__ == "__main__":
    sys.exit(main())
